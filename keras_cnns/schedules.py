"""Learning-rate schedules of the training recipes (imported by `keras_cnns`, so that
saved checkpoints with their optimizer load in any process that imports the package)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_cnns")
class RecipeSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`lr(step) = base * multiplier(step) * rate ** floor(step / decay_steps)`.

    `multiplier` is piecewise constant with `boundaries` given in steps; the exponential
    staircase factor is off when `decay_steps` is 0.
    """

    def __init__(self, base, boundaries=(), multipliers=(1.0,), decay_steps=0, decay_rate=1.0):
        self.base = float(base)
        self.boundaries = [int(b) for b in boundaries]
        self.multipliers = [float(m) for m in multipliers]
        self.decay_steps = int(decay_steps)
        self.decay_rate = float(decay_rate)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        multiplier = ops.convert_to_tensor(self.multipliers[0], "float32")
        for boundary, value in zip(self.boundaries, self.multipliers[1:]):
            multiplier = ops.where(step >= boundary, value, multiplier)
        lr = self.base * multiplier
        if self.decay_steps > 0:
            lr = lr * ops.power(self.decay_rate, ops.floor(step / self.decay_steps))
        return lr

    def get_config(self):
        return dict(
            base=self.base,
            boundaries=self.boundaries,
            multipliers=self.multipliers,
            decay_steps=self.decay_steps,
            decay_rate=self.decay_rate,
        )
