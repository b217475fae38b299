"""The plotting modules draw on `matplotlib.figure.Figure` and save with `savefig`: they
leave matplotlib's backend (a notebook's inline figures, a desktop window) as the user
set it, and never import `matplotlib.pyplot` (test_import_graph.py checks the imports).
Checked in a fresh process whose backend is set to one that is not Agg (svg), as a
notebook sets its own."""

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import json, sys
import matplotlib
matplotlib.use("svg")
before = matplotlib.get_backend()

import keras_cnns.analysis.plots as analysis_plots
import keras_cnns.run_history as run_history
after_import = matplotlib.get_backend()

out = sys.argv[1]
history = [
    {"epoch": "0", "loss": 0.9, "accuracy": 0.7, "val_loss": 0.8, "val_accuracy": 0.72},
    {"epoch": "1", "loss": 0.6, "accuracy": 0.8, "val_loss": 0.6, "val_accuracy": 0.79},
]
curves = run_history.plot_history(history, out + "/curves.png", title="run")

class Rows:  # what compare() returns, as far as the plot reads it
    rows = (
        {"model": "a", "parameters": 1e6, "macs": 1e9, "top1": 70.0, "dataset": "ImageNet"},
        {"model": "b", "parameters": 2e6, "macs": 3e9, "top1": 91.0, "dataset": "CIFAR-10"},
    )

comparison = analysis_plots.plot_comparison(Rows(), out + "/comparison.png")
print(json.dumps({
    "before": before, "after_import": after_import, "after_plots": matplotlib.get_backend(),
    # Keras itself imports pyplot; our figures must not be registered with it.
    "pyplot_figures": sys.modules["matplotlib.pyplot"].get_fignums()
    if "matplotlib.pyplot" in sys.modules else [],
    "files": [open(p, "rb").read(8).hex() for p in (curves, comparison)],
}))
"""


def test_importing_and_plotting_leave_the_matplotlib_backend_alone(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("MPLBACKEND", None)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], env=env, capture_output=True, text=True,
        cwd=Path(__file__).parents[1], timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["before"] == "svg"
    assert report["after_import"] == "svg"
    assert report["after_plots"] == "svg"
    assert report["pyplot_figures"] == []
    png = "89504e470d0a1a0a"
    assert report["files"] == [png, png]
