"""TFLite exports of models trained on real Fashion-MNIST: file sizes, how closely each
quantization follows Keras, and how often full-integer int8 changes the top-1 class.

    python -m benchmarks.tflite_export [--quick]

Two models are trained with `keras_cnns.train` (seed 0, 10 % of train held out for
validation), with the settings of `MODELS`, which `tests/test_export.py` trains with too
(`train` is the one definition, the test imports it):

* LeNet-5 (modern), the whole training set, 3 epochs (the quick recipe otherwise);
* ResNet-20, the first 5,000 training images, 3 epochs, batch 64, Adam 1e-3 without weight
  decay or augmentation (a usable ResNet-20 in about a minute).

The best checkpoint of each run (`keras_cnns.export.load_source`) is exported with
`keras_cnns.export.tflite` four times, the preprocessing inside (the files take pixels):
float32, float16 (weights stored in float16), dynamic (int8 weights) and int8 (full
integer, calibrated on `CALIBRATION` training images, uint8 input and output). `measure`
records, for each model:

* the size of each file in bytes, and the int8 file's size as a fraction of float32's;
* the largest absolute difference of the float32 and float16 files' probabilities from
  the Keras model's, on the first `diff_images` test images;
* on the whole test set (10,000 images): the top-1 accuracy of the float32 and int8 files,
  the share of images where int8's top-1 class is float32's (`int8_agreement`), the
  number of images where it is not (`disagreements`), and how many of those are exact
  ties in int8's uint8 output: its top score shared by two or more classes (`ties`,
  `ties_fraction` of the disagreements; argmax then takes the lowest class index), and of
  those how many have float32's class among the tied ones (`ties_with_float_class`).

`--quick` (the harness's test): LeNet-5 only, 2,048 training images, 1 epoch, 1,000 test
images.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from benchmarks import common

# The runs, as `keras_cnns.train` arguments (beside the ones `train` fixes), and the number
# of test images on which the float32 and float16 files are compared with Keras.
MODELS = {
    "lenet5": {
        "title": "LeNet-5 (modern)",
        # The whole training set: an int8 model agrees with a well-trained float model
        # (a barely trained one has many near-ties among its top classes).
        "train": {"model_options": {"variant": "modern"}, "epochs": 3},
        "diff_images": 512,
    },
    "resnet20": {
        "title": "ResNet-20",
        # Adam without augmentation: a usable ResNet-20 (~77 % test accuracy) in ~1 minute.
        "train": {"limit": 5000, "epochs": 3, "batch_size": 64,
                  "recipe_overrides": {"optimizer": "adam", "learning_rate": 1e-3, "momentum": 0.0,
                                       "weight_decay": 0.0, "augmentation": ()}},
        "diff_images": 256,
    },
}
QUICK = {
    "lenet5": {"title": "LeNet-5 (modern)",
               "train": {"model_options": {"variant": "modern"}, "epochs": 1, "limit": 2048},
               "diff_images": 128},
}
QUICK_TEST_IMAGES = 1000
CALIBRATION = 256  # training images that calibrate the int8 activation ranges
QUANTIZATIONS = {"float32": None, "float16": "float16", "dynamic": "dynamic", "int8": "int8"}


def train(name: str, root: Path, settings: dict | None = None):
    """Train `name` as this benchmark (and tests/test_export.py) does; a TrainResult."""
    import keras_cnns

    settings = MODELS[name]["train"] if settings is None else settings
    return keras_cnns.train(name, "fashion_mnist", runs_dir=root, run_dir=Path(root) / name, seed=0,
                            verbose=0, validation_fraction=0.1, **settings)


def fashion_mnist_test(limit: int | None = None):
    """The Fashion-MNIST test images (uint8 [N, 28, 28, 1]), labels and class names."""
    import numpy as np

    from keras_cnns.data import load

    split = load("fashion_mnist", "test", validation_fraction=0.0, limit=limit)
    images, labels = zip(*[(x.numpy(), int(y)) for x, y in split.dataset])
    return np.stack(images), np.array(labels), list(split.class_names)


def keras_on_pixels(source, pixels):
    """The Keras model's scores for uint8 images already at its input size."""
    import tensorflow as tf

    inputs = source.preprocessing.normalize(tf.cast(pixels, tf.float32))
    return source.model.predict(inputs, verbose=0, batch_size=256)


def export_all(source, folder: Path) -> dict:
    """The four TFLite files of `source` (an ExportSource) in `folder`: {kind: path}."""
    from keras_cnns import export

    calibration = export.representative_images("fashion_mnist", source.model.input_shape[1:],
                                               count=CALIBRATION)
    paths = {}
    for kind, quantization in QUANTIZATIONS.items():
        paths[kind] = export.tflite(
            source.model, Path(folder) / f"{source.name}_{kind}.tflite", quantization=quantization,
            representative_data=calibration if kind == "int8" else None,
            io_dtype="uint8" if kind == "int8" else "float32",
            preprocessing=source.preprocessing, class_names=source.class_names, overwrite=True,
        )
    return paths


def measure(source, images, labels, folder: Path, diff_images: int) -> dict:
    """Export `source` four ways into `folder` and measure the files (module docstring).
    `images`: uint8 test images, `labels` their classes."""
    import numpy as np

    from keras_cnns import export

    started = time.perf_counter()
    paths = export_all(source, folder)
    export_seconds = time.perf_counter() - started
    runners = {kind: export.LiteRTModel(path) for kind, path in paths.items()}
    pixels = images.astype("float32")
    expected = keras_on_pixels(source, images[:diff_images])
    formats = {kind: {"size_bytes": runner.size_bytes} for kind, runner in runners.items()}
    for kind in ("float32", "float16"):
        scores = runners[kind].predict(pixels[:diff_images])
        formats[kind]["max_abs_diff_vs_keras"] = float(np.abs(scores - expected).max())
    formats["int8"]["size_fraction_of_float32"] = formats["int8"]["size_bytes"] / formats["float32"]["size_bytes"]

    float_top = runners["float32"].predict(pixels, batch_size=500).argmax(1)
    int8_scores = runners["int8"].predict(pixels, batch_size=500)  # uint8 outputs, dequantized
    int8_top = int8_scores.argmax(1)
    # Dequantizing is one affine map, so equal uint8 scores stay exactly equal.
    top = int8_scores.max(1, keepdims=True)
    tied = (int8_scores == top).sum(1) >= 2
    float_class_tied = int8_scores[np.arange(len(float_top)), float_top] == top[:, 0]
    disagree = float_top != int8_top
    disagreements = int(disagree.sum())
    return {
        "formats": formats,
        "io": {kind: [str(runner.input_dtype), str(runner.output_dtype)] for kind, runner in runners.items()},
        "class_names_kept": all(runner.class_names == source.class_names for runner in runners.values()),
        "test_images": len(images),
        "diff_images": diff_images,
        "calibration_images": CALIBRATION,
        "float_accuracy": float((float_top == labels).mean()),
        "int8_accuracy": float((int8_top == labels).mean()),
        "int8_agreement": float(1.0 - disagree.mean()),
        "disagreements": disagreements,
        "ties": int((disagree & tied).sum()),
        "ties_fraction": float((disagree & tied).sum() / disagreements) if disagreements else None,
        "ties_with_float_class": int((disagree & tied & float_class_tied).sum()),
        "int8_ties_all_images": int(tied.sum()),
        "export_seconds": export_seconds,
    }


def run(quick: bool = False) -> dict:
    from keras_cnns import export

    common.pin_threads_in_process("tensorflow")
    models = QUICK if quick else MODELS
    images, labels, _ = fashion_mnist_test(QUICK_TEST_IMAGES if quick else None)
    rows = {}
    with tempfile.TemporaryDirectory(prefix="bench-tflite-") as work:
        for name, spec in models.items():
            started = time.perf_counter()
            result = train(name, Path(work) / "runs", spec["train"])
            train_seconds = time.perf_counter() - started
            source = export.load_source(result.run_dir)
            row = measure(source, images, labels, Path(work) / "tflite", spec["diff_images"])
            row = {"title": spec["title"], "train": spec["train"], "train_seconds": train_seconds, **row}
            common.log(f"  {name}: agreement {row['int8_agreement']:.4f}, accuracy "
                       f"{row['float_accuracy']:.4f} -> {row['int8_accuracy']:.4f}, ties "
                       f"{row['ties']}/{row['disagreements']}, sizes "
                       f"{ {k: v['size_bytes'] for k, v in row['formats'].items()} }")
            rows[name] = row
    return {"models": rows, "threads": common.THREADS}


def main(argv=None) -> int:
    return common.script_main(__doc__, run, argv)


if __name__ == "__main__":
    sys.exit(main())
