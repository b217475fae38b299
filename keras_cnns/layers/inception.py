"""The channel-concat inception block: parallel branches on one input, concatenated.

Every module of GoogLeNet (Szegedy et al. 2014), BN-Inception (Ioffe & Szegedy 2015) and
Inception v3 (Szegedy et al. 2016) — including the grid-size reductions and the modules
with asymmetric 1×n / n×1 convolutions — is one `InceptionBlock` with a different branch
specification. The specification is plain data (JSON):

    branches = [
        [conv(64, 1)],                                   # 1x1
        [conv(96, 1), conv(128, 3)],                     # 1x1 reduction, then 3x3
        [conv(16, 1), conv(32, 5)],                      # 1x1 reduction, then 5x5
        [pool("max", 3), conv(32, 1)],                   # 3x3 max pool, then projection
    ]

A branch is a list of operations applied one after the other; an operation is a dict:

- `{"op": "conv", "filters": F, "kernel": [h, w], "strides": [sh, sw], "padding": P}`:
  a convolution, followed by batch normalization when the block has `batch_norm=True`,
  then the block's activation.
- `{"op": "pool", "type": "max" | "avg", "size": [h, w], "strides": [sh, sw], "padding": P}`,
  plus `"count_include_pad": True` for an average pooling over "same" padding that counts
  the zero padding in its divisor, as PyTorch's `F.avg_pool2d(..., count_include_pad=True)`
  (torchvision's Inception v3) does; Keras' "same" average pooling, the default, divides by
  the pixels inside the image only, so the two differ at the borders.
- `{"op": "concat", "branches": [...]}`: the branch splits into parallel sub-branches
  whose outputs are concatenated (Inception v3's expanded filter banks, where a 1x3 and a
  3x1 convolution both read the same tensor).

`conv`, `pool` and `concat` below write these dicts; kernels, strides and sizes may be
given as an int or an (h, w) pair, `strides` defaults to 1 and `padding` to `"same"`.
`count_include_pad` is written only where it is True, so specifications (and saved
configs) from before it existed are canonical as they were.
"""

from __future__ import annotations

import json
import math
import string
from typing import Any, Iterator, Sequence

import keras
from keras import ops

from keras_cnns.layers.batch_norm import BatchNormalization

PADDINGS = ("same", "valid")
POOL_TYPES = ("max", "avg")
_OP_KEYS = {
    "conv": {"op", "filters", "kernel", "strides", "padding"},
    "pool": {"op", "type", "size", "strides", "padding", "count_include_pad"},
    "concat": {"op", "branches"},
}
_REQUIRED = {"conv": {"filters", "kernel"}, "pool": {"type", "size"}, "concat": {"branches"}}


class BranchSpecError(ValueError):
    """A malformed inception branch specification (the message says where and why)."""


# ------------------------------------------------------------------ spec helpers
def conv(
    filters: int, kernel: int | Sequence[int], strides: int | Sequence[int] = 1,
    padding: str = "same",
) -> dict:
    """A convolution op: `filters` output channels, an int or (h, w) `kernel`."""
    return _canonical_op(
        {"op": "conv", "filters": filters, "kernel": kernel, "strides": strides,
         "padding": padding},
        "conv(...)",
    )


def pool(
    kind: str, size: int | Sequence[int], strides: int | Sequence[int] = 1,
    padding: str = "same", count_include_pad: bool = False,
) -> dict:
    """A pooling op: `kind` "max" or "avg" (the dict's "type"), window `size`,
    `strides` (default 1, not the window size as in Keras). `count_include_pad=True`
    (average pooling with "same" padding only): divide every window's sum by its full
    size, zero padding included, as PyTorch's `avg_pool2d` does by default."""
    op = {"op": "pool", "type": kind, "size": size, "strides": strides, "padding": padding}
    if count_include_pad is not False:
        op["count_include_pad"] = count_include_pad
    return _canonical_op(op, "pool(...)")


def concat(*branches: Sequence[dict]) -> dict:
    """Split the branch into parallel sub-branches and concatenate their outputs."""
    return _canonical_op({"op": "concat", "branches": list(branches)}, "concat(...)")


def normalize_branches(branches: Any, where: str = "branches") -> list:
    """Validate a branch specification and return it in canonical form.

    Canonical means plain lists and dicts, every key present (but a pooling op's
    `count_include_pad`, present only where True), kernels/strides/sizes as `[h, w]`
    lists. Raises `BranchSpecError` naming the faulty element otherwise.
    """
    if isinstance(branches, (str, bytes, dict)) or not isinstance(branches, (list, tuple)):
        raise BranchSpecError(
            f"`{where}` must be a list of branches (each a list of ops); "
            f"received {branches!r}."
        )
    if not branches:
        raise BranchSpecError(f"`{where}` is empty; an inception block needs at least one branch.")
    result = []
    for b, branch in enumerate(branches):
        here = f"{where}[{b}]"
        if isinstance(branch, (str, bytes, dict)) or not isinstance(branch, (list, tuple)):
            raise BranchSpecError(
                f"`{here}` must be a list of ops (dicts made by conv(), pool(), concat()); "
                f"received {branch!r}."
            )
        if not branch:
            raise BranchSpecError(
                f"`{here}` is an empty branch; a branch needs at least one op (a pass-through "
                "is written as a pooling op)."
            )
        result.append([_canonical_op(op, f"{here}[{k}]") for k, op in enumerate(branch)])
    return result


def _pair(value: Any, key: str, where: str) -> list[int]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        items = list(value)
    else:
        items = [value, value]
    if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in items):
        raise BranchSpecError(
            f"`{where}['{key}']` must be a positive int or a pair (h, w) of positive ints; "
            f"received {value!r}."
        )
    return items


def _canonical_op(op: Any, where: str) -> dict:
    if not isinstance(op, dict):
        raise BranchSpecError(
            f"`{where}` must be an op dict such as {{'op': 'conv', 'filters': 64, 'kernel': 1}}; "
            f"received {op!r}."
        )
    kind = op.get("op")
    if kind not in _OP_KEYS:
        raise BranchSpecError(
            f"`{where}['op']` is {kind!r}; accepted ops: 'conv', 'pool', 'concat'."
        )
    unknown = sorted(set(op) - _OP_KEYS[kind])
    if unknown:
        raise BranchSpecError(
            f"`{where}` has unknown keys {unknown} for a {kind!r} op; accepted keys: "
            f"{sorted(_OP_KEYS[kind])}."
        )
    missing = sorted(_REQUIRED[kind] - set(op))
    if missing:
        raise BranchSpecError(f"`{where}` ({kind!r} op) lacks the required keys {missing}.")
    if kind == "concat":
        return {"op": "concat", "branches": normalize_branches(op["branches"], f"{where}['branches']")}
    padding = op.get("padding", "same")
    if padding not in PADDINGS:
        raise BranchSpecError(
            f"`{where}['padding']` is {padding!r}; accepted: 'same', 'valid'."
        )
    strides = _pair(op.get("strides", 1), "strides", where)
    if kind == "conv":
        filters = op["filters"]
        if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
            raise BranchSpecError(
                f"`{where}['filters']` must be a positive int; received {filters!r}."
            )
        kernel = _pair(op["kernel"], "kernel", where)
        return {"op": "conv", "filters": filters, "kernel": kernel, "strides": strides,
                "padding": padding}
    if op["type"] not in POOL_TYPES:
        raise BranchSpecError(
            f"`{where}['type']` is {op['type']!r}; accepted pooling types: 'max', 'avg'."
        )
    size = _pair(op["size"], "size", where)
    canonical = {"op": "pool", "type": op["type"], "size": size, "strides": strides,
                 "padding": padding}
    include_pad = op.get("count_include_pad", False)
    if not isinstance(include_pad, bool):
        raise BranchSpecError(
            f"`{where}['count_include_pad']` must be True or False; received {include_pad!r}."
        )
    if include_pad:
        if op["type"] != "avg" or padding != "same":
            raise BranchSpecError(
                f"`{where}['count_include_pad']` is True for a {op['type']!r} pooling with "
                f"{padding!r} padding; it applies to 'avg' pooling with 'same' padding only "
                "(the padding it counts). Accepted: type 'avg' with padding 'same', or "
                "count_include_pad False."
            )
        canonical["count_include_pad"] = True
    return canonical


def _window_size(size: int | None, kernel: int, stride: int, padding: str) -> int | None:
    if size is None:
        return None
    if padding == "same":
        return math.ceil(size / stride)
    return (size - kernel) // stride + 1


def spec_output_size(branches: Sequence, size: int, axis: int = 0) -> int | None:
    """The output height (`axis=0`) or width (`axis=1`) of a block for an input `size`.

    Returns None when some operation would get an empty input (the input is too small)
    or when the branches disagree on their output size.
    """
    sizes = {_branch_size(branch, size, axis) for branch in normalize_branches(branches)}
    if len(sizes) != 1 or None in sizes:
        return None
    return sizes.pop()


def _branch_size(branch: Sequence[dict], size: int | None, axis: int) -> int | None:
    for op in branch:
        if op["op"] == "concat":
            size = spec_output_size(op["branches"], size, axis)
        else:
            window = op["kernel"] if op["op"] == "conv" else op["size"]
            size = _window_size(size, window[axis], op["strides"][axis], op["padding"])
        if size is None or size < 1:
            return None
    return size


def _describe(op: dict) -> str:
    if op["op"] == "concat":
        return f"concat of {len(op['branches'])} sub-branches"
    window = op["kernel"] if op["op"] == "conv" else op["size"]
    what = f"conv {op['filters']}" if op["op"] == "conv" else f"{op['type']} pool"
    extra = " count_include_pad" if op.get("count_include_pad") else ""
    return (
        f"{what} {window[0]}x{window[1]}/{op['strides'][0]}x{op['strides'][1]} "
        f"{op['padding']}{extra}"
    )


# ------------------------------------------------------------------- the layers
@keras.saving.register_keras_serializable(package="keras_cnns")
class PaddedAveragePooling2D(keras.layers.AveragePooling2D):
    """Average pooling over "same" zero padding whose divisor counts the padding
    (channels last): every window's sum is divided by the full window size, as PyTorch's
    `avg_pool2d(..., count_include_pad=True)` and Caffe's average pooling do. Keras'
    `AveragePooling2D(padding="same")` divides by the pixels inside the image instead, so
    the two differ wherever a window reaches over the border.

    The padding is Keras' "same" padding (the output has `ceil(size / stride)` positions,
    the extra row or column of an odd total at the bottom or right), which for the odd
    windows at stride 1 of the inception blocks is PyTorch's `padding=(size - 1) // 2`.
    The layer is an `AveragePooling2D` (same output shapes, same profile as a pooling
    window); it computes the pooling as a depthwise convolution with a constant kernel
    `1 / (h * w)`, whose zero padding is the one counted.

    Args:
        pool_size: the window, an int or (h, w).
        strides: the stride, an int or (h, w); None: the window size (as in Keras).
        padding: "same" only (accepted for `get_config` round trips).
    """

    def __init__(
        self,
        pool_size: int | Sequence[int] = 2,
        strides: int | Sequence[int] | None = None,
        padding: str = "same",
        data_format: str | None = None,
        **kwargs,
    ):
        if padding != "same":
            raise ValueError(
                f"`padding` of PaddedAveragePooling2D must be 'same' (the padding it counts); "
                f"received {padding!r}. Use keras.layers.AveragePooling2D for 'valid'."
            )
        if data_format not in (None, "channels_last"):
            raise ValueError(
                f"`data_format` of PaddedAveragePooling2D must be 'channels_last' or None; "
                f"received {data_format!r}."
            )
        super().__init__(
            pool_size, strides=strides, padding="same", data_format="channels_last", **kwargs
        )

    def call(self, inputs):
        height, width = self.pool_size
        kernel = ops.full(
            (height, width, inputs.shape[-1], 1), 1.0 / (height * width),
            dtype=keras.backend.standardize_dtype(inputs.dtype),
        )
        return ops.depthwise_conv(inputs, kernel, strides=self.strides, padding="same")


@keras.saving.register_keras_serializable(package="keras_cnns")
class InceptionBlock(keras.layers.Layer):
    """Parallel branches on one input, concatenated along channels (channels last).

    Args:
        branches: the branch specification (see the module docstring); a list of
            branches, each a list of op dicts. Malformed specifications raise
            `BranchSpecError` (a `ValueError`) naming the faulty element.
        batch_norm: batch normalization after every convolution (before the activation).
        use_bias: whether the convolutions have biases; `None` means "not when followed by
            batch normalization".
        bn_scale: whether batch normalization learns a scale gamma (keras.applications'
            Inception v3 does not).
        bn_epsilon, bn_momentum: batch normalization constants.
        activation: activation after every convolution (a Keras activation name or None).

    Sub-layers are named after their place in the specification: `branch2_1_conv` is the
    first op of the second branch (`_bn` its batch normalization, `branch4_1_pool` a
    pooling op: `MaxPooling2D`, `AveragePooling2D`, or `PaddedAveragePooling2D` where the
    op has `count_include_pad`); ops of a sub-branch of a `concat` op carry the letter of the sub-branch
    (`branch2_2a_1_conv`, `branch2_2b_1_conv`). `iter_ops()` walks them.
    """

    def __init__(
        self,
        branches: Sequence,
        batch_norm: bool = False,
        use_bias: bool | None = None,
        bn_scale: bool = True,
        bn_epsilon: float = 1e-3,
        bn_momentum: float = 0.99,
        activation: str | None = "relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        canonical = normalize_branches(branches)
        for arg, value in (("batch_norm", batch_norm), ("bn_scale", bn_scale)):
            if not isinstance(value, bool):
                raise TypeError(f"`{arg}` must be True or False; received {value!r}.")
        if use_bias is not None and not isinstance(use_bias, bool):
            raise TypeError(f"`use_bias` must be True, False or None; received {use_bias!r}.")
        for arg, value, high in (("bn_epsilon", bn_epsilon, None), ("bn_momentum", bn_momentum, 1)):
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or value <= 0
                or (high is not None and value >= high)
            ):
                accepted = "a number in (0, 1)" if high else "a number > 0"
                raise ValueError(f"`{arg}` must be {accepted}; received {value!r}.")
        if activation is not None:
            if not isinstance(activation, str):
                raise TypeError(
                    f"`activation` must be a Keras activation name or None; received {activation!r}."
                )
            try:
                keras.activations.get(activation)
            except (ValueError, TypeError) as err:
                raise ValueError(
                    f"Unknown `activation` {activation!r}; use a Keras activation name "
                    "such as 'relu' or None."
                ) from err
        self._spec_json = json.dumps(canonical)
        self.batch_norm = batch_norm
        self.use_bias = use_bias
        self.bn_scale = bn_scale
        self.bn_epsilon = float(bn_epsilon)
        self.bn_momentum = float(bn_momentum)
        self.activation = activation
        self._activation_fn = keras.activations.get(activation) if activation else None
        bias = (not batch_norm) if use_bias is None else use_bias
        # One flat list, in specification order, so the weights are tracked in that order;
        # build() and call() walk the specification in the same order to find them.
        self._op_layers = []
        for _path, prefix, op in self._walk(canonical):
            if op["op"] == "conv":
                self._op_layers.append(
                    keras.layers.Conv2D(
                        op["filters"], tuple(op["kernel"]), strides=tuple(op["strides"]),
                        padding=op["padding"], use_bias=bias, name=f"{prefix}_conv",
                    )
                )
                if batch_norm:
                    self._op_layers.append(
                        BatchNormalization(
                            epsilon=self.bn_epsilon, momentum=self.bn_momentum,
                            scale=bn_scale, name=f"{prefix}_bn",
                        )
                    )
            elif op["op"] == "pool":
                if op.get("count_include_pad"):
                    pooling = PaddedAveragePooling2D
                elif op["type"] == "max":
                    pooling = keras.layers.MaxPooling2D
                else:
                    pooling = keras.layers.AveragePooling2D
                self._op_layers.append(
                    pooling(tuple(op["size"]), strides=tuple(op["strides"]),
                            padding=op["padding"], name=f"{prefix}_pool")
                )

    # ------------------------------------------------------------------ structure
    @property
    def branches(self) -> list:
        """The canonical branch specification (a fresh, JSON-serializable copy)."""
        return json.loads(self._spec_json)

    @staticmethod
    def _walk(branches, path=(), prefix="branch") -> Iterator[tuple[tuple, str, dict]]:
        # Yields (path, name prefix, op) depth first, in specification order; a concat op
        # comes before the ops of its sub-branches.
        for b, branch in enumerate(branches):
            if not path:
                head = f"{prefix}{b + 1}"
            else:  # sub-branches of a concat op are lettered: branch2_2a, branch2_2b, ...
                head = f"{prefix}{string.ascii_lowercase[b]}" if b < 26 else f"{prefix}_{b + 1}"
            for k, op in enumerate(branch):
                op_path = (*path, b, k)
                op_prefix = f"{head}_{k + 1}"
                yield op_path, op_prefix, op
                if op["op"] == "concat":
                    yield from InceptionBlock._walk(op["branches"], op_path, op_prefix)

    def iter_ops(self) -> Iterator[tuple[tuple, dict, tuple]]:
        """Yield `(path, op, sublayers)` for every op, in specification order.

        `path` alternates branch and op indices (`(1, 0)`: first op of the second branch;
        `(1, 1, 0, 0)`: first op of the first sub-branch of that branch's second op);
        `sublayers` is `(conv,)` or `(conv, batch_norm)` for a convolution, `(pool,)` for
        a pooling op and `()` for a concat op.
        """
        layers = iter(self._op_layers)
        for path, _prefix, op in self._walk(self.branches):
            if op["op"] == "conv":
                count = 2 if self.batch_norm else 1
            else:
                count = 1 if op["op"] == "pool" else 0
            yield path, op, tuple(next(layers) for _ in range(count))

    def _shapes(self, input_shape, build: bool):
        if input_shape[-1] is None:
            raise ValueError(f"InceptionBlock {self.name!r} needs a known channel count.")
        layers = iter(self._op_layers)

        def run(branches, shape, where):
            outputs = []
            for b, branch in enumerate(branches):
                current = tuple(shape)
                for k, op in enumerate(branch):
                    here = f"{where}[{b}][{k}]"
                    if op["op"] == "concat":
                        current = run(op["branches"], current, f"{here}['branches']")
                        continue
                    window = op["kernel"] if op["op"] == "conv" else op["size"]
                    spatial = [
                        _window_size(current[1 + axis], window[axis], op["strides"][axis], op["padding"])
                        for axis in (0, 1)
                    ]
                    if any(s is not None and s < 1 for s in spatial):
                        raise ValueError(
                            f"InceptionBlock {self.name!r}: `{here}` ({_describe(op)}) gets a "
                            f"{current[1]}x{current[2]} input, too small for its window; "
                            "use a larger input or 'same' padding."
                        )
                    for layer in [next(layers)] + (
                        [next(layers)] if op["op"] == "conv" and self.batch_norm else []
                    ):
                        if build and not layer.built:
                            layer.build(current)
                        current = tuple(layer.compute_output_shape(current))
                outputs.append(current)
            spatial = {out[1:3] for out in outputs}
            known = {s for s in spatial if None not in s}
            if len(known) > 1:
                raise ValueError(
                    f"InceptionBlock {self.name!r}: the branches of `{where}` end at different "
                    f"sizes {[out[1:3] for out in outputs]} for an input of "
                    f"{shape[1]}x{shape[2]}; their strides and paddings must agree so the "
                    "outputs can be concatenated."
                )
            return (shape[0], *outputs[0][1:3], sum(out[-1] for out in outputs))

        return run(self.branches, input_shape, "branches")

    def build(self, input_shape):
        self._shapes(tuple(input_shape), build=True)
        super().build(input_shape)

    def compute_output_shape(self, input_shape):
        return self._shapes(tuple(input_shape), build=False)

    def call(self, inputs, training=None):
        layers = iter(self._op_layers)

        def run(branches, x):
            outputs = []
            for branch in branches:
                y = x
                for op in branch:
                    if op["op"] == "concat":
                        y = run(op["branches"], y)
                    elif op["op"] == "pool":
                        y = next(layers)(y)
                    else:
                        y = next(layers)(y)
                        if self.batch_norm:
                            y = next(layers)(y, training=training)
                        if self._activation_fn is not None:
                            y = self._activation_fn(y)
                outputs.append(y)
            return outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=-1)

        return run(self.branches, inputs)

    def get_config(self):
        config = super().get_config()
        config.update(
            branches=self.branches,
            batch_norm=self.batch_norm,
            use_bias=self.use_bias,
            bn_scale=self.bn_scale,
            bn_epsilon=self.bn_epsilon,
            bn_momentum=self.bn_momentum,
            activation=self.activation,
        )
        return config


def conv_unit(
    x,
    filters: int,
    kernel: int | Sequence[int],
    strides: int | Sequence[int] = 1,
    padding: str = "same",
    *,
    name: str,
    batch_norm: bool = False,
    use_bias: bool | None = None,
    bn_scale: bool = True,
    bn_epsilon: float = 1e-3,
    activation: str | None = "relu",
):
    """The block's convolution op as plain layers, for stems and heads outside a block.

    `name` names the convolution; with `batch_norm` its batch normalization is
    `{name}_bn` and the activation `{name}_{activation}`; without, the activation is
    fused into the convolution (as in the Caffe and keras.applications models).
    """
    op = conv(filters, kernel, strides, padding)
    bias = (not batch_norm) if use_bias is None else use_bias
    x = keras.layers.Conv2D(
        filters, tuple(op["kernel"]), strides=tuple(op["strides"]), padding=op["padding"],
        use_bias=bias, activation=None if batch_norm else activation, name=name,
    )(x)
    if batch_norm:
        x = BatchNormalization(epsilon=bn_epsilon, scale=bn_scale, name=f"{name}_bn")(x)
        if activation is not None:
            x = keras.layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x
