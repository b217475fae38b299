"""What an exported model does to raw pixels before the network sees them.

A model trained by `keras_cnns.train` takes float images that the data pipeline made from
uint8 pixels: converted to float, padded or resized to the model's input size, then
normalized (`"scale"`, `"standardize"` or `"none"`, see `keras_cnns.data.pipeline`). An
export puts the same steps in front of the network, with the pipeline's own functions,
so that a client sends plain uint8 images of any size and needs to know nothing else.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import tensorflow as tf

from keras_cnns.data.crops import center_crop, resize_shorter_side, resize_size
from keras_cnns.data.pipeline import NORMALIZATIONS, fit_size, normalizer_for
from keras_cnns.validation import check_choice

#: How exported models bring images to their input size (see `Preprocessing`).
IMAGE_FITS = ("fit", "centre_crop")


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How uint8 pixels become the model's input.

    Attributes:
        normalization: `"scale"` (divide by 255), `"standardize"` (the data set's
            per-channel statistics when known, else each image's own) or `"none"`
            (float pixels in [0, 255]).
        dataset: the training data set's name (chooses the `"standardize"` statistics).
        stored_channels: the channel count of the training images (grey data repeated
            to RGB keeps the grey statistics); None: the model's channel count.
        image_fit: how an image reaches the model's size: `"fit"` (padded or resized as
            the pipeline fits images of one size) or `"centre_crop"` (a model trained on
            images of different sizes: the shorter side resized, then the centre crop,
            `keras_cnns.data.crops`).
    """

    normalization: str = "scale"
    dataset: str | None = None
    stored_channels: int | None = None
    image_fit: str = "fit"

    def __post_init__(self):
        if self.normalization not in NORMALIZATIONS:
            raise ValueError(
                f"Unknown `normalization`: {self.normalization!r}. Accepted: "
                f"{', '.join(repr(n) for n in NORMALIZATIONS)}."
            )
        check_choice("image_fit", self.image_fit, IMAGE_FITS)

    @classmethod
    def from_run_config(cls, config: Mapping[str, Any]) -> "Preprocessing":
        """The preprocessing a `keras_cnns.train` run used (its `config.json`)."""
        return cls(
            normalization=config["recipe"]["normalization"],
            dataset=config["dataset"],
            stored_channels=int(config["input_shape"][-1]),
            # Runs written before images of different sizes were streamed: "fit".
            image_fit=config.get("image_fit", "fit"),
        )

    def normalize(self, images: tf.Tensor) -> tf.Tensor:
        """Float pixels in [0, 255] at the model's size -> the model's input values."""
        channels = int(images.shape[-1])
        stored = self.stored_channels or channels
        return normalizer_for(self.dataset, stored, self.normalization, channels)(images)

    def __call__(self, images: tf.Tensor, input_shape) -> tf.Tensor:
        """uint8 (or float pixel) images `[N, h, w, C]` of any size -> model inputs
        `[N, H, W, C]` for a model whose input shape is `input_shape` (H, W, C)."""
        height, width, _ = input_shape
        images = tf.cast(images, tf.float32)
        if self.image_fit == "centre_crop" and height is not None:
            images = center_crop(resize_shorter_side(images, resize_size(min(height, width))), height, width)
        else:
            images = fit_size(images, height, width)
        return self.normalize(images)
