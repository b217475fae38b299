"""The transfer of a torchvision-style state dict into a Keras model.

A family describes its network once, as a `CheckpointMap` from its Keras layer names to
the module prefixes of torchvision's checkpoint keys (`"conv2_block1_1_conv"` ->
`"layer1.0.conv1"`), built by the family file from the model at hand (timm's
`checkpoint_filter_fn` idea). Everything else is generic, here:

- layouts: a `Conv2D` weight OIHW -> Keras' HWIO; a `Dense` weight (out, in) -> (in, out),
  its rows permuted from NCHW to NHWC order when the layer follows a `Flatten` of a
  feature map (`CheckpointMap.flattened`); `BatchNormalization` weight, bias,
  running_mean, running_var -> gamma, beta, moving_mean, moving_variance;
  `num_batches_tracked` is not a weight and is skipped;
- partial loads (here for checkpoints, and in `copy_layers` for published Keras files and
  converted checkpoints, loaded into the network with the published classifier first): a classifier (or auxiliary classifier) whose shape differs from the
  checkpoint's (any `num_classes`) keeps its initial values, and one log line (logger
  `"keras_cnns"`) names every such layer; the top's tensors are unused when the model
  has no top (`include_top=False`);
- anything else that does not fit (a tensor the model needs is missing, a shape differs,
  the checkpoint holds layers the model does not have, a weighted layer the map leaves
  out) raises a ValueError naming the file, the first layer that differs and both
  shapes, before any weight is changed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from typing import Any, Callable, Iterator, Mapping, Sequence

import keras
import numpy as np

from keras_cnns.keras_internals import sublayers
from keras_cnns.weights.formats import read_state_dict

logger = logging.getLogger("keras_cnns")

SKIPPED_SUFFIXES = ("num_batches_tracked",)


@dataclasses.dataclass(frozen=True)
class CheckpointMap:
    """Where a model's layers find their tensors in a torchvision-style state dict.

    Attributes:
        layers: Keras layer name -> module prefix in the checkpoint
            (`"conv1_bn"` -> `"bn1"`, whose tensors are `bn1.weight`, `bn1.bias`, ...),
            in the model's order (the first mismatch reported is the first in this
            order). A layer nested in another (a block's convolution) is named by its
            path, the names joined by "/" (Keras names cannot hold one):
            `"mixed0/branch1_1_conv"` is the sublayer `branch1_1_conv` of the model's
            layer `mixed0`.
        heads: Keras names of the layers whose shape follows `num_classes` (the
            classifier and any auxiliary classifier): where their shape differs from
            the checkpoint's they keep their initial values.
        top: checkpoint module prefixes of the top (classifier, auxiliary heads): their
            tensors may go unused, when the model was built without them.
        flattened: Keras name of a `Dense` layer fed by a `Flatten` of a feature map ->
            the name of that `Flatten` layer: its rows are permuted from PyTorch's NCHW
            flattening order to Keras' NHWC order.
        rename: maps a checkpoint key to today's name before anything else (for
            files saved under older module names, as torchvision's DenseNet files are).
    """

    layers: Mapping[str, str]
    heads: Sequence[str] = ()
    top: Sequence[str] = ()
    flattened: Mapping[str, str] = dataclasses.field(default_factory=dict)
    rename: Callable[[str], str] | None = None


@dataclasses.dataclass
class _Tensor:
    """One Keras variable and the checkpoint tensor it takes."""

    variable: Any
    key: str
    torch_shape: tuple  # the shape the checkpoint must have for this variable
    to_keras: Callable[[np.ndarray], np.ndarray]


def load_checkpoint(model: keras.Model, path: Any, keys: CheckpointMap) -> list[str]:
    """Load the `.pth`, `.pt` or `.safetensors` checkpoint at `path` into `model`,
    following `keys` (see `load_state_dict`). Returns the names of the layers left at
    their initial values."""
    path = os.fspath(path)
    return load_state_dict(model, read_state_dict(path), keys, source=path)


def load_state_dict(
    model: keras.Model,
    state: Mapping[str, Any],
    keys: CheckpointMap,
    *,
    source: str = "the state dict",
) -> list[str]:
    """Copy a torchvision-style state dict (`{key: array}`) into `model`'s layers.

    Every check runs before the first weight is set, so a checkpoint that does not fit
    leaves the model as it was.

    Args:
        model: the built Keras model.
        state: the checkpoint's tensors by key (numpy arrays, or anything
            `np.asarray` takes).
        keys: the family's map from the model's layers to the checkpoint's keys.
        source: the checkpoint's file name, for messages.

    Returns:
        The names of the head layers left at their initial values (shapes differ from
        the checkpoint's; also logged, in one line, on logger `"keras_cnns"`).

    Raises:
        ValueError: a missing tensor, a shape that differs outside the heads, tensors
            that no layer of the model takes, or a weighted layer the map leaves out;
            the message names `source`, the layer and both shapes. RGB weights into a
            model with another number of input channels get a message of their own.
    """
    rename = keys.rename or (lambda key: key)
    state = {
        rename(key): value for key, value in state.items() if not key.endswith(SKIPPED_SUFFIXES)
    }
    heads = set(keys.heads)
    plan: list[tuple[_Tensor, np.ndarray]] = []
    fresh: list[tuple[str, tuple, tuple]] = []
    fresh_variables: set[int] = set()
    used: set[str] = set()
    absent_top: list[str] = []

    for name, prefix in keys.layers.items():
        layer = _find_layer(model, name)
        if layer is None:
            if _under(prefix, keys.top):
                absent_top.append(prefix)
                continue
            raise ValueError(
                f"The checkpoint map names layer {name!r}, which model {model.name!r} does "
                f"not have (loading {source!r})."
            )
        tensors = _layer_tensors(model, name, layer, prefix, keys)
        used.update(t.key for t in tensors)
        missing = [t for t in tensors if t.key not in state]
        if missing:
            raise _missing_error(source, name, missing[0])
        differs = [t for t in tensors if tuple(np.shape(state[t.key])) != t.torch_shape]
        if differs:
            first = differs[0]
            received = tuple(np.shape(state[first.key]))
            if name in heads:  # reported in Keras' layout, as `copy_layers` does
                fresh.append((name, keras_layout(received), tuple(first.variable.shape)))
                fresh_variables.update(id(v) for v in layer.weights)
                continue
            raise _shape_error(model, source, name, layer, first, received)
        plan += [(t, np.asarray(state[t.key])) for t in tensors]

    unused = [key for key in state if key not in used and not _under(key, keys.top)]
    if unused:
        key = unused[0]
        raise ValueError(
            f"{source!r} holds {key!r} (shape {tuple(np.shape(state[key]))}), which no layer "
            f"of {model.name!r} takes (shape: none; {len(unused)} such tensors): a "
            f"checkpoint of another architecture or variant? Build the model the "
            f"checkpoint was saved from."
        )
    covered = {id(t.variable) for t, _ in plan} | fresh_variables
    for layer_name, variable in _model_variables(model):
        if id(variable) not in covered:
            raise ValueError(
                f"Layer {layer_name!r} of {model.name!r} (weight {variable.path!r}, shape "
                f"{tuple(variable.shape)}) has no tensor in {source!r} (shape: none): the "
                "model's options differ from the checkpoint's architecture."
            )

    for tensor, value in plan:
        tensor.variable.assign(tensor.to_keras(value).astype(tensor.variable.dtype, copy=False))
    log_fresh_layers(source, fresh)
    return [name for name, _, _ in fresh]


def keras_layout(torch_shape: Sequence[int]) -> tuple:
    """The shape a PyTorch tensor of `torch_shape` takes in Keras: a convolution kernel
    OIHW -> HWIO, a linear weight (out, in) -> (in, out); others keep theirs."""
    shape = tuple(torch_shape)
    if len(shape) == 4:
        return (shape[2], shape[3], shape[1], shape[0])
    if len(shape) == 2:
        return (shape[1], shape[0])
    return shape


_RECORDERS: list[list[tuple[str, tuple, tuple]]] = []


@contextlib.contextmanager
def fresh_layers_recorded() -> Iterator[list[tuple[str, tuple, tuple]]]:
    """Within the block, every partial load appends its fresh layers
    `(name, shape in the file, shape in the model)` to the list this yields: a caller
    that needs the file's classifier (evaluating pretrained weights) can refuse a model
    whose classifier started fresh."""
    recorded: list[tuple[str, tuple, tuple]] = []
    _RECORDERS.append(recorded)
    try:
        yield recorded
    finally:
        _RECORDERS.remove(recorded)


def log_fresh_layers(source: str, fresh: Sequence[tuple[str, tuple, tuple]]) -> None:
    """The one log line (logger `"keras_cnns"`, WARNING) of a partial load: the layers
    of `(name, shape in the file, shape in the model)` kept at their initial values.
    Nothing is logged when `fresh` is empty."""
    for recorded in _RECORDERS:
        recorded.extend(fresh)
    if not fresh:
        return
    described = ", ".join(
        f"{name} (checkpoint {received}, model {expected})" for name, received, expected in fresh
    )
    logger.warning(
        "Weights from %s: layers left at their initial values (their shape differs "
        "from the checkpoint's): %s.", source, described,
    )


def copy_layers(model: keras.Model, reference: keras.Model, *, source: str) -> list[str]:
    """Copy the weights of `reference`, the same network with the published classifier
    (the model a published file loads into as it is), into `model`, layer by layer and
    by name: the partial load of a published file for another `num_classes` or without
    the top.

    `reference` must differ from `model` only in its classifier (num_classes) and in
    having the top: a layer whose shapes differ (the classifier and any auxiliary head)
    keeps its initial values and is named in the one log line of `log_fresh_layers`;
    the reference's layers that `model` lacks (its top, with include_top=False) are
    unused. Returns the names of the layers left at their initial values.

    Raises:
        ValueError: a weighted layer of `model` that `reference` does not have (a
            reference built with other options).
    """
    plan, fresh = [], []
    for layer in model.layers:
        if not layer.weights:
            continue
        other = _find_layer(reference, layer.name)
        if other is None or len(other.weights) != len(layer.weights):
            raise ValueError(
                f"Layer {layer.name!r} of {model.name!r} has no counterpart in the network "
                f"{source!r} was loaded into: the model's options differ from those the "
                "published weights were built with."
            )
        theirs = [tuple(w.shape) for w in other.weights]
        ours = [tuple(w.shape) for w in layer.weights]
        if theirs != ours:
            first = next(i for i, (a, b) in enumerate(zip(theirs, ours)) if a != b)
            fresh.append((layer.name, theirs[first], ours[first]))
            continue
        plan.append((layer, other))
    for layer, other in plan:
        for ours, theirs in zip(layer.weights, other.weights):
            ours.assign(theirs.value)
    log_fresh_layers(source, fresh)
    return [name for name, _, _ in fresh]


# ------------------------------------------------------------------ per layer type
def _layer_tensors(model, name: str, layer, prefix: str, keys: CheckpointMap) -> list[_Tensor]:
    """The checkpoint tensors a layer takes, with their expected checkpoint shapes."""
    if isinstance(layer, keras.layers.BatchNormalization):
        pairs = [("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"),
                 ("moving_variance", "running_var")]
        return [
            _Tensor(getattr(layer, attr), f"{prefix}.{suffix}", tuple(getattr(layer, attr).shape), _same)
            for attr, suffix in pairs if getattr(layer, attr, None) is not None
        ]
    if isinstance(layer, keras.layers.Conv2D) and not isinstance(
        layer, (keras.layers.Conv2DTranspose, keras.layers.DepthwiseConv2D, keras.layers.SeparableConv2D)
    ):
        kh, kw, cin, cout = layer.kernel.shape
        tensors = [_Tensor(layer.kernel, f"{prefix}.weight", (cout, cin, kh, kw), _oihw_to_hwio)]
        return tensors + _bias(layer, prefix)
    if isinstance(layer, keras.layers.Dense):
        cin, cout = layer.kernel.shape
        to_keras = _linear_to_dense
        if name in keys.flattened:
            flatten = _find_layer(model, keys.flattened[name])
            if flatten is None:
                raise ValueError(
                    f"The checkpoint map says {name!r} follows the Flatten layer "
                    f"{keys.flattened[name]!r}, which model {model.name!r} does not have."
                )
            to_keras = _flattened_linear_to_dense(tuple(flatten.input.shape[1:]))
        tensors = [_Tensor(layer.kernel, f"{prefix}.weight", (cout, cin), to_keras)]
        return tensors + _bias(layer, prefix)
    raise ValueError(
        f"No transfer from a PyTorch checkpoint to layer {name!r} of type "
        f"{type(layer).__name__} (known: Conv2D, Dense, BatchNormalization)."
    )


def _bias(layer, prefix: str) -> list[_Tensor]:
    if not layer.use_bias:
        return []
    return [_Tensor(layer.bias, f"{prefix}.bias", tuple(layer.bias.shape), _same)]


def _same(value: np.ndarray) -> np.ndarray:
    return value


def _oihw_to_hwio(value: np.ndarray) -> np.ndarray:
    return np.transpose(value, (2, 3, 1, 0))


def _linear_to_dense(value: np.ndarray) -> np.ndarray:
    return np.transpose(value)


def _flattened_linear_to_dense(feature_shape: tuple) -> Callable[[np.ndarray], np.ndarray]:
    """PyTorch flattens a feature map in (C, H, W) order, Keras in (H, W, C) order: the
    Linear weight's columns are regrouped before the transpose."""
    height, width, channels = feature_shape
    if None in feature_shape:
        raise ValueError(
            f"A Dense layer after a Flatten needs a fixed feature-map size; received "
            f"{feature_shape}."
        )

    def convert(value: np.ndarray) -> np.ndarray:
        out = value.shape[0]
        grid = value.reshape(out, channels, height, width)
        return np.transpose(grid, (2, 3, 1, 0)).reshape(height * width * channels, out)

    return convert


# ------------------------------------------------------------------ helpers
def _under(key: str, prefixes: Sequence[str]) -> bool:
    return any(key == prefix or key.startswith(prefix + ".") for prefix in prefixes)


def _find_layer(model: keras.Model, name: str):
    """The layer `name` of `model`, or a nested one by its path (`"mixed0/branch1_1_conv"`:
    the sublayer `branch1_1_conv` of the layer `mixed0`); None if absent."""
    head, *path = name.split("/")
    try:
        layer = model.get_layer(head)
    except ValueError:
        return None
    for part in path:
        layer = next((sub for sub in sublayers(layer) if sub.name == part), None)
        if layer is None:
            return None
    return layer


def _model_variables(model: keras.Model):
    """(layer name, variable) for every weight of the model's top-level layers."""
    for layer in model.layers:
        for variable in layer.weights:
            yield layer.name, variable


def _missing_error(source: str, name: str, tensor: _Tensor) -> ValueError:
    return ValueError(
        f"{source!r} has no tensor {tensor.key!r} for layer {name!r}, which needs shape "
        f"{tensor.torch_shape} (checkpoint shape: none): a checkpoint of another "
        "architecture or variant?"
    )


def _shape_error(model, source: str, name: str, layer, tensor: _Tensor, received: tuple) -> ValueError:
    expected = tensor.torch_shape
    inputs = model.inputs[0].shape[-1] if model.inputs else None
    if (
        isinstance(layer, keras.layers.Conv2D)
        and tensor.key.endswith(".weight")
        and len(received) == 4
        and received[:1] + received[2:] == expected[:1] + expected[2:]
        and expected[1] == inputs
    ):
        return ValueError(
            f"{source!r} holds weights for {received[1]}-channel inputs (layer {name!r}: "
            f"checkpoint shape {received}, model shape {expected}); this model takes "
            f"{inputs}-channel inputs. Build it with {received[1]} channels (e.g. "
            f"input_shape=(height, width, {received[1]})); grey images go into RGB weights "
            "through the data pipeline's channel conversion, which repeats the grey channel."
        )
    return ValueError(
        f"{source!r} does not fit {model.name!r}: layer {name!r} (checkpoint key "
        f"{tensor.key!r}) has shape {received} in the checkpoint, the model needs "
        f"{expected} (PyTorch layout; Keras variable {tuple(tensor.variable.shape)}). A "
        "checkpoint of another architecture or variant?"
    )
