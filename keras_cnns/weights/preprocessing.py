"""Which pixel preprocessing a set of weights expects (`WeightsPreprocessing`'s mode).

Published entries name theirs (`PretrainedWeights.preprocessing`, `.transform_input`).
A file given by path is known by its name: a torchvision-style checkpoint (`.pth`,
`.pt`, `.safetensors`) expects "torch"; a Keras file expects what the published entry of
the same file name expects (keras.applications' files keep their names in the cache).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping

from keras_cnns.layers.preprocessing import check_mode
from keras_cnns.weights.formats import is_checkpoint
from keras_cnns.weights.published import PretrainedWeights


@dataclasses.dataclass(frozen=True)
class PixelPreprocessing:
    """A preprocessing: the mode (`"caffe"`, `"tf"`, `"torch"`) and whether torchvision's
    `transform_input` follows it. `layer_config()` gives `WeightsPreprocessing`'s
    arguments."""

    mode: str
    transform_input: bool = False

    def __post_init__(self):
        check_mode(self.mode)

    def layer_config(self) -> dict:
        return {"mode": self.mode, "transform_input": self.transform_input}

    def describe(self) -> str:
        return self.mode + (" + transform_input" if self.transform_input else "")


def preprocessing_of(
    weights: Any, published: Mapping[str, PretrainedWeights], model_name: str
) -> PixelPreprocessing:
    """The preprocessing `weights` (a published name of `model_name` or a file path)
    expect. Raises a ValueError naming `weights` when it cannot be told (None, a Keras
    file of unknown origin, an entry that names none)."""
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if isinstance(weights, str) and weights in published:
        entry = published[weights]
    elif isinstance(weights, str) and is_checkpoint(weights):
        return PixelPreprocessing("torch")
    else:
        base = os.path.basename(weights) if isinstance(weights, str) else None
        entry = next(
            (
                e for e in published.values()
                if base is not None and base in (e.file_name(True), e.file_name(False))
            ),
            None,
        )
    if entry is None or entry.preprocessing is None:
        names = ", ".join(
            repr(n) for n, e in published.items() if e.preprocessing is not None
        ) or "none for this model"
        raise ValueError(
            f"Cannot tell which preprocessing `weights={weights!r}` expect for "
            f"{model_name!r}. Known for: its published weights ({names}) and torchvision "
            "checkpoints (.pth, .pt, .safetensors: 'torch'). Otherwise pass the mode "
            "yourself (include_preprocessing='caffe' | 'tf' | 'torch')."
        )
    return PixelPreprocessing(entry.preprocessing, entry.transform_input)
