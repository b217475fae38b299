"""scripts/gpu_check.py, run as written for the GPU machine but with --cpu (JAX's CPU
backend, PyTorch on the CPU): every requested row present and passing, the PyTorch
comparison, the compiled-against-eager check; a failing row fails the run; bad arguments
are refused before anything heavy is imported; without a GPU it asks for --cpu."""

import json
import math
import subprocess
import sys
from pathlib import Path

from conftest import jax_environment

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.py"
MODELS = ("lenet5", "resnet50")
# One policy, the one with the most machinery (float16 compute, loss scaling in Keras and
# PyTorch, float32 outputs); the comparison then builds a float32 model of its own. Each
# more policy costs ResNet-50 another build and compile: with float32 too, the test took
# 47-48 s beside another test worker on this 2-core machine, against a budget of about 40.
PRECISIONS = ("mixed_float16",)


def run_script(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    # One PyTorch thread, as conftest gives TensorFlow one: beside the other test worker
    # on two cores, two threads took the PyTorch child 12-13 s instead of 5.6-5.8.
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=jax_environment(OMP_NUM_THREADS="1"), cwd=ROOT, timeout=timeout)


def test_cpu_run_reports_every_row(tmp_path):
    out = tmp_path / "gpu_check.json"
    done = run_script("--cpu", "--models", *MODELS, "--size", "32", "--batch", "4",
                      "--steps", "1", "--precisions", *PRECISIONS, "--json", str(out))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["passed"] is True
    assert result["settings"]["mode"] == "cpu"
    assert result["devices"]["jax"] and result["devices"]["torch"]
    rows = result["rows"]

    train = {(r["model"], r["precision"]): r for r in rows if r["check"] == "train"}
    assert set(train) == {(m, p) for m in MODELS for p in PRECISIONS}
    for (model, precision), row in train.items():
        assert row["ok"], row
        assert math.isfinite(row["loss"]), row
        assert row["images_per_s"] > 0, row
        assert row["output_dtype"] == "float32", row
        assert row["input"] == ("32x32x1" if model == "lenet5" else "32x32x3")

    torch_rows = {(r["model"], r["precision"]): r for r in rows if r["check"] == "torch"}
    assert set(torch_rows) == {("resnet50", p) for p in PRECISIONS}  # torchvision has no LeNet-5
    for row in torch_rows.values():
        assert row["ok"], row
        assert row["torch_images_per_s"] > 0 and row["keras_over_torch"] > 0, row
        assert "note" not in row, row  # same trainable parameters as torchvision's ResNet-50

    compare = {r["model"]: r for r in rows if r["check"] == "cpu_vs_eager"}
    assert set(compare) == set(MODELS)
    for row in compare.values():
        assert row["ok"] and row["tolerance"] == 1e-3 and row["rel_diff"] <= 1e-3, row

    # The same rows in the printed markdown table, after the device names.
    assert "JAX device: cpu" in done.stdout
    table = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert len(table) == 1 + len(rows)
    assert "FAIL" not in done.stdout


def test_a_failed_row_fails_the_run(tmp_path):
    """Rows past --time-limit are not run: reported as failures, in the table and the
    JSON, and the exit status is 1 (a cheap way to a failing row: nothing is built)."""
    out = tmp_path / "gpu_check.json"
    done = run_script("--cpu", "--models", "lenet5", "--precisions", "float32", "mixed_float16",
                      "--time-limit", "0.001", "--json", str(out), timeout=120)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["complete"] is True and result["passed"] is False
    assert [(r["check"], r["precision"], r["ok"]) for r in result["rows"]] == [
        ("train", "float32", False), ("train", "mixed_float16", False),
        ("cpu_vs_eager", "float32", False)]
    assert all("not run: --time-limit" in r["error"] for r in result["rows"])
    assert done.stdout.count("| FAIL |") == 3 and "3 FAILED" in done.stdout


def test_bad_arguments_are_refused_before_any_work():
    for args, named, accepted in (
        (["--models", "nosuchmodel"], "--models", "resnet50"),
        (["--precisions", "float8"], "--precisions", "mixed_bfloat16"),
    ):
        done = run_script("--cpu", *args, timeout=60)
        assert done.returncode == 2, done.stderr
        assert named in done.stderr and args[1] in done.stderr and accepted in done.stderr
        assert "Traceback" not in done.stderr


def test_without_a_gpu_it_asks_for_cpu():
    done = subprocess.run([sys.executable, str(SCRIPT), "--models", "lenet5"], capture_output=True,
                          text=True, env=jax_environment(), cwd=ROOT, timeout=60)
    assert done.returncode == 1
    assert "No GPU is visible to JAX" in done.stderr and "pass --cpu" in done.stderr
