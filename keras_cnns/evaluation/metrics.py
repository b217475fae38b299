"""The figures of an evaluation, from labels and each image's best classes (numpy only).

The classes of an image are ranked by score, best first, ties in class order (a stable
sort, so the first is `argmax`). An image counts for top-1 when its best class is its
label, for top-k when the label is among its k best; hence top-k >= top-1 always.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def top_classes(scores: np.ndarray, k: int) -> np.ndarray:
    """The `k` best classes of each row of `scores` `[N, C]`, best first: `[N, k]` int."""
    order = np.argsort(-np.asarray(scores), axis=-1, kind="stable")
    return order[:, :k].astype(np.int64)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """`[C, C]` int64 counts: row = true class, column = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(labels, np.int64), np.asarray(predicted, np.int64)), 1)
    return matrix


def top_k_accuracy(labels: np.ndarray, best: np.ndarray, k: int) -> float:
    """The share of images whose label is among the first `k` columns of `best` `[N, >=k]`."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    return float(np.mean(np.any(best[:, :k] == labels[:, None], axis=1)))


def per_class_accuracy(matrix: np.ndarray, class_names: Sequence[str]) -> dict[str, float | None]:
    """Each class's recall (correct / images of the class) by class name; None for a
    class with no image."""
    totals = matrix.sum(axis=1)
    return {
        str(name): (float(matrix[i, i] / totals[i]) if totals[i] else None)
        for i, name in enumerate(class_names)
    }
