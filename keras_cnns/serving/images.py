"""The one check on images a server is sent (numpy only: clients need no TensorFlow)."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_images(images: Any, channels: int | None, argument: str = "images") -> np.ndarray:
    """uint8 `[N, h, w, channels]` (a single `[h, w, channels]` image becomes a batch of
    one), with an error naming `argument` otherwise. `channels=None`: any channel count."""
    array = np.asarray(images)
    if array.dtype != np.uint8:
        raise TypeError(
            f"`{argument}` must be uint8 pixels (0-255); received dtype {array.dtype}. Convert "
            "with np.clip(x, 0, 255).astype('uint8') (float images in [0, 1]: multiply by 255 first)."
        )
    if array.ndim == 3:
        array = array[np.newaxis]
    if array.ndim != 4 or (channels is not None and array.shape[-1] != channels):
        wanted = "C" if channels is None else channels
        takes = "" if channels is None else f": the model takes {channels} channel(s)"
        raise ValueError(
            f"`{argument}` must have shape [N, height, width, {wanted}] (or one image "
            f"[height, width, {wanted}]){takes}; received shape {tuple(np.asarray(images).shape)}."
        )
    return array
