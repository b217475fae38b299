"""How images become a model's inputs for evaluation.

- **Pretrained weights** (a registered model with `weights=`) are evaluated as their
  publishers evaluate them (torchvision's `ImageClassification` transform, keras.io's
  ImageNet protocol): the shorter side resized to `RESIZE_RATIO` (256/224) times the
  model's input size (`round`; bilinear, antialiased when shrinking), the longer side in
  proportion (`int(size * long / short)`), then the centre crop of the input size
  (offsets `int(round((side - crop) / 2))`, as torchvision's `center_crop`), then the
  weights' own pixel preprocessing (`keras_cnns.preprocess_input`: "caffe", "tf" or
  "torch").
- **Runs and saved models** use the preprocessing they were trained with (the export's
  `Preprocessing`: pad or resize to the input size as the training pipeline does, then
  the run's normalization).

Both convert the channels first (grey repeated to RGB, RGB to luma, alpha dropped:
`keras_cnns.data.pipeline.convert_channels`). Each transform maps float or uint8 images
`[..., h, w, C]` (a batch, or one image of any size) to float32 model inputs.
"""

from __future__ import annotations

from typing import Callable, Sequence

import tensorflow as tf

from keras_cnns.data.crops import center_crop, resize_shorter_side, resize_size
from keras_cnns.data.pipeline import convert_channels
from keras_cnns.export.preprocessing import Preprocessing
from keras_cnns.layers.preprocessing import WeightsPreprocessing
from keras_cnns.weights.preprocessing import PixelPreprocessing

Transform = Callable[[tf.Tensor], tf.Tensor]


def pretrained_transform(input_shape: Sequence[int], preprocessing: PixelPreprocessing) -> Transform:
    """The standard evaluation transform of pretrained weights (module docstring) for a
    model of `input_shape` `(H, W, C)` whose weights expect `preprocessing`."""
    height, width, channels = (int(d) for d in input_shape)
    size = resize_size(min(height, width))
    layer = WeightsPreprocessing(**preprocessing.layer_config(), dtype="float32")

    def transform(images: tf.Tensor) -> tf.Tensor:
        images = convert_channels(tf.cast(images, tf.float32), channels)
        images = center_crop(resize_shorter_side(images, size), height, width)
        return layer(images)

    return transform


def trained_transform(input_shape: Sequence[int | None], preprocessing: Preprocessing) -> Transform:
    """The transform of a run or a saved model: its own `preprocessing` (the training
    pipeline's fitting and normalization) for a model of `input_shape` `(H, W, C)`."""
    channels = int(input_shape[-1])

    def transform(images: tf.Tensor) -> tf.Tensor:
        images = convert_channels(tf.cast(images, tf.float32), channels)
        return preprocessing(images, tuple(input_shape))

    return transform
