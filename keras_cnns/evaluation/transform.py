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

from keras_cnns.data.pipeline import convert_channels
from keras_cnns.export.preprocessing import Preprocessing
from keras_cnns.layers.preprocessing import WeightsPreprocessing
from keras_cnns.weights.preprocessing import PixelPreprocessing

#: torchvision's (and keras.io's) evaluation ratio: resize to 256, crop 224.
RESIZE_RATIO = 256 / 224

Transform = Callable[[tf.Tensor], tf.Tensor]


def resize_size(crop_size: int) -> int:
    """The shorter side images are resized to before the centre crop of `crop_size`
    (256 for 224, 342 for Inception v3's 299, 73 for 64)."""
    return int(round(crop_size * RESIZE_RATIO))


def resize_shorter_side(images: tf.Tensor, size: int) -> tf.Tensor:
    """Resize float images `[..., h, w, C]` so that their shorter side is `size` and the
    longer one `int(size * long / short)` (bilinear, antialiased when shrinking)."""
    h, w = images.shape[-3], images.shape[-2]
    if h is not None and w is not None:
        new = (size, size * w // h) if h <= w else (size * h // w, size)
        if new == (h, w):
            return images
        return tf.image.resize(images, new, method="bilinear", antialias=new[0] < h)
    shape = tf.shape(images)
    h, w = shape[-3], shape[-2]
    new = tf.where(h <= w, tf.stack([size, size * w // h]), tf.stack([size * h // w, size]))
    return tf.cond(
        new[0] < h,
        lambda: tf.image.resize(images, new, method="bilinear", antialias=True),
        lambda: tf.image.resize(images, new, method="bilinear", antialias=False),
    )


def center_crop(images: tf.Tensor, height: int, width: int) -> tf.Tensor:
    """The centre `height` x `width` of images `[..., h, w, C]` at least that large
    (torchvision's offsets: `int(round((h - height) / 2))`, half-way rounded to even)."""
    shape = tf.shape(images)
    h, w = shape[-3], shape[-2]
    top = tf.cast(tf.round(tf.cast(h - height, tf.float32) / 2), tf.int32)
    left = tf.cast(tf.round(tf.cast(w - width, tf.float32) / 2), tf.int32)
    cropped = images[..., top: top + height, left: left + width, :]
    return tf.ensure_shape(cropped, [*images.shape[:-3], height, width, images.shape[-1]])


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
