"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-based learning applied to
document recognition"), as the paper builds it and in the modern form most code uses.

Both variants end in the fully connected `f6` of `keras_cnns.layers.heads`; the paper's
output is the Euclidean RBF layer (`rbf`) and an activation named `predictions`, the
modern one the shared `predictions` classifier."""

from __future__ import annotations

import keras

from keras_cnns.layers.lenet import (
    ConnectionTableConv2D,
    EuclideanRBF,
    TrainableSubsampling,
    scaled_tanh,
)
from keras_cnns.layers.whole_input_conv import WholeInputConv2D
from keras_cnns.layers.heads import CLASSIFIER, fully_connected, fully_connected_classifier
from keras_cnns.models.common import build_model
from keras_cnns.models.registry import Published, get_spec, register_model
from keras_cnns.precision import head_dtype
from keras_cnns.validation import check_activation, check_choice

VARIANTS = ("paper", "modern")
SUBSAMPLING = ("max", "avg")


def _lenet5(variant="paper", activation="relu", subsampling="max", **common) -> keras.Model:
    check_choice("variant", variant, VARIANTS)
    check_activation("activation", activation)
    check_choice("subsampling", subsampling, SUBSAMPLING)
    layers = keras.layers

    if variant == "paper":

        def squash(x, name):
            return layers.Activation(scaled_tanh, name=f"{name}_tanh")(x)

        def features(x):
            x = squash(layers.Conv2D(6, 5, name="c1")(x), "c1")
            x = squash(TrainableSubsampling(2, name="s2")(x), "s2")
            x = squash(ConnectionTableConv2D(5, name="c3")(x), "c3")
            x = squash(TrainableSubsampling(2, name="s4")(x), "s4")
            return squash(WholeInputConv2D(120, 5, name="c5")(x), "c5")

        def top(x, num_classes, classifier_activation):
            x = fully_connected(x, [("f6", 84)], activation=scaled_tanh)
            x = EuclideanRBF(num_classes, negate=True, name="rbf")(x)
            return layers.Activation(classifier_activation, name=CLASSIFIER, dtype=head_dtype())(x)

    else:
        pool = layers.MaxPooling2D if subsampling == "max" else layers.AveragePooling2D

        def features(x):
            x = layers.Conv2D(6, 5, activation=activation, name="c1")(x)
            x = pool(2, name="s2")(x)
            x = layers.Conv2D(16, 5, activation=activation, name="c3")(x)
            x = pool(2, name="s4")(x)
            return WholeInputConv2D(120, 5, activation=activation, name="c5")(x)

        def top(x, num_classes, classifier_activation):
            return fully_connected_classifier(
                x, num_classes, classifier_activation, [("f6", 84)], activation=activation
            )

    spec = get_spec("lenet5")
    return build_model(spec.name, features, top, **spec.build_args(), **common)


@register_model(
    "lenet",
    default_input_shape=(32, 32, 1),
    min_input_size=32,
    reference="LeCun et al. 1998, section II.B; 60,000 trainable parameters",
    published=Published.from_error(0.95, "MNIST", "LeCun et al. 1998 (0.95% test error)"),
    options=_lenet5,
)
def lenet5(**kwargs) -> keras.Model:
    """LeNet-5: C1-S2-C3-S4-C5-F6 and an output layer.

    Family options:
        variant: `"paper"` (default) — scaled tanh 1.7159*tanh(2a/3), trainable
            subsampling, the C3 connection table of Table I and the Euclidean RBF output
            (60,000 trainable weights; 840 fixed prototypes for ten classes; the RBF
            outputs are negated so that `classifier_activation` turns them into class
            scores). `"modern"` — full convolutions, 2x2 max pooling, ReLU and a dense
            softmax output.
        activation: the modern variant's activation (default `"relu"`; the seed's
            `"sigmoid"` also works).
        subsampling: the modern variant's pooling, `"max"` (default) or `"avg"`.
    """
    return _lenet5(**kwargs)
