"""Time to accuracy: wall time of `keras_cnns.train` with the package's quick recipe until
the Fashion-MNIST *test* accuracy first reaches a target.

    python -m benchmarks.time_to_accuracy               # LeNet-5 (modern) to 90 %
    python -m benchmarks.time_to_accuracy --quick       # 4,096 images, 1 epoch, 50 %

`keras_cnns.train(model, "fashion_mnist", recipe="quick", ...)` runs exactly as
`keras-cnns train` does; a callback evaluates the test split after every epoch (the same
preprocessing as `train`'s own final evaluation) and stops training at the first epoch at or
above the target. The time reported is the training wall time from the start of `fit`
to the end of that epoch, the callback's own evaluations excluded, plus the setup before
`fit` (data loading, model building); the run's `metrics.json` figures are kept too.

ResNet-20 to 92 % is not run by default: on this shared 2-core machine an epoch of 54,000
images takes tens of minutes. `estimate()` turns a measured throughput (images/s, from
the throughput benchmark) into the time of one epoch and of the quick recipe's epochs;
`--model resnet20 --target 0.92` runs it for real when there is time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

from benchmarks import common

FULL = {"model": "lenet5", "options": {"variant": "modern"}, "target": 0.90, "limit": None, "epochs": None}
QUICK = {"model": "lenet5", "options": {"variant": "modern"}, "target": 0.50, "limit": 4096, "epochs": 1}
FASHION_MNIST_TRAIN = 54_000  # the train split after train()'s 10 % validation carve-out


def run(model: str, options: dict, target: float, limit: int | None = None,
        epochs: int | None = None) -> dict:
    import keras

    import keras_cnns
    from keras_cnns.data import build_pipeline, load
    from keras_cnns.training.recipes import get_recipe

    recipe = get_recipe(model)
    test = load("fashion_mnist", "test", limit=limit)
    curve = []

    class TestAccuracy(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()
            self.excluded = 0.0

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            train_seconds = now - self.started - self.excluded
            data = build_pipeline(
                test, input_shape=self.model.input_shape[1:], batch_size=512, training=False,
                normalization=recipe.normalization,
            )
            accuracy = self.model.evaluate(data, verbose=0, return_dict=True)["accuracy"]
            self.excluded += time.perf_counter() - now
            curve.append({"epoch": epoch + 1, "train_seconds": train_seconds,
                          "test_accuracy": float(accuracy), "load": common.load()})
            if accuracy >= target:
                self.model.stop_training = True

    load_before = common.load()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as runs:
        result = keras_cnns.train(
            model, "fashion_mnist", recipe="quick", epochs=epochs, model_options=options,
            runs_dir=runs, limit=limit, callbacks=[TestAccuracy()], verbose=0,
        )
    total = time.perf_counter() - started
    reached = next((point for point in curve if point["test_accuracy"] >= target), None)
    return {
        "model": model,
        "options": options,
        "recipe": recipe.name,
        "batch_size": recipe.batch_size,
        "recipe_epochs": recipe.epochs,
        "limit": limit,
        "target": target,
        "reached": reached is not None,
        "epochs_to_target": reached["epoch"] if reached else None,
        "train_seconds_to_target": reached["train_seconds"] if reached else None,
        "final_test_accuracy": result.metrics["test_accuracy"],
        "curve": curve,
        "run_wall_seconds": total,
        "images_per_second": result.metrics.get("images_per_second"),
        "load_before": load_before,
        "load_after": common.load(),
    }


def estimate(images_per_second: float, epochs: int, images_per_epoch: int = FASHION_MNIST_TRAIN) -> dict:
    """Time of one epoch and of `epochs` epochs at a measured training throughput."""
    epoch_s = images_per_epoch / images_per_second
    return {"images_per_second": images_per_second, "epoch_seconds": epoch_s,
            "epochs": epochs, "total_seconds": epoch_s * epochs}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--model")
    parser.add_argument("--target", type=float)
    args = parser.parse_args(argv)
    spec = dict(QUICK if args.quick else FULL)
    if args.model:
        spec.update(model=args.model, options={})
    if args.target:
        spec["target"] = args.target
    common.print_result(run(**spec))
    return 0


if __name__ == "__main__":
    sys.exit(main())
