"""Optimizer, learning-rate schedule, loss and weight decay from a `Recipe`."""

from __future__ import annotations

import keras

from keras_cnns.optimizers import SGD
from keras_cnns.schedules import RecipeSchedule
from keras_cnns.training.recipes import Recipe


def make_schedule(recipe: Recipe, steps_per_epoch: int) -> RecipeSchedule:
    """The recipe's schedule in optimizer steps."""
    total = recipe.epochs * steps_per_epoch
    return RecipeSchedule(
        recipe.learning_rate,
        boundaries=[round(fraction * total) for fraction in recipe.lr_boundaries],
        multipliers=recipe.lr_multipliers,
        decay_steps=round(recipe.lr_decay_epochs * steps_per_epoch),
        decay_rate=recipe.lr_decay_rate,
    )


def make_optimizer(recipe: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The recipe's optimizer with its schedule and gradient clipping."""
    schedule = make_schedule(recipe, steps_per_epoch)
    clip = {"clipnorm": recipe.clipnorm} if recipe.clipnorm else {}
    if recipe.optimizer == "sgd":
        # keras_cnns' SGD: Keras' optimizer with a fused momentum update on TensorFlow.
        return SGD(
            schedule, momentum=recipe.momentum, nesterov=recipe.nesterov, **clip
        )
    if recipe.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(
            schedule, rho=recipe.rmsprop_rho, momentum=recipe.momentum, epsilon=recipe.epsilon, **clip
        )
    return keras.optimizers.Adam(schedule, epsilon=recipe.epsilon, **clip)


def apply_weight_decay(model: keras.Model, weight_decay: float) -> int:
    """Add `weight_decay / 2 * ||w||^2` of every conv/dense kernel to the model's losses.

    This is the papers' weight decay: its gradient `weight_decay * w` is added to the
    loss gradient and so enters the momentum, as in Caffe and torch's SGD (Keras'
    optimizer `weight_decay` argument is the decoupled AdamW form instead). Batch-norm
    parameters and biases are not decayed. Returns the number of kernels decayed.
    """
    if weight_decay <= 0:
        return 0
    regularizer = keras.regularizers.L2(weight_decay / 2)
    decayed = 0
    for variable in model.trainable_weights:
        if variable.path.rsplit("/", 1)[-1] == "kernel" and len(variable.shape) >= 2:
            variable.regularizer = regularizer
            decayed += 1
    return decayed


def make_loss(recipe: Recipe) -> keras.losses.Loss:
    """Cross-entropy on integer labels, or on one-hot labels with label smoothing."""
    if recipe.label_smoothing > 0:
        return keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy()
