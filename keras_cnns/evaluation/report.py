"""What `keras_cnns.evaluate` returns and writes: `EvaluationResult`, the confusion-matrix
PNG and the JSON of the figures.

The figure is drawn on a `matplotlib.figure.Figure` with an Agg canvas: matplotlib's
backend (a notebook's inline figures) is left as it was, and `matplotlib.pyplot` is not
imported.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from keras_cnns.tables import format_table

#: Above this many classes the PNG has no class names on its axes and no counts in cells.
LABELLED_CLASSES = 30


@dataclasses.dataclass
class EvaluationResult:
    """The figures of one evaluation.

    Attributes:
        top1: the share of images whose best class is their label.
        top_k: the share whose label is among their `k` best classes.
        k: that `k`.
        per_class_accuracy: class name -> share of its images classified right (None for
            a class with no image in the evaluated split).
        confusion_matrix: `[C, C]` int64 counts, row = true class, column = predicted.
        num_images: how many images were evaluated.
        class_names: the data set's class names, in label order.
        labels: `[N]` int64, each image's label.
        top_k_predictions: `[N, k]` int64, each image's `k` best classes, best first.
        plot_path: the confusion-matrix PNG written.
        json_path: the JSON of the figures written beside it.
        details: what was evaluated: source, model, weights, data set, split,
            preprocessing.
    """

    top1: float
    top_k: float
    k: int
    per_class_accuracy: dict[str, float | None]
    confusion_matrix: np.ndarray
    num_images: int
    class_names: list[str]
    labels: np.ndarray
    top_k_predictions: np.ndarray
    plot_path: Path
    json_path: Path
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The figures as JSON-ready values (what `json_path` holds)."""
        return {
            **self.details,
            "num_images": self.num_images,
            "top1": self.top1,
            "top_k": self.top_k,
            "k": self.k,
            "per_class_accuracy": self.per_class_accuracy,
            "class_names": list(self.class_names),
            "confusion_matrix": self.confusion_matrix.tolist(),
            "plot": str(self.plot_path),
        }

    def table(self) -> str:
        """The per-class table: class, images, correct, accuracy."""
        matrix = self.confusion_matrix
        rows = [
            [name, int(matrix[i].sum()), int(matrix[i, i]),
             "-" if self.per_class_accuracy[name] is None else f"{self.per_class_accuracy[name]:.4f}"]
            for i, name in enumerate(self.class_names)
        ]
        rows.append(["all", self.num_images, int(np.trace(matrix)), f"{self.top1:.4f}"])
        return format_table(rows, ["class", "images", "correct", "accuracy"], rule_before_last=True)

    def __str__(self) -> str:
        return (
            f"top-1 accuracy: {self.top1:.4f}\ntop-{self.k} accuracy: {self.top_k:.4f}\n"
            f"images: {self.num_images}\n\n{self.table()}"
        )


def write_json(result: EvaluationResult) -> Path:
    """`result.to_dict()` into `result.json_path` (NaN written as null)."""
    def clean(value):
        return None if isinstance(value, float) and math.isnan(value) else value

    content = {key: clean(value) for key, value in result.to_dict().items()}
    result.json_path.write_text(json.dumps(content, indent=1))
    return result.json_path


def plot_confusion_matrix(
    matrix: np.ndarray, class_names: Sequence[str], path: str | Path, title: str = ""
) -> Path:
    """Draw the confusion matrix into a PNG: each row coloured by the share of the true
    class's images predicted as each class; counts in the cells and class names on the
    axes up to `LABELLED_CLASSES` classes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    count = len(class_names)
    totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, totals, out=np.zeros(matrix.shape, float), where=totals > 0)
    side = min(4 + 0.45 * count, 14) if count <= LABELLED_CLASSES else 10
    figure = Figure(figsize=(side + 1.5, side))
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    figure.colorbar(image, ax=axis, label="share of the true class")
    if count <= LABELLED_CLASSES:
        ticks = np.arange(count)
        axis.set_xticks(ticks, [str(n) for n in class_names], rotation=90)
        axis.set_yticks(ticks, [str(n) for n in class_names])
        for (row, column), value in np.ndenumerate(matrix):
            if value:
                axis.text(column, row, str(value), ha="center", va="center", fontsize=7,
                          color="white" if shares[row, column] > 0.5 else "black")
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    axis.set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return Path(path)
