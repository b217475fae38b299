"""Is the input pipeline the bottleneck? Training images/s through `build_pipeline` against
the same model fed from memory, with and without TensorFlow's oneDNN.

    python -m benchmarks.pipeline [--quick]     # prints the JSON; benchmarks.run writes RESULTS.md

For each model (built for Fashion-MNIST's 28x28x1 images, padded or resized inside the
model when it needs more, as `keras_cnns.training` does) and each `TF_ENABLE_ONEDNN_OPTS`
value (each in a fresh worker process, since TensorFlow reads it at import), the benchmark
times whole training epochs (`model.fit(..., epochs=1)`, the same number of images, batch
128) fed four ways, interleaved over several rounds; it reports the median and best
wall-clock rates and the median images per CPU-second (robust to other processes on the
machine):

* `arrays`: `model.fit` on numpy arrays already preprocessed (Keras' own array feeding,
  shuffled) — the in-memory reference;
* `resident`: one preprocessed batch repeated from a tensor — no input work at all, the
  model's own speed;
* `pipeline`: `load("fashion_mnist")` + `build_pipeline(training=True)` (cache, shuffle,
  batch, pad/normalize, prefetch);
* `pipeline+aug`: the same with `augmentation="pad_crop_flip"` (the CIFAR recipe's).

The target: `pipeline / arrays` >= 0.95 (`TARGET`). Full run: LeNet-5 (20,480 images per
epoch) and ResNet-20 (2,560), 7 rounds, oneDNN on and off; `--quick`: LeNet-5, 1,024
images, one round, oneDNN on.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from benchmarks import common

VARIANTS = ("arrays", "resident", "pipeline", "pipeline+aug")
TARGET = 0.95  # pipeline / arrays
FULL = {"models": {"lenet5": 20480, "resnet20": 2560}, "batch_size": 128, "rounds": 7,
        "onednn": ("1", "0")}
QUICK = {"models": {"lenet5": 1024}, "batch_size": 128, "rounds": 1, "onednn": ("1",)}


# ----------------------------------------------------------------- worker side
def measure(name: str, count: int, batch_size: int, rounds: int) -> dict:
    """Rates of every feed for one model, in this (worker) process: `summarize`'s input."""
    import keras
    import tensorflow as tf

    import keras_cnns
    from keras_cnns.data import build_pipeline, load

    train = load("fashion_mnist", "train", validation_fraction=0, limit=count)
    stored = tuple(train.image_shape)
    minimum = keras_cnns.get_spec(name).min_input_size
    fit_input = None
    if min(stored[:2]) < minimum:
        fit_input = "pad" if minimum <= 1.25 * min(stored[:2]) else "resize"

    # The in-memory copy gets exactly the pipeline's deterministic preprocessing.
    plain = build_pipeline(train, input_shape=stored, batch_size=count, training=False)
    x, y = (t.numpy() for t in next(iter(plain)))

    pipelines = {
        "pipeline": build_pipeline(
            train, input_shape=stored, batch_size=batch_size, training=True, drop_remainder=True,
        ),
        "pipeline+aug": build_pipeline(
            train, input_shape=stored, batch_size=batch_size, training=True,
            augmentation="pad_crop_flip", drop_remainder=True,
        ),
    }
    feeds = {
        "arrays": lambda: dict(x=x, y=y, batch_size=batch_size, shuffle=True),
        "resident": lambda: dict(
            x=tf.data.Dataset.from_tensors((x[:batch_size], y[:batch_size])).repeat(
                count // batch_size
            )
        ),
        "pipeline": lambda: dict(x=pipelines["pipeline"]),
        "pipeline+aug": lambda: dict(x=pipelines["pipeline+aug"]),
    }

    models = {}
    for variant in VARIANTS:
        keras.utils.set_random_seed(0)
        model = keras_cnns.get_model(name, num_classes=10, input_shape=stored, fit_input=fit_input)
        model.compile(
            optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
            loss="sparse_categorical_crossentropy",
        )
        model.fit(**feeds[variant](), epochs=1, verbose=0)  # trace, fill caches
        models[variant] = model

    seen = {v: count // batch_size * batch_size for v in VARIANTS}
    seen["arrays"] = count
    rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpu_rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for _ in range(rounds):
        for variant in VARIANTS:
            start, cpu_start = time.perf_counter(), time.process_time()
            models[variant].fit(**feeds[variant](), epochs=1, verbose=0)
            rates[variant].append(seen[variant] / (time.perf_counter() - start))
            cpu_rates[variant].append(seen[variant] / (time.process_time() - cpu_start))
    return {"images": count, "fit_input": fit_input, "rates": rates, "cpu_rates": cpu_rates}


def summarize(raw: dict) -> dict:
    """`measure`'s rates with their figures: per feed the median and best wall-clock rate
    and the median rate per CPU-second, and `pipeline / arrays` of each."""
    rates, cpu_rates = raw["rates"], raw["cpu_rates"]
    median = {v: statistics.median(r) for v, r in rates.items()}
    best = {v: max(r) for v, r in rates.items()}
    cpu = {v: statistics.median(r) for v, r in cpu_rates.items()}
    return {
        **raw, "median": median, "best": best, "cpu": cpu,
        "ratio_cpu": cpu["pipeline"] / cpu["arrays"],
        "ratio_median": median["pipeline"] / median["arrays"],
        "ratio_best": best["pipeline"] / best["arrays"],
    }


def _worker(argv) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", nargs="+", metavar="MODEL=IMAGES", required=True)
    parser.add_argument("--batch-size", type=int, required=True)
    parser.add_argument("--rounds", type=int, required=True)
    args = parser.parse_args(argv)
    common.pin_threads_in_process("tensorflow")
    results = {}
    for item in args.worker:
        name, count = item.split("=")
        results[name] = measure(name, int(count), args.batch_size, args.rounds)
    common.print_result(results)
    return 0


# ----------------------------------------------------------------- parent side
def run(quick: bool = False, log=None) -> dict:
    log = log or common.log
    settings = QUICK if quick else FULL
    arguments = ["--worker", *(f"{m}={n}" for m, n in settings["models"].items()),
                 "--batch-size", str(settings["batch_size"]), "--rounds", str(settings["rounds"])]
    results = {}
    for flag in settings["onednn"]:
        env = common.pin_threads_env(dict(os.environ, TF_ENABLE_ONEDNN_OPTS=flag), "tensorflow")
        env.setdefault("CUDA_VISIBLE_DEVICES", "")
        raw = common.run_module("pipeline", arguments, env=env)
        results[flag] = {name: summarize(r) for name, r in raw.items()}
        for name, r in results[flag].items():
            log(f"  {name} oneDNN={flag}: pipeline / arrays {r['ratio_cpu']:.3f} per CPU-s")
    return {"batch_size": settings["batch_size"], "rounds": settings["rounds"], "target": TARGET,
            "onednn": results}


def main(argv=None) -> int:
    return common.script_main(__doc__, run, argv, worker=_worker)


if __name__ == "__main__":
    sys.exit(main())
