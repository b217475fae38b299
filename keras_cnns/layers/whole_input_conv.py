"""A 2-D convolution whose kernel covers its whole input, run as one matrix product.

LeNet-5's C5 convolves a 5x5x16 map with 120 kernels of 5x5x16: one output position,
which is a fully connected layer over the flattened map. oneDNN runs such a convolution
(and its two gradients) as a convolution, slower than the same product as a matrix
multiplication (the C5 rows of `benchmarks/RESULTS.md`).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_cnns")
class WholeInputConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` that computes as a matrix product when its kernel covers the
    whole input.

    The same constructor, weights (kernel `(kh, kw, in, out)` and bias), configuration
    and results as `Conv2D`. When the input's height and width equal the kernel's, with
    `"valid"` padding, channels last, no dilation and no groups, the output has one
    position: the input flattened in (row, column, channel) order times the kernel
    reshaped to `(kh * kw * in, out)`. Any other input (a larger image given to LeNet-5,
    for instance) runs the ordinary convolution.
    """

    def _covers_input(self, inputs) -> bool:
        height, width = inputs.shape[1:3]
        return (
            self.data_format == "channels_last"
            and self.padding == "valid"
            and self.groups == 1
            and tuple(self.dilation_rate) == (1, 1)
            and (height, width) == tuple(self.kernel_size)
        )

    def convolution_op(self, inputs, kernel):
        if not self._covers_input(inputs):
            return super().convolution_op(inputs, kernel)
        kh, kw, channels, filters = kernel.shape
        flat = ops.reshape(inputs, (-1, kh * kw * channels))
        product = ops.matmul(flat, ops.reshape(kernel, (kh * kw * channels, filters)))
        return ops.reshape(product, (-1, 1, 1, filters))
