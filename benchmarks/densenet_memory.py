"""Peak memory and time of one DenseNet-BC-100 training step, plain and memory-efficient.

    python benchmarks/densenet_memory.py                 # DenseNet-BC-100, batch 64, 32x32
    python benchmarks/densenet_memory.py --batch 32 --steps 3

Pleiss et al. (2017) report 2.863 GB -> 1.605 GB and 0.165 -> 0.207 s per batch for
DenseNet-BC-100 at batch 64 on a GPU; the target here is at least 2x less memory for at most
30 % more time. Each mode runs in a fresh subprocess (nothing shared, no allocator state
carried over), builds `densenet_bc100(num_classes=10, memory_efficient=...)`, compiles it
with SGD (momentum 0.9) and sparse categorical cross-entropy (`jit_compile=False`: the
plain TensorFlow graph), and takes `--warmup` steps (tracing, first allocations) before
the measured ones. The two modes alternate over `--rounds` rounds (plain, memory-efficient,
plain, ...) so that a change in the machine's load hits both alike; the load average is
recorded with each run. Two memory figures come back:

* `peak_step_mb`: TensorFlow's own allocator statistics for the device
  (`tf.config.experimental.get_memory_info`: `peak` bytes in use during the measured
  steps, after `reset_memory_stats`, minus the bytes in use just before them: weights,
  optimizer slots and the input batch are excluded, so this is what a training step
  itself needs: activations kept for the backward pass and temporaries);
* `peak_rss_mb`: the process's peak resident set size (`ru_maxrss`), the whole process
  including TensorFlow's runtime and the traced graphs.

Time per step is the median of all measured steps of a mode (`train_on_batch` on a
resident batch); the memory figures are the largest over the rounds (they repeat exactly).
Results go to `benchmarks/results/densenet_memory.md` and `.json` (or `--out`).
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

RESULTS = Path(__file__).parent / "results" / "densenet_memory.md"
MODES = ("plain", "memory_efficient")
TARGET_MEMORY_RATIO = 2.0  # plain / memory-efficient
TARGET_TIME_RATIO = 1.3  # memory-efficient / plain


# ----------------------------------------------------------------- worker side
def _worker(mode: str, batch: int, steps: int, warmup: int, model_name: str) -> dict:
    import resource

    import keras
    import numpy as np
    import tensorflow as tf

    import keras_cnns

    device = "GPU:0" if tf.config.list_logical_devices("GPU") else "CPU:0"
    keras.utils.set_random_seed(0)
    model = keras_cnns.get_model(
        model_name, num_classes=10, memory_efficient=(mode == "memory_efficient")
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        jit_compile=False,
    )
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(0, 1, size=(batch, *model.input_shape[1:])).astype("float32"))
    y = tf.constant(rng.integers(0, 10, size=(batch,)))
    for _ in range(warmup):
        model.train_on_batch(x, y)

    tf.config.experimental.reset_memory_stats(device)
    before = tf.config.experimental.get_memory_info(device)["current"]
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        loss = model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    info = tf.config.experimental.get_memory_info(device)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "load_average": os.getloadavg()[0],
        "mode": mode,
        "device": device,
        "parameters": int(model.count_params()),
        "loss": float(np.asarray(loss).ravel()[0]),
        "in_use_before_mb": before / 2**20,
        "peak_mb": info["peak"] / 2**20,
        "peak_step_mb": (info["peak"] - before) / 2**20,
        "peak_rss_mb": rss_kb / 2**10,
        "step_s": statistics.median(times),
        "step_times_s": times,
    }


# ------------------------------------------------------------------ main side
def _run_mode(mode: str, args) -> dict:
    command = [
        sys.executable, __file__, "--worker", mode, "--batch", str(args.batch),
        "--steps", str(args.steps), "--warmup", str(args.warmup), "--model", args.model,
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow")
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode:
        raise RuntimeError(f"{mode} worker failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _aggregate(runs: list[dict]) -> dict:
    times = [t for run in runs for t in run["step_times_s"]]
    return {
        "mode": runs[0]["mode"],
        "device": runs[0]["device"],
        "parameters": runs[0]["parameters"],
        "peak_step_mb": max(run["peak_step_mb"] for run in runs),
        "peak_mb": max(run["peak_mb"] for run in runs),
        "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
        "step_s": statistics.median(times),
        "runs": runs,
    }


def _markdown(results: dict, args) -> str:
    plain, efficient = results["plain"], results["memory_efficient"]
    memory_ratio = plain["peak_step_mb"] / efficient["peak_step_mb"]
    rss_ratio = plain["peak_rss_mb"] / efficient["peak_rss_mb"]
    time_ratio = efficient["step_s"] / plain["step_s"]
    rows = [
        "| mode | parameters | peak step memory (MB) | peak RSS (MB) | time per step (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode in MODES:
        r = results[mode]
        rows.append(
            f"| {mode} | {r['parameters']:,} | {r['peak_step_mb']:.1f} | "
            f"{r['peak_rss_mb']:.1f} | {r['step_s']:.3f} |"
        )
    memory_ok = memory_ratio >= TARGET_MEMORY_RATIO
    time_ok = time_ratio <= TARGET_TIME_RATIO
    return "\n".join(
        [
            f"# {args.model}: memory of a training step, plain vs memory-efficient",
            "",
            f"Written by `benchmarks/densenet_memory.py` on {results['date']} "
            f"({results['machine']}; device {plain['device']}; TensorFlow "
            f"{results['tensorflow']}, Keras {results['keras']}). Batch {args.batch} of "
            f"32x32x3 images, {args.warmup} warm-up steps, then {args.steps} measured steps "
            f"per run; {args.rounds} rounds alternating the modes, each run in a fresh "
            "process. Load average (1 min) during the runs: "
            + ", ".join(
                f"{run['mode']} {run['load_average']:.1f}"
                for pair in zip(plain["runs"], efficient["runs"])
                for run in pair
            )
            + ".",
            "",
            *rows,
            "",
            f"- Peak step memory (TensorFlow allocator, bytes in use above weights, "
            f"optimizer state and batch): plain / memory-efficient = **{memory_ratio:.2f}x** "
            f"(target >= {TARGET_MEMORY_RATIO:.0f}x: {'met' if memory_ok else 'not met'}).",
            f"- Peak RSS of the whole process: {rss_ratio:.2f}x.",
            f"- Time per step: memory-efficient / plain = **{time_ratio:.2f}x** "
            f"(target <= {TARGET_TIME_RATIO:.2f}x: {'met' if time_ok else 'not met'}).",
            "",
            "Pleiss et al. 2017 (GPU, PyTorch): 2.863 GB -> 1.605 GB (1.78x), "
            "0.165 -> 0.207 s (1.25x).",
            "",
        ]
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default="densenet_bc100")
    parser.add_argument("--out", type=Path, default=RESULTS, help="Markdown file; .json beside it")
    parser.add_argument("--worker", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(_worker(args.worker, args.batch, args.steps, args.warmup, args.model)))
        return 0

    import keras
    import tensorflow as tf

    results = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "batch": args.batch,
        "model": args.model,
    }
    runs = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            runs[mode].append(_run_mode(mode, args))
            print(json.dumps(runs[mode][-1]))
    for mode in MODES:
        results[mode] = _aggregate(runs[mode])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(_markdown(results, args), encoding="utf-8")
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(args.out.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
