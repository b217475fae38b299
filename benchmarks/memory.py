"""Peak memory and time of one DenseNet-BC-100 training step at batch 64, plain against
memory-efficient (`memory_efficient=True`, Pleiss et al. 2017).

    python -m benchmarks.memory [--quick]     # prints the JSON; benchmarks.run writes RESULTS.md

Pleiss et al. (2017) report 2.863 GB -> 1.605 GB and 0.165 -> 0.207 s per batch for
DenseNet-BC-100 at batch 64 on a GPU; the target here is at least 2x less memory
(`TARGET_MEMORY_RATIO`) for at most 30 % more time (`TARGET_TIME_RATIO`). Each mode runs
in a fresh worker process (nothing shared, no allocator state carried over), builds
`densenet_bc100(num_classes=10, memory_efficient=...)`, compiles it with SGD (momentum 0.9)
and sparse categorical cross-entropy (`jit_compile=False`: the plain TensorFlow graph), and
takes `warmup` steps (tracing, first allocations) before the measured ones. The two modes
alternate over the rounds (plain, memory-efficient, plain, ...) so that a change in the
machine's load hits both alike; the load average is recorded with each run. Two memory
figures come back:

* `peak_step_mb`: TensorFlow's own allocator statistics for the device
  (`tf.config.experimental.get_memory_info`: `peak` bytes in use during the measured
  steps, after `reset_memory_stats`, minus the bytes in use just before them: weights,
  optimizer slots and the input batch are excluded, so this is what a training step
  itself needs: activations kept for the backward pass and temporaries);
* `peak_rss_mb`: the process's peak resident set size (`ru_maxrss`), the whole process
  including TensorFlow's runtime and the traced graphs.

Time per step is the median of all measured steps of a mode (`train_on_batch` on a
resident batch); the memory figures are the largest over the rounds (they repeat exactly).
`--quick` measures the small DenseNet-40 at batch 8, one step, to keep the code exercised.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

from benchmarks import common

MODES = ("plain", "memory_efficient")
TARGET_MEMORY_RATIO = 2.0  # plain / memory-efficient
TARGET_TIME_RATIO = 1.3  # memory-efficient / plain
FULL = dict(model="densenet_bc100", batch=64, steps=3, warmup=2, rounds=4)
QUICK = dict(model="densenet40", batch=8, steps=1, warmup=1, rounds=1)
SYSTEM_ALLOCATOR = "TF_ONEDNN_USE_SYSTEM_ALLOCATOR"


# ----------------------------------------------------------------- worker side
def step_memory(model, x, y, *, steps: int, warmup: int, device: str = "CPU:0") -> dict:
    """Compile `model` for training (SGD 0.1 with momentum 0.9, sparse categorical
    cross-entropy, `jit_compile=False`: the plain TensorFlow graph), take `warmup` steps
    on the batch `x`, `y` (tracing, first allocations), then `steps` measured ones.
    Returns TensorFlow's allocator figures for `device` in MB: `in_use_before_mb`
    (weights, optimizer slots and the batch), `peak_mb`, the largest peak of a measured
    step, and `peak_step_mb`, the difference: what a training step itself needs. Each
    measured step's own peak above what was in use before it is in `step_peaks_mb` (the
    executor's order of independent operations varies from step to step, and with it the
    peak, by a few percent). Also each measured step's time (`step_times_s`) and the last
    `loss`."""
    import keras
    import numpy as np
    import tensorflow as tf

    model.compile(
        optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        jit_compile=False,
    )
    for _ in range(warmup):
        model.train_on_batch(x, y)
    before = tf.config.experimental.get_memory_info(device)["current"]
    times, peaks, step_peaks = [], [], []
    for _ in range(steps):
        tf.config.experimental.reset_memory_stats(device)
        in_use = tf.config.experimental.get_memory_info(device)["current"]
        start = time.perf_counter()
        loss = model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
        peaks.append(tf.config.experimental.get_memory_info(device)["peak"])
        step_peaks.append((peaks[-1] - in_use) / 2**20)
    if max(peaks) == 0:
        raise RuntimeError(
            f"TensorFlow kept no allocator statistics for {device} (with {SYSTEM_ALLOCATOR}=1 "
            "its oneDNN build allocates through the system allocator, which keeps none): "
            f"unset {SYSTEM_ALLOCATOR} to measure a step's memory."
        )
    return {
        "loss": float(np.asarray(loss).ravel()[0]),
        "in_use_before_mb": before / 2**20,
        "peak_mb": max(peaks) / 2**20,
        "peak_step_mb": (max(peaks) - before) / 2**20,
        "step_peaks_mb": step_peaks,
        "step_times_s": times,
    }


def measure(mode: str, model_name: str, batch: int, steps: int, warmup: int) -> dict:
    """One mode's figures, in this (fresh, worker) process."""
    import resource

    import keras
    import numpy as np
    import tensorflow as tf

    import keras_cnns

    common.pin_threads_in_process("tensorflow")
    device = "GPU:0" if tf.config.list_logical_devices("GPU") else "CPU:0"
    keras.utils.set_random_seed(0)
    model = keras_cnns.get_model(
        model_name, num_classes=10, memory_efficient=(mode == "memory_efficient")
    )
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(0, 1, size=(batch, *model.input_shape[1:])).astype("float32"))
    y = tf.constant(rng.integers(0, 10, size=(batch,)))
    step = step_memory(model, x, y, steps=steps, warmup=warmup, device=device)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "load_average": os.getloadavg()[0],
        "mode": mode,
        "device": device,
        "parameters": int(model.count_params()),
        **step,
        "peak_rss_mb": rss_kb / 2**10,
        "step_s": statistics.median(step["step_times_s"]),
    }


def _worker(argv) -> int:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", choices=MODES, required=True)
    parser.add_argument("--model", required=True)
    for name in ("--batch", "--steps", "--warmup"):
        parser.add_argument(name, type=int, required=True)
    args = parser.parse_args(argv)
    common.print_result(measure(args.worker, args.model, args.batch, args.steps, args.warmup))
    return 0


# ----------------------------------------------------------------- parent side
def aggregate(runs: list[dict]) -> dict:
    """One mode's runs (`measure`'s results) as one row: largest memory, median step time."""
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


def compare(settings: dict, runs: dict) -> dict:
    """The benchmark's data from the runs of each mode: rows and ratios."""
    modes = {mode: aggregate(runs[mode]) for mode in MODES}
    plain, efficient = modes["plain"], modes["memory_efficient"]
    return {
        **settings,
        "modes": modes,
        "ratio_peak_step": plain["peak_step_mb"] / efficient["peak_step_mb"],
        "ratio_peak_rss": plain["peak_rss_mb"] / efficient["peak_rss_mb"],
        "ratio_time": efficient["step_s"] / plain["step_s"],
        # Each round's own ratio (its two runs ran one after the other): the spread.
        "ratio_time_rounds": [
            e["step_s"] / p["step_s"] for p, e in zip(runs["plain"], runs["memory_efficient"])
        ],
    }


def run(quick: bool = False, log=None) -> dict:
    log = log or common.log
    settings = QUICK if quick else FULL
    arguments = ["--model", settings["model"]] + [
        a for key in ("batch", "steps", "warmup") for a in (f"--{key}", str(settings[key]))
    ]
    env = common.pin_threads_env(os.environ, "tensorflow")
    # The step's memory is read from TensorFlow's allocator statistics, which only the
    # oneDNN builds' own pool keeps: with the system allocator (which the test suite
    # chooses) every figure would read 0.
    env.pop(SYSTEM_ALLOCATOR, None)
    runs = {mode: [] for mode in MODES}
    load_before = common.load()
    for _ in range(settings["rounds"]):
        for mode in MODES:
            runs[mode].append(common.run_module("memory", ["--worker", mode, *arguments], env=env))
            log(f"  {settings['model']} {mode}: peak RSS {runs[mode][-1]['peak_rss_mb']:.0f} MB, "
                f"step {runs[mode][-1]['step_s']:.2f} s")
    return {**compare(settings, runs), "target_memory_ratio": TARGET_MEMORY_RATIO,
            "target_time_ratio": TARGET_TIME_RATIO, "load_before": load_before,
            "load_after": common.load()}


def main(argv=None) -> int:
    return common.script_main(__doc__, run, argv, worker=_worker)


if __name__ == "__main__":
    sys.exit(main())
