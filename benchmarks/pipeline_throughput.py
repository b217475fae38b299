"""Is the input pipeline the bottleneck? Training images/s through `build_pipeline` against
the same model fed from memory, with and without TensorFlow's oneDNN.

    python benchmarks/pipeline_throughput.py                    # lenet5 and resnet20
    python benchmarks/pipeline_throughput.py lenet5 vgg11 --images 2048 --rounds 5

For each model (built for Fashion-MNIST's 28x28x1 images, padded or resized inside the
model when it needs more, as `keras_cnns.training` does) and each `TF_ENABLE_ONEDNN_OPTS`
value (each in a fresh subprocess, since TensorFlow reads it at import), the script times
whole training epochs (`model.fit(..., epochs=1)`, the same number of images, batch 128) fed
four ways, interleaved over several rounds; it reports the median and best wall-clock
rates and the median images per CPU-second (robust to other processes on the machine):

* `arrays`: `model.fit` on numpy arrays already preprocessed (Keras' own array feeding,
  shuffled) — the in-memory reference of the issue;
* `resident`: one preprocessed batch repeated from a tensor — no input work at all, the
  model's own speed;
* `pipeline`: `load("fashion_mnist")` + `build_pipeline(training=True)` (cache, shuffle,
  batch, pad/normalize, prefetch);
* `pipeline+aug`: the same with `augmentation="pad_crop_flip"` (the CIFAR recipe's).

The ratio `pipeline / arrays` must be >= 0.95. Results go to
`benchmarks/results/pipeline_throughput.md` (or `--out`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "pipeline_throughput.md"
VARIANTS = ("arrays", "resident", "pipeline", "pipeline+aug")
TARGET = 0.95


# ----------------------------------------------------------------- worker side
def _worker(models: list[str], images: dict[str, int], batch_size: int, rounds: int) -> dict:
    import keras
    import tensorflow as tf

    import keras_cnns
    from keras_cnns.data import build_pipeline, load

    results = {}
    for name in models:
        count = images[name]
        train = load("fashion_mnist", "train", validation_fraction=0, limit=count)
        stored = tuple(train.image_shape)
        minimum = keras_cnns.get_spec(name).min_input_size
        fit_input = None
        if min(stored[:2]) < minimum:
            fit_input = "pad" if minimum <= 1.25 * min(stored[:2]) else "resize"

        # The in-memory copy gets exactly the pipeline's deterministic preprocessing.
        plain = build_pipeline(train, input_shape=stored, batch_size=count, training=False)
        x, y = (t.numpy() for t in next(iter(plain)))

        feeds = {
            "arrays": lambda: dict(x=x, y=y, batch_size=batch_size, shuffle=True),
            "resident": lambda: dict(
                x=tf.data.Dataset.from_tensors((x[:batch_size], y[:batch_size])).repeat(
                    count // batch_size
                )
            ),
        }
        pipelines = {
            "pipeline": build_pipeline(
                train, input_shape=stored, batch_size=batch_size, training=True,
                drop_remainder=True,
            ),
            "pipeline+aug": build_pipeline(
                train, input_shape=stored, batch_size=batch_size, training=True,
                augmentation="pad_crop_flip", drop_remainder=True,
            ),
        }
        feeds["pipeline"] = lambda: dict(x=pipelines["pipeline"])
        feeds["pipeline+aug"] = lambda: dict(x=pipelines["pipeline+aug"])

        models_ = {}
        for variant in VARIANTS:
            keras.utils.set_random_seed(0)
            model = keras_cnns.get_model(
                name, num_classes=10, input_shape=stored, fit_input=fit_input
            )
            model.compile(
                optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
                loss="sparse_categorical_crossentropy",
            )
            model.fit(**feeds[variant](), epochs=1, verbose=0)  # trace, fill caches
            models_[variant] = model

        seen = {v: count // batch_size * batch_size for v in VARIANTS}
        seen["arrays"] = count
        rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
        cpu_rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
        for _ in range(rounds):
            for variant in VARIANTS:
                start, cpu_start = time.perf_counter(), time.process_time()
                models_[variant].fit(**feeds[variant](), epochs=1, verbose=0)
                rates[variant].append(seen[variant] / (time.perf_counter() - start))
                cpu_rates[variant].append(seen[variant] / (time.process_time() - cpu_start))
        results[name] = {
            "images": count,
            "fit_input": fit_input,
            "rates": rates,
            "cpu_rates": cpu_rates,
            "median": {v: statistics.median(r) for v, r in rates.items()},
            "best": {v: max(r) for v, r in rates.items()},
            "cpu": {v: statistics.median(r) for v, r in cpu_rates.items()},
        }
    return results


# ----------------------------------------------------------------- driver side
def _machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version()}


def _versions() -> dict:
    code = (
        "import json, keras, numpy, tensorflow as tf;"
        "print(json.dumps({'tensorflow': tf.__version__, 'keras': keras.__version__,"
        " 'numpy': numpy.__version__}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _run_config(onednn: str, args) -> dict:
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=onednn, TF_CPP_MIN_LOG_LEVEL="2")
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    command = [
        sys.executable, __file__, "--worker", *args.models,
        "--batch-size", str(args.batch_size), "--rounds", str(args.rounds),
    ]
    if args.images:
        command += ["--images", str(args.images)]
    out = subprocess.run(command, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"worker (TF_ENABLE_ONEDNN_OPTS={onednn}) failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _report(results: dict, args, machine: dict, versions: dict) -> str:
    lines = [
        "# Input pipeline throughput",
        "",
        f"Written by `benchmarks/pipeline_throughput.py` on "
        f"{datetime.date.today().isoformat()}.",
        "",
        f"- Machine: {machine['nproc']} CPU cores ({machine['cpu']}), no GPU.",
        f"- Versions: Python {machine['python']}, TensorFlow {versions['tensorflow']}, "
        f"Keras {versions['keras']}, NumPy {versions['numpy']}.",
        f"- Fashion-MNIST train (28x28x1), batch {args.batch_size}, SGD; {args.rounds} timed "
        "epochs per feed (whole `model.fit(epochs=1)` calls, after one warm-up epoch), the "
        "four feeds interleaved round by round.",
        "- `arrays`: `model.fit` on preprocessed numpy arrays; `resident`: one preprocessed "
        "batch repeated (no input work); `pipeline`: `load` + `build_pipeline(training=True)`; "
        "`pipeline+aug`: with `augmentation=\"pad_crop_flip\"`.",
        "",
        "Shared machines make wall-clock rates noisy, so three figures are given per feed: the "
        "median and the best of the wall-clock rates, and the median of images per CPU-second "
        "(`time.process_time()`, all threads of the process: what the pipeline costs in CPU, "
        "independent of other processes). Ratios: `pipeline / arrays` for each figure.",
        "",
        "| model | images/epoch | TF_ENABLE_ONEDNN_OPTS | figure | arrays | resident | pipeline "
        "| pipeline+aug | pipeline / arrays | pipeline / resident |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    labels = {"median": "img/s, median", "best": "img/s, best", "cpu": "img per CPU-s"}
    for onednn, per_model in results.items():
        for name, r in per_model.items():
            for figure, label in labels.items():
                m = r[figure]
                lines.append(
                    f"| {name} | {r['images']} | {onednn} | {label} | {m['arrays']:,.0f} | "
                    f"{m['resident']:,.0f} | {m['pipeline']:,.0f} | {m['pipeline+aug']:,.0f} | "
                    f"{m['pipeline'] / m['arrays']:.3f} | {m['pipeline'] / m['resident']:.3f} |"
                )
    lines += ["", "## Verdict", ""]
    for onednn, per_model in results.items():
        for name, r in per_model.items():
            ratio = r["cpu"]["pipeline"] / r["cpu"]["arrays"]
            wall = r["median"]["pipeline"] / r["median"]["arrays"]
            verdict = "meets" if ratio >= TARGET else "misses"
            lines.append(
                f"- {name}, TF_ENABLE_ONEDNN_OPTS={onednn}: pipeline / arrays = {ratio:.3f} per "
                f"CPU-second ({wall:.3f} median wall-clock): {verdict} the {TARGET} target."
            )
    lines += ["", "## oneDNN", ""]
    if set(results) == {"0", "1"}:
        for name in results["1"]:
            on, off = results["1"][name], results["0"][name]
            lines.append(
                f"- {name}: oneDNN on / off, best wall-clock rate: "
                f"{on['best']['arrays'] / off['best']['arrays']:.2f}x (arrays), "
                f"{on['best']['pipeline'] / off['best']['pipeline']:.2f}x (pipeline); "
                f"per CPU-second: {on['cpu']['arrays'] / off['cpu']['arrays']:.2f}x (arrays), "
                f"{on['cpu']['pipeline'] / off['cpu']['pipeline']:.2f}x (pipeline)."
            )
    lines += ["", "## Raw rates (images/s, every round)", ""]
    for onednn, per_model in results.items():
        for name, r in per_model.items():
            for variant, rates in r["rates"].items():
                lines.append(
                    f"- oneDNN={onednn} {name} {variant}: "
                    + ", ".join(f"{v:,.0f}" for v in rates)
                    + " (per CPU-s: "
                    + ", ".join(f"{v:,.0f}" for v in r["cpu_rates"][variant])
                    + ")"
                )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "models", nargs="*", help="registered model names (default: lenet5 resnet20)"
    )
    parser.add_argument(
        "--images", type=int, default=None,
        help="training images per epoch (default: 20480 for lenet5, 2560 otherwise)",
    )
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--onednn", choices=("0", "1", "both"), default="both")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if not args.models:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        import keras_cnns

        available = keras_cnns.list_models()
        args.models = ["lenet5", "resnet20" if "resnet20" in available else "vgg11"]
    if args.worker:
        images = {m: args.images or (20480 if m == "lenet5" else 2560) for m in args.models}
        print(json.dumps(_worker(args.models, images, args.batch_size, args.rounds)))
        return

    configs = ("1", "0") if args.onednn == "both" else (args.onednn,)
    results = {c: _run_config(c, args) for c in configs}
    report = _report(results, args, _machine(), _versions())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))
    print(report)


if __name__ == "__main__":
    main()
