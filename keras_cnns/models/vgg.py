"""VGG (Simonyan & Zisserman 2015, "Very deep convolutional networks for large-scale image
recognition"): the six configurations of Table 1 as one table read by one function.

Layer names are keras.applications' (`block1_conv1`, ..., `block5_pool`, `fc1`, `fc2`,
`predictions`), so its VGG16/VGG19 weight files load by name; the fully connected top is
`keras_cnns.layers.heads.fully_connected_classifier` (dropouts `fc1_dropout`,
`fc2_dropout`, which hold no weights)."""

from __future__ import annotations

import keras

from keras_cnns.layers.batch_norm import BatchNormalization
from keras_cnns.layers.lrn import LocalResponseNormalization
from keras_cnns.layers.heads import fully_connected_classifier
from keras_cnns.models.common import build_model
from keras_cnns.models.registry import (
    TORCHVISION_ACC1,
    PretrainedWeights,
    Published,
    get_spec,
    register_model,
)
from keras_cnns.validation import check_bool, check_choice, check_rate

# Table 1 of the paper. An int is a 3x3 convolution with that many filters, (filters, 1)
# a 1x1 convolution, "M" 2x2 max pooling (ending a block), "LRN" local response
# normalization.
CONFIGS: dict[str, tuple] = {
    "A": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "A-LRN": (64, "LRN", "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "B": (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "C": (
        64, 64, "M", 128, 128, "M", 256, 256, (256, 1), "M",
        512, 512, (512, 1), "M", 512, 512, (512, 1), "M",
    ),
    "D": (
        64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
        512, 512, 512, "M", 512, 512, 512, "M",
    ),
    "E": (
        64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
        512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
    ),
}  # fmt: skip
MODEL_NAMES = {"A": "vgg11", "A-LRN": "vgg11_lrn", "B": "vgg13", "C": "vgg16_c", "D": "vgg16", "E": "vgg19"}

_KA = "https://storage.googleapis.com/tensorflow/keras-applications/"
# keras.applications' published files (same URLs and hashes as keras.applications).
VGG16_IMAGENET = PretrainedWeights(
    top_url=_KA + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5",
    top_hash="64373286793e3c8b2b4e3219cbf3544b",
    notop_url=_KA + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    notop_hash="6d6bbae143d832006294945121d1f1fc",
)
VGG19_IMAGENET = PretrainedWeights(
    top_url=_KA + "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels.h5",
    top_hash="cbe5617147190e668d6c5d5026f83318",
    notop_url=_KA + "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
    notop_hash="253f8cb515780f3b799900260a226db6",
)


def vgg(config: str = "D", **kwargs) -> keras.Model:
    """Any VGG configuration of the paper's Table 1 by its letter ("A", "A-LRN", "B",
    "C", "D", "E"); the same as the named builders (`vgg16` is config "D"), with their
    arguments."""
    check_choice("config", config, CONFIGS)
    return get_spec(MODEL_NAMES[config]).builder(**kwargs)


def _vgg(config: str, batch_norm: bool = False, dropout: float = 0.5, **common) -> keras.Model:
    check_bool("batch_norm", batch_norm)
    dropout = check_rate("dropout", dropout)
    if batch_norm and common.get("weights") in ("imagenet",):
        raise ValueError(
            "`weights='imagenet'` exist only for batch_norm=False (keras.applications' "
            "VGG has no batch normalization)."
        )
    layers = keras.layers

    def features(x):
        block, conv = 1, 0
        for item in CONFIGS[config]:
            if item == "M":
                x = layers.MaxPooling2D(2, strides=2, name=f"block{block}_pool")(x)
                block, conv = block + 1, 0
            elif item == "LRN":
                x = LocalResponseNormalization(name=f"block{block}_lrn")(x)
            else:
                filters, kernel = item if isinstance(item, tuple) else (item, 3)
                conv += 1
                conv_name = f"block{block}_conv{conv}"
                x = layers.Conv2D(
                    filters,
                    kernel,
                    padding="same",
                    activation=None if batch_norm else "relu",
                    name=conv_name,
                )(x)
                if batch_norm:
                    x = BatchNormalization(epsilon=1e-5, name=f"{conv_name}_bn")(x)
                    x = layers.ReLU(name=f"{conv_name}_relu")(x)
        return x

    def top(x, num_classes, classifier_activation):
        return fully_connected_classifier(
            x, num_classes, classifier_activation, [("fc1", 4096), ("fc2", 4096)],
            dropout_rate=dropout,
        )

    spec = get_spec(MODEL_NAMES[config])
    return build_model(spec.name, features, top, **spec.build_args(), **common)


_OPTIONS_DOC = """
    Family options:
        batch_norm: batch normalization after every convolution (torchvision's `_bn`
            models; the convolutions keep their biases).
        dropout: dropout rate after fc1 and fc2 (paper: 0.5).
"""
_REGISTER = dict(
    default_input_shape=(224, 224, 3), min_input_size=32, options=_vgg, options_doc=_OPTIONS_DOC
)


@register_model(
    "vgg", reference="Simonyan & Zisserman, Table 1, config A",
    published=Published(69.020, "ImageNet", TORCHVISION_ACC1), **_REGISTER,
)
def vgg11(**kwargs) -> keras.Model:
    """VGG-11 (configuration A): 8 convolutions and 3 fully connected layers."""
    return _vgg("A", **kwargs)


@register_model("vgg", reference="Simonyan & Zisserman, Table 1, config A-LRN", **_REGISTER)
def vgg11_lrn(**kwargs) -> keras.Model:
    """VGG-11 with LRN (configuration A-LRN): LRN after the first convolution."""
    return _vgg("A-LRN", **kwargs)


@register_model(
    "vgg", reference="Simonyan & Zisserman, Table 1, config B",
    published=Published(69.928, "ImageNet", TORCHVISION_ACC1), **_REGISTER,
)
def vgg13(**kwargs) -> keras.Model:
    """VGG-13 (configuration B): 10 convolutions and 3 fully connected layers."""
    return _vgg("B", **kwargs)


@register_model("vgg", reference="Simonyan & Zisserman, Table 1, config C", **_REGISTER)
def vgg16_c(**kwargs) -> keras.Model:
    """VGG-16 configuration C: a 1x1 convolution ends each of the last three blocks."""
    return _vgg("C", **kwargs)


@register_model(
    "vgg",
    reference="Simonyan & Zisserman, Table 1, config D; keras.applications.VGG16",
    weights={"imagenet": VGG16_IMAGENET},
    published=Published(71.592, "ImageNet", TORCHVISION_ACC1),
    **_REGISTER,
)
def vgg16(**kwargs) -> keras.Model:
    """VGG-16 (configuration D): 13 3x3 convolutions and 3 fully connected layers."""
    return _vgg("D", **kwargs)


@register_model(
    "vgg",
    reference="Simonyan & Zisserman, Table 1, config E; keras.applications.VGG19",
    weights={"imagenet": VGG19_IMAGENET},
    published=Published(72.376, "ImageNet", TORCHVISION_ACC1),
    **_REGISTER,
)
def vgg19(**kwargs) -> keras.Model:
    """VGG-19 (configuration E): 16 3x3 convolutions and 3 fully connected layers."""
    return _vgg("E", **kwargs)

