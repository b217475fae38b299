"""Training with auxiliary classifiers (GoogLeNet's aux1/aux2, Inception v3's aux).

A model built with `aux_logits=True` returns a dict of outputs: `"logits"` for the main
classifier and one entry per auxiliary head (`"aux1"`, `"aux2"` or `"aux"`). Each output
layer is named after its key, so `model.output_names` holds the same names (Keras sorts
them: `['aux1', 'aux2', 'logits']`) and `{name: loss for name in model.output_names}`
compiles. Keras trains such a model directly when the loss, its weights and the targets
are given per output:

    model = keras_cnns.googlenet(num_classes=10, input_shape=(96, 96, 3), aux_logits=True)
    model.compile("sgd", **loss_config(model, "sparse_categorical_crossentropy"))
    model.fit(x, repeat_targets(model, y), ...)    # or dataset.map(...) with repeat_targets
    serving = without_aux_heads(model)              # same weights, main output only

The auxiliary heads only help training; `without_aux_heads` is what gets exported.
"""

from __future__ import annotations

from typing import Any

import keras

from keras_cnns.layers.heads import MAIN_OUTPUT

AUX_LOSS_WEIGHT = 0.3  # Szegedy et al. 2014, section 5 (also used for Inception v3's head)


def output_names(model: keras.Model) -> list[str]:
    """The names of a model's outputs, main output first: `["logits", "aux1", ...]`, or
    `[]` for one output. (`model.output_names` has the same names in Keras' sorted
    order.)"""
    outputs = model.output
    if not isinstance(outputs, dict):
        return []
    names = list(outputs)
    return sorted(names, key=lambda name: name != MAIN_OUTPUT)


def _check_aux_model(model: keras.Model) -> list[str]:
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras.Model; received {model!r}.")
    names = output_names(model)
    if names and MAIN_OUTPUT not in names:
        raise ValueError(
            f"`model` has the outputs {names} but no {MAIN_OUTPUT!r} output; build it with "
            "a keras_cnns builder and aux_logits=True."
        )
    return names


def without_aux_heads(model: keras.Model, name: str | None = None) -> keras.Model:
    """The inference model: the same layers and weights, only the main output.

    A model without auxiliary heads is returned unchanged. The returned model shares
    every variable with `model` (training one trains the other); the auxiliary layers are
    simply not part of it, so its summary, exports and parameter count are those of the
    network without aux heads.
    """
    names = _check_aux_model(model)
    if not names:
        return model
    return keras.Model(model.inputs, model.output[MAIN_OUTPUT], name=name or model.name)


def loss_config(
    model: keras.Model, loss: Any, aux_weight: float = AUX_LOSS_WEIGHT
) -> dict[str, dict[str, Any]]:
    """`compile` arguments for a model with auxiliary heads: one `loss` per output and
    `loss_weights` 1 for the main output, `aux_weight` (paper: 0.3) for each aux head.

    Keras does not spread a single loss over several outputs once `loss_weights` are
    given, hence the dicts.
    """
    names = _check_aux_model(model)
    if isinstance(aux_weight, bool) or not isinstance(aux_weight, (int, float)) or aux_weight < 0:
        raise ValueError(f"`aux_weight` must be a number >= 0; received {aux_weight!r}.")
    if not names:
        return {"loss": loss}
    return {
        "loss": {output: loss for output in names},
        "loss_weights": {
            output: 1.0 if output == MAIN_OUTPUT else float(aux_weight) for output in names
        },
    }


def repeat_targets(model: keras.Model, y: Any) -> Any:
    """The same targets for every output of `model` (a dict), or `y` for one output.

    Works on arrays and on tensors inside `tf.data` maps:
    `dataset.map(lambda x, y: (x, repeat_targets(model, y)))`.
    """
    names = _check_aux_model(model)
    return {output: y for output in names} if names else y
