"""Fine-tuning: a run that starts from pretrained weights and trains in phases.

`keras_cnns.train(model, dataset, weights=NAME_OR_PATH, freeze_epochs=N)`:

- The network is built with `weights=` (a published name or a weights file) for the data
  set's classes. Its classifier (`predictions`, or `logits` and the auxiliary classifiers)
  starts fresh: `build_model` leaves it fresh where its shape differs, and
  `fresh_classifier` resets it where the shape is the same (the classes of the new data
  set are others). The other layers of a fully connected top (VGG's `fc1`, `fc2`) keep
  their pretrained values.
- Where the weights' preprocessing is known (published names, torchvision checkpoints:
  `keras_cnns.models.preprocessing.weights_preprocessing`), it goes inside the model
  (`include_preprocessing=True`) and the pipeline feeds pixels in [0, 255]
  (normalization `"none"`), so the run's model and its exports take plain pixels. Otherwise
  (a Keras file of one of our own runs) the recipe's normalization is used as it is.
- Weights trained on RGB images (published, torchvision checkpoints) get a 3-channel
  model; the pipeline repeats grey images to RGB.
- Phases (`plan_phases`): **head** for epochs `0 .. N-1`: only the head trains
  (`head_layer_names`), the backbone is frozen (`trainable=False`; Keras 3 runs a
  BatchNormalization whose `trainable` is False in inference mode, so its moving
  statistics stay those of the weights), at the recipe's `head_learning_rate`. Then
  **full**: every layer trains, at the recipe's `learning_rate`; with the recipe's
  `freeze_batch_norm` (the `finetune` recipe's choice) the batch norms stay frozen in
  inference mode. `freeze_epochs` equal to the run's epochs trains the head alone (a
  linear probe, for a one-layer head).

Each phase compiles the model afresh: a new optimizer over the phase's trainable
variables, the recipe's schedule spread over the phase's epochs, and is one `fit` (or one
multi-worker loop, `keras_cnns.training.loop`). A resumed run starts in the phase of its
backed-up epoch; a backup written by the phase before restores the weights but not the
optimizer state (`RunBackup`). A run without weights is one **full** phase over all its
epochs: the ordinary run.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import keras

from keras_cnns.keras_internals import sublayers
from keras_cnns.layers.heads import CLASSIFIER, MAIN_OUTPUT
from keras_cnns.models import auxiliary, get_spec
from keras_cnns.models.preprocessing import weights_preprocessing
from keras_cnns.training.recipes import Recipe
from keras_cnns.validation import check_int
from keras_cnns.weights import is_checkpoint

HEAD, FULL = "head", "full"
WEIGHT_FILES = (".weights.h5", ".h5", ".keras", ".pth", ".pt", ".safetensors")


# ------------------------------------------------------------------ arguments
def check_weights(model_name: str, weights: Any) -> str | None:
    """`weights` as the run records it: None, a published name of `model_name`, or the
    absolute path of an existing weights file."""
    if weights is None:
        return None
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    published = get_spec(model_name).weights
    if isinstance(weights, str) and weights in published:
        return weights
    if isinstance(weights, str) and os.path.isfile(weights):
        return os.path.abspath(weights)
    names = ", ".join(repr(n) for n in published) or f"none for {model_name!r}"
    raise ValueError(
        f"Invalid `weights`: {weights!r} is neither a published weights name nor an existing "
        f"file. Accepted: None, a published name ({names}) or the path of a weights file "
        f"({', '.join(WEIGHT_FILES)})."
    )


def check_freeze_epochs(freeze_epochs: Any, weights: str | None, epochs: int) -> int:
    """`freeze_epochs` checked against `weights` and the run's `epochs` (0 when None)."""
    if freeze_epochs is None:
        return 0
    if weights is None:
        raise ValueError(
            f"`freeze_epochs={freeze_epochs!r}` needs `weights`: it freezes the backbone of "
            "pretrained weights while the new head trains. Pass weights=NAME_OR_PATH "
            "(--weights), or leave freeze_epochs out."
        )
    freeze_epochs = check_int("freeze_epochs", freeze_epochs, minimum=0)
    if freeze_epochs > epochs:
        raise ValueError(
            f"`freeze_epochs`={freeze_epochs} is more than the run's `epochs`={epochs}. Accepted: "
            f"0 .. {epochs} (freeze_epochs == epochs trains the head alone)."
        )
    return freeze_epochs


def known_preprocessing(model_name: str, weights: str | None) -> dict | None:
    """The pixel preprocessing `weights` expect (`{"mode", "transform_input"}`), or None
    when it cannot be told (no weights, a Keras file of unknown origin)."""
    if weights is None:
        return None
    try:
        found = weights_preprocessing(model_name, weights)
    except ValueError:
        return None
    return found.layer_config()


def pixel_recipe(recipe: Recipe, preprocessing: dict | None, overrides: dict) -> Recipe:
    """The recipe for a model with its preprocessing inside: pixels in [0, 255]
    (normalization `"none"`); an explicit other normalization is refused."""
    if preprocessing is None:
        return recipe
    asked = overrides.get("normalization", "none")
    if asked != "none":
        raise ValueError(
            f"Recipe field `normalization`={asked!r} conflicts with `weights`: their "
            f"{preprocessing['mode']!r} preprocessing goes inside the model, which takes pixels "
            "in [0, 255]. Accepted with these weights: 'none' (or leave it out)."
        )
    return recipe.replace(normalization="none")


def weights_channels(model_name: str, weights: str | None) -> int | None:
    """The input channels `weights` were trained on, when known: a published entry's, or
    3 for a torchvision checkpoint; None: take the data's."""
    if weights is None:
        return None
    published = get_spec(model_name).weights
    if weights in published:
        return int(published[weights].input_shape[-1])
    return 3 if is_checkpoint(weights) else None


def build_options(config: dict) -> dict:
    """The builder arguments of a run's weights (none without weights)."""
    weights = config.get("weights")
    if weights is None:
        return {}
    return {"weights": weights, "include_preprocessing": config.get("preprocessing") is not None}


# ------------------------------------------------------------------ phases
@dataclasses.dataclass(frozen=True)
class Phase:
    """Epochs `start .. end-1` of a run, trained with `layers` (`"head"` or `"full"`)
    trainable at `learning_rate`."""

    layers: str
    start: int
    end: int
    learning_rate: float

    def recipe(self, recipe: Recipe) -> Recipe:
        """`recipe` for this phase: its learning rate, the schedule over its epochs."""
        return recipe.replace(learning_rate=self.learning_rate, epochs=max(self.end - self.start, 1))


def plan_phases(recipe: Recipe, freeze_epochs: int) -> list[Phase]:
    """The phases of a run of `recipe.epochs` epochs (see the module docstring)."""
    phases = []
    if freeze_epochs:
        head_rate = recipe.head_learning_rate or recipe.learning_rate
        phases.append(Phase(HEAD, 0, freeze_epochs, head_rate))
    if recipe.epochs > freeze_epochs or not phases:
        phases.append(Phase(FULL, freeze_epochs, recipe.epochs, recipe.learning_rate))
    return phases


def remaining_phases(phases: list[Phase], initial_epoch: int) -> list[Phase]:
    """The phases a run resumed at `initial_epoch` still trains (the last one when the
    run is complete: it compiles the model for evaluation)."""
    return [p for p in phases if p.end > initial_epoch] or phases[-1:]


def head_layer_names(model: keras.Model) -> list[str]:
    """The layers of the head: those of the family's top (from `flatten` on where the
    network has a fully connected top: LeNet-5, AlexNet, VGG; else the final classifier)
    and every auxiliary head, i.e. every layer that does not feed the top."""
    names = [layer.name for layer in model.layers]
    main = next((n for n in (CLASSIFIER, MAIN_OUTPUT) if n in names), None)
    start = "flatten" if "flatten" in names else main
    if start is None:
        raise ValueError(
            f"Cannot find the head of {model.name!r}: it has no 'flatten', {CLASSIFIER!r} or "
            f"{MAIN_OUTPUT!r} layer (fine-tuning needs a keras_cnns model built with include_top=True)."
        )
    backbone = keras.Model(model.inputs, model.get_layer(start).input)
    inside = {layer.name for layer in backbone.layers}
    return [name for name in names if name not in inside]


def classifier_names(model: keras.Model) -> list[str]:
    """The classifier layers: `predictions`, or `logits` and the auxiliary classifiers
    (each output layer is named after its output)."""
    return auxiliary.output_names(model) or [CLASSIFIER]


def fresh_classifier(model: keras.Model) -> list[str]:
    """Give the classifier layers (`classifier_names`) fresh initial values, whatever their
    shape: the classes of a fine-tuning run are new. Returns the layers reset."""
    reset = []
    for name in classifier_names(model):
        layer = model.get_layer(name)
        for attribute in ("kernel", "bias"):
            variable = getattr(layer, attribute, None) if layer.weights else None
            if variable is not None:
                initializer = keras.initializers.get(getattr(layer, f"{attribute}_initializer"))
                variable.assign(initializer(variable.shape, variable.dtype))
        if layer.weights:
            reset.append(name)
    return reset


def set_trainable(model: keras.Model, layers: str, freeze_batch_norm: bool = False) -> None:
    """`"head"`: only the head's layers trainable (the backbone frozen); `"full"`: every
    layer trainable, but with `freeze_batch_norm` the batch norms (inference mode, their
    scale and offset fixed)."""
    head = set(head_layer_names(model)) if layers == HEAD else None
    for layer in model.layers:
        layer.trainable = head is None or layer.name in head
    if layers == FULL and freeze_batch_norm:
        for layer in sublayers(model, recursive=True):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
