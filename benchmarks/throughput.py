"""Training throughput (images/s, steady state): keras_cnns against plain PyTorch eager,
against keras.applications, and across Keras backends.

    python -m benchmarks.throughput [--quick]   # prints the JSON; benchmarks.run writes RESULTS.md

One long-lived worker process per contender (see `common.Worker`):

* `keras-tensorflow`: keras_cnns (and keras.applications) on the TensorFlow backend, with
  the package's defaults (oneDNN on, `compile()`'s `jit_compile="auto"`, which is plain
  TensorFlow graphs on a CPU-only machine), and the same model compiled with
  `jit_compile=True` (XLA) as a second row. Both train as `keras_cnns.train` does: where
  it runs blocks of steps per call (`steps_per_execution="auto"`: LeNet-5), `model.fit`
  runs them over the resident batch; elsewhere the `train_on_batch` loop runs the same
  compiled step, one per call;
* `keras-jax`, `keras-torch`: keras_cnns on the other Keras backends (`jit_compile`
  "auto": XLA under JAX, eager under PyTorch);
* `torch-eager`: the same architectures in plain PyTorch (`benchmarks/torch_models.py`:
  torchvision's VGG-11, ResNet-50 and DenseNet classes configured to keras_cnns'
  architecture, hand-written LeNet-5, two-tower AlexNet, GoogLeNet and CIFAR ResNet-20,
  which torchvision does not have), NCHW and `channels_last`; the faster of the two is the
  reference.

Every contender trains the same architecture (trainable parameters counted in both
frameworks and asserted equal), on the same resident batch (random images, fixed labels),
with SGD (momentum 0.9; keras_cnns' own `keras_cnns.optimizers.SGD`, the one its training
uses, unless a comparison says otherwise) and cross-entropy, every framework pinned to `common.THREADS`
intra-op threads. A measurement is `steps` training steps after warm-up steps (tracing,
compilation, allocation); the parent alternates the contenders within each round (the
order reversed every other round) and reports the median over the rounds; the load
average is recorded around each measurement.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time

from benchmarks import common

# name -> (registry name, options, input size, channels, batch, measured steps)
PYTORCH_MODELS = {
    "lenet5": ("lenet5", {}, 32, 1, 128, 256),
    "lenet5_modern": ("lenet5", {"variant": "modern"}, 32, 1, 128, 256),
    "alexnet": ("alexnet", {}, 96, 3, 64, 6),
    "vgg11": ("vgg11", {}, 32, 3, 64, 5),
    "googlenet": ("googlenet", {}, 64, 3, 32, 5),
    "resnet20": ("resnet20", {}, 32, 3, 128, 5),
    "resnet50": ("resnet50", {}, 64, 3, 32, 3),
    "densenet_bc100": ("densenet_bc100", {}, 32, 3, 64, 2),
}
# keras.applications builder -> (our registry name, options, input size, batch, steps)
KA_MODELS = {
    "VGG16": ("vgg16", {}, 32, 32, 5),
    "VGG19": ("vgg19", {}, 32, 32, 5),
    "ResNet50": ("resnet50", {"layout": "keras"}, 64, 32, 4),
    "InceptionV3": ("inception_v3", {}, 75, 32, 4),
    "DenseNet121": ("densenet121", {}, 64, 32, 4),
}
QUICK_PYTORCH = {"lenet5_modern": ("lenet5", {"variant": "modern"}, 32, 1, 128, 16)}
QUICK_KA = {"VGG16": ("vgg16", {}, 32, 8, 2)}
KERAS_RUNNERS = {"keras-tensorflow": "tensorflow", "keras-jax": "jax", "keras-torch": "torch"}
OPTIONAL_WORKERS = ("keras-jax", "keras-torch")  # a failure there is recorded, not fatal


# ============================================================== worker side
def _keras_worker(backend: str):
    import numpy as np

    import keras_cnns  # noqa: F401  (sets TF_ENABLE_ONEDNN_OPTS before TensorFlow loads)
    import keras

    common.pin_threads_in_process("tensorflow" if backend == "tensorflow" else backend)
    cache = {}

    def build(request):
        key = json.dumps(request["build"], sort_keys=True)
        if key in cache:
            return cache[key], False
        spec = request["build"]
        keras.utils.set_random_seed(0)
        shape = (spec["size"], spec["size"], spec["channels"])
        if spec["source"] == "keras_applications":
            model = getattr(keras.applications, spec["model"])(
                weights=None, input_shape=shape, classes=10
            )
        else:
            from keras_cnns.precision import precision_policy

            with precision_policy(spec.get("precision", "float32")):
                model = keras_cnns.get_model(
                    spec["model"], num_classes=10, input_shape=shape, **spec["options"]
                )
        compile_options = {}
        if spec.get("jit_compile") is not None:
            compile_options["jit_compile"] = spec["jit_compile"]
        # "auto": as `keras_cnns.train` chooses for this model and batch; `fit` runs the
        # blocks, and where the choice is one step per call the train_on_batch loop runs
        # the same compiled step. A number: `fit` with that many steps per call.
        requested = spec.get("steps_per_execution")
        per_call = requested
        if requested == "auto":
            from keras_cnns.training.assembly import choose_steps_per_execution

            per_call = choose_steps_per_execution(model, spec["batch"])
        use_fit = requested not in (None, "auto") or (per_call or 1) > 1
        if use_fit:
            compile_options["steps_per_execution"] = per_call
        # The package's SGD (fused momentum update on TensorFlow) is what keras_cnns'
        # training uses; "keras" selects Keras' own for A/B comparisons.
        sgd = {"keras_cnns": keras_cnns.optimizers.SGD, "keras": keras.optimizers.SGD}[
            spec.get("optimizer", "keras_cnns")
        ]
        model.compile(
            optimizer=sgd(0.01, momentum=0.9),
            loss="sparse_categorical_crossentropy",
            **compile_options,
        )
        rng = np.random.default_rng(0)
        x = keras.ops.convert_to_tensor(
            rng.uniform(0, 1, size=(spec["batch"], *shape)).astype("float32")
        )
        y = keras.ops.convert_to_tensor(rng.integers(0, 10, size=(spec["batch"],)).astype("int32"))
        trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
        entry = {"model": model, "x": x, "y": y, "trainable": trainable,
                 "total": int(model.count_params()), "fit": None, "per_call": per_call or 1}
        if use_fit:
            # model.fit over the resident batch repeated, N steps per graph call.
            import tensorflow as tf

            from keras_cnns.data.pipeline import in_memory_options

            # Autotuning off, as keras_cnns' pipeline over data in memory has it (unless
            # the request asks for tf.data's default, to compare).
            dataset = tf.data.Dataset.from_tensors((x, y)).repeat()
            if not spec.get("autotune"):
                dataset = dataset.with_options(in_memory_options())
            entry["fit"] = lambda steps: model.fit(
                dataset, steps_per_epoch=steps, epochs=1, verbose=0
            ).history["loss"][-1]
        cache[key] = entry
        return entry, True

    def handle(request):
        if request.get("release"):
            cache.clear()
            keras.backend.clear_session()
            gc.collect()
            return {"released": True}
        entry, fresh = build(request)
        model, x, y = entry["model"], entry["x"], entry["y"]

        def train(steps):
            """(loss, steps run): `fit` runs whole blocks, so a multiple of its block."""
            if entry["fit"] is not None:
                per_call = entry["per_call"]
                steps = per_call * -(-steps // per_call)
                return entry["fit"](steps), steps
            for _ in range(steps):
                loss = model.train_on_batch(x, y)
            return loss, steps

        start = time.perf_counter()
        train(request["warmup"] if fresh else 1)
        warmup_s = time.perf_counter() - start
        load_before = common.load()
        cpu, wall = time.process_time(), time.perf_counter()
        loss, steps = train(request["steps"])
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
        images = steps * request["build"]["batch"]
        return {
            "steps_per_execution": entry["per_call"] if entry["fit"] is not None else 1,
            "images_per_s": images / wall,
            "images_per_cpu_s": images / cpu,
            "step_s": wall / steps,
            "trainable": entry["trainable"],
            "total": entry["total"],
            "jit_compile": bool(getattr(model, "jit_compile", False)),
            "warmup_s": warmup_s,
            "loss": float(np.asarray(loss).ravel()[0]),
            "load_before": load_before,
            "load_after": common.load(),
        }

    return handle


def _torch_worker():
    import numpy as np
    import torch
    import torch.nn.functional as F

    from benchmarks import torch_models

    common.pin_threads_in_process("torch")
    cache = {}

    def handle(request):
        if request.get("release"):
            cache.clear()
            gc.collect()
            return {"released": True}
        spec = request["build"]
        key = json.dumps(spec, sort_keys=True)
        fresh = key not in cache
        if fresh:
            torch.manual_seed(0)
            model = torch_models.build(spec["model"], spec["size"], 10, **spec["options"])
            rng = np.random.default_rng(0)
            x = torch.from_numpy(
                rng.uniform(0, 1, size=(spec["batch"], spec["channels"], spec["size"], spec["size"]))
                .astype("float32")
            )
            y = torch.from_numpy(rng.integers(0, 10, size=(spec["batch"],)))
            if spec["channels_last"]:
                model = model.to(memory_format=torch.channels_last)
                x = x.contiguous(memory_format=torch.channels_last)
            model.train()
            optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            cache[key] = (model, optimizer, x, y, torch_models.count_trainable(model))
        model, optimizer, x, y, trainable = cache[key]
        reference = torch_models.REFERENCES[spec["model"]]

        def step():
            optimizer.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            return loss

        start = time.perf_counter()
        for _ in range(request["warmup"] if fresh else 1):
            step()
        warmup_s = time.perf_counter() - start
        load_before = common.load()
        cpu, wall = time.process_time(), time.perf_counter()
        for _ in range(request["steps"]):
            loss = step()
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu
        images = request["steps"] * spec["batch"]
        return {
            "images_per_s": images / wall,
            "images_per_cpu_s": images / cpu,
            "step_s": wall / request["steps"],
            "trainable": trainable,
            "reference": reference,
            "warmup_s": warmup_s,
            "loss": float(loss),
            "load_before": load_before,
            "load_after": common.load(),
        }

    return handle


# ============================================================== parent side
def start_workers(names) -> dict:
    workers = {}
    for name in names:
        if name == "torch-eager":
            workers[name] = common.Worker("throughput", name, env=common.pin_threads_env(os.environ))
        else:
            backend = KERAS_RUNNERS[name]
            workers[name] = common.Worker(
                "throughput", name, env=common.pin_threads_env(os.environ, backend)
            )
    return workers


def _release(workers: dict, names=None, limit_mb: float = 2500) -> None:
    """Drop the workers' models; restart a worker whose memory stays above `limit_mb`
    (freed memory is not always returned to the system, and the machine is shared)."""
    for name in names or list(workers):
        worker = workers[name]
        worker.ask({"release": True})
        if worker.rss_mb() > limit_mb:
            worker.close()
            workers[name] = start_workers([name])[name]


def _summary(samples: list[dict]) -> dict:
    extra = {key: samples[0][key] for key in ("reference", "steps_per_execution") if key in samples[0]}
    return {
        **extra,
        "images_per_s": common.median([s["images_per_s"] for s in samples]),
        "images_per_cpu_s": common.median([s["images_per_cpu_s"] for s in samples]),
        "best_images_per_s": max(s["images_per_s"] for s in samples),
        "samples": [round(s["images_per_s"], 2) for s in samples],
        "trainable": samples[0]["trainable"],
        "load": [s["load_before"] for s in samples] + [samples[-1]["load_after"]],
        "warmup_s": max(s["warmup_s"] for s in samples),
    }


def _contenders(spec, backends: bool):
    """(label, worker, build request) of every contender for one model."""
    registry, options, size, channels, batch, _ = spec
    base = dict(source="keras_cnns", model=registry, options=options, size=size,
                channels=channels, batch=batch)
    # The TensorFlow rows train as `keras_cnns.train` does: its steps per call.
    tf_base = dict(base, steps_per_execution="auto")
    rows = [("keras_cnns TF", "keras-tensorflow", tf_base),
            ("keras_cnns TF+XLA", "keras-tensorflow", dict(tf_base, jit_compile=True))]
    if backends:
        rows += [("keras_cnns JAX", "keras-jax", dict(base)),
                 ("keras_cnns torch backend", "keras-torch", dict(base))]
    rows += [("PyTorch eager NCHW", "torch-eager", dict(base, channels_last=False)),
             ("PyTorch eager channels_last", "torch-eager", dict(base, channels_last=True))]
    return rows


def run(quick: bool = False, rounds: int | None = None, only_models=None, log=None) -> dict:
    """Measure both tables; returns the JSON-serializable results."""
    log = log or common.log
    rounds = rounds or (1 if quick else 3)
    models = QUICK_PYTORCH if quick else PYTORCH_MODELS
    ka_models = QUICK_KA if quick else KA_MODELS
    if only_models:
        models = {k: v for k, v in models.items() if k in only_models}
        ka_models = {k: v for k, v in ka_models.items() if k in only_models}
    warmup = 2 if quick else 3
    workers = start_workers(["keras-tensorflow", "keras-jax", "keras-torch", "torch-eager"])
    results = {"pytorch": {}, "keras_applications": {}, "rounds": rounds, "warmup_steps": warmup}
    try:
        for name, spec in models.items():
            contenders = _contenders(spec, backends=True)
            samples = {label: [] for label, _, _ in contenders}
            failed = {}
            for index in range(rounds):
                order = contenders if index % 2 == 0 else contenders[::-1]
                for label, worker, build in order:
                    if label in failed:
                        continue
                    try:
                        answer = workers[worker].ask(
                            {"build": build, "steps": spec[5], "warmup": warmup}
                        )
                    except RuntimeError as err:
                        if worker not in OPTIONAL_WORKERS:
                            raise
                        # A backend that cannot train this model is a finding, not a crash.
                        failed[label] = str(err).splitlines()[-1][:300]
                        log(f"  {name} {label}: FAILED {failed[label]}")
                        if workers[worker].process.poll() is not None:
                            workers[worker] = start_workers([worker])[worker]
                        continue
                    samples[label].append(answer)
                    log(f"  {name} {label}: {answer['images_per_s']:.1f} img/s (load {answer['load_before']})")
            _release(workers)
            row = {label: _summary(s) if s else {"error": failed.get(label, "not measured")}
                   for label, s in samples.items()}
            counts = {label: r["trainable"] for label, r in row.items() if "trainable" in r}
            if len(set(counts.values())) != 1:
                raise AssertionError(f"{name}: trainable parameters differ: {counts}")
            torch_best = max(("PyTorch eager NCHW", "PyTorch eager channels_last"),
                             key=lambda label: row[label]["images_per_s"])
            results["pytorch"][name] = {
                "registry": spec[0], "options": spec[1], "input": [spec[2], spec[2], spec[3]],
                "batch": spec[4], "steps": spec[5], "trainable": counts["keras_cnns TF"],
                "contenders": row, "pytorch_best": torch_best,
                "pytorch_reference": row[torch_best]["reference"],
                "steps_per_execution": row["keras_cnns TF"].get("steps_per_execution", 1),
                "ratio_tf": row["keras_cnns TF"]["images_per_s"] / row[torch_best]["images_per_s"],
                "ratio_tf_xla": row["keras_cnns TF+XLA"]["images_per_s"] / row[torch_best]["images_per_s"],
                "ratio_tf_cpu": row["keras_cnns TF"]["images_per_cpu_s"] / row[torch_best]["images_per_cpu_s"],
            }
        for name, (registry, options, size, batch, steps) in ka_models.items():
            base = dict(model=registry, options=options, size=size, channels=3, batch=batch)
            # keras_cnns as its training runs it (the package's fused SGD), keras_cnns with
            # Keras' SGD (the layers alone), keras.applications with Keras' SGD.
            contenders = [("keras_cnns", dict(base, source="keras_cnns")),
                          ("keras_cnns, Keras SGD", dict(base, source="keras_cnns", optimizer="keras")),
                          ("keras.applications", dict(base, source="keras_applications", model=name,
                                                      optimizer="keras"))]
            samples = {label: [] for label, _ in contenders}
            for index in range(rounds):
                order = contenders if index % 2 == 0 else contenders[::-1]
                for label, build in order:
                    answer = workers["keras-tensorflow"].ask(
                        {"build": build, "steps": steps, "warmup": warmup}
                    )
                    samples[label].append(answer)
                    log(f"  {name} {label}: {answer['images_per_s']:.1f} img/s (load {answer['load_before']})")
            _release(workers, ["keras-tensorflow"])
            row = {label: _summary(s) for label, s in samples.items()}
            totals = {label: s[0]["total"] for label, s in samples.items()}
            if len(set(totals.values())) != 1:
                raise AssertionError(f"{name}: parameters differ: {totals}")
            results["keras_applications"][name] = {
                "registry": registry, "options": options, "input": [size, size, 3], "batch": batch,
                "steps": steps, "parameters": totals["keras_cnns"], "contenders": row,
                "ratio": row["keras_cnns"]["images_per_s"] / row["keras.applications"]["images_per_s"],
                "ratio_cpu": row["keras_cnns"]["images_per_cpu_s"]
                / row["keras.applications"]["images_per_cpu_s"],
                "ratio_layers": row["keras_cnns, Keras SGD"]["images_per_s"]
                / row["keras.applications"]["images_per_s"],
            }
    finally:
        for worker in workers.values():
            worker.close()
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--models", nargs="*")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        name = args.worker[0]
        common.serve(_torch_worker() if name == "torch-eager" else _keras_worker(KERAS_RUNNERS[name]))
        return 0
    common.print_result(run(args.quick, args.rounds, args.models))
    return 0


if __name__ == "__main__":
    sys.exit(main())
