"""The JPEG input pipeline at 224x224: keras_cnns' `build_pipeline` against what a Keras user
writes, on a folder of real photographs, and the rate ResNet-50 consumes images in training.

    python -m benchmarks.jpeg_pipeline [--quick]    # prints the JSON; benchmarks.run writes RESULTS.md

The folder (`make_jpeg_folder`, deterministic): crops of the two photographs scikit-learn
ships (`sklearn.datasets.load_sample_images()`: china.jpg and flower.jpg, 427x640), one class
sub-folder per photograph, of varied sizes like photos: short side 160-427 px, long side /
short side 1 to 16/9, landscape or portrait with equal odds, a quarter of them upscaled
(bicubic) to a short side of 448-512 px; each re-encoded by Pillow at JPEG quality 90.
Full run: 1,536 images, 7 rounds, ResNet-50 3 warm-up and 10 timed steps (about 4 minutes
on 2 idle cores); `--quick`: 48 images, 1 round, 1 and 1 steps.

Three pipelines over that folder (batch 64, 224x224x3 float32 out, no model: the dataset
is iterated and its images counted), in one worker process; one untimed pass each, then
whole passes timed in rounds, the variants interleaved and their order reversed every
other round; the median and best wall-clock rates and the median images per CPU-second
(`time.process_time()`, every thread of the process: tf.data's included):

* `keras_cnns`: `load(f"folder:{root}", "train", validation_fraction=0.0)` +
  `build_pipeline(split, input_shape=(224, 224, 3), batch_size=64, training=True,
  augmentation=("random_resized_crop", "flip"), normalization="standardize", cache=False)`:
  decode, Inception's random-resized crop (8 %-100 % of the area, aspect 3/4-4/3) to 224,
  flip, standardize. Whether `load` resizes every file to the first one's size or streams
  each at its own size (`split.image_shape`, recorded) is the package's business: the
  benchmark only calls the API.
* `Keras, RandomZoom` (the Keras figure of the headline ratio):
  `keras.utils.image_dataset_from_directory(root, image_size=(224, 224), batch_size=64,
  shuffle=True, crop_to_aspect_ratio=False)` (it decodes every image and resizes it to
  224x224, which is what Keras offers), then `.map` of
  `keras.Sequential([RandomFlip("horizontal"), RandomZoom(height_factor=(-0.72, 0.0)),
  Normalization(mean=..., variance=...)])` with `num_parallel_calls=tf.data.AUTOTUNE` and
  `.prefetch(tf.data.AUTOTUNE)`, as Keras' guides write it. Keras has no random-resized
  crop; RandomZoom with a negative factor is its Inception-style crop: each image of the
  batch is zoomed in on a random window of 28 %-100 % of each side (8 %-100 % of the
  area, as Inception's), at a random position, resampled (bilinear) back to 224x224 — the
  same kind of work as a crop and resize. `width_factor=None` keeps the window's aspect
  (the squash to 224x224 already changed the photos' aspects). Normalization: ImageNet's
  per-channel mean and variance in pixel units (keras_cnns standardizes each image by its
  own mean and deviation for a folder it has no statistics of: the same cost class).
* `Keras, 256 + RandomCrop`: the cheaper Keras idiom, for reference:
  `image_dataset_from_directory(image_size=(256, 256))` then `RandomCrop(224, 224)`
  (Keras draws one crop position per batch), `RandomFlip("horizontal")` and the same
  Normalization; a crop is a slice, no resampling.

ResNet-50 in training (a worker of its own, after the pipelines): `keras_cnns.resnet50(
num_classes=1000, input_shape=(224, 224, 3))`, compiled with `keras_cnns.optimizers.SGD`
(momentum 0.9; the optimizer `keras_cnns.train` uses) and sparse categorical
cross-entropy, `train_on_batch` on one resident random batch of 16, warm-up steps, then
timed steps (median). From these the report derives whether one machine's pipeline keeps
ResNet-50 fed here, the pipeline's images per core (per CPU-second), and the cores it
would need to feed a GPU at `ASSUMED_GPU_RATES` images/s (assumptions, not measurements).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import common

KERAS_CNNS, KERAS_ZOOM, KERAS_CROP = "keras_cnns", "Keras, RandomZoom", "Keras, 256 + RandomCrop"
VARIANTS = (KERAS_CNNS, KERAS_ZOOM, KERAS_CROP)
REFERENCE = KERAS_ZOOM  # the Keras pipeline of the headline ratio: the same work
SIZE, BATCH, QUALITY = 224, 64, 90
RESNET50_BATCH = 16
#: Typical single-GPU ResNet-50 training rates (images/s) the report sizes CPUs for:
#: assumptions, not measured here.
ASSUMED_GPU_RATES = (1000, 3000)
FULL = {"images": 1536, "rounds": 7, "warmup_steps": 3, "steps": 10}
QUICK = {"images": 48, "rounds": 1, "warmup_steps": 1, "steps": 1}
#: ImageNet's per-channel mean and standard deviation, pixels in [0, 255].
MEAN = (0.485 * 255, 0.456 * 255, 0.406 * 255)
STD = (0.229 * 255, 0.224 * 255, 0.225 * 255)


# ------------------------------------------------------------------------- folder
def make_jpeg_folder(root, count: int, seed: int = 0) -> Path:
    """Write `count` JPEGs (quality 90) cut from scikit-learn's two sample photographs into
    `root/<photo>/<index>.jpg` (classes `china` and `flower`, alternating) and return `root`.

    Deterministic for a given `count` and `seed` (numpy's `default_rng(seed)`): crops with a
    short side of 160-427 px and long / short of 1 to 16/9, landscape or portrait with equal
    odds; a quarter of them upscaled (bicubic) to a short side of 448-512 px.
    """
    from PIL import Image
    from sklearn.datasets import load_sample_images

    if count < 1:
        raise ValueError(f"`count` must be a positive integer; received {count!r}.")
    sources = load_sample_images()
    names = [Path(f).stem for f in sources.filenames]
    root = Path(root)
    for name in names:
        (root / name).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(count):
        k = index % len(names)
        photo = sources.images[k]
        height, width = photo.shape[:2]
        ratio = rng.uniform(1.0, 16 / 9)
        portrait = rng.random() < 0.5
        largest = min(width, height / ratio) if portrait else min(height, width / ratio)
        short = rng.uniform(min(160.0, largest), largest)
        long = min(round(short * ratio), height if portrait else width)
        short = round(short)
        h, w = (long, short) if portrait else (short, long)
        top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
        image = Image.fromarray(photo[top:top + h, left:left + w])
        if rng.random() < 0.25:
            scale = rng.uniform(448, 512) / min(h, w)
            image = image.resize((round(w * scale), round(h * scale)), Image.BICUBIC)
        image.save(root / names[k] / f"{index:05d}.jpg", quality=QUALITY)
    return root


def describe_folder(root: Path) -> dict:
    """Count, classes, sizes and bytes of the JPEGs under `root`."""
    from PIL import Image

    files = sorted(root.rglob("*.jpg"))
    sizes = []
    for path in files:
        with Image.open(path) as image:
            sizes.append(image.size)  # (width, height)
    sides = [s for size in sizes for s in size]
    return {
        "images": len(files),
        "classes": sorted(p.name for p in root.iterdir() if p.is_dir()),
        "quality": QUALITY,
        "megabytes": round(sum(p.stat().st_size for p in files) / 1e6, 1),
        "min_side": min(sides),
        "max_side": max(sides),
        "mean_megapixels": round(sum(w * h for w, h in sizes) / len(sizes) / 1e6, 3),
        "portrait": sum(h > w for w, h in sizes),
    }


# -------------------------------------------------------------------- worker side
def _datasets(root: str):
    """The three pipelines over `root`, and keras_cnns' split."""
    import keras
    import tensorflow as tf

    from keras_cnns.data import build_pipeline, load

    split = load(f"folder:{root}", "train", validation_fraction=0.0)
    datasets = {KERAS_CNNS: build_pipeline(
        split, input_shape=(SIZE, SIZE, 3), batch_size=BATCH, training=True,
        augmentation=("random_resized_crop", "flip"), normalization="standardize",
        cache=False, seed=None,
    )}
    normalize = dict(mean=list(MEAN), variance=[s * s for s in STD])
    for name, side, layers in (
        (KERAS_ZOOM, SIZE, [keras.layers.RandomFlip("horizontal"),
                            keras.layers.RandomZoom(height_factor=(-0.72, 0.0))]),
        (KERAS_CROP, 256, [keras.layers.RandomCrop(SIZE, SIZE),
                           keras.layers.RandomFlip("horizontal")]),
    ):
        augment = keras.Sequential([*layers, keras.layers.Normalization(**normalize)])
        base = keras.utils.image_dataset_from_directory(
            root, image_size=(side, side), batch_size=BATCH, shuffle=True,
            crop_to_aspect_ratio=False, verbose=False,
        )
        datasets[name] = base.map(
            lambda x, y, augment=augment: (augment(x, training=True), y),
            num_parallel_calls=tf.data.AUTOTUNE,
        ).prefetch(tf.data.AUTOTUNE)
    return split, datasets


def _one_pass(dataset) -> tuple[int, tuple]:
    """Iterate `dataset` once: (images, shape of a batch)."""
    images, shape = 0, None
    for x, _ in dataset:
        images += int(x.shape[0])
        shape = shape or (tuple(x.shape[1:]), x.dtype.name)
    return images, shape


def measure_pipelines(root: str, rounds: int) -> dict:
    """Every pipeline's rate per round, in this (worker) process."""
    split, datasets = _datasets(root)
    outputs = {}
    for name, dataset in datasets.items():  # untimed: traces the maps, fills the page cache
        started = time.perf_counter()
        images, (shape, dtype) = _one_pass(dataset)
        outputs[name] = {"images": images, "shape": list(shape), "dtype": dtype,
                         "warmup_s": round(time.perf_counter() - started, 2)}
        common.log(f"  warm-up {name}: {images} images {shape} {dtype}, "
                   f"{outputs[name]['warmup_s']} s")
    rates = {v: [] for v in VARIANTS}
    cpu_rates = {v: [] for v in VARIANTS}
    for index in range(rounds):
        for name in VARIANTS if index % 2 == 0 else VARIANTS[::-1]:
            start, cpu_start = time.perf_counter(), time.process_time()
            images, _ = _one_pass(datasets[name])
            rates[name].append(images / (time.perf_counter() - start))
            cpu_rates[name].append(images / (time.process_time() - cpu_start))
        common.log(f"  round {index + 1}/{rounds}: " + ", ".join(
            f"{v} {rates[v][-1]:.0f} img/s" for v in VARIANTS))
    return {
        "image_shape": list(split.image_shape),
        "num_examples": split.num_examples,
        "outputs": outputs,
        "rates": rates,
        "cpu_rates": cpu_rates,
    }


def measure_resnet50(warmup_steps: int, steps: int) -> dict:
    """ResNet-50's training rate on one resident batch, in this (worker) process."""
    import keras
    import tensorflow as tf

    import keras_cnns

    keras.utils.set_random_seed(0)
    model = keras_cnns.resnet50(num_classes=1000, input_shape=(SIZE, SIZE, 3))
    model.compile(optimizer=keras_cnns.optimizers.SGD(0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((RESNET50_BATCH, SIZE, SIZE, 3), dtype=np.float32))
    y = tf.constant(rng.integers(0, 1000, RESNET50_BATCH))
    for _ in range(warmup_steps):
        model.train_on_batch(x, y)
    rates, cpu_rates = [], []
    for _ in range(steps):
        start, cpu_start = time.perf_counter(), time.process_time()
        model.train_on_batch(x, y)
        rates.append(RESNET50_BATCH / (time.perf_counter() - start))
        cpu_rates.append(RESNET50_BATCH / (time.process_time() - cpu_start))
    return {"parameters": model.count_params(), "rates": rates, "cpu_rates": cpu_rates}


def _worker(argv) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", choices=("pipelines", "resnet50"), required=True)
    parser.add_argument("--root")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--warmup-steps", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2)
    args = parser.parse_args(argv)
    common.pin_threads_in_process("tensorflow")
    if args.worker == "pipelines":
        common.print_result(measure_pipelines(args.root, args.rounds))
    else:
        common.print_result(measure_resnet50(args.warmup_steps, args.steps))
    return 0


# -------------------------------------------------------------------- parent side
def summarize(pipelines: dict, resnet: dict) -> dict:
    """The workers' rates with their figures: per pipeline the median and best wall-clock
    rate, the median per CPU-second and keras_cnns / that pipeline of each; ResNet-50's
    median rates and step time."""
    rates, cpu_rates = pipelines["rates"], pipelines["cpu_rates"]
    median = {v: statistics.median(r) for v, r in rates.items()}
    cpu = {v: statistics.median(r) for v, r in cpu_rates.items()}
    variants = {
        v: {"images": pipelines["outputs"][v]["images"], "output": pipelines["outputs"][v],
            "images_per_s": median[v], "best_images_per_s": max(rates[v]),
            "images_per_cpu_s": cpu[v], "ratio": median[KERAS_CNNS] / median[v],
            "ratio_cpu": cpu[KERAS_CNNS] / cpu[v], "rates": rates[v], "cpu_rates": cpu_rates[v]}
        for v in VARIANTS
    }
    model_rate = statistics.median(resnet["rates"])
    return {
        "image_shape": pipelines["image_shape"],
        "reference": REFERENCE,
        "variants": variants,
        "resnet50": {
            "batch": RESNET50_BATCH, "input": [SIZE, SIZE, 3], "parameters": resnet["parameters"],
            "warmup_steps": resnet["warmup_steps"], "steps": len(resnet["rates"]),
            "images_per_s": model_rate, "best_images_per_s": max(resnet["rates"]),
            "images_per_cpu_s": statistics.median(resnet["cpu_rates"]),
            "step_s": RESNET50_BATCH / model_rate, "rates": resnet["rates"],
            "cpu_rates": resnet["cpu_rates"],
        },
    }


def run(quick: bool = False, log=None) -> dict:
    log = log or common.log
    settings = QUICK if quick else FULL
    env = common.pin_threads_env(os.environ, "tensorflow")
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    with tempfile.TemporaryDirectory(prefix="jpeg_pipeline_") as tmp:
        started = time.perf_counter()
        root = make_jpeg_folder(Path(tmp) / "photos", settings["images"], seed=0)
        folder = describe_folder(root)
        log(f"  folder: {folder['images']} JPEGs, {folder['megabytes']} MB, "
            f"{folder['mean_megapixels']} MP on average ({time.perf_counter() - started:.0f} s)")
        load = {"pipelines": [common.load()]}
        pipelines = common.run_module(
            "jpeg_pipeline", ["--worker", "pipelines", "--root", str(root),
                              "--rounds", str(settings["rounds"])], env=env)
        load["pipelines"].append(common.load())
    load["resnet50"] = [common.load()]
    resnet = common.run_module(
        "jpeg_pipeline", ["--worker", "resnet50", "--warmup-steps", str(settings["warmup_steps"]),
                          "--steps", str(settings["steps"])], env=env)
    load["resnet50"].append(common.load())
    resnet["warmup_steps"] = settings["warmup_steps"]
    result = summarize(pipelines, resnet)
    v, r = result["variants"], result["resnet50"]
    log(f"  {KERAS_CNNS} / {REFERENCE}: {v[REFERENCE]['ratio']:.2f} (median), "
        f"{v[REFERENCE]['ratio_cpu']:.2f} (per CPU-s); ResNet-50 {r['images_per_s']:.1f} img/s, "
        f"pipeline / ResNet-50 {v[KERAS_CNNS]['images_per_s'] / r['images_per_s']:.1f}")
    return {"folder": folder, "batch_size": BATCH, "size": SIZE, "rounds": settings["rounds"],
            "assumed_gpu_images_per_s": list(ASSUMED_GPU_RATES), "load": load, **result}


def main(argv=None) -> int:
    return common.script_main(__doc__, run, argv, worker=_worker)


if __name__ == "__main__":
    sys.exit(main())
