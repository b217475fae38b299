"""Local response normalization (Krizhevsky et al. 2012, section 3.3)."""

from __future__ import annotations

import numpy as np
import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_cnns")
class LocalResponseNormalization(keras.layers.Layer):
    """Normalize each activation by the energy of its neighbouring channels.

    `b[c] = a[c] / (bias + alpha * sum(a[c']**2 for |c' - c| <= depth_radius)) ** beta`

    The defaults are AlexNet's constants (k=2, n=5, alpha=1e-4, beta=0.75). As in the
    paper and in `tf.nn.local_response_normalization`, `alpha` is *not* divided by the
    window size (PyTorch's `LocalResponseNorm` divides it by n). Channels last.

    The windowed sum is one matrix product with a banded 0/1 matrix, which every backend
    and TFLite run as a single op.
    """

    def __init__(
        self,
        depth_radius: int = 2,
        bias: float = 2.0,
        alpha: float = 1e-4,
        beta: float = 0.75,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(depth_radius, bool) or not isinstance(depth_radius, int) or depth_radius < 0:
            raise ValueError(
                f"`depth_radius` must be an integer >= 0 (the window spans 2*radius+1 "
                f"channels); received {depth_radius!r}."
            )
        for arg, value in (("bias", bias), ("alpha", alpha), ("beta", beta)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"`{arg}` must be a number >= 0; received {value!r}.")
        if bias == 0 and beta > 0:
            raise ValueError("`bias` must be > 0 when `beta` > 0 (it would divide by zero).")
        self.depth_radius = depth_radius
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self._band = None

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("LocalResponseNormalization needs a known channel count.")
        index = np.arange(channels)
        self._band = (np.abs(index[:, None] - index[None, :]) <= self.depth_radius).astype(
            "float32"
        )
        super().build(input_shape)

    def call(self, inputs):
        squares = ops.square(inputs)
        band = ops.convert_to_tensor(self._band, dtype=squares.dtype)
        window_sum = ops.matmul(squares, band)
        denominator = self.bias + self.alpha * window_sum
        if self.beta == 0.75:
            # d^-0.75 = d^-1/2 * d^-1/4: square roots instead of `pow` (a general power
            # costs exp and log, forward and backward: 5 % of an AlexNet training step).
            inverse = ops.rsqrt(denominator)
            return inputs * inverse * ops.sqrt(inverse)
        return inputs / ops.power(denominator, self.beta)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            depth_radius=self.depth_radius, bias=self.bias, alpha=self.alpha, beta=self.beta
        )
        return config
