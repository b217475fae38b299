"""The benchmark scripts keep working: `python benchmarks/run.py --quick` runs every
benchmark with small settings and writes RESULTS.md, the JSON and the chart, with every
table filled with positive, finite figures."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("throughput", "optimizations", "profile", "inference", "memory", "time_to_accuracy")
# The figures a table reports: every one of them, wherever it sits in the JSON, must be a
# positive finite number.
FIGURE_KEYS = {
    "images_per_s", "images_per_cpu_s", "best_images_per_s", "ratio", "ratio_cpu", "ratio_tf",
    "ratio_tf_cpu", "ratio_tf_xla", "speedup", "speedup_cpu", "wall_per_step_s",
    "op_seconds_per_step", "size_bytes", "images_per_s_batch32", "peak_rss_mb", "peak_step_mb",
    "step_s", "ratio_peak_step", "ratio_peak_rss", "ratio_time", "train_seconds_to_target",
    "run_wall_seconds", "trainable", "parameters",
}


def _figures(node, path=""):
    """(path, value) of every figure below `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in FIGURE_KEYS and not isinstance(value, (dict, list)):
                yield f"{path}.{key}", value
            else:
                yield from _figures(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _figures(value, f"{path}[{index}]")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick", "--out", str(out)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=900,
    )
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stderr[-5000:]
    results = json.loads((out / "results" / "benchmarks.json").read_text())
    return out, results, seconds


def test_every_table_is_written(quick_run):
    out, results, seconds = quick_run
    assert results["mode"] == "quick"
    assert set(results["benchmarks"]) == set(TABLES)
    markdown = (out / "RESULTS.md").read_text()
    for heading in ("keras_cnns against plain PyTorch eager", "across Keras backends",
                    "against keras.applications", "changes, predicted and measured",
                    "Where a training step's time goes", "Inference: latency and size",
                    "plain against memory-efficient", "Time to accuracy"):
        assert heading in markdown
    assert (out / "results" / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Figures came from this run, and the machine is described.
    assert results["machine"]["cores"] >= 1 and results["versions"]["torch"]
    print(f"quick run: {seconds:.0f} s")


def test_every_figure_is_positive_and_finite(quick_run):
    _, results, _ = quick_run
    for name in TABLES:
        figures = list(_figures(results["benchmarks"][name]["data"]))
        assert figures, f"{name} has no figures"
        for path, value in figures:
            assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, (
                f"{name}{path} = {value!r}"
            )


def test_comparisons_are_like_for_like(quick_run):
    _, results, _ = quick_run
    throughput = results["benchmarks"]["throughput"]["data"]
    for name, row in throughput["pytorch"].items():
        counts = {label: c["trainable"] for label, c in row["contenders"].items() if "trainable" in c}
        assert len(set(counts.values())) == 1, (name, counts)
        assert {"keras_cnns TF", "PyTorch eager NCHW", "PyTorch eager channels_last"} <= set(counts)
    assert throughput["keras_applications"], "no keras.applications comparison"
    # The speed changes keep the results: the same loss after two identical training steps.
    optimizations = results["benchmarks"]["optimizations"]["data"]
    for change in ("fused_batch_norm", "grouped_conv"):
        assert optimizations[change], change
        for row in optimizations[change].values():
            before, after = (row["variants"][row[k]]["loss_after_2_steps"] for k in ("before", "after"))
            assert abs(before - after) <= 1e-4 * max(1.0, abs(before)), (change, before, after)
    # Every inference format runs the same network as Keras.
    for model in results["benchmarks"]["inference"]["data"].values():
        formats = model["formats"]
        assert formats["saved_model"]["max_abs_diff_vs_keras"] < 1e-5
        assert formats["tflite_float32"]["max_abs_diff_vs_keras"] < 1e-4
        assert formats["tflite_int8"]["size_bytes"] < formats["tflite_float32"]["size_bytes"]
    # The memory-efficient DenseNet needs less memory for a step than the plain one.
    assert results["benchmarks"]["memory"]["data"]["ratio_peak_step"] > 1.0
    tta = results["benchmarks"]["time_to_accuracy"]["data"]
    assert tta["reached"] and tta["final_test_accuracy"] >= tta["target"]
