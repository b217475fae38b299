"""Optimizers whose update runs as one fused kernel on TensorFlow.

Keras 3 writes SGD with momentum as separate tensor ops per variable (two multiplies, a
subtraction, an assignment and an in-place add): five passes over every weight and its
momentum, and five ops for the executor to schedule. For VGG's 138 M parameters that is
an eighth of a training step's op time on a CPU (`benchmarks/profile_ops.py vgg16`); for
LeNet-5's few small variables it is dozens of tiny ops per step. TensorFlow has the same
update as a single kernel (`ResourceApplyKerasMomentum`, written for Keras' formula).
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="keras_cnns")
class SGD(keras.optimizers.SGD):
    """`keras.optimizers.SGD` whose momentum update is one fused kernel on TensorFlow.

    The same constructor, configuration, variables and results as Keras' optimizer
    (`isinstance(opt, keras.optimizers.SGD)` holds): with momentum `mu` and learning rate
    `lr`, `m <- mu * m - lr * g` and `w <- w + m` (Nesterov: `w <- w + mu * m - lr * g`).
    On the TensorFlow backend, for dense gradients and momentum > 0, the update is
    TensorFlow's `ResourceApplyKerasMomentum` kernel, also per replica under a
    `tf.distribute` strategy. Everything else (no momentum, sparse gradients, the JAX and
    PyTorch backends) is Keras' own code.
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.momentum == 0 or keras.backend.backend() != "tensorflow":
            return super().update_step(gradient, variable, learning_rate)
        import tensorflow as tf

        if isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        momentum = self.momentums[self._get_variable_index(variable)]
        weights = variable.value if isinstance(variable, keras.Variable) else variable
        accumulator = momentum.value if isinstance(momentum, keras.Variable) else momentum
        dtype = weights.dtype
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=weights.handle,
            accum=accumulator.handle,
            lr=tf.cast(learning_rate, dtype),
            grad=tf.cast(gradient, dtype),
            momentum=tf.cast(self.momentum, dtype),
            use_nesterov=self.nesterov,
        )
