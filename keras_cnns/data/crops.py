"""Crops of single images of any size: the evaluation's resize-and-centre-crop and the
training crops taken from each decoded original.

- **Evaluation** (torchvision's `ImageClassification` transform, keras.io's ImageNet
  protocol): the shorter side resized to `RESIZE_RATIO` (256/224) times the model's input
  size, then the centre crop of the input size (`resize_shorter_side`, `center_crop`).
- **Inception's random-resized crop** (Szegedy et al. 2015, section 6; torchvision's
  `RandomResizedCrop.get_params`): a box of a random share of the original's area
  (uniform in `scale`) and a random aspect ratio (log-uniform in `ratio`), in the
  original's pixels, so that a crop resized to the input is never stretched beyond
  `ratio`; `ATTEMPTS` draws, then a centre crop at the nearest allowed aspect ratio.

The boxes are `(top, left, height, width)` int32 tensors drawn with stateless random ops
from a seed of shape [2], so a pipeline that derives the seed from (run seed, epoch,
example) gets the same crops in any order and on any number of parallel calls.
"""

from __future__ import annotations

import math
from typing import Sequence

import tensorflow as tf

#: torchvision's (and keras.io's) evaluation ratio: resize to 256, crop 224.
RESIZE_RATIO = 256 / 224
#: Inception's crop: area share and aspect ratio (width / height) ranges.
CROP_SCALE = (0.08, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
#: Draws of a random-resized crop before the fallback (torchvision: 10).
ATTEMPTS = 10

Box = tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]


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


def _sides(image_shape) -> tuple[tf.Tensor, tf.Tensor]:
    shape = tf.cast(image_shape, tf.float32)
    return shape[0], shape[1]


def _box(top, left, height, width) -> Box:
    return tuple(tf.cast(v, tf.int32) for v in (top, left, height, width))


def random_resized_crop_box(
    image_shape, seed, *, scale: Sequence[float] = CROP_SCALE, ratio: Sequence[float] = CROP_RATIO,
) -> Box:
    """Inception's random box (module docstring) in an image of `image_shape`; `seed`:
    an int32/int64 tensor of shape [2] for the stateless draws."""
    h, w = _sides(image_shape)
    draws = tf.random.stateless_uniform([ATTEMPTS, 4], seed=seed)
    area = h * w * (scale[0] + draws[:, 0] * (scale[1] - scale[0]))
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    aspect = tf.exp(log_low + draws[:, 1] * (log_high - log_low))
    crop_w = tf.round(tf.sqrt(area * aspect))
    crop_h = tf.round(tf.sqrt(area / aspect))
    fits = (crop_w >= 1) & (crop_h >= 1) & (crop_w <= w) & (crop_h <= h)
    first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)
    top = tf.floor(draws[first, 2] * (h - crop_h[first] + 1))
    left = tf.floor(draws[first, 3] * (w - crop_w[first] + 1))
    # Fallback: the largest centred box whose aspect ratio is in `ratio`.
    image_aspect = w / h
    fallback_w = tf.where(image_aspect > ratio[1], tf.round(h * ratio[1]), w)
    fallback_h = tf.where(image_aspect < ratio[0], tf.round(w / ratio[0]), h)
    found = tf.reduce_any(fits)
    crop_h = tf.where(found, crop_h[first], fallback_h)
    crop_w = tf.where(found, crop_w[first], fallback_w)
    top = tf.where(found, top, tf.floor((h - crop_h) / 2))
    left = tf.where(found, left, tf.floor((w - crop_w) / 2))
    return _box(top, left, crop_h, crop_w)


def crop_resize(image: tf.Tensor, box: Box, height: int, width: int) -> tf.Tensor:
    """The `box` of one image `[h, w, C]`, resized (bilinear, antialiased when shrinking)
    to float32 `[height, width, C]`."""
    top, left, box_h, box_w = box
    crop = tf.cast(image[top: top + box_h, left: left + box_w, :], tf.float32)
    shrink = (box_h > height) | (box_w > width)
    resized = tf.cond(
        shrink,
        lambda: tf.image.resize(crop, (height, width), method="bilinear", antialias=True),
        lambda: tf.image.resize(crop, (height, width), method="bilinear", antialias=False),
    )
    return tf.ensure_shape(resized, [height, width, image.shape[-1]])


def decode_crop_resize(encoded: tf.Tensor, channels: int, box_for, height: int, width: int) -> tf.Tensor:
    """Decode one encoded image, crop the `box_for(image_shape)` box of it and resize that
    to float32 `[height, width, channels]` (`crop_resize`). A JPEG is decoded within the
    box alone (`tf.image.decode_and_crop_jpeg`: its size is read from the header first),
    which saves most of the decoding of a small crop of a large photograph."""

    def any_format():
        image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
        return crop_resize(image, box_for(tf.shape(image)), height, width)

    if channels == 4:  # JPEG has no alpha: decode_and_crop_jpeg cannot make 4 channels
        return any_format()

    def jpeg():
        top, left, box_h, box_w = box_for(tf.image.extract_jpeg_shape(encoded))
        crop = tf.image.decode_and_crop_jpeg(
            encoded, tf.stack([top, left, box_h, box_w]), channels=channels
        )
        whole = (tf.constant(0), tf.constant(0), box_h, box_w)
        return crop_resize(crop, whole, height, width)

    return tf.cond(tf.io.is_jpeg(encoded), jpeg, any_format)
