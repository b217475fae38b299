"""The benchmarks keep working: `python -m benchmarks.run --quick` (the one harness) runs
every benchmark with small settings and writes RESULTS.md, the JSON and the chart, with every
table filled with positive, finite figures; and the committed results hold every figure
RESULTS.md and the README cite."""

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
TABLES = ("throughput", "optimizations", "profile", "pipeline", "jpeg_pipeline", "inference",
          "memory", "time_to_accuracy", "tflite_export", "tuning", "precision", "notebook")
# The figures a table reports: every one of them, wherever it sits in the JSON, must be a
# positive finite number.
FIGURE_KEYS = {
    "images_per_s", "images_per_cpu_s", "best_images_per_s", "ratio", "ratio_cpu", "ratio_tf",
    "ratio_tf_cpu", "ratio_tf_xla", "speedup", "speedup_cpu", "wall_per_step_s",
    "op_seconds_per_step", "size_bytes", "images_per_s_batch32", "peak_rss_mb", "peak_step_mb",
    "step_s", "ratio_peak_step", "ratio_peak_rss", "ratio_time", "train_seconds_to_target",
    "run_wall_seconds", "trainable", "parameters",
    # the input pipeline: images per epoch, each feed's rates (every round's too), ratios
    "images", "arrays", "resident", "pipeline", "pipeline+aug", "ratio_median", "ratio_best",
    # TFLite exports of trained models; the KerasTuner search
    "size_fraction_of_float32", "float_accuracy", "int8_accuracy", "int8_agreement",
    "train_seconds", "wall_seconds", "val_accuracy", "test_accuracy",
    # the notebook path against PyTorch
    "ratio_to_pytorch",
    # the JPEG pipeline: every pass's (and ResNet-50 step's) rates
    "rates", "cpu_rates",
}


def _errors(node, path=""):
    """(path, message) of every row below `node` that holds an `error` (a benchmark that
    records a failed measurement, such as a Keras-backend worker of the throughput
    benchmark, writes `{"error": ...}` in place of the row's figures)."""
    if isinstance(node, dict):
        if "error" in node:
            yield path, node["error"]
        for key, value in node.items():
            if key != "error":
                yield from _errors(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _errors(value, f"{path}[{index}]")


def _assert_no_error_rows(benchmarks: dict) -> None:
    failed = [f"{name}{path}: {str(error)[-500:]}" for name, entry in benchmarks.items()
              for path, error in _errors(entry)]
    assert not failed, "rows that hold an error instead of figures:\n" + "\n".join(failed)


def _figures(node, path="", figure=False):
    """(path, value) of every figure below `node`; `figure`: `node` sits under a figure key
    (a list of figures, such as every round's rate)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _figures(value, f"{path}.{key}", key in FIGURE_KEYS)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _figures(value, f"{path}[{index}]", figure)
    elif figure:
        yield path, node


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(out)],
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
                    "Where a training step's time goes", "Input pipeline: `build_pipeline`",
                    "The JPEG input pipeline at 224x224",
                    "Inference: latency and size",
                    "plain against memory-efficient", "Time to accuracy",
                    "TFLite exports of trained models", "Hyperparameter search: LeNet-5 with KerasTuner",
                    "The notebook path: `model.fit` as a new user writes it"):
        assert heading in markdown
    assert (out / "results" / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Figures came from this run, and the machine is described.
    assert results["machine"]["cores"] >= 1 and results["versions"]["torch"]
    print(f"quick run: {seconds:.0f} s")


def test_every_figure_is_positive_and_finite(quick_run):
    _, results, _ = quick_run
    _assert_no_error_rows(results["benchmarks"])
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
    for change in ("fused_batch_norm", "grouped_conv", "whole_input_conv"):
        assert optimizations[change], change
        for row in optimizations[change].values():
            before, after = (row["variants"][row[k]]["loss_after_2_steps"] for k in ("before", "after"))
            assert abs(before - after) <= 1e-4 * max(1.0, abs(before)), (change, before, after)
    # bfloat16 against float32: the same models, speed and accuracy after the same training.
    precision = results["benchmarks"]["precision"]["data"]
    assert precision["speed"] and set(precision["accuracy"]) == set(precision["speed"])
    for name, row in precision["speed"].items():
        assert (row["before"], row["after"]) == ("float32", "mixed_bfloat16"), name
        runs = precision["accuracy"][name]
        assert set(runs) == {"float32", "mixed_bfloat16"} and runs["float32"]["epochs"] == runs["mixed_bfloat16"]["epochs"]
    # The notebook path: each model with both optimizers, every feed and PyTorch's loop;
    # keras_cnns' settings run LeNet-5 in blocks of steps.
    notebook = results["benchmarks"]["notebook"]["data"]["models"]
    assert notebook
    for name, row in notebook.items():
        assert set(row["optimizers"]) == {"sgd", "adam"}, name
        for feeds in row["optimizers"].values():
            assert set(feeds) == {"arrays", "tf.data", "keras_cnns settings", "PyTorch eager channels_last"}
            assert feeds["PyTorch eager channels_last"]["ratio_to_pytorch"] == 1.0
            assert feeds["keras_cnns settings"]["steps_per_execution"] == (16 if "lenet" in name else 1)
    spe = optimizations["steps_per_execution"]
    assert all(row["after"] == "fit, 16 steps per call" for row in spe.values()), spe
    # Every inference format runs the same network as Keras.
    for model in results["benchmarks"]["inference"]["data"].values():
        formats = model["formats"]
        assert formats["saved_model"]["max_abs_diff_vs_keras"] < 1e-5
        assert formats["tflite_float32"]["max_abs_diff_vs_keras"] < 1e-4
        assert formats["tflite_int8"]["size_bytes"] < formats["tflite_float32"]["size_bytes"]
    # The memory-efficient DenseNet needs less memory for a step than the plain one.
    assert results["benchmarks"]["memory"]["data"]["ratio_peak_step"] > 1.0
    # The input pipeline is measured against the same model fed from memory.
    pipeline = results["benchmarks"]["pipeline"]["data"]["onednn"]
    assert pipeline["1"], "no pipeline measurement with oneDNN on"
    for per_model in pipeline.values():
        for row in per_model.values():
            assert row["ratio_cpu"] > 0 and set(row["rates"]) == set(row["cpu_rates"]) == {
                "arrays", "resident", "pipeline", "pipeline+aug"}
    # The JPEG pipelines read the same folder, every image of it per pass, to the same
    # batches; ResNet-50 trains at 224x224x3.
    jpeg = results["benchmarks"]["jpeg_pipeline"]["data"]
    assert set(jpeg["variants"]) == {"keras_cnns", "Keras, RandomZoom", "Keras, 256 + RandomCrop"}
    for row in jpeg["variants"].values():
        assert row["images"] == jpeg["folder"]["images"]
        assert row["output"]["shape"] == [224, 224, 3] and row["output"]["dtype"] == "float32"
        assert len(row["rates"]) == len(row["cpu_rates"]) == jpeg["rounds"]
    assert jpeg["resnet50"]["input"] == [224, 224, 3] and jpeg["resnet50"]["batch"] == 16
    tta = results["benchmarks"]["time_to_accuracy"]["data"]
    assert tta["reached"] and tta["final_test_accuracy"] >= tta["target"]
    # The TFLite files of a trained model run its network; int8 takes and gives uint8.
    for model in results["benchmarks"]["tflite_export"]["data"]["models"].values():
        formats = model["formats"]
        assert formats["float32"]["max_abs_diff_vs_keras"] < 1e-4
        assert formats["int8"]["size_bytes"] < formats["float32"]["size_bytes"]
        assert model["io"]["int8"] == ["uint8", "uint8"] and model["class_names_kept"]
        assert model["disagreements"] == round((1 - model["int8_agreement"]) * model["test_images"])
    tuning = results["benchmarks"]["tuning"]["data"]
    assert tuning["trials_completed"] == tuning["search"]["max_trials"]
    assert tuning["best"]["val_accuracy"] >= tuning["worst"]["val_accuracy"]


def test_committed_results_hold_every_section(monkeypatch):
    """The committed JSON holds every benchmark's figures (the input pipeline and the
    memory-efficient DenseNet included), RESULTS.md is the report of exactly that JSON, and
    no benchmark writes a results file of its own any more."""
    monkeypatch.syspath_prepend(str(ROOT))  # `benchmarks` is the repository's, not installed
    from benchmarks import report

    results = json.loads((ROOT / "benchmarks" / "results" / "benchmarks.json").read_text())
    assert set(TABLES) <= set(results["benchmarks"])
    _assert_no_error_rows(results["benchmarks"])
    for name in TABLES:
        entries = [results["benchmarks"][name], *results["benchmarks"][name].get("earlier", [])]
        for entry in entries:
            figures = list(_figures(entry["data"]))
            assert figures, f"{name} has no figures"
            for path, value in figures:
                assert isinstance(value, (int, float)) and math.isfinite(value) and value > 0, (
                    f"{name}{path} = {value!r}"
                )
    expected = report.markdown(results, chart_path="results/throughput.png")
    assert (ROOT / "benchmarks" / "RESULTS.md").read_text() == expected
    assert sorted(p.name for p in (ROOT / "benchmarks" / "results").iterdir()
                  if p.is_file()) == ["benchmarks.json", "throughput.png"]


def test_an_error_row_fails_naming_the_row_and_the_error():
    """A throughput row whose keras-jax worker failed is written as {"error": ...}; that
    row has no figures to check, so it is looked for by itself, in any section."""
    benchmarks = {"throughput": {"data": {"pytorch": {"lenet5": {"contenders": {
        "keras_cnns TF": {"images_per_s": 100.0},
        "keras_cnns JAX": {"error": "worker keras-jax died: MemoryError"}}}}}},
        "memory": {"data": {"modes": {"plain": {"peak_rss_mb": 1.0}}}}}
    with pytest.raises(AssertionError, match=r"throughput\.data\.pytorch\.lenet5\.contenders\."
                       r"keras_cnns JAX: worker keras-jax died: MemoryError"):
        _assert_no_error_rows(benchmarks)
    del benchmarks["throughput"]["data"]["pytorch"]["lenet5"]["contenders"]["keras_cnns JAX"]
    _assert_no_error_rows(benchmarks)
