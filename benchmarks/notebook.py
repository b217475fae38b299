"""The notebook path: `model.fit` as a new user writes it, against a plain PyTorch loop.

    python -m benchmarks.notebook [--quick]

What a notebook user writes, timed per training epoch (images/s) on the same images (float32
arrays in [0, 1], random, resident in memory) and the same architecture:

* `arrays`: `model = keras_cnns.<model>(...)`, `model.compile(keras.optimizers.SGD(...) or
  Adam(...), "sparse_categorical_crossentropy", metrics=["accuracy"])`, then
  `model.fit(x, y, batch_size=B)` on NumPy arrays;
* `tf.data`: the same model and optimizer fed
  `tf.data.Dataset.from_tensor_slices((x, y)).shuffle(n).batch(B).prefetch(AUTOTUNE)`;
* `keras_cnns settings`: the `tf.data` feed with what `keras_cnns.train` sets on top of it:
  `keras_cnns.optimizers.SGD` for SGD (the fused momentum update; Adam stays Keras'),
  `compile(steps_per_execution=keras_cnns.training.assembly.choose_steps_per_execution(model,
  B))` (16 for LeNet-5, 1 for the others) and tf.data's autotuning off
  (`dataset.with_options(keras_cnns.data.pipeline.in_memory_options())`);
* PyTorch: the same network (`benchmarks/torch_models.py`) in eager mode, channels_last,
  `torch.optim.SGD` or `Adam` with the same settings, and the usual loop: a random
  permutation per epoch, one slice of the resident tensors per batch, forward, cross-entropy,
  backward, step, the batch's correct predictions summed (as `metrics=["accuracy"]` does).

Each framework runs in its own worker process pinned to `common.THREADS` threads; every
contender first trains one untimed epoch (tracing, allocation), then the parent alternates
the contenders within each round (the order reversed every other round) and reports the
median of the rounds; the load average is recorded around each epoch.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time

from benchmarks import common

# name -> (registry name, options, input size, channels, batch, images per epoch)
MODELS = {
    "lenet5_modern": ("lenet5", {"variant": "modern"}, 32, 1, 128, 12_800),
    "resnet20": ("resnet20", {}, 32, 3, 128, 2_560),
    "vgg11": ("vgg11", {}, 32, 3, 64, 1_280),
}
QUICK_MODELS = {"lenet5_modern": ("lenet5", {"variant": "modern"}, 32, 1, 128, 1_024)}
# The optimizers a new user reaches for, with the usual settings of each.
OPTIMIZERS = {"sgd": {"learning_rate": 0.01, "momentum": 0.9}, "adam": {"learning_rate": 1e-3}}
FEEDS = ("arrays", "tf.data", "keras_cnns settings")
TORCH = "PyTorch eager channels_last"


def _images(size: int, channels: int, count: int):
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.random((count, size, size, channels), dtype=np.float32)
    y = rng.integers(0, 10, size=count).astype("int64")
    return x, y


# ============================================================== workers
def _keras_worker():
    import keras_cnns  # noqa: F401  (oneDNN on before TensorFlow loads)
    import keras
    import tensorflow as tf

    from keras_cnns.data.pipeline import in_memory_options
    from keras_cnns.training.assembly import choose_steps_per_execution

    common.pin_threads_in_process("tensorflow")

    def build(spec):
        keras.utils.set_random_seed(0)
        model = keras_cnns.get_model(spec["model"], num_classes=10, **spec["options"],
                                     input_shape=(spec["size"], spec["size"], spec["channels"]))
        settings = OPTIMIZERS[spec["optimizer"]]
        if spec["optimizer"] == "adam":
            optimizer = keras.optimizers.Adam(**settings)
        elif spec["feed"] == "keras_cnns settings":
            optimizer = keras_cnns.optimizers.SGD(**settings)
        else:
            optimizer = keras.optimizers.SGD(**settings)
        per_call = (choose_steps_per_execution(model, spec["batch"])
                    if spec["feed"] == "keras_cnns settings" else 1)
        model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], steps_per_execution=per_call)
        x, y = _images(spec["size"], spec["channels"], spec["count"])
        if spec["feed"] == "arrays":
            def epoch():
                return model.fit(x, y, batch_size=spec["batch"], epochs=1, verbose=0).history["loss"][-1]
        else:
            dataset = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0)
                       .batch(spec["batch"]).prefetch(tf.data.AUTOTUNE))
            if spec["feed"] == "keras_cnns settings":
                dataset = dataset.with_options(in_memory_options())

            def epoch():
                return model.fit(dataset, epochs=1, verbose=0).history["loss"][-1]
        return epoch, {"steps_per_execution": per_call}

    return _epoch_server(build, release=keras.backend.clear_session)


def _torch_worker():
    import torch
    import torch.nn.functional as F

    from benchmarks import torch_models

    common.pin_threads_in_process("torch")

    def build(spec):
        torch.manual_seed(0)
        model = torch_models.build(spec["model"], spec["size"], 10, **spec["options"])
        model = model.to(memory_format=torch.channels_last).train()
        optimizer_class = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[spec["optimizer"]]
        settings = dict(OPTIMIZERS[spec["optimizer"]])
        optimizer = optimizer_class(model.parameters(), lr=settings.pop("learning_rate"), **settings)
        x, y = _images(spec["size"], spec["channels"], spec["count"])
        x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)
        y = torch.from_numpy(y)
        batch = spec["batch"]

        def epoch():
            order = torch.randperm(len(x))
            correct = torch.zeros((), dtype=torch.int64)
            for start in range(0, len(x), batch):
                index = order[start:start + batch]
                images = x[index].contiguous(memory_format=torch.channels_last)
                labels = y[index]
                optimizer.zero_grad(set_to_none=True)
                logits = model(images)
                loss = F.cross_entropy(logits, labels)
                loss.backward()
                optimizer.step()
                correct += (logits.argmax(1) == labels).sum()
            return float(loss)

        return epoch, {}

    return _epoch_server(build)


def _epoch_server(build, release=lambda: None):
    """A worker's request handler: `build(spec)` gives `(epoch, extra)`, where `epoch()`
    trains one epoch and returns its last loss. The first request for a spec builds it and
    trains one untimed epoch (tracing, allocation); every request times one epoch."""
    cache = {}

    def handle(request):
        if request.get("release"):
            cache.clear()
            release()
            gc.collect()
            return {"released": True}
        spec = request["build"]
        key = json.dumps(spec, sort_keys=True)
        if key not in cache:
            cache[key] = build(spec)
            cache[key][0]()
        epoch, extra = cache[key]
        load_before = common.load()
        cpu, wall = time.process_time(), time.perf_counter()
        loss = epoch()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        return {"images_per_s": spec["count"] / wall, "images_per_cpu_s": spec["count"] / cpu,
                "loss": float(loss), "load_before": load_before, "load_after": common.load(), **extra}

    return handle


# ============================================================== parent
def run(quick: bool = False, log=None) -> dict:
    log = log or common.log
    models = QUICK_MODELS if quick else MODELS
    rounds = 1 if quick else 3
    workers = {
        "keras": common.Worker("notebook", "keras", env=common.pin_threads_env(os.environ, "tensorflow")),
        "torch": common.Worker("notebook", "torch", env=common.pin_threads_env(os.environ)),
    }
    results = {"rounds": rounds, "models": {}}
    try:
        for name, (registry, options, size, channels, batch, count) in models.items():
            base = dict(model=registry, options=options, size=size, channels=channels, batch=batch,
                        count=count)
            contenders = [((feed, optimizer), "keras", dict(base, feed=feed, optimizer=optimizer))
                          for optimizer in OPTIMIZERS for feed in FEEDS]
            contenders += [((TORCH, optimizer), "torch", dict(base, optimizer=optimizer))
                           for optimizer in OPTIMIZERS]
            samples = {label: [] for label, _, _ in contenders}
            for index in range(rounds):
                for label, worker, build in (contenders if index % 2 == 0 else contenders[::-1]):
                    answer = workers[worker].ask({"build": build})
                    samples[label].append(answer)
                    log(f"  {name} {label}: {answer['images_per_s']:.1f} img/s (load {answer['load_before']})")
            for worker in workers.values():
                worker.ask({"release": True})
            row = {}
            for optimizer in OPTIMIZERS:
                torch_rate = common.median([s["images_per_s"] for s in samples[(TORCH, optimizer)]])
                for feed in (*FEEDS, TORCH):
                    got = samples[(feed, optimizer)]
                    rate = common.median([s["images_per_s"] for s in got])
                    row.setdefault(optimizer, {})[feed] = {
                        "images_per_s": rate,
                        "images_per_cpu_s": common.median([s["images_per_cpu_s"] for s in got]),
                        "ratio_to_pytorch": rate / torch_rate,
                        "samples": [round(s["images_per_s"], 1) for s in got],
                        "load": [s["load_before"] for s in got] + [got[-1]["load_after"]],
                        **({"steps_per_execution": got[0]["steps_per_execution"]}
                           if "steps_per_execution" in got[0] else {}),
                    }
            results["models"][name] = {"registry": registry, "options": options,
                                       "input": [size, size, channels], "batch": batch,
                                       "images_per_epoch": count, "optimizers": row}
    finally:
        for worker in workers.values():
            worker.close()
    results["optimizer_settings"] = OPTIMIZERS
    return results


def _worker(argv) -> int:
    name = argv[argv.index("--worker") + 1]
    common.serve(_torch_worker() if name == "torch" else _keras_worker())
    return 0


def main(argv=None) -> int:
    return common.script_main(__doc__, run, argv, worker=_worker)


if __name__ == "__main__":
    sys.exit(main())
