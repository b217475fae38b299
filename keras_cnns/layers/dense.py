"""Dense blocks and transition layers (Huang et al. 2017, "Densely connected convolutional
networks"), and the memory-efficient dense block (Pleiss et al. 2017, "Memory-efficient
implementation of DenseNets").

A dense layer reads the concatenation of every feature map before it in its block and adds
`growth_rate` new channels: BN-ReLU-conv3x3, or with the bottleneck ("DenseNet-B")
BN-ReLU-conv1x1(4k)-BN-ReLU-conv3x3(k). A transition layer between blocks is
BN-ReLU-conv1x1 with `floor(compression * channels)` filters, then 2x2 average pooling.

As for residual blocks, one description of the parts is assembled two ways:
`dense_block(x, ...)` / `transition_block(x, ...)` wire them into a functional graph with
keras.applications' layer names (`conv2_block1_0_bn`, `pool2_conv`, ...), which the
DenseNet builders use so that keras.applications' weight files load; `DenseBlock` and
`TransitionLayer` hold them as single reusable layers. Only the `DenseBlock` layer can be
memory-efficient: recomputation needs the whole concatenation-BN-ReLU-conv as one callable.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from keras_cnns.layers.batch_norm import BatchNormalization
from keras_cnns.validation import (
    check_bool,
    check_compression,
    check_positive_float,
    check_positive_int,
    check_rate,
)

BOTTLENECK_WIDTH = 4  # the bottleneck 1x1 convolution has 4k filters (Huang et al. sec. 3)


def transition_filters(channels: int, compression: float) -> int:
    """Output channels of a transition layer: `floor(compression * channels)`."""
    return int(math.floor(channels * compression))


# ------------------------------------------------------------------ the description
def _dense_layer_parts(growth_rate, bottleneck, dropout, epsilon, prefix):
    """The layers of one dense layer, keyed by keras.applications' suffixes.

    Returns `(parts, unit, rest)`: `unit` are the keys of BN-ReLU-conv that reads the
    concatenation (what the memory-efficient block recomputes), `rest` the keys after it.
    """
    parts: dict[str, keras.layers.Layer] = {}

    def conv(key, filters, kernel):
        parts[key] = layers.Conv2D(
            filters,
            kernel,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
            name=f"{prefix}{key}",
        )

    parts["0_bn"] = BatchNormalization(epsilon=epsilon, name=f"{prefix}0_bn")
    parts["0_relu"] = layers.Activation("relu", name=f"{prefix}0_relu")
    if bottleneck:
        conv("1_conv", BOTTLENECK_WIDTH * growth_rate, 1)
    else:
        conv("1_conv", growth_rate, 3)
    unit = list(parts)
    # Huang et al. put dropout after every convolution but the network's first one.
    if dropout:
        parts["1_dropout"] = layers.Dropout(dropout, name=f"{prefix}1_dropout")
    if bottleneck:
        parts["1_bn"] = BatchNormalization(epsilon=epsilon, name=f"{prefix}1_bn")
        parts["1_relu"] = layers.Activation("relu", name=f"{prefix}1_relu")
        conv("2_conv", growth_rate, 3)
        if dropout:
            parts["2_dropout"] = layers.Dropout(dropout, name=f"{prefix}2_dropout")
    rest = [key for key in parts if key not in unit]
    return parts, unit, rest


def _transition_parts(filters, dropout, epsilon, prefix):
    parts = {
        "bn": BatchNormalization(epsilon=epsilon, name=f"{prefix}bn"),
        "relu": layers.Activation("relu", name=f"{prefix}relu"),
        "conv": layers.Conv2D(
            filters, 1, use_bias=False, kernel_initializer="he_normal", name=f"{prefix}conv"
        ),
    }
    if dropout:
        parts["dropout"] = layers.Dropout(dropout, name=f"{prefix}dropout")
    parts["pool"] = layers.AveragePooling2D(2, strides=2, name=f"{prefix}pool")
    return parts


def _run(parts, keys, x, training):
    for key in keys:
        layer = parts[key]
        if isinstance(layer, (layers.BatchNormalization, layers.Dropout)):
            x = layer(x, training=training)
        else:
            x = layer(x)
    return x


# ---------------------------------------------------------------- functional form
def dense_block(
    x,
    *,
    num_layers: int,
    growth_rate: int,
    bottleneck: bool = True,
    dropout: float = 0.0,
    epsilon: float = 1e-5,
    name: str,
):
    """Wire a dense block into a functional graph (keras.applications' layout and names:
    `{name}_block{i}_0_bn`, ..., `{name}_block{i}_concat`)."""
    settings = _check_dense_block(num_layers, growth_rate, bottleneck, dropout, epsilon)
    for index in range(1, settings["num_layers"] + 1):
        prefix = f"{name}_block{index}_"
        parts, unit, rest = _dense_layer_parts(
            settings["growth_rate"], bottleneck, settings["dropout"], settings["epsilon"], prefix
        )
        new = _run(parts, unit + rest, x, None)
        x = layers.Concatenate(name=f"{prefix}concat")([x, new])
    return x


def transition_block(
    x, *, compression: float = 0.5, dropout: float = 0.0, epsilon: float = 1e-5, name: str
):
    """Wire a transition layer into a functional graph (`{name}_bn`, `{name}_relu`,
    `{name}_conv`, `{name}_pool`, as keras.applications names them)."""
    compression = check_compression(compression)
    filters = _check_transition_filters(x.shape[-1], compression)
    parts = _transition_parts(filters, check_rate("dropout", dropout), check_positive_float("epsilon", epsilon), f"{name}_")
    return _run(parts, list(parts), x, None)


# ---------------------------------------------------------------------- layer form
@keras.saving.register_keras_serializable(package="keras_cnns")
class DenseBlock(keras.layers.Layer):
    """A dense block as one layer: `num_layers` dense layers, each adding `growth_rate`
    channels to the concatenation of everything before it.

    The output has `input_channels + num_layers * growth_rate` channels: the input, then
    each layer's new features in order.

    Args:
        num_layers: number of dense layers L in the block.
        growth_rate: channels each dense layer adds (k).
        bottleneck: BN-ReLU-conv1x1(4k) before each 3x3 convolution (DenseNet-B).
        dropout: dropout rate after each convolution (Huang et al. use 0.2 when training
            without data augmentation).
        epsilon: batch-normalization epsilon.
        memory_efficient: in training, recompute each dense layer's concatenation and
            first BN-ReLU-conv in the backward pass instead of storing them (Pleiss et
            al.), with `keras.remat`. The memory of those intermediate results grows with
            the square of the block depth; with recomputation only the new features are
            kept. Outputs, gradients and batch-norm moving statistics are the same as
            without (the statistics are updated once per step, outside the recomputed
            function).
    """

    def __init__(
        self,
        num_layers: int,
        growth_rate: int,
        bottleneck: bool = True,
        dropout: float = 0.0,
        epsilon: float = 1e-5,
        memory_efficient: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        settings = _check_dense_block(num_layers, growth_rate, bottleneck, dropout, epsilon)
        if not isinstance(memory_efficient, bool):
            raise TypeError(
                f"`memory_efficient` must be True or False; received {memory_efficient!r}."
            )
        settings["memory_efficient"] = memory_efficient
        self._settings = settings
        for arg, value in settings.items():
            setattr(self, arg, value)
        parts, plans = {}, []
        for index in range(1, self.num_layers + 1):
            prefix = f"block{index}_"
            layer_parts, unit, rest = _dense_layer_parts(
                self.growth_rate, self.bottleneck, self.dropout, self.epsilon, prefix
            )
            parts.update({prefix + key: layer for key, layer in layer_parts.items()})
            plans.append(([prefix + k for k in unit], [prefix + k for k in rest]))
        self.parts = parts
        self._plans = plans

    def build(self, input_shape):
        # One symbolic pass builds every part with its input shape.
        self._forward(keras.KerasTensor(tuple(input_shape)), training=False)
        super().build(input_shape)

    def call(self, inputs, training=None):
        return self._forward(inputs, training)

    def _forward(self, x, training):
        features = [x]
        for unit, rest in self._plans:
            if self.memory_efficient and training:
                new = self._recomputed_unit(unit, features)
            else:
                new = _run(self.parts, unit, _concat(features), training)
            features.append(_run(self.parts, rest, new, training))
        return _concat(features)

    def _recomputed_unit(self, unit, features):
        batch_norm = self.parts[unit[0]]
        others = [self.parts[key] for key in unit[1:]]
        stats = batch_norm.non_trainable_variables  # moving mean and variance

        def concat_bn_relu_conv(*inputs):
            x = _concat(list(inputs))
            # The function runs twice (forward, and again for the gradient): the batch norm
            # runs statelessly so that its moving statistics are not updated twice; their
            # new values leave as extra outputs and are assigned once, below.
            current = [(v, v.value) for v in batch_norm.variables]
            with keras.StatelessScope(state_mapping=current) as scope:
                x = batch_norm(x, training=True)
            for layer in others:
                x = layer(x)
            return [x] + [scope.get_current_value(v) for v in stats]

        new, *updated = keras.remat(concat_bn_relu_conv)(*features)
        for variable, value in zip(stats, updated):
            variable.assign(value)
        return new

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        if channels is not None:
            channels += self.num_layers * self.growth_rate
        return (*input_shape[:-1], channels)

    def get_config(self):
        config = super().get_config()
        config.update(self._settings)
        return config


@keras.saving.register_keras_serializable(package="keras_cnns")
class TransitionLayer(keras.layers.Layer):
    """BN-ReLU-conv1x1 with `floor(compression * channels)` filters, then 2x2 average
    pooling with stride 2: the layer between two dense blocks.

    Args:
        compression: θ in (0, 1]; 0.5 in DenseNet-BC and the ImageNet DenseNets.
        dropout: dropout rate after the convolution.
        epsilon: batch-normalization epsilon.
    """

    def __init__(
        self, compression: float = 0.5, dropout: float = 0.0, epsilon: float = 1e-5, **kwargs
    ):
        super().__init__(**kwargs)
        self.compression = check_compression(compression)
        self.dropout = check_rate("dropout", dropout)
        self.epsilon = check_positive_float("epsilon", epsilon)

    def build(self, input_shape):
        filters = _check_transition_filters(input_shape[-1], self.compression)
        self.parts = _transition_parts(filters, self.dropout, self.epsilon, "")
        _run(self.parts, list(self.parts), keras.KerasTensor(tuple(input_shape)), False)
        super().build(input_shape)

    def call(self, inputs, training=None):
        return _run(self.parts, list(self.parts), inputs, training)

    def compute_output_shape(self, input_shape):
        batch, height, width, channels = input_shape
        return (
            batch,
            None if height is None else height // 2,
            None if width is None else width // 2,
            transition_filters(channels, self.compression),
        )

    def get_config(self):
        config = super().get_config()
        config.update(compression=self.compression, dropout=self.dropout, epsilon=self.epsilon)
        return config


# ---------------------------------------------------------------------- helpers
def _concat(features):
    return features[0] if len(features) == 1 else ops.concatenate(features, axis=-1)


def _check_dense_block(num_layers, growth_rate, bottleneck, dropout, epsilon) -> dict:
    return dict(
        num_layers=check_positive_int("num_layers", num_layers),
        growth_rate=check_positive_int("growth_rate", growth_rate),
        bottleneck=check_bool("bottleneck", bottleneck),
        dropout=check_rate("dropout", dropout),
        epsilon=check_positive_float("epsilon", epsilon),
    )


def _check_transition_filters(channels, compression) -> int:
    if channels is None:
        raise ValueError("A transition layer needs a known number of input channels.")
    filters = transition_filters(channels, compression)
    if filters < 1:
        raise ValueError(
            f"`compression`={compression} leaves no channel of the {channels} input "
            f"channels; use compression >= {1 / channels:.4g}."
        )
    return filters
