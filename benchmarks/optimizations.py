"""The speed changes tried on keras_cnns' TensorFlow training, each measured A against B.

    python -m benchmarks.optimizations [--quick]

* `fused_batch_norm`: keras_cnns' `BatchNormalization` (TensorFlow's fused kernel in
  training) against `keras.layers.BatchNormalization` (separate moments and normalization
  ops), the same model built both ways in one process (the module attributes the builders
  read are swapped for the "before" build), equal weights; the two alternate, several
  rounds. The loss after two identical steps is reported for both (it must agree to
  float rounding).
* `grouped_conv`: AlexNet's grouped convolutions (groups=2) as keras_cnns'
  `GroupedConv2D` (one oneDNN convolution per group) against `keras.layers.Conv2D(groups=2)`
  (which Keras' TensorFlow backend runs through XLA on CPU), the same way.
* `whole_input_conv`: LeNet-5's C5 as keras_cnns' `WholeInputConv2D` (a matrix product: its
  5x5 kernel covers the whole 5x5 input) against `keras.layers.Conv2D`, the same way.
* `onednn`: `TF_ENABLE_ONEDNN_OPTS=1` (the package's default) against `=0`, two worker
  processes (TensorFlow reads it at import), alternating.
* `fused_sgd`: `keras_cnns.optimizers.SGD` (one fused momentum kernel per variable, what
  `keras_cnns.train` uses) against `keras.optimizers.SGD`, the same model, alternating.
* `steps_per_execution`: `model.fit` running 16 steps per graph call against one step per
  call and against the `train_on_batch` loop, for the smallest networks, whose steps take a
  few milliseconds (`keras_cnns.train`'s `steps_per_execution="auto"` runs them 16 per call).
  `fit` reads the resident batch through tf.data with autotuning off, as keras_cnns'
  pipeline over in-memory data does, and once with it on (tf.data's default).

Mixed precision (bfloat16 against float32) has its own benchmark, `benchmarks.precision`.
XLA (`jit_compile=True`) is measured in the throughput benchmark's "TF+XLA" rows.
"""

from __future__ import annotations

import os
import sys
import time

from benchmarks import common, throughput

# name -> (input size, batch, steps)
FUSED_BN_MODELS = {"resnet20": (32, 128, 4), "densenet_bc100": (32, 64, 2)}
QUICK_FUSED_BN = {"resnet20": (32, 16, 2)}
GROUPED_CONV_MODELS = {"alexnet": (96, 64, 3)}
WHOLE_INPUT_MODELS = {"lenet5": ("lenet5", {}, 32, 1, 128, 60),
                      "lenet5_modern": ("lenet5", {"variant": "modern"}, 32, 1, 128, 60)}
QUICK_WHOLE_INPUT = {"lenet5_modern": ("lenet5", {"variant": "modern"}, 32, 1, 32, 5)}
QUICK_GROUPED_CONV = {"alexnet": (67, 4, 1)}
ONEDNN_MODELS = {"lenet5_modern": 40, "resnet20": 4}
QUICK_ONEDNN = {"lenet5_modern": 5}
# name -> throughput.PYTORCH_MODELS-style spec: (registry, options, size, channels, batch, steps)
FUSED_SGD_MODELS = {
    "lenet5": ("lenet5", {}, 32, 1, 128, 60),
    "lenet5_modern": ("lenet5", {"variant": "modern"}, 32, 1, 128, 60),
    "vgg16": ("vgg16", {}, 32, 3, 32, 5),
    "alexnet": ("alexnet", {}, 96, 3, 64, 4),
}
QUICK_FUSED_SGD = {"lenet5_modern": ("lenet5", {"variant": "modern"}, 32, 1, 32, 5)}
# Measured steps: a multiple of the 16 steps per call (Keras runs whole blocks of them).
SPE_MODELS = {k: FUSED_SGD_MODELS[k][:5] + (64,) for k in ("lenet5", "lenet5_modern")}
QUICK_SPE = {k: v[:5] + (16,) for k, v in QUICK_FUSED_SGD.items()}

_BN_MODULES = (
    "keras_cnns.layers.residual", "keras_cnns.models.resnet", "keras_cnns.layers.dense",
    "keras_cnns.models.densenet", "keras_cnns.layers.inception", "keras_cnns.models.vgg",
)


def fused_batch_norm(models: dict, rounds: int) -> dict:
    import keras

    from keras_cnns.layers.batch_norm import BatchNormalization

    return _swap_ab(models, rounds, _BN_MODULES, "BatchNormalization",
                    ("keras BatchNormalization", keras.layers.BatchNormalization),
                    ("fused (keras_cnns)", BatchNormalization))


def grouped_conv(models: dict, rounds: int) -> dict:
    import keras

    from keras_cnns.layers.grouped_conv import GroupedConv2D

    return _swap_ab(models, rounds, ("keras_cnns.models.alexnet",), "GroupedConv2D",
                    ("keras Conv2D(groups=2) (XLA)", keras.layers.Conv2D),
                    ("GroupedConv2D (keras_cnns)", GroupedConv2D))


def whole_input_conv(models: dict, rounds: int) -> dict:
    import keras

    from keras_cnns.layers.whole_input_conv import WholeInputConv2D

    return _swap_ab(models, rounds, ("keras_cnns.models.lenet",), "WholeInputConv2D",
                    ("keras Conv2D", keras.layers.Conv2D),
                    ("WholeInputConv2D (matrix product)", WholeInputConv2D))


def _swap_ab(models: dict, rounds: int, modules, attribute: str, before_variant, after_variant) -> dict:
    """The same model built with `attribute` of `modules` set to each variant, A/B."""
    import numpy as np

    import keras_cnns
    import keras
    import tensorflow as tf

    common.pin_threads_in_process("tensorflow")
    results = {}
    for name, spec in models.items():
        # (size, batch, steps) for a registered name with RGB input, or the full
        # (registry name, options, size, channels, batch, steps).
        registry, options, size, channels, batch, steps = (
            spec if len(spec) == 6 else (name, {}, spec[0], 3, *spec[1:])
        )
        built = {}
        for label, layer in (before_variant, after_variant):
            for module in modules:
                setattr(sys.modules[module], attribute, layer)
            keras.utils.set_random_seed(0)
            model = keras_cnns.get_model(registry, num_classes=10, input_shape=(size, size, channels),
                                         **options)
            model.compile(optimizer=keras_cnns.optimizers.SGD(0.01, momentum=0.9),
                          loss="sparse_categorical_crossentropy")
            built[label] = model
        for module in modules:
            setattr(sys.modules[module], attribute, after_variant[1])
        before, after = built.values()
        after.set_weights(before.get_weights())
        rng = np.random.default_rng(0)
        x = tf.constant(rng.uniform(0, 1, (batch, size, size, channels)).astype("float32"))
        y = tf.constant(rng.integers(0, 10, (batch,)))
        losses = {}
        for label, model in built.items():
            for _ in range(2):
                losses[label] = float(model.train_on_batch(x, y))
        samples = {label: [] for label in built}
        for index in range(rounds):
            for label in (list(built) if index % 2 == 0 else list(built)[::-1]):
                load_before = common.load()
                wall, cpu = time.perf_counter(), time.process_time()
                for _ in range(steps):
                    built[label].train_on_batch(x, y)
                samples[label].append({
                    "images_per_s": steps * batch / (time.perf_counter() - wall),
                    "images_per_cpu_s": steps * batch / (time.process_time() - cpu),
                    "load": load_before,
                })
        row = {label: {"images_per_s": common.median([s["images_per_s"] for s in v]),
                       "images_per_cpu_s": common.median([s["images_per_cpu_s"] for s in v]),
                       "samples": [round(s["images_per_s"], 1) for s in v],
                       "load": [s["load"] for s in v],
                       "loss_after_2_steps": losses[label]}
               for label, v in samples.items()}
        a, b = row[before_variant[0]], row[after_variant[0]]
        results[name] = {"batch": batch, "steps": steps, "variants": row,
                         "before": before_variant[0], "after": after_variant[0],
                         "speedup": b["images_per_s"] / a["images_per_s"],
                         "speedup_cpu": b["images_per_cpu_s"] / a["images_per_cpu_s"]}
    return results


def onednn_workers() -> dict:
    """Throughput workers (`throughput._keras_worker`) with TF_ENABLE_ONEDNN_OPTS "1" and "0"."""
    workers = {}
    for flag in ("1", "0"):
        env = common.pin_threads_env(dict(os.environ, TF_ENABLE_ONEDNN_OPTS=flag), "tensorflow")
        workers[flag] = common.Worker("throughput", "keras-tensorflow", env=env)
    return workers


def onednn(models: dict, rounds: int, workers: dict) -> dict:
    """oneDNN on against off, alternating between `onednn_workers()`."""
    results = {}
    for name, steps in models.items():
        registry, options, size, channels, batch, _ = throughput.PYTORCH_MODELS[name]
        build = dict(source="keras_cnns", model=registry, options=options, size=size,
                     channels=channels, batch=batch)
        samples = {"1": [], "0": []}
        for index in range(rounds):
            for flag in (("1", "0") if index % 2 == 0 else ("0", "1")):
                samples[flag].append(workers[flag].ask({"build": build, "steps": steps, "warmup": 3}))
        for worker in workers.values():
            worker.ask({"release": True})
        row = {f"TF_ENABLE_ONEDNN_OPTS={flag}": {
            "images_per_s": common.median([s["images_per_s"] for s in v]),
            "images_per_cpu_s": common.median([s["images_per_cpu_s"] for s in v]),
            "samples": [round(s["images_per_s"], 1) for s in v],
            "load": [s["load_before"] for s in v]} for flag, v in samples.items()}
        on, off = row["TF_ENABLE_ONEDNN_OPTS=1"], row["TF_ENABLE_ONEDNN_OPTS=0"]
        results[name] = {"batch": batch, "steps": steps, "variants": row,
                         "speedup": on["images_per_s"] / off["images_per_s"],
                         "speedup_cpu": on["images_per_cpu_s"] / off["images_per_cpu_s"]}
    return results


def fused_sgd(models: dict, rounds: int, worker) -> dict:
    return worker_ab(models, rounds, worker, [("keras.optimizers.SGD", {"optimizer": "keras"}),
                                              ("keras_cnns.optimizers.SGD (fused)", {})])


def steps_per_execution(models: dict, rounds: int, worker) -> dict:
    return worker_ab(models, rounds, worker,
                     [("train_on_batch loop", {}),
                      ("fit, 1 step per call", {"steps_per_execution": 1}),
                      ("fit, 16 steps per call, tf.data autotuning on",
                       {"steps_per_execution": 16, "autotune": True}),
                      ("fit, 16 steps per call", {"steps_per_execution": 16})])


def worker_ab(models: dict, rounds: int, worker, variants) -> dict:
    """Variants of one model as throughput worker builds (`throughput._keras_worker`),
    alternating in one TensorFlow worker; speed-up of the last variant over the first."""
    results = {}
    for name, (registry, options, size, channels, batch, steps) in models.items():
        base = dict(source="keras_cnns", model=registry, options=options, size=size,
                    channels=channels, batch=batch)
        samples = {label: [] for label, _ in variants}
        for index in range(rounds):
            for label, extra in (variants if index % 2 == 0 else variants[::-1]):
                samples[label].append(worker.ask(
                    {"build": dict(base, **extra), "steps": steps, "warmup": 3}))
        worker.ask({"release": True})
        row = {label: {
            "images_per_s": common.median([s["images_per_s"] for s in v]),
            "images_per_cpu_s": common.median([s["images_per_cpu_s"] for s in v]),
            "samples": [round(s["images_per_s"], 1) for s in v],
            "load": [s["load_before"] for s in v]} for label, v in samples.items()}
        first, last = row[variants[0][0]], row[variants[-1][0]]
        results[name] = {"batch": batch, "steps": steps, "variants": row,
                         "before": variants[0][0], "after": variants[-1][0],
                         "speedup": last["images_per_s"] / first["images_per_s"],
                         "speedup_cpu": last["images_per_cpu_s"] / first["images_per_cpu_s"]}
    return results


def run(quick: bool = False, log=None) -> dict:
    rounds = 1 if quick else 5
    results = {
        "fused_batch_norm": fused_batch_norm(QUICK_FUSED_BN if quick else FUSED_BN_MODELS, rounds),
        "grouped_conv": grouped_conv(QUICK_GROUPED_CONV if quick else GROUPED_CONV_MODELS, rounds),
        "whole_input_conv": whole_input_conv(QUICK_WHOLE_INPUT if quick else WHOLE_INPUT_MODELS,
                                              rounds),
    }
    # Started only now: their imports would disturb the in-process measurements above.
    workers = onednn_workers()
    try:
        results["onednn"] = onednn(QUICK_ONEDNN if quick else ONEDNN_MODELS, rounds, workers)
        workers.pop("0").close()
        # The oneDNN-on worker is a plain TensorFlow worker with the package's defaults:
        # the A/B comparisons below reuse it (one import fewer per comparison).
        worker = workers["1"]
        results["fused_sgd"] = fused_sgd(QUICK_FUSED_SGD if quick else FUSED_SGD_MODELS, rounds,
                                         worker)
        results["steps_per_execution"] = steps_per_execution(QUICK_SPE if quick else SPE_MODELS,
                                                             rounds, worker)
    finally:
        for worker in workers.values():
            worker.close()
    results["rounds"] = rounds
    return results


def main(argv=None) -> int:
    return common.script_main(__doc__, run, argv)


if __name__ == "__main__":
    sys.exit(main())
