"""Mixed precision on this CPU: `mixed_bfloat16` against float32, in speed and accuracy.

    python -m benchmarks.precision [--quick]

* Speed: training throughput (images/s) of the same model built under each policy
  (`keras_cnns.precision.precision_policy`), alternating in one TensorFlow worker
  (`throughput._keras_worker`, resident batch, keras_cnns' SGD), the median of the rounds.
  oneDNN runs bfloat16 convolutions on this CPU's AVX512_BF16 instructions.
* Accuracy: `keras_cnns.train(model, "fashion_mnist", precision=...)` with the quick recipe,
  the same seed, epochs and images under each policy; the test accuracy of each run.

float16 (`mixed_float16`) is not measured: oneDNN has no float16 kernels on this CPU
(TensorFlow falls back to Eigen's), so it is a policy for GPUs.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

from benchmarks import common, optimizations

# name -> throughput-worker spec (registry name, options, input size, channels, batch, steps)
SPEED_MODELS = {
    "resnet20": ("resnet20", {}, 32, 3, 128, 4),
    "vgg11": ("vgg11", {}, 32, 3, 64, 5),
    "densenet_bc100": ("densenet_bc100", {}, 32, 3, 64, 2),
}
QUICK_SPEED = {"resnet20": ("resnet20", {}, 32, 3, 16, 2)}
# Training for the accuracy comparison, per model: the first `limit` Fashion-MNIST images of
# each split, `epochs` epochs. Runs this short need the batch norms' moving averages to
# follow the weights faster than Keras' default momentum (0.99) lets them (README,
# Training), else they evaluate near chance whatever they learned. DenseNet-BC-100 trains
# at some 35 img/s here: fewer images.
BN_MOMENTUM = {"batch_norm_momentum": 0.9}
ACCURACY = {
    "resnet20": {"epochs": 2, "limit": 12_000, "recipe_overrides": BN_MOMENTUM},
    "vgg11": {"epochs": 2, "limit": 12_000, "recipe_overrides": {}},
    "densenet_bc100": {"epochs": 2, "limit": 4_000, "recipe_overrides": BN_MOMENTUM},
}
QUICK_ACCURACY = {"resnet20": {"epochs": 1, "limit": 256, "recipe_overrides": BN_MOMENTUM}}
VARIANTS = [("float32", {}), ("mixed_bfloat16", {"precision": "mixed_bfloat16"})]


def speed(models: dict, rounds: int) -> dict:
    worker = common.Worker("throughput", "keras-tensorflow",
                           env=common.pin_threads_env(os.environ, "tensorflow"))
    try:
        return optimizations.worker_ab(models, rounds, worker, VARIANTS)
    finally:
        worker.close()


def accuracy(name: str, precision: str, epochs: int, limit: int, recipe_overrides: dict) -> dict:
    """One seeded quick-recipe run of `name` on Fashion-MNIST under `precision`."""
    import keras_cnns

    print(f"[{common.now()}] {name} {precision}", file=sys.stderr, flush=True)
    load_before, started = common.load(), time.perf_counter()
    with tempfile.TemporaryDirectory() as runs:
        result = keras_cnns.train(name, "fashion_mnist", precision=precision, epochs=epochs,
                                  limit=limit, seed=0, verbose=0, runs_dir=runs,
                                  recipe_overrides=recipe_overrides)
    metrics = result.metrics
    return {"epochs": metrics["epochs"], "limit": limit, "recipe_overrides": recipe_overrides,
            "test_accuracy": metrics["test_accuracy"],
            "test_loss": metrics["test_loss"], "train_images_per_s": metrics["images_per_second"],
            "wall_seconds": time.perf_counter() - started, "load_before": load_before,
            "load_after": common.load()}


def run(quick: bool = False) -> dict:
    models = QUICK_SPEED if quick else SPEED_MODELS
    rounds = 1 if quick else 5
    results = {"rounds": rounds, "speed": speed(models, rounds)}
    settings = QUICK_ACCURACY if quick else ACCURACY
    import keras_cnns  # noqa: F401  (oneDNN on, before TensorFlow loads)

    common.pin_threads_in_process("tensorflow")
    results["accuracy"] = {
        name: {precision: accuracy(name, precision, **settings[name]) for precision, _ in VARIANTS}
        for name in models
    }
    results["accuracy_settings"] = {"dataset": "fashion_mnist", "recipe": "quick", "seed": 0}
    return results


def main(argv=None) -> int:
    return common.script_main(__doc__, run, argv)


if __name__ == "__main__":
    sys.exit(main())
