"""Batch normalization that trains with TensorFlow's fused kernel.

Keras 3's `BatchNormalization` computes a training step's statistics with separate ops
(`tf.nn.moments`: mean, squared difference, mean; then `tf.nn.batch_normalization`: rsqrt,
multiplies, adds, and the same again backwards). On a CPU with oneDNN that is many passes
over every activation: `benchmarks/profile_ops.py` found a quarter of ResNet-20's op time
in them. TensorFlow has one fused kernel for the whole normalization and one for its
gradient (`FusedBatchNormV3`, run by oneDNN).
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="keras_cnns")
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` with a fused training step on TensorFlow.

    The same constructor, weights (gamma, beta, moving mean, moving variance, in that
    order), configuration and results as Keras' layer; `isinstance(layer,
    keras.layers.BatchNormalization)` holds. In training, on the TensorFlow backend, for
    4-D channels-last inputs without mask, renorm or synchronized statistics, it calls
    TensorFlow's fused batch-norm kernel and updates the moving statistics exactly as Keras
    does (with the biased batch variance). Everything else (inference, other backends,
    other cases) is Keras' own code.
    """

    def _fused_training(self, inputs, mask) -> bool:
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and not self.renorm
            and not self.synchronized
            and len(inputs.shape) == 4
            and self.axis in (-1, 3)
            and inputs.shape[-1] is not None
        )

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable) or not self._fused_training(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = tf.cast(inputs, "float32")
        channels = x.shape[-1]
        gamma = tf.cast(self.gamma, x.dtype) if self.scale else tf.ones((channels,), x.dtype)
        beta = tf.cast(self.beta, x.dtype) if self.center else tf.zeros((channels,), x.dtype)
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x, gamma, beta, epsilon=self.epsilon, data_format="NHWC", is_training=True
        )
        # The kernel returns the unbiased variance (n / (n - 1)) for the running average;
        # Keras averages the biased one.
        count = tf.cast(tf.size(x) // channels, x.dtype)
        variance = variance * ((count - 1.0) / tf.maximum(count, 1.0))
        momentum = self.momentum
        self.moving_mean.assign(
            tf.cast(self.moving_mean, x.dtype) * momentum + mean * (1.0 - momentum)
        )
        self.moving_variance.assign(
            tf.cast(self.moving_variance, x.dtype) * momentum + variance * (1.0 - momentum)
        )
        return tf.cast(outputs, self.compute_dtype)
