"""The ends of the networks: classifiers, fully connected tops, global pooling and the
auxiliary classifiers. Every family's top is assembled from these functions, so the
layer names below are the same in every model:

- `predictions`: the classifier of a one-output model (a `Dense` with the classifier
  activation; keras.applications' name, which its weight files use). A model with
  auxiliary heads names its outputs after the keys of its output dict instead:
  `logits` (`MAIN_OUTPUT`) and `aux1`, `aux2` (GoogLeNet) or `aux` (Inception v3), so
  that `model.output_names` and the dict agree.
- `flatten`, then the hidden fully connected layers by their family's names (`fc6`,
  `fc7` in AlexNet, `fc1`, `fc2` in VGG, `f6` in LeNet-5).
- `avg_pool` / `max_pool`: global pooling (before a classifier, or ending a model built
  with `include_top=False, pooling=...`).
- Dropout is named after the layer it follows: `fc6_dropout`, `fc1_dropout`,
  `avg_pool_dropout`, `aux1_fc_dropout` (DenseNet's in-block dropouts follow the same
  rule with keras.applications' unit names: `conv2_block1_1_dropout`, `pool2_dropout`).
- an auxiliary head's layers start with its output's name (`aux1_pool`, `aux1_conv`,
  `aux1_fc`, ...).

These are functions on functional-graph tensors (like `conv_unit`): they add plain Keras
layers, which weight files map by name.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras

from keras_cnns.layers.inception import conv_unit
from keras_cnns.precision import head_dtype

MAIN_OUTPUT = "logits"  # the main output's key (and layer name) next to auxiliary heads
CLASSIFIER = "predictions"  # the classifier's name in a model with one output


def dropout(x, rate: float, after: str):
    """Dropout at `rate` named `{after}_dropout`, after the layer named `after`; no layer
    at all for a rate of 0."""
    if not rate:
        return x
    return keras.layers.Dropout(rate, name=f"{after}_dropout")(x)


def classifier(x, num_classes: int, activation: Any, name: str = CLASSIFIER):
    """The last fully connected layer with the chosen classifier activation; in float32
    under a mixed-precision policy (`keras_cnns.precision`), so that the probabilities
    and the loss are float32."""
    return keras.layers.Dense(num_classes, activation=activation, name=name, dtype=head_dtype())(x)


def main_output_name(aux_heads: bool) -> str:
    """The main classifier's name: `predictions`, or `logits` next to auxiliary heads."""
    return MAIN_OUTPUT if aux_heads else CLASSIFIER


def global_pool(x, pooling: str | None):
    """Global pooling for `include_top=False` (or the identity when `pooling=None`)."""
    if pooling == "avg":
        return keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def fully_connected(
    x,
    layers: Sequence[tuple[str, int]],
    *,
    activation: Any = "relu",
    dropout_rate: float = 0.0,
):
    """Flatten, then one `Dense(units, activation)` per `(name, units)` of `layers`, each
    followed by dropout named `{name}_dropout` (none when `dropout_rate` is 0)."""
    x = keras.layers.Flatten(name="flatten")(x)
    for name, units in layers:
        x = keras.layers.Dense(units, activation=activation, name=name)(x)
        x = dropout(x, dropout_rate, name)
    return x


def fully_connected_classifier(
    x,
    num_classes: int,
    classifier_activation: Any,
    layers: Sequence[tuple[str, int]],
    *,
    activation: Any = "relu",
    dropout_rate: float = 0.0,
    name: str = CLASSIFIER,
):
    """The top of AlexNet, VGG and the modern LeNet-5: `fully_connected`, then the
    classifier."""
    x = fully_connected(x, layers, activation=activation, dropout_rate=dropout_rate)
    return classifier(x, num_classes, classifier_activation, name=name)


def pooled_classifier(
    x,
    num_classes: int,
    classifier_activation: Any,
    *,
    dropout_rate: float = 0.0,
    name: str = CLASSIFIER,
):
    """The top of GoogLeNet, Inception, ResNet and DenseNet: global average pooling
    (`avg_pool`), dropout (`avg_pool_dropout`, none at rate 0), the classifier."""
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = dropout(x, dropout_rate, "avg_pool")
    return classifier(x, num_classes, classifier_activation, name=name)


def googlenet_aux_head(
    x,
    num_classes: int,
    classifier_activation: Any,
    *,
    name: str,
    dropout_rate: float = 0.7,
    batch_norm: bool = False,
):
    """GoogLeNet's auxiliary classifier (Szegedy et al. 2014, section 5): 5x5/3 average
    pooling, 1x1 convolution with 128 filters, FC 1024 with ReLU, dropout (paper: 0.7),
    the classifier named `name` (`aux1`, `aux2`). With `batch_norm` the convolution is
    batch-normalized (torchvision's heads)."""
    x = keras.layers.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
    x = conv_unit(x, 128, 1, name=f"{name}_conv", batch_norm=batch_norm)
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    x = keras.layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    x = dropout(x, dropout_rate, f"{name}_fc")
    return classifier(x, num_classes, classifier_activation, name=name)


def inception_v3_aux_head(
    x, num_classes: int, classifier_activation: Any, *, name: str = "aux", **conv_options
):
    """Inception v3's batch-normalized auxiliary classifier (Szegedy et al. 2016): 5x5/3
    average pooling, 1x1 convolution 128, a 5x5 convolution 768 acting as the fully
    connected layer (its kernel shrinks to the pooled grid below 299x299, as in
    TF-Slim), global average pooling, the classifier named `name`. `conv_options` go to
    both convolutions' `conv_unit` (batch normalization settings). With a batch-norm
    scale (`bn_scale=True`) and a pooled grid of at least 5x5 (inputs of 299x299 and up,
    where the kernel keeps its size) it is torchvision's `InceptionAux`."""
    x = keras.layers.AveragePooling2D(5, strides=3, name=f"{name}_pool")(x)
    x = conv_unit(x, 128, 1, name=f"{name}_conv1", **conv_options)
    kernel = min(5, x.shape[1] or 5), min(5, x.shape[2] or 5)
    x = conv_unit(x, 768, kernel, padding="valid", name=f"{name}_conv2", **conv_options)
    x = keras.layers.GlobalAveragePooling2D(name=f"{name}_avg_pool")(x)
    return classifier(x, num_classes, classifier_activation, name=name)


def with_aux_heads(main, aux: dict) -> dict:
    """A model's outputs with auxiliary heads: `{"logits": main, **aux}`, main first."""
    return {MAIN_OUTPUT: main, **aux}
