"""`preprocess_input`: pixels -> what a model's pretrained weights expect.

The preprocessing belongs to the weights, not to the architecture: a ResNet-50 takes
"caffe" inputs with keras.applications' weights and "torch" inputs with torchvision's. So
the function takes the model (or its registered name) and the weights.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from keras_cnns.layers.preprocessing import WeightsPreprocessing
from keras_cnns.models.registry import get_spec, list_models
from keras_cnns.weights.preprocessing import PixelPreprocessing, preprocessing_of


def _model_name(model_or_name: Any) -> str:
    if isinstance(model_or_name, str):
        return model_or_name
    if isinstance(model_or_name, keras.Model):
        if model_or_name.name not in list_models():
            raise ValueError(
                f"`model_or_name`: the model {model_or_name.name!r} is not named after a "
                "registered model, so its weights' preprocessing cannot be looked up. Pass "
                "the registered name (e.g. 'resnet50') instead."
            )
        return model_or_name.name
    raise TypeError(
        "`model_or_name` must be a keras.Model built by keras_cnns or a registered model "
        f"name; received {type(model_or_name).__name__}."
    )


def weights_preprocessing(model_or_name: Any, weights: Any = None) -> PixelPreprocessing:
    """The preprocessing the `weights` of a model expect (`weights=None`: the model's only
    published weights, if it has exactly one set)."""
    name = _model_name(model_or_name)
    published = get_spec(name).weights
    if weights is None:
        if len(published) != 1:
            names = ", ".join(repr(n) for n in published) or "none"
            raise ValueError(
                f"`weights` is needed: {name!r} publishes {len(published)} sets of weights "
                f"({names}), each with its own preprocessing; or pass the weights file."
            )
        weights = next(iter(published))
    return preprocessing_of(weights, published, name)


def preprocess_input(images: Any, model_or_name: Any, weights: Any = None) -> Any:
    """Pixels in [0, 255] (uint8 or float, channels last) -> the input the model's
    weights expect: keras.applications' "caffe", "tf" or "torch" preprocessing, plus
    torchvision's `transform_input` where its weights apply it.

    Args:
        images: a batch `[N, H, W, 3]` or one image `[H, W, 3]`: a numpy array (a numpy
            float32 array is returned) or a tensor (a tensor is returned).
        model_or_name: a registered model's name (`"resnet50"`), or a model a
            keras_cnns builder made (known by its name). A model built with
            `include_preprocessing` already does this inside: its images pass through,
            as float32.
        weights: a published name (`"imagenet"`, `"torchvision"`) or a weights file;
            None: the model's only published set.

    Raises:
        ValueError: the weights' preprocessing cannot be told (names what would be).
    """
    if isinstance(model_or_name, keras.Model) and any(
        isinstance(layer, WeightsPreprocessing) for layer in model_or_name.layers
    ):
        return _as_float(images)
    found = weights_preprocessing(model_or_name, weights)
    layer = WeightsPreprocessing(**found.layer_config(), dtype="float32")
    result = layer(_as_float(images))
    return keras.ops.convert_to_numpy(result) if isinstance(images, np.ndarray) else result


def _as_float(images: Any) -> Any:
    if isinstance(images, np.ndarray) or not hasattr(images, "dtype"):
        return np.asarray(images, dtype="float32")
    return keras.ops.cast(images, "float32")
