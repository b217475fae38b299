"""Learning curves of a run, as a PNG."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_history(history: list[dict], path: str | Path, title: str = "") -> Path:
    """Plot loss and accuracy (train and validation) per epoch into `path`."""
    epochs = [int(row["epoch"]) for row in history]
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
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
    plt.close(figure)
    return Path(path)
