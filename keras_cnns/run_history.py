"""A training run's `history.csv` (one row per epoch, written by `keras_cnns.train`): read
it, and draw its learning curves as a PNG.

Its own module, below both `keras_cnns.training` (which writes and reads the file) and
`keras_cnns.analysis` (whose `plot_training_curves` draws a run folder's curves), so that
neither imports the other for it.

The curves are drawn on a `matplotlib.figure.Figure` and written with `savefig`:
matplotlib's backend (a notebook's inline figures) is left as it was, and
`matplotlib.pyplot` is not imported.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from matplotlib.figure import Figure


def read_history(path: Path) -> list[dict]:
    """Rows of a run's `history.csv` with numbers parsed."""
    path = Path(path)
    if not path.exists() or not path.read_text().strip():
        return []
    with path.open() as f:
        rows = [
            {k: float(v) if v not in ("", None) else math.nan for k, v in row.items()}
            for row in csv.DictReader(f)
        ]
    for row in rows:
        row["epoch"] = int(row["epoch"])
    return rows


def plot_history(history: list[dict], path: str | Path, title: str = "") -> Path:
    """Plot loss and accuracy (train and validation) per epoch into `path`."""
    epochs = [int(row["epoch"]) for row in history]
    figure = Figure(figsize=(10, 4))
    loss_axis, accuracy_axis = figure.subplots(1, 2)
    for axis, key in ((loss_axis, "loss"), (accuracy_axis, "accuracy")):
        keys = [k for k in history[0] if k == key or k.endswith("_" + key)]
        for name in keys:
            axis.plot(epochs, [row.get(name) for row in history], marker="o", label=name)
        axis.set_xlabel("epoch")
        axis.set_ylabel(key)
        axis.grid(alpha=0.3)
        if keys:
            axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return Path(path)
