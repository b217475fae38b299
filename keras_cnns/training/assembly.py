"""The one training assembly: a network built for the data, compiled for a recipe, and the
datasets it trains on.

`keras_cnns.train` and the KerasTuner hypermodels (`keras_cnns.tuning`) both go through
these functions, so that a trial trains exactly as a run does:

    recipe = get_recipe("googlenet").for_channels(1)
    model, fit_input = build_for_data("googlenet", (28, 28, 1), 10, {"aux_logits": True})
    compile_for_recipe(model, recipe, steps_per_epoch=100)
    train = make_dataset(train_split, model, recipe, input_shape=(28, 28, 1), num_classes=10,
                         training=True)

- `build_for_data`: networks whose minimum input is larger than the images adapt them
  inside the model (`fit_input="pad"` or `"resize"`, see `choose_fit_input`).
- `compile_for_recipe`: the recipe's optimizer and schedule, loss (label smoothing), the
  papers' weight decay, and, for models with auxiliary classifiers, one loss per output
  weighted by `recipe.aux_loss_weight` (`keras_cnns.models.auxiliary.loss_config`).
- `make_dataset`: `keras_cnns.data.build_pipeline` with the recipe's augmentation and
  normalization, the labels one-hot under label smoothing and repeated for every output.
"""

from __future__ import annotations

from typing import Callable, Sequence

import keras
import tensorflow as tf

from keras_cnns.analysis.profile import profile
from keras_cnns.data import DataSplit, build_pipeline
from keras_cnns.keras_internals import sublayers
from keras_cnns.models import auxiliary, get_model
from keras_cnns.models.common import InputTooSmallError
from keras_cnns.training.optim import apply_weight_decay, make_loss, make_optimizer
from keras_cnns.training.recipes import Recipe

__all__ = [
    "accuracy_name",
    "build_and_compile",
    "build_for_data",
    "choose_fit_input",
    "choose_steps_per_execution",
    "compile_for_recipe",
    "set_batch_norm_momentum",
    "make_dataset",
    "with_targets",
]


def choose_fit_input(minimum: int, image_shape: Sequence[int | None]) -> str:
    """Pad inputs a little smaller than the network's minimum, resize much smaller ones."""
    smallest = min(d for d in image_shape[:2] if d is not None)
    return "pad" if minimum <= 1.25 * smallest else "resize"


def build_for_data(
    model: str | Callable[..., keras.Model], image_shape: Sequence[int | None], num_classes: int,
    options: dict | None = None,
) -> tuple[keras.Model, str | None]:
    """Build `model` (a registered name or a builder) for images of `image_shape`.

    A network that needs larger images adapts them inside the model (see
    `choose_fit_input`). Returns the model and the `fit_input` it uses (None when the
    images fit as they are).
    """
    builder = (lambda **kwargs: get_model(model, **kwargs)) if isinstance(model, str) else model
    common = dict(num_classes=num_classes, input_shape=tuple(image_shape), **(options or {}))
    try:
        return builder(**common), None
    except InputTooSmallError as err:
        fit_input = choose_fit_input(err.min_size, image_shape)
    return builder(fit_input=fit_input, **common), fit_input


def accuracy_name(model: keras.Model) -> str:
    """The name of the main classifier's accuracy in the logs: `accuracy`, or
    `logits_accuracy` for a model with auxiliary heads."""
    return f"{auxiliary.MAIN_OUTPUT}_accuracy" if auxiliary.output_names(model) else "accuracy"


# `steps_per_execution="auto"`: blocks of this many steps for a model whose training step
# is small (under SMALL_STEP_MACS multiply-adds per batch, forward), one step otherwise.
AUTO_STEPS_PER_EXECUTION = 16
SMALL_STEP_MACS = 10**9


def choose_steps_per_execution(model: keras.Model, batch_size: int, requested: int | str = "auto") -> int:
    """The training steps `model.fit` runs per call of its compiled function.

    `requested` is a positive int (used as it is) or `"auto"`: `AUTO_STEPS_PER_EXECUTION`
    when one batch's forward pass is under `SMALL_STEP_MACS` multiply-adds (LeNet-5 at
    batch 128: 42 M), else 1 (also for a model of variable input size). A small step takes
    a few milliseconds on a CPU, and the fixed cost of a call (Python, the `tf.function`
    call, the executor) is a large part of it; running a block of steps per call pays it
    once per block (`benchmarks/RESULTS.md`). A large step gains nothing, and one step per
    call keeps the callbacks per batch.
    """
    if requested != "auto":
        return check_steps_per_execution(requested)
    shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
    if any(d is None for shape in shapes for d in shape[1:]):
        return 1  # images of any size: the cost of a step is not known in advance
    return AUTO_STEPS_PER_EXECUTION if profile(model).macs * batch_size < SMALL_STEP_MACS else 1


def check_steps_per_execution(value: int | str) -> int | str:
    """`value` if it is `"auto"` or a positive int, else a ValueError naming the argument."""
    if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        return value
    raise ValueError(f"`steps_per_execution` must be 'auto' or a positive integer; received {value!r}.")


def compile_for_recipe(
    model: keras.Model, recipe: Recipe, steps_per_epoch: int, steps_per_execution: int = 1
) -> keras.Model:
    """Compile `model` as `recipe` trains: its optimizer and learning-rate schedule (over
    `steps_per_epoch`), its loss and weight decay; auxiliary heads get the same loss
    weighted by `recipe.aux_loss_weight`, and accuracy is measured on the main output;
    the batch norms take `recipe.batch_norm_momentum` where it is set. `model.fit` runs
    `steps_per_execution` steps per call (see `choose_steps_per_execution`)."""
    apply_weight_decay(model, recipe.weight_decay)
    if recipe.batch_norm_momentum is not None:
        set_batch_norm_momentum(model, recipe.batch_norm_momentum)
    has_aux = bool(auxiliary.output_names(model))
    model.compile(
        optimizer=make_optimizer(recipe, steps_per_epoch),
        **auxiliary.loss_config(model, make_loss(recipe), aux_weight=recipe.aux_loss_weight),
        metrics={auxiliary.MAIN_OUTPUT: ["accuracy"]} if has_aux else ["accuracy"],
        steps_per_execution=steps_per_execution,
    )
    return model


def set_batch_norm_momentum(model: keras.Model, momentum: float) -> int:
    """Give every batch normalization in `model` (those inside blocks too) the moving
    averages' `momentum`; returns how many there are. Takes effect in the next traced
    training step (`compile` starts a new one)."""
    layers = [layer for layer in sublayers(model, recursive=True)
              if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.momentum = float(momentum)
    return len(layers)


def build_and_compile(
    model: str | Callable[..., keras.Model], recipe: Recipe, *, image_shape: Sequence[int | None],
    num_classes: int, steps_per_epoch: int, options: dict | None = None,
) -> tuple[keras.Model, str | None]:
    """`build_for_data` with the recipe's model options (overridden by `options`), then
    `compile_for_recipe`. Call it inside the strategy's scope."""
    built, fit_input = build_for_data(model, image_shape, num_classes, {**recipe.model_options, **(options or {})})
    return compile_for_recipe(built, recipe, steps_per_epoch), fit_input


def with_targets(model: keras.Model, recipe: Recipe, num_classes: int) -> Callable:
    """A `tf.data` map from `(images, labels)` to the model's targets: one-hot labels
    under label smoothing, repeated for every output of a model with auxiliary heads."""
    one_hot = recipe.label_smoothing > 0

    def targets(images, labels):
        if one_hot:
            labels = tf.one_hot(tf.cast(labels, tf.int32), num_classes)
        return images, auxiliary.repeat_targets(model, labels)

    return targets


def make_dataset(
    data: DataSplit, model: keras.Model, recipe: Recipe, *, input_shape: Sequence[int], num_classes: int,
    training: bool, seed: int | None = None, epochs: tuple[int, int] | None = None,
    augmentation_strength: float = 1.0, epoch_per_iteration: bool = False,
) -> tf.data.Dataset:
    """The batches `model` trains (`training=True`: shuffled, with the recipe's
    augmentation) or is evaluated on, with its targets (`with_targets`). `epochs`,
    `augmentation_strength` and `epoch_per_iteration` are those of
    `keras_cnns.data.build_pipeline`."""
    ds = build_pipeline(
        data, input_shape=tuple(input_shape), batch_size=recipe.batch_size, training=training,
        augmentation=recipe.augmentation if training else None, normalization=recipe.normalization,
        seed=seed, epochs=epochs, augmentation_strength=augmentation_strength,
        epoch_per_iteration=epoch_per_iteration,
    )
    return ds.map(with_targets(model, recipe, num_classes))
