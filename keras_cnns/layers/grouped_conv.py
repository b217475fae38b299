"""A grouped 2-D convolution that TensorFlow runs on oneDNN instead of XLA.

`keras.layers.Conv2D(groups=g)` on the TensorFlow backend runs every grouped convolution
through an XLA-compiled function, because TensorFlow's own CPU kernel does not support
groups; XLA's CPU convolutions are several times slower than oneDNN's. In AlexNet
(groups=2 in conv2, conv4 and conv5) those three layers took about 70 % of a training step
(`benchmarks/profile_ops.py alexnet`).
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_cnns")
class GroupedConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` that runs `groups > 1` as one convolution per group.

    The same constructor, weights (one kernel of shape `(kh, kw, in / groups, out)` and
    bias), configuration and results as `Conv2D`; on the TensorFlow backend with channels
    last, the input channels and the kernel's output channels are split into `groups`
    slices, each pair convolved as an ordinary convolution (oneDNN), and the results
    concatenated — which is what a grouped convolution computes. Other backends run
    their native grouped convolution.
    """

    def convolution_op(self, inputs, kernel):
        if (
            self.groups == 1
            or keras.backend.backend() != "tensorflow"
            or self.data_format != "channels_last"
        ):
            return super().convolution_op(inputs, kernel)
        parts = zip(
            ops.split(inputs, self.groups, axis=-1), ops.split(kernel, self.groups, axis=-1)
        )
        return ops.concatenate(
            [
                ops.conv(
                    x, k, strides=list(self.strides), padding=self.padding,
                    dilation_rate=self.dilation_rate, data_format=self.data_format,
                )
                for x, k in parts
            ],
            axis=-1,
        )
