"""GoogLeNet (Szegedy et al. 2014, "Going deeper with convolutions"), Table 1.

The nine inception modules 3a-5b are `InceptionBlock`s built from the table's filter
columns by `inception_v1_branches`; the top is `avg_pool`, `avg_pool_dropout` and the
classifier (`keras_cnns.layers.heads.pooled_classifier`). With `aux_logits=True` the two
auxiliary classifiers of section 5 (`heads.googlenet_aux_head`) hang off 4a and 4d, and
the model's outputs are the dict `{"logits", "aux1", "aux2"}` whose keys are also the
names of the three output layers (so `model.output_names` has the same names).
"""

from __future__ import annotations

import keras

from keras_cnns.layers.inception import InceptionBlock, conv, conv_unit, pool
from keras_cnns.layers.lrn import LocalResponseNormalization
from keras_cnns.layers.heads import (
    googlenet_aux_head,
    main_output_name,
    pooled_classifier,
    with_aux_heads,
)
from keras_cnns.models.common import build_model, smallest_input
from keras_cnns.models.registry import TORCHVISION_ACC1, Published, get_spec, register_model
from keras_cnns.validation import check_bool, check_rate

# Table 1: module -> (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj); "pool" is
# the 3x3/2 max pooling between stages.
TABLE_1: tuple = (
    ("3a", (64, 96, 128, 16, 32, 32)),
    ("3b", (128, 128, 192, 32, 96, 64)),
    "pool3",
    ("4a", (192, 96, 208, 16, 48, 64)),
    ("4b", (160, 112, 224, 24, 64, 64)),
    ("4c", (128, 128, 256, 24, 64, 64)),
    ("4d", (112, 144, 288, 32, 64, 64)),
    ("4e", (256, 160, 320, 32, 128, 128)),
    "pool4",
    ("5a", (256, 160, 320, 32, 128, 128)),
    ("5b", (384, 192, 384, 48, 128, 128)),
)
AUX_AFTER = ("4a", "4d")  # section 5: the auxiliary classifiers read these modules

# LRN as in the reference Caffe model (local_size 5, alpha 1e-4, beta 0.75, k 1). Caffe
# divides alpha by the window size n; our layer (like tf.nn.local_response_normalization)
# does not, so alpha = 1e-4 / 5 gives the same function.
CAFFE_LRN = dict(depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75)

# Every convolution and pooling is "same"-padded, so any size survives; like
# keras.applications for its same-padded networks (ResNet, DenseNet) the smallest input
# is the network's total stride, 32, where the last grid is 1x1.
MIN_INPUT_SIZE = 32
# With the auxiliary heads the 4a/4d grid (input / 16) must hold one 5x5 pooling window.
AUX_MIN_INPUT_SIZE = max(
    MIN_INPUT_SIZE,
    smallest_input([(7, 2, "same"), (3, 2, "same"), (3, 2, "same"), (3, 2, "same"), (5, 3, "valid")]),
)


def inception_v1_branches(
    n1x1: int, reduce3x3: int, n3x3: int, reduce5x5: int, n5x5: int, pool_proj: int
) -> list:
    """The branch specification of a GoogLeNet module from the columns of Table 1."""
    return [
        [conv(n1x1, 1)],
        [conv(reduce3x3, 1), conv(n3x3, 3)],
        [conv(reduce5x5, 1), conv(n5x5, 5)],
        [pool("max", 3), conv(pool_proj, 1)],
    ]


def _googlenet(
    aux_logits: bool = False,
    batch_norm: bool = False,
    dropout: float = 0.4,
    aux_dropout: float = 0.7,
    **common,
) -> keras.Model:
    check_bool("aux_logits", aux_logits)
    check_bool("batch_norm", batch_norm)
    dropout = check_rate("dropout", dropout)
    aux_dropout = check_rate("aux_dropout", aux_dropout)
    if aux_logits and common.get("include_top", True) is False:
        raise ValueError(
            "`aux_logits=True` needs include_top=True: the auxiliary classifiers are "
            "classification heads. Pass aux_logits=False with include_top=False."
        )
    layers = keras.layers
    taps = {}

    def unit(x, filters, kernel, strides=1, *, name):
        return conv_unit(x, filters, kernel, strides, name=name, batch_norm=batch_norm)

    def max_pool(x, name):
        return layers.MaxPooling2D(3, strides=2, padding="same", name=name)(x)

    def features(x):
        x = unit(x, 64, 7, 2, name="conv1_7x7_s2")
        x = max_pool(x, "pool1_3x3_s2")
        if not batch_norm:
            x = LocalResponseNormalization(**CAFFE_LRN, name="pool1_norm1")(x)
        x = unit(x, 64, 1, name="conv2_3x3_reduce")
        x = unit(x, 192, 3, name="conv2_3x3")
        if not batch_norm:
            x = LocalResponseNormalization(**CAFFE_LRN, name="conv2_norm2")(x)
        x = max_pool(x, "pool2_3x3_s2")
        for item in TABLE_1:
            if isinstance(item, str):
                x = max_pool(x, f"{item}_3x3_s2")
                continue
            module, filters = item
            x = InceptionBlock(
                inception_v1_branches(*filters), batch_norm=batch_norm, name=f"inception_{module}"
            )(x)
            taps[module] = x
        return x

    def top(x, num_classes, classifier_activation):
        logits = pooled_classifier(
            x, num_classes, classifier_activation, dropout_rate=dropout,
            name=main_output_name(aux_logits),
        )
        if not aux_logits:
            return logits
        aux = {
            f"aux{index}": googlenet_aux_head(
                taps[module], num_classes, classifier_activation, name=f"aux{index}",
                dropout_rate=aux_dropout, batch_norm=batch_norm,
            )
            for index, module in enumerate(AUX_AFTER, start=1)
        }
        return with_aux_heads(logits, aux)

    spec = get_spec("googlenet")
    return build_model(
        spec.name,
        features,
        top,
        default_input_shape=spec.default_input_shape,
        min_input_size=AUX_MIN_INPUT_SIZE if aux_logits else spec.min_input_size,
        published_weights=spec.weights,
        fixed_size_top=aux_logits,
        **common,
    )


@register_model(
    "googlenet",
    default_input_shape=(224, 224, 3),
    min_input_size=MIN_INPUT_SIZE,
    reference="Szegedy et al. 2014, Table 1: 6,998,552 parameters (no aux heads)",
    published=Published(69.778, "ImageNet", TORCHVISION_ACC1 + " (BN variant, 3x3 in the 5x5 branch)"),
    options=_googlenet,
)
def googlenet(**kwargs) -> keras.Model:
    """GoogLeNet (Inception v1): 7x7/2 stem, LRN, nine inception modules, average pooling.

    Faithful to Table 1 (the 5x5 branches are real 5x5 convolutions; convolutions have
    biases and ReLU; LRN as in the reference Caffe model: local size 5, alpha 1e-4 with
    Caffe's alpha/n convention, beta 0.75, k 1). The final 7x7/1 average pooling is a
    global average pooling (the same at 224x224, and any input size works).

    Family options:
        aux_logits: add the two auxiliary classifiers after 4a and 4d (5x5/3 average
            pooling, 1x1 conv 128, FC 1024, dropout 0.7, FC classes). The model then
            has a dict of outputs `{"logits", "aux1", "aux2"}` (also the names of
            its output layers, so `model.output_names` lists them): compile with
            `loss={"logits": l, "aux1": l, "aux2": l}, loss_weights={"logits": 1.0,
            "aux1": 0.3, "aux2": 0.3}` (or `auxiliary.loss_config(model, l)`), and
            export `auxiliary.without_aux_heads(model)`. Needs include_top=True, a
            fixed input size and inputs of at least 65x65.
        batch_norm: the BN variant: batch normalization after every convolution
            (convolutions without bias) and no LRN. Unlike torchvision's, its "5x5"
            branch keeps the paper's 5x5 kernel.
        dropout: dropout before the classifier (paper: 0.4).
        aux_dropout: dropout in the auxiliary classifiers (paper: 0.7).
    """
    return _googlenet(**kwargs)
