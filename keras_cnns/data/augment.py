"""Augmentation layers from the papers that Keras does not ship.

Keras already has `RandomFlip`, `RandomCrop`, `RandomErasing`, ...; this module adds:

* `PCAColorAugmentation` — AlexNet's colour augmentation (Krizhevsky et al. 2012, 4.1).
* `RandomPadCrop` — pad by a few pixels and crop back at a random offset, *per image*
  (He et al. 2015, CIFAR). Keras' `RandomCrop` draws one offset per batch, which shifts
  every image of a batch alike when it runs on batches.
* `RandomResizedCrop` — Inception's crop of a random area and aspect ratio, resized back
  (Szegedy et al. 2015, section 6).

All three are Keras layers (serializable, `get_config` returns the constructor arguments)
built on Keras' data-layer base (`keras_cnns.keras_internals.DataLayer`: Keras has no
public one), so they run inside a model on any backend and inside a `tf.data` pipeline
whatever the backend is. They change images only when `training=True`.
"""

from __future__ import annotations

import math
from typing import Sequence

import keras
import numpy as np

from keras_cnns.keras_internals import DataLayer
from keras_cnns.validation import check_float, check_int, check_pair

#: ImageNet RGB eigenvalues for pixels in [0, 1] (REFERENCE.md; fb.resnet.torch).
IMAGENET_EIGENVALUES = (0.2175, 0.0188, 0.0045)
#: ImageNet RGB eigenvectors as the matrix is usually written: row = R, G, B channel,
#: column i = eigenvector i (the first, (-0.5675, -0.5808, -0.5836), is brightness).
IMAGENET_EIGENVECTORS = (
    (-0.5675, 0.7192, 0.4009),
    (-0.5808, -0.0045, -0.8140),
    (-0.5836, -0.6948, 0.4203),
)


class _RandomImageLayer(DataLayer):
    """Shared plumbing: seed, channels-last images of rank 3 or 4, identity at inference."""

    def __init__(self, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.seed = check_int("seed", seed, allow_none=True)
        self.generator = keras.random.SeedGenerator(self.seed)

    def call(self, inputs, training=True):
        images = self.backend.cast(inputs, self.compute_dtype)
        if not training:
            return images
        single = len(images.shape) == 3
        if single:
            images = self.backend.numpy.expand_dims(images, 0)
        if len(images.shape) != 4:
            raise ValueError(
                f"{type(self).__name__} expects images [H, W, C] or [B, H, W, C]; received "
                f"shape {tuple(images.shape)}."
            )
        outputs = self._augment(images, self.seed_generator())
        return outputs[0] if single else outputs

    def _augment(self, images, seed):
        raise NotImplementedError

    def _batch_size(self, images):
        return self.backend.core.shape(images)[0]

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config["seed"] = self.seed
        return config


@keras.saving.register_keras_serializable(package="keras_cnns")
class PCAColorAugmentation(_RandomImageLayer):
    """AlexNet's PCA colour augmentation: add `sum_i alpha_i * lambda_i * p_i` to every
    pixel of an image, with `alpha_i ~ N(0, stddev)` drawn once per image.

    `lambda_i`, `p_i` are the eigenvalues and eigenvectors of the RGB covariance of the
    training pixels (ImageNet's by default, for pixels in [0, 1]); the offset is scaled by
    the width of `value_range`, so images in [0, 255] get the offset in [0, 255] units.
    The output is not clipped, as in the paper.

    Args:
        eigenvalues: the three eigenvalues (>= 0).
        eigenvectors: a 3x3 matrix whose *columns* are the eigenvectors (row = channel).
        stddev: the standard deviation of `alpha` (the paper's 0.1).
        value_range: `(low, high)` of the input pixels.
        seed: seed of the random draws.
    """

    def __init__(
        self,
        eigenvalues: Sequence[float] = IMAGENET_EIGENVALUES,
        eigenvectors: Sequence[Sequence[float]] = IMAGENET_EIGENVECTORS,
        stddev: float = 0.1,
        value_range: Sequence[float] = (0.0, 255.0),
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        values = np.asarray(eigenvalues, dtype="float64")
        vectors = np.asarray(eigenvectors, dtype="float64")
        if values.shape != (3,) or not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(
                f"`eigenvalues` must be three finite numbers >= 0; received {eigenvalues!r}."
            )
        if vectors.shape != (3, 3) or not np.all(np.isfinite(vectors)):
            raise ValueError(
                "`eigenvectors` must be a 3x3 matrix (columns = eigenvectors); received "
                f"{eigenvectors!r}."
            )
        self.eigenvalues = [float(v) for v in values]
        self.eigenvectors = [[float(v) for v in row] for row in vectors]
        self.stddev = check_float("stddev", stddev, low=0.0)
        self.value_range = check_pair("value_range", value_range, low=-math.inf, high=math.inf)
        if self.value_range[0] == self.value_range[1]:
            raise ValueError(f"`value_range` must have low < high; received {value_range!r}.")
        # Column i of `scaled` is lambda_i * p_i in the units of value_range.
        width = self.value_range[1] - self.value_range[0]
        self._scaled = (vectors * values[None, :] * width).astype("float32")

    def _augment(self, images, seed):
        if images.shape[-1] not in (3, None):
            raise ValueError(
                "PCAColorAugmentation needs RGB images (3 channels, last axis); received "
                f"shape {tuple(images.shape)}."
            )
        backend = self.backend
        alpha = backend.random.normal(
            (self._batch_size(images), 3), stddev=self.stddev, dtype=self.compute_dtype, seed=seed
        )
        scaled = backend.convert_to_tensor(self._scaled, dtype=self.compute_dtype)
        offset = backend.numpy.matmul(alpha, backend.numpy.transpose(scaled))  # [B, 3]
        return images + offset[:, None, None, :]

    def get_config(self):
        config = super().get_config()
        config.update(
            eigenvalues=self.eigenvalues,
            eigenvectors=self.eigenvectors,
            stddev=self.stddev,
            value_range=list(self.value_range),
        )
        return config


@keras.saving.register_keras_serializable(package="keras_cnns")
class RandomPadCrop(_RandomImageLayer):
    """Zero-pad `padding` pixels on each side and crop back to the input size at a random
    offset, drawn for each image: a shift by `(dy, dx)`, each uniform in
    `{-padding, ..., padding}`, with zeros coming in (He et al. 2015: "4 pixels are padded
    on each side, and a 32x32 crop is randomly sampled from the padded image").

    Args:
        padding: pixels padded on each side (>= 0).
        seed: seed of the random draws.
    """

    def __init__(self, padding: int = 4, seed: int | None = None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or padding < 0:
            raise ValueError(f"`padding` must be an integer >= 0; received {padding!r}.")
        self.padding = int(padding)

    def _augment(self, images, seed):
        if self.padding == 0:
            return images
        backend = self.backend
        batch = self._batch_size(images)
        shifts = backend.random.randint(
            (batch, 2), minval=-self.padding, maxval=self.padding + 1, seed=seed
        )
        shifts = backend.cast(shifts, "float32")
        ones = backend.numpy.ones((batch,), "float32")
        zeros = backend.numpy.zeros((batch,), "float32")
        # Output pixel (x, y) reads input pixel (x + dx, y + dy): integer shifts, so
        # nearest-neighbour sampling copies pixels exactly.
        transform = backend.numpy.stack(
            [ones, zeros, shifts[:, 1], zeros, ones, shifts[:, 0], zeros, zeros], axis=1
        )
        return backend.image.affine_transform(
            images, transform, interpolation="nearest", fill_mode="constant", fill_value=0,
            data_format="channels_last",
        )

    def get_config(self):
        config = super().get_config()
        config["padding"] = self.padding
        return config


@keras.saving.register_keras_serializable(package="keras_cnns")
class RandomResizedCrop(_RandomImageLayer):
    """Inception's random-resized crop at the input's size: for each image, a box of a
    random fraction of its area (uniform in `scale`) and a random aspect ratio
    (log-uniform in `ratio`) at a random position, resized (bilinear) to the whole image.

    Boxes that would not fit are clipped to the image (the aspect ratio then bends); the
    pipeline applies this layer after images were brought to the model's input size.

    Args:
        scale: `(min, max)` fraction of the image area (Szegedy et al.: 0.08 to 1).
        ratio: `(min, max)` width / height of the box (3/4 to 4/3).
        seed: seed of the random draws.
    """

    def __init__(
        self,
        scale: Sequence[float] = (0.08, 1.0),
        ratio: Sequence[float] = (3 / 4, 4 / 3),
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(seed=seed, **kwargs)
        self.scale = check_pair("scale", scale, low=0.0, high=1.0)
        if self.scale[0] <= 0:
            raise ValueError(f"`scale` must be > 0; received {tuple(scale)!r}.")
        self.ratio = check_pair("ratio", ratio, low=0.0, high=math.inf)
        if self.ratio[0] <= 0:
            raise ValueError(f"`ratio` must be > 0; received {tuple(ratio)!r}.")

    def _augment(self, images, seed):
        backend = self.backend
        np_ = backend.numpy
        shape = backend.core.shape(images)
        batch = shape[0]
        height = backend.cast(shape[1], "float32")
        width = backend.cast(shape[2], "float32")
        area = backend.random.uniform((batch,), self.scale[0], self.scale[1], seed=seed)
        log_ratio = backend.random.uniform(
            (batch,), math.log(self.ratio[0]), math.log(self.ratio[1]), seed=seed
        )
        aspect = np_.exp(log_ratio)
        # Box sides as fractions of the image sides: w*h = area and (w*W)/(h*H) = aspect.
        box_w = np_.minimum(np_.sqrt(area * aspect * height / width), 1.0)
        box_h = np_.minimum(np_.sqrt(area / aspect * width / height), 1.0)
        start = backend.random.uniform((batch, 2), 0.0, 1.0, seed=seed)
        y0 = start[:, 0] * (1.0 - box_h) * height
        x0 = start[:, 1] * (1.0 - box_w) * width
        sx, sy = box_w, box_h  # input pixels per output pixel
        zeros = np_.zeros_like(sx)
        # Pixel centres map to pixel centres: x_in + 0.5 = x0 + (x_out + 0.5) * sx.
        transform = np_.stack(
            [sx, zeros, x0 + 0.5 * sx - 0.5, zeros, sy, y0 + 0.5 * sy - 0.5, zeros, zeros],
            axis=1,
        )
        return backend.image.affine_transform(
            images, transform, interpolation="bilinear", fill_mode="nearest",
            data_format="channels_last",
        )

    def get_config(self):
        config = super().get_config()
        config.update(scale=list(self.scale), ratio=list(self.ratio))
        return config
