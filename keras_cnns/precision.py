"""Mixed precision: the dtype policies keras_cnns builds, trains and exports under.

Keras computes a layer in its dtype policy's compute dtype and keeps its variables in the
policy's variable dtype. The mixed policies compute in 16 bits and keep float32
variables: `"mixed_bfloat16"` (float32's range; CPUs with AVX512_BF16 or AMX and recent
GPUs and TPUs run it natively) and `"mixed_float16"` (more mantissa, less range: the
loss is scaled, `keras.optimizers.LossScaleOptimizer`, which `model.compile` adds on its
own for such a model).

Every keras_cnns model built under a mixed global policy gives its outputs in float32:
the layers that produce them (the classifier, the auxiliary classifiers, LeNet-5's RBF
output and its activation) compute in float32, so that the softmax and the loss are
taken in float32, as Keras' mixed-precision guide asks. A model built with
`include_top=False` gives its features in the compute dtype.

    with keras_cnns.precision.precision_policy("mixed_bfloat16"):
        model = keras_cnns.resnet20(num_classes=10)   # bfloat16 compute, float32 weights
    float32_copy = keras_cnns.precision.with_precision(model, "float32")
    bfloat16_copy = keras_cnns.precision.load_model("runs/.../best.keras", "mixed_bfloat16")
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from typing import Any, Iterator

import keras

from keras_cnns.validation import check_choice

__all__ = [
    "PRECISIONS",
    "check_precision",
    "head_dtype",
    "load_model",
    "model_precision",
    "precision_policy",
    "set_precision",
    "with_precision",
]

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
MIXED = ("mixed_bfloat16", "mixed_float16")


def check_precision(precision: Any, argument: str = "precision") -> str:
    """`precision` if it is one of `PRECISIONS`; a ValueError naming `argument` otherwise."""
    return check_choice(argument, precision, PRECISIONS)


@contextlib.contextmanager
def precision_policy(precision: str) -> Iterator[str]:
    """Make `precision` Keras' global dtype policy inside the block, and restore the one
    before it afterwards (also on error). Layers and models built inside keep it."""
    check_precision(precision)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        yield precision
    finally:
        keras.mixed_precision.set_global_policy(previous)


def head_dtype() -> str | None:
    """The dtype for a layer that produces a model's output: `"float32"` under a global
    policy that computes in another dtype (the mixed policies), None (the global policy)
    otherwise, so that float32 models' configurations do not change."""
    policy = keras.mixed_precision.global_policy()
    return "float32" if policy.compute_dtype != "float32" else None


def model_precision(model: keras.Model) -> str:
    """The policy most of `model`'s layers compute in: `"float32"`, `"mixed_bfloat16"`,
    `"mixed_float16"` (or another Keras policy name)."""
    names = [layer.dtype_policy.name for layer in model.layers if layer.weights] or [model.dtype_policy.name]
    return max(set(names), key=names.count)


def set_precision(model: keras.Model, precision: str) -> keras.Model:
    """Make the built functional `model` compute in `precision`, in place: every layer
    (those inside blocks too) takes the policy, the layers that produce the outputs
    float32 under a mixed policy, as in a model built under it. The variables stay as
    they are (float32 in all three policies). Call it before `compile` (a compiled
    model's traced functions keep the dtypes they were traced with). Returns `model`."""
    from keras_cnns.keras_internals import sublayers

    check_precision(precision)
    heads = _output_layer_names(model) if precision in MIXED else set()
    top_level = {id(layer) for layer in model.layers}
    for layer in sublayers(model, recursive=True):
        if isinstance(layer, keras.layers.InputLayer):
            continue
        head = layer.name in heads and id(layer) in top_level
        layer.dtype_policy = "float32" if head else precision
    model.dtype_policy = precision
    return model


def _output_layer_names(model: keras.Model) -> set[str]:
    names = set()
    for tensor in keras.tree.flatten(model.outputs):
        history = getattr(tensor, "_keras_history", None)
        if history is not None:
            names.add(history.operation.name)
    return names


def _replace_policies(config: Any, precision: str, float32_layers: set[str]) -> Any:
    """A copy of a functional model's `config` whose layers all take `precision`, those
    named in `float32_layers` float32; nested models are changed the same way."""
    if isinstance(config, list):
        return [_replace_policies(item, precision, float32_layers) for item in config]
    if not isinstance(config, dict):
        return config
    out = {}
    for key, value in config.items():
        if key == "layers" and isinstance(value, list):
            out[key] = [_layer_with_policy(layer, precision, float32_layers) for layer in value]
        else:
            out[key] = _replace_policies(value, precision, float32_layers)
    return out


def _layer_with_policy(layer_config: dict, precision: str, float32_layers: set[str]) -> dict:
    layer_config = _replace_policies(layer_config, precision, float32_layers)
    inner = layer_config.get("config")
    # An input layer's dtype is the inputs' (float32), not a policy.
    if isinstance(inner, dict) and "dtype" in inner and layer_config.get("class_name") != "InputLayer":
        name = "float32" if inner.get("name") in float32_layers else precision
        inner["dtype"] = keras.dtype_policies.serialize(keras.dtype_policies.get(name))
    return layer_config


def _with_policies(config: dict, precision: str, float32_layers: set[str]) -> keras.Model:
    with precision_policy(precision):
        return keras.saving.deserialize_keras_object(
            _replace_policies(config, precision, float32_layers), safe_mode=True
        )


def with_precision(model: keras.Model, precision: str) -> keras.Model:
    """A copy of the functional `model` that computes in `precision`, with the same
    weights (float32 variables in every policy), architecture and layer names. The
    layers that produce the outputs compute in float32 under a mixed policy, as in a
    model built under it. Use it to export a model trained in mixed precision as a
    float32 one, or to fine-tune a float32 model in mixed precision."""
    check_precision(precision)
    if not isinstance(model, keras.Model) or not hasattr(model, "get_config"):
        raise TypeError(f"`model` must be a functional keras.Model; received {type(model).__name__}.")
    heads = _output_layer_names(model) if precision in MIXED else set()
    copy = _with_policies(keras.saving.serialize_keras_object(model), precision, heads)
    copy.set_weights(model.get_weights())
    return copy


def load_model(path: str | os.PathLike, precision: str) -> keras.Model:
    """Load the functional model of a `.keras` file, in safe mode, to compute in
    `precision` (whatever policy it was saved with), its weights as saved; uncompiled.

    A model trained in mixed precision comes back as float32 for export, a float32 one
    as mixed for fine-tuning. (To continue training a `"mixed_float16"` file with its
    optimizer, use `keras.saving.load_model` inside
    `precision_policy("mixed_float16")`: Keras rebuilds the loss-scale optimizer only for a
    model built under that global policy, and otherwise skips the optimizer's state.)
    """
    check_precision(precision)
    path = os.fspath(path)
    if not path.endswith(".keras") or not zipfile.is_zipfile(path):
        raise ValueError(f"`path` must be a `.keras` model file; received {path!r}.")
    with zipfile.ZipFile(path) as archive, tempfile.TemporaryDirectory() as folder:
        config = json.loads(archive.read("config.json"))
        config.pop("compile_config", None)  # uncompiled: the optimizer's state is not loaded
        names = _output_names(config) if precision in MIXED else set()
        model = _with_policies(config, precision, names)
        # Extracted first: HDF5 reading the weights through the zip stream seeks and
        # checks the CRC over and over (ResNet-101: 11.6 s against 0.4 s).
        weights = archive.extract("model.weights.h5", folder)
        model.load_weights(weights)
    return model


def _output_names(config: dict) -> set[str]:
    """The names of the layers that produce a serialized functional model's outputs."""
    outputs = config.get("config", {}).get("output_layers", [])
    found: set[str] = set()

    def collect(node):
        # A functional model's outputs are [layer name, node index, tensor index] triples,
        # alone or nested in lists and dicts.
        if isinstance(node, list) and len(node) == 3 and isinstance(node[0], str):
            found.add(node[0])
        elif isinstance(node, (list, tuple)):
            for item in node:
                collect(item)
        elif isinstance(node, dict):
            for item in node.values():
                collect(item)

    collect(outputs)
    return found
