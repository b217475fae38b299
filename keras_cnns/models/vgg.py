"""VGG (Simonyan & Zisserman 2015, "Very deep convolutional networks for large-scale image
recognition"): the six configurations of Table 1 as one table read by one function.

Layer names are keras.applications' (`block1_conv1`, ..., `block5_pool`, `fc1`, `fc2`,
`predictions`), so its VGG16/VGG19 weight files load by name; the fully connected top is
`keras_cnns.layers.heads.fully_connected_classifier` (dropouts `fc1_dropout`,
`fc2_dropout`, which hold no weights).

torchvision's `vgg11`, `vgg13`, `vgg16`, `vgg19` are configurations A, B, D and E, and its
`_bn` models the same with `batch_norm=True` (convolutions with bias, then batch norm with
epsilon 1e-5, then ReLU; the same classifier, dropout after fc1 and fc2). Their state
dicts (`.pth`, `.safetensors`) load by `torchvision_keys` with `weights=PATH`, any
`num_classes`, and give torchvision's outputs. One difference: torchvision average-pools
the last feature map to 7x7 (`AdaptiveAvgPool2d`) before the classifier, which is the
identity on the 7x7 map of inputs from 224 to 255 pixels a side; ours flattens the map as
it is, so with `include_top=True` a checkpoint loads at those sizes only (any size with
`include_top=False`). `weights="torchvision"` downloads torchvision's IMAGENET1K_V1 file
(vgg11, vgg13, vgg16, vgg19; with `batch_norm=True` their `_bn` files)."""

from __future__ import annotations

from typing import Any

import keras

from keras_cnns.layers.batch_norm import BatchNormalization
from keras_cnns.layers.lrn import LocalResponseNormalization
from keras_cnns.layers.heads import CLASSIFIER, fully_connected_classifier
from keras_cnns.models.common import build_model
from keras_cnns.models.registry import (
    TORCHVISION_ACC1,
    PretrainedWeights,
    Published,
    get_spec,
    register_model,
)
from keras_cnns.validation import check_bool, check_choice, check_rate
from keras_cnns.weights import (
    KERAS_TOP1_SOURCE,
    CheckpointMap,
    is_checkpoint,
    torchvision_weights,
)

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
# The configurations torchvision has (its vgg11, vgg13, vgg16, vgg19 and their _bn forms).
TORCHVISION_CONFIGS = ("A", "B", "D", "E")
# torchvision's AdaptiveAvgPool2d((7, 7)) before the classifier; five 2x2 poolings.
TORCHVISION_GRID = 7
TOTAL_STRIDE = 32

_KA = "https://storage.googleapis.com/tensorflow/keras-applications/"
# keras.applications' published files (same URLs and hashes as keras.applications).
VGG16_IMAGENET = PretrainedWeights(
    top_url=_KA + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels.h5",
    top_hash="64373286793e3c8b2b4e3219cbf3544b",
    notop_url=_KA + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
    notop_hash="6d6bbae143d832006294945121d1f1fc",
    preprocessing="caffe",
    top1=71.3,
    top1_source=KERAS_TOP1_SOURCE,
)
VGG19_IMAGENET = PretrainedWeights(
    top_url=_KA + "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels.h5",
    top_hash="cbe5617147190e668d6c5d5026f83318",
    notop_url=_KA + "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5",
    notop_hash="253f8cb515780f3b799900260a226db6",
    preprocessing="caffe",
    top1=71.3,
    top1_source=KERAS_TOP1_SOURCE,
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
            "VGG has no batch normalization); with batch_norm=True pass "
            "weights='torchvision' (torchvision's `_bn` file)."
        )
    _check_checkpoint(config, common)
    spec = get_spec(MODEL_NAMES[config])
    published = published_weights(spec.name, batch_norm)
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

    return build_model(
        spec.name, features, top,
        checkpoint_keys=_checkpoint_keys(config, batch_norm, common.get("weights")),
        **{**spec.build_args(), "published_weights": published}, **common,
    )


def published_weights(model_name: str, batch_norm: bool) -> dict[str, PretrainedWeights]:
    """The weights `vgg11`..`vgg19` publish with or without `batch_norm`: with it,
    `"torchvision"` is torchvision's `_bn` file (`vgg16(batch_norm=True)` is its
    `vgg16_bn`), and keras.applications' `"imagenet"` (no batch norm) is left out."""
    published = dict(get_spec(model_name).weights)
    if batch_norm:
        published.pop("imagenet", None)
        if "torchvision" in published:
            published["torchvision"] = torchvision_weights(f"{model_name}_bn", batch_norm=True)
    return published


# ---------------------------------------------------------------------- torchvision checkpoints
def torchvision_keys(config: str, batch_norm: bool) -> CheckpointMap:
    """The map from a VGG's layers to torchvision's `state_dict` keys, for
    `weights="....pth"` / `".safetensors"`.

    torchvision's `make_layers(cfg, batch_norm)` numbers the modules of `features` in
    order: each convolution, its batch norm (with `batch_norm`), its ReLU, each max
    pooling; so `block{b}_conv{c}` (and `block{b}_conv{c}_bn`) -> `features.{i}`
    (`features.{i+1}`). The top: `fc1`, `fc2`, `predictions` -> `classifier.0`, `.3`,
    `.6`; fc1's rows follow PyTorch's (C, H, W) flattening of the 7x7 map.
    """
    layers, index, block, conv = {}, 0, 1, 0
    for item in CONFIGS[config]:
        if item == "M":
            index, block, conv = index + 1, block + 1, 0
            continue
        if item == "LRN" or isinstance(item, tuple):
            raise ValueError(
                f"torchvision has no VGG of configuration {config!r} (with LRN or 1x1 "
                f"convolutions); its VGGs are configurations {', '.join(TORCHVISION_CONFIGS)}."
            )
        conv += 1
        name = f"block{block}_conv{conv}"
        layers[name] = f"features.{index}"
        if batch_norm:
            layers[f"{name}_bn"] = f"features.{index + 1}"
        index += 3 if batch_norm else 2
    layers.update({"fc1": "classifier.0", "fc2": "classifier.3", CLASSIFIER: "classifier.6"})
    return CheckpointMap(
        layers, heads=(CLASSIFIER,), top=("classifier",), flattened={"fc1": "flatten"}
    )


def _check_checkpoint(config: str, common: dict) -> None:
    """Refuse, before building, a torchvision checkpoint for a configuration torchvision
    does not have."""
    weights = common.get("weights")
    if is_checkpoint(weights) and config not in TORCHVISION_CONFIGS:
        names = ", ".join(MODEL_NAMES[c] for c in TORCHVISION_CONFIGS)
        raise ValueError(
            f"`weights={weights!r}` is a PyTorch/safetensors checkpoint: it loads into "
            f"torchvision's VGGs ({names}, with or without batch_norm); {MODEL_NAMES[config]} "
            f"(configuration {config!r}) is not one of them."
        )


def _checkpoint_keys(config: str, batch_norm: bool, weights: Any):
    """`build_model`'s `checkpoint_keys`: the map, once the built model's top is known to
    read the 7x7 grid that torchvision's classifier reads."""

    def keys(model: keras.Model) -> CheckpointMap:
        flatten = next((layer for layer in model.layers if layer.name == "flatten"), None)
        grid = None if flatten is None else tuple(flatten.input.shape[1:3])
        if grid is not None and grid != (TORCHVISION_GRID, TORCHVISION_GRID):
            low = TORCHVISION_GRID * TOTAL_STRIDE
            raise ValueError(
                f"`weights={weights!r}` with include_top=True: torchvision's VGG average-pools "
                f"its last feature map to {TORCHVISION_GRID}x{TORCHVISION_GRID} before fc1, "
                f"ours flattens block5_pool as it is, so the checkpoint's fc1 fits inputs of "
                f"{low} to {low + TOTAL_STRIDE - 1} pixels a side; input_shape "
                f"{tuple(model.input_shape[1:])!r} gives a {grid[0]}x{grid[1]} block5_pool. "
                f"Pass input_shape=({low}, {low}, 3), or include_top=False for other sizes."
            )
        return torchvision_keys(config, batch_norm)

    return keys


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
    weights={"torchvision": torchvision_weights("vgg11")}, published=Published(69.020, "ImageNet", TORCHVISION_ACC1), **_REGISTER,
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
    weights={"torchvision": torchvision_weights("vgg13")}, published=Published(69.928, "ImageNet", TORCHVISION_ACC1), **_REGISTER,
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
    weights={"imagenet": VGG16_IMAGENET, "torchvision": torchvision_weights("vgg16")},
    published=Published(71.592, "ImageNet", TORCHVISION_ACC1),
    **_REGISTER,
)
def vgg16(**kwargs) -> keras.Model:
    """VGG-16 (configuration D): 13 3x3 convolutions and 3 fully connected layers."""
    return _vgg("D", **kwargs)


@register_model(
    "vgg",
    reference="Simonyan & Zisserman, Table 1, config E; keras.applications.VGG19",
    weights={"imagenet": VGG19_IMAGENET, "torchvision": torchvision_weights("vgg19")},
    published=Published(72.376, "ImageNet", TORCHVISION_ACC1),
    **_REGISTER,
)
def vgg19(**kwargs) -> keras.Model:
    """VGG-19 (configuration E): 16 3x3 convolutions and 3 fully connected layers."""
    return _vgg("E", **kwargs)

