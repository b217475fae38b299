"""Residual blocks (He et al. 2015, "Deep residual learning for image recognition";
He et al. 2016, "Identity mappings in deep residual networks").

One description of a block (`_block_parts` + `_block_forward`) is assembled in two ways:

- `residual_block(x, ..., name=...)` wires the parts straight into a functional graph,
  one Keras layer per convolution / normalization with keras.applications' names
  (`conv2_block1_1_conv`, ...). The ImageNet ResNet builders use this form, because
  keras.applications' weight files are loaded layer by layer in graph order.
- `ResidualBlock(...)` holds the same parts as one reusable, serializable layer. The CIFAR
  ResNets use it (one layer per block keeps ResNet-1202's graph short), and so can models
  of your own.

Both forms give the same computation; `tests/test_residual_layers.py` checks it.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import layers, ops

from keras_cnns.layers.batch_norm import BatchNormalization
from keras_cnns.layers.stochastic_depth import StochasticDepth
from keras_cnns.validation import (
    check_bool,
    check_choice,
    check_positive_float,
    check_positive_int,
    check_survival_probability,
)

SHORTCUTS = ("identity", "projection")
CONV_BIAS = ("none", "all", "unnormalized")


@keras.saving.register_keras_serializable(package="keras_cnns")
class IdentityShortcut(keras.layers.Layer):
    """The parameter-free shortcut: subsample by `strides`, zero-pad channels to `filters`.

    This is option A of He et al. (section 4.2): when a block changes the number of
    channels the identity shortcut is padded with zero channels (split evenly before and
    after the input's channels) and subsampled by taking every `strides`-th position,
    which is what a strided 1x1 convolution would see. With as many channels as the
    input it is a plain (possibly subsampled) identity.
    """

    def __init__(self, filters: int, strides: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.strides = check_positive_int("strides", strides)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None or channels > self.filters:
            raise ValueError(
                f"IdentityShortcut pads channels up to `filters`={self.filters}; it cannot "
                f"take an input with {channels} channels (use a projection shortcut to "
                "reduce channels)."
            )
        super().build(input_shape)

    def call(self, inputs):
        x = inputs
        if self.strides > 1:
            x = x[:, :: self.strides, :: self.strides, :]
        extra = self.filters - x.shape[-1]
        if extra:
            before = extra // 2
            x = ops.pad(x, [[0, 0], [0, 0], [0, 0], [before, extra - before]])
        return x

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        return (batch, _ceil_div(height, self.strides), _ceil_div(width, self.strides), self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, strides=self.strides)
        return config


@keras.saving.register_keras_serializable(package="keras_cnns")
class ResidualBlock(keras.layers.Layer):
    """A residual block as one layer: basic or bottleneck, post- or pre-activation.

    - basic (`bottleneck=False`): two 3x3 convolutions with `filters` channels.
    - bottleneck: 1x1 (`filters`) - 3x3 (`filters`) - 1x1 (`filters * expansion`).
    - post-activation (He et al. 2015, "v1"): conv-BN-ReLU ... conv-BN, add, ReLU.
    - pre-activation (`preactivation=True`, He et al. 2016, "v2"): BN-ReLU-conv ...,
      add, nothing after the addition; a projection shortcut reads the pre-activated
      input, an identity shortcut the raw input (as in the authors' code and
      keras.applications' ResNetV2).

    Args:
        filters: channels of the 3x3 convolutions (the output has `filters` channels for a
            basic block, `filters * expansion` for a bottleneck).
        bottleneck: bottleneck block instead of the basic one.
        strides: stride of the block (2 halves the resolution).
        preactivation: pre-activation (v2) instead of post-activation (v1).
        shortcut: `"identity"` (parameter-free: subsampled and zero-padded when the shape
            changes, option A of the paper) or `"projection"` (1x1 convolution, options
            B/C).
        stride_in_1x1: put a bottleneck's stride on its first 1x1 convolution (the
            original paper and keras.applications) instead of on the 3x3 (torchvision,
            "ResNet v1.5"). Ignored for basic blocks.
        conv_bias: which convolutions have a bias: `"none"`, `"all"` (keras.applications'
            ResNet v1) or `"unnormalized"` (only those not followed by batch
            normalization, as in keras.applications' ResNetV2).
        expansion: output channels of a bottleneck block per 3x3 channel (4 in the paper).
        epsilon: batch-normalization epsilon.
        survival_probability: stochastic depth: probability of keeping the residual
            branch in training (1.0, the default, is a plain residual block); see
            `StochasticDepth`.
        zero_init_residual: initialize the branch's last batch-norm scale (post-activation)
            or last convolution (pre-activation) to zero, so that the block starts as the
            identity (Goyal et al. 2017; torchvision's `zero_init_residual`).
    """

    def __init__(
        self,
        filters: int,
        bottleneck: bool = False,
        strides: int = 1,
        preactivation: bool = False,
        shortcut: str = "identity",
        stride_in_1x1: bool = False,
        conv_bias: str = "none",
        expansion: int = 4,
        epsilon: float = 1e-5,
        survival_probability: float = 1.0,
        zero_init_residual: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self._settings = check_block_arguments(
            filters=filters,
            bottleneck=bottleneck,
            strides=strides,
            preactivation=preactivation,
            shortcut=shortcut,
            stride_in_1x1=stride_in_1x1,
            conv_bias=conv_bias,
            expansion=expansion,
            epsilon=epsilon,
            survival_probability=survival_probability,
            zero_init_residual=zero_init_residual,
        )
        for arg, value in self._settings.items():
            setattr(self, arg, value)
        self._plan = None

    def build(self, input_shape):
        parts, branch, merge, final = _block_parts(
            self._settings, in_channels=input_shape[-1], prefix=""
        )
        self.parts = parts
        self._plan = (branch, merge, final)
        # Calling the parts once on a symbolic input builds each of them with its input shape.
        _block_forward(self.parts, self._plan, keras.KerasTensor(tuple(input_shape)), None)
        super().build(input_shape)

    def call(self, inputs, training=None):
        return _block_forward(self.parts, self._plan, inputs, training)

    def compute_output_shape(self, input_shape):
        batch, height, width, _ = input_shape
        strides = self._settings["strides"]
        return (batch, _ceil_div(height, strides), _ceil_div(width, strides), _out_channels(self._settings))

    def get_config(self):
        config = super().get_config()
        config.update(self._settings)
        return config


def residual_block(x, *, name: str, **settings: Any):
    """Wire one residual block into a functional graph, one layer per operation.

    Takes the arguments of `ResidualBlock`; the layers are named `{name}_0_conv`,
    `{name}_1_conv`, `{name}_1_bn`, ... exactly as keras.applications names them, and the
    graph has their order, so keras.applications' weight files load into it.
    """
    settings = check_block_arguments(**settings)
    parts, branch, merge, final = _block_parts(settings, in_channels=x.shape[-1], prefix=f"{name}_")
    return _block_forward(parts, (branch, merge, final), x, None)


def check_block_arguments(
    *,
    filters,
    bottleneck=False,
    strides=1,
    preactivation=False,
    shortcut="identity",
    stride_in_1x1=False,
    conv_bias="none",
    expansion=4,
    epsilon=1e-5,
    survival_probability=1.0,
    zero_init_residual=False,
) -> dict:
    """Validate a residual block's arguments; returns them as a dict (floats as floats)."""
    for arg, value in (
        ("bottleneck", bottleneck),
        ("preactivation", preactivation),
        ("stride_in_1x1", stride_in_1x1),
        ("zero_init_residual", zero_init_residual),
    ):
        check_bool(arg, value)
    if shortcut not in SHORTCUTS:
        raise ValueError(
            f"Invalid `shortcut`: {shortcut!r}. Accepted values: 'identity' (parameter-free, "
            "zero-padded when channels grow) or 'projection' (1x1 convolution)."
        )
    check_choice("conv_bias", conv_bias, CONV_BIAS)
    return dict(
        filters=check_positive_int("filters", filters),
        bottleneck=bottleneck,
        strides=check_positive_int("strides", strides),
        preactivation=preactivation,
        shortcut=shortcut,
        stride_in_1x1=stride_in_1x1,
        conv_bias=conv_bias,
        expansion=check_positive_int("expansion", expansion),
        epsilon=check_positive_float("epsilon", epsilon),
        survival_probability=check_survival_probability(
            "survival_probability", survival_probability
        ),
        zero_init_residual=zero_init_residual,
    )


# ------------------------------------------------------------------ the description
def _out_channels(settings: dict) -> int:
    return settings["filters"] * (settings["expansion"] if settings["bottleneck"] else 1)


def _block_parts(settings: dict, in_channels: int | None, prefix: str):
    """The layers of one block, keyed by keras.applications' suffixes.

    Returns `(parts, branch, merge, final)`: the layers, the keys of the residual branch
    in order, the key of the merging layer and the key of the layer after the merge (or
    None).
    """
    s = settings
    preact, strides = s["preactivation"], s["strides"]
    out_channels = _out_channels(s)
    parts: dict[str, keras.layers.Layer] = {}

    def bias(normalized: bool) -> bool:
        return s["conv_bias"] == "all" or (s["conv_bias"] == "unnormalized" and not normalized)

    def conv(key, filters, kernel, stride, normalized, zero=False):
        if kernel > 1 and stride > 1:
            # Symmetric padding (torchvision, the paper, keras.applications' ResNetV2);
            # Keras' "same" would pad only after the input under stride 2.
            parts[f"{key}_pad"] = layers.ZeroPadding2D(kernel // 2, name=f"{prefix}{key}_pad")
        parts[f"{key}_conv"] = layers.Conv2D(
            filters,
            kernel,
            strides=stride,
            padding="same" if stride == 1 else "valid",
            use_bias=bias(normalized),
            kernel_initializer="zeros" if zero else "he_normal",
            name=f"{prefix}{key}_conv",
        )

    def batch_norm(key, zero=False):
        parts[f"{key}_bn"] = BatchNormalization(
            epsilon=s["epsilon"],
            gamma_initializer="zeros" if zero else "ones",
            name=f"{prefix}{key}_bn",
        )

    def relu(key):
        parts[f"{key}_relu"] = layers.Activation("relu", name=f"{prefix}{key}_relu")

    if preact:
        batch_norm("preact")
        relu("preact")
    if s["shortcut"] == "projection":
        # A pre-activation projection feeds the addition directly: no BN after it.
        conv("0", out_channels, 1, strides, normalized=not preact)
        if not preact:
            batch_norm("0")
    elif in_channels is None or strides > 1 or in_channels != out_channels:
        parts["shortcut"] = IdentityShortcut(out_channels, strides, name=f"{prefix}shortcut")

    if s["bottleneck"]:
        first, middle = (strides, 1) if s["stride_in_1x1"] else (1, strides)
        convs = [(s["filters"], 1, first), (s["filters"], 3, middle), (out_channels, 1, 1)]
    else:
        convs = [(s["filters"], 3, strides), (s["filters"], 3, 1)]
    branch_start = len(parts)
    for index, (filters, kernel, stride) in enumerate(convs, start=1):
        last = index == len(convs)
        # In the pre-activation block the last convolution feeds the addition.
        normalized = not (preact and last)
        zero = last and s["zero_init_residual"]
        conv(str(index), filters, kernel, stride, normalized, zero=zero and not normalized)
        if normalized:
            batch_norm(str(index), zero=zero)
        if not last:
            relu(str(index))
    branch = [key for key in list(parts)[branch_start:] if key != "shortcut"]

    merge = "out" if preact else "add"
    if s["survival_probability"] < 1.0:
        parts[merge] = StochasticDepth(s["survival_probability"], name=f"{prefix}{merge}")
    else:
        parts[merge] = layers.Add(name=f"{prefix}{merge}")
    final = None
    if not preact:
        parts["out"] = layers.Activation("relu", name=f"{prefix}out")
        final = "out"
    return parts, branch, merge, final


def _block_forward(parts: dict, plan, x, training):
    branch, merge, final = plan
    shortcut = x
    if "preact_bn" in parts:
        x = parts["preact_relu"](parts["preact_bn"](x, training=training))
        if "0_conv" in parts:
            shortcut = x
    if "0_conv" in parts:
        shortcut = parts["0_conv"](shortcut)
        if "0_bn" in parts:
            shortcut = parts["0_bn"](shortcut, training=training)
    elif "shortcut" in parts:
        shortcut = parts["shortcut"](shortcut)
    for key in branch:
        layer = parts[key]
        x = layer(x, training=training) if isinstance(layer, layers.BatchNormalization) else layer(x)
    if isinstance(parts[merge], StochasticDepth):
        x = parts[merge]([shortcut, x], training=training)
    else:
        x = parts[merge]([shortcut, x])
    return parts[final](x) if final else x


# ---------------------------------------------------------------------- helpers
def _ceil_div(size, stride):
    return None if size is None else math.ceil(size / stride)
