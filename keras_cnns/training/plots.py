"""Learning curves of a run, as a PNG.

Drawn on a `matplotlib.figure.Figure` and written with `savefig`: matplotlib's backend (a
notebook's inline figures) is left as it was, and `matplotlib.pyplot` is not imported.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure


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
