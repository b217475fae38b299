"""Every published set of weights, one row each: how to build the model with them, the
file, the preprocessing, the ImageNet top-1 its publisher reports (cited as theirs) and
what this package checks of it. The README's "Pretrained weights" table is
`pretrained_table()` (a test keeps them equal)."""

from __future__ import annotations

import dataclasses
from typing import Iterator

from keras_cnns.models import get_spec, list_models
from keras_cnns.models.vgg import published_weights as vgg_published_weights
from keras_cnns.weights import PretrainedWeights
from keras_cnns.weights.published import KERAS_TOP1_SOURCE, TORCHVISION_TOP1_SOURCE

# What the tests establish for each source of files (the README's note under the table
# says how).
CHECKED = {"torchvision": "= torchvision", "imagenet": "= keras.applications"}
# Who reports the top-1, and with how many decimals they report it.
REPORTED_BY = {
    TORCHVISION_TOP1_SOURCE: ("torchvision", 3),
    KERAS_TOP1_SOURCE: ("keras.io", 1),
}


@dataclasses.dataclass(frozen=True)
class PretrainedRow:
    """One published set of weights of one model."""

    model: str
    weights: str
    entry: PretrainedWeights

    def call(self) -> str:
        """The builder call that loads them, family options included."""
        options = [f"{k}={v!r}".replace("'", '"') for k, v in self.entry.build_options]
        args = ", ".join([*options, f'weights="{self.weights}"'])
        return f"{self.model}({args})"


def pretrained_rows() -> Iterator[PretrainedRow]:
    """Every (model, published name) pair, with VGG's `batch_norm=True` files."""
    for name in list_models():
        spec = get_spec(name)
        for weights, entry in spec.weights.items():
            yield PretrainedRow(name, weights, entry)
        if spec.family == "vgg" and "torchvision" in spec.weights:
            yield PretrainedRow(name, "torchvision", vgg_published_weights(name, True)["torchvision"])


def pretrained_table() -> str:
    """The Markdown table of `pretrained_rows()`."""
    lines = [
        "| call | file | preprocessing | ImageNet top-1 % (reported by) | checked here |",
        "|---|---|---|---|---|",
    ]
    for row in pretrained_rows():
        entry = row.entry
        preprocessing = entry.preprocessing + (" + transform_input" if entry.transform_input else "")
        who, decimals = REPORTED_BY[entry.top1_source]
        top1 = f"{entry.top1:.{decimals}f} ({who})"
        lines.append(
            f"| `{row.call()}` | {entry.file_name()} | {preprocessing} | {top1} | "
            f"{CHECKED[row.weights]} |"
        )
    return "\n".join(lines)
