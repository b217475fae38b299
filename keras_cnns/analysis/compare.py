"""Every family side by side: parameters, multiply-adds, depth, receptive field and the
published accuracy of the architecture.

Published accuracies (`PUBLISHED`) are the figures of the same architecture as ours,
with their source; each is given where the model is registered (`ModelSpec.published`)
and `PUBLISHED` is a read-only view of those entries:

- torchvision: the `acc@1` of the `IMAGENET1K_V1` weights in torchvision's model
  metadata (ImageNet-1K validation, single 224 crop); VGG, ResNet-18..152 (our default
  "v1.5" layout is torchvision's), DenseNet-121/161/169/201.
- keras.io: the "Top-1 Accuracy" column of https://keras.io/api/applications/
  (ResNet50V2/101V2/152V2, InceptionV3, whose layouts ours follow).
- papers, for the networks no library publishes weights for: AlexNet (Krizhevsky et al.
  2012, Table 2, one CNN: 40.7 % top-1 error), LeNet-5 on MNIST (0.95 % error), the
  CIFAR-10 ResNets (He et al. 2015, Table 6) and DenseNets (Huang et al. 2017, Table 2,
  C10+), as listed in the project's REFERENCE.md.

Models with no published figure for their architecture (VGG-11 with LRN, VGG-16
configuration C, BN-Inception, DenseNet-264) have none. GoogLeNet's figure is
torchvision's, for its batch-normalized variant with 3x3 convolutions in the "5x5"
branch (ours keeps the paper's 5x5, so it has 5.6 % more multiply-adds).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
from pathlib import Path
from typing import Sequence

from keras_cnns.analysis.profile import profile
from keras_cnns.tables import format_table
from keras_cnns.validation import check_output_path  # noqa: F401  (also importable from here)


# The figures live in the registry (`ModelSpec.published`); importable from here as before.
from keras_cnns.models.registry import PUBLISHED, Published  # noqa: F401

COLUMNS = (
    "model", "family", "input", "parameters", "trainable_parameters", "macs", "depth",
    "receptive_field", "rf_stride", "activation_mib", "top1", "dataset", "source",
)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The rows of `compare(...)` (dicts with the keys of `COLUMNS`)."""

    rows: tuple[dict, ...]

    def __str__(self) -> str:
        header = ["model", "family", "input", "parameters", "multiply-adds", "depth",
                  "RF / stride", "act. MiB", "top-1 %", "data set"]
        body = [
            [
                row["model"], row["family"], row["input"], f"{row['parameters']:,}",
                f"{row['macs'] / 1e9:.3f} G", str(row["depth"]),
                f"{row['receptive_field']} / {row['rf_stride']}",
                f"{row['activation_mib']:.1f}",
                "-" if row["top1"] is None else f"{row['top1']:.2f}",
                row["dataset"] or "-",
            ]
            for row in self.rows
        ]
        return format_table(body, header)

    def to_csv(self, path: str | Path) -> Path:
        """Write the rows (every column, with the accuracy's source) to a CSV file."""
        path = check_output_path(path, ".csv")
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(self.rows)
        return path

    def plot(self, path: str | Path) -> Path:
        """Parameters against multiply-adds, coloured by published accuracy (PNG)."""
        from keras_cnns.analysis.plots import plot_comparison  # plots imports no compare

        return plot_comparison(self, path)


def compare(names: Sequence[str] | None = None) -> Comparison:
    """Profile registered models at their default input size, side by side.

    Args:
        names: registered model names (any spelling `get_model` accepts); `None` or
            empty compares every registered model (building the largest ones takes a
            while; each model's figures are cached for the process).

    Raises:
        ValueError: an unknown name (with close matches), before anything is built.
    """
    from keras_cnns.models import get_spec, list_models

    if isinstance(names, str):
        names = [names]
    resolved = [get_spec(name).name for name in names] if names else list_models()
    return Comparison(tuple(dict(_row(name)) for name in resolved))


@functools.lru_cache(maxsize=None)
def _row(name: str) -> tuple:
    from keras_cnns.models import get_spec

    spec = get_spec(name)
    model = spec.builder()
    report = profile(model)
    published = spec.published
    row = {
        "model": name,
        "family": spec.family,
        "input": "x".join(str(d) for d in report.input_shape),
        "parameters": report.params,
        "trainable_parameters": report.trainable_params,
        "macs": report.macs,
        "depth": report.depth,
        "receptive_field": report.receptive_field,
        "rf_stride": report.rf_stride,
        "activation_mib": round(report.activation_memory / (1 << 20), 2),
        "top1": None if published is None else published.top1,
        "dataset": None if published is None else published.dataset,
        "source": None if published is None else published.source,
    }
    return tuple(row.items())
