"""GoogLeNet (Szegedy et al. 2014, "Going deeper with convolutions"), Table 1.

The nine inception modules 3a-5b are `InceptionBlock`s built from the table's filter
columns by `inception_v1_branches`; the top is `avg_pool`, `avg_pool_dropout` and the
classifier (`keras_cnns.layers.heads.pooled_classifier`). With `aux_logits=True` the two
auxiliary classifiers of section 5 (`heads.googlenet_aux_head`) hang off 4a and 4d, and
the model's outputs are the dict `{"logits", "aux1", "aux2"}` whose keys are also the
names of the three output layers (so `model.output_names` has the same names).

Two layouts (the family option `layout`):

- `"paper"` (default): Table 1 as above, with or without batch normalization.
- `"torchvision"` (needs `batch_norm=True`): torchvision's `googlenet`, the network of
  its ImageNet weights (`weights="torchvision"`, or a `.pth` / `.safetensors` file of
  its `state_dict`, mapped by `torchvision_keys`). It differs from the paper's BN variant
  where torchvision does: the "5x5" branches use 3x3 kernels (pytorch/vision#906),
  batch normalization has epsilon 0.001, the max poolings round up (`ceil_mode`),
  the pooling before 5a is 2x2/2, conv1 is padded by 3 on every side, dropout is 0.2,
  and the auxiliary heads pool adaptively to 4x4. Since a checkpoint is mapped layer
  by layer, its modules are plain Keras layers named after the reference Caffe model
  (`inception_3a_1x1`, `inception_3a_3x3_reduce`, ..., `inception_3a_pool_proj`, each
  convolution followed by `_bn` and `_relu`, and the concatenation `inception_3a`)
  rather than `InceptionBlock`s.

torchvision's `transform_input` (its GoogLeNet weights were trained on inputs scaled to
[-1, 1]) is not part of the network: it belongs to the weights' preprocessing
(`PretrainedWeights.transform_input`).
"""

from __future__ import annotations

from typing import Any

import keras

from keras_cnns.layers.inception import InceptionBlock, conv, conv_unit, pool
from keras_cnns.layers.lrn import LocalResponseNormalization
from keras_cnns.layers.heads import (
    classifier,
    dropout as dropout_after,
    googlenet_aux_head,
    main_output_name,
    pooled_classifier,
    with_aux_heads,
)
from keras_cnns.models.common import build_model, smallest_input
from keras_cnns.models.registry import TORCHVISION_ACC1, Published, get_spec, register_model
from keras_cnns.validation import check_bool, check_choice, check_rate
from keras_cnns.weights import CheckpointMap, is_checkpoint, torchvision_weights

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


# ---------------------------------------------------------------------- layouts
LAYOUTS = ("paper", "torchvision")
TORCHVISION_LAYOUT = "torchvision"
# Dropout before the classifier when `dropout=None`: the paper's 0.4, torchvision's 0.2.
DEFAULT_DROPOUT = {"paper": 0.4, "torchvision": 0.2}
# torchvision's BasicConv2d: BatchNorm2d(eps=0.001).
TORCHVISION_BN_EPSILON = 1e-3
# torchvision's InceptionAux pools any grid to 4x4 (adaptive average pooling), so its
# auxiliary heads need no more than the network itself: the total stride, 32.
TORCHVISION_AUX_GRID = 4


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
    layout: str = "paper",
    dropout: float | None = None,
    aux_dropout: float = 0.7,
    **common,
) -> keras.Model:
    check_bool("aux_logits", aux_logits)
    check_bool("batch_norm", batch_norm)
    check_choice("layout", layout, LAYOUTS)
    if layout == TORCHVISION_LAYOUT and not batch_norm:
        raise ValueError(
            f"`layout={layout!r}` needs batch_norm=True: torchvision's GoogLeNet normalizes "
            f"every convolution; received batch_norm={batch_norm!r}. Pass "
            f"googlenet(batch_norm=True, layout={layout!r}), or layout='paper' for the "
            "network without batch normalization."
        )
    _check_checkpoint_layout(common.get("weights"), batch_norm, layout)
    dropout = check_rate("dropout", DEFAULT_DROPOUT[layout] if dropout is None else dropout)
    aux_dropout = check_rate("aux_dropout", aux_dropout)
    if aux_logits and common.get("include_top", True) is False:
        raise ValueError(
            "`aux_logits=True` needs include_top=True: the auxiliary classifiers are "
            "classification heads. Pass aux_logits=False with include_top=False."
        )
    if layout == TORCHVISION_LAYOUT:
        features, aux_head = _torchvision_network()
        aux_min_size, keys = MIN_INPUT_SIZE, torchvision_keys  # adaptive aux pooling
    else:
        features, aux_head = _paper_network(batch_norm)
        aux_min_size, keys = AUX_MIN_INPUT_SIZE, None

    taps = {}

    def tapped_features(x):
        return features(x, taps)

    def top(x, num_classes, classifier_activation):
        logits = pooled_classifier(
            x, num_classes, classifier_activation, dropout_rate=dropout,
            name=main_output_name(aux_logits),
        )
        if not aux_logits:
            return logits
        aux = {
            f"aux{index}": aux_head(
                taps[module], num_classes, classifier_activation, name=f"aux{index}",
                dropout_rate=aux_dropout,
            )
            for index, module in enumerate(AUX_AFTER, start=1)
        }
        return with_aux_heads(logits, aux)

    spec = get_spec("googlenet")
    return build_model(
        spec.name,
        tapped_features,
        top,
        default_input_shape=spec.default_input_shape,
        min_input_size=aux_min_size if aux_logits else spec.min_input_size,
        published_weights=spec.weights,
        fixed_size_top=aux_logits,
        checkpoint_keys=keys,
        **common,
    )


def _check_checkpoint_layout(weights: Any, batch_norm: bool, layout: str) -> None:
    """torchvision's weights (published, or a `.pth` / `.safetensors` file) load only
    into the torchvision layout."""
    published = weights == "torchvision"
    if (published or is_checkpoint(weights)) and layout != TORCHVISION_LAYOUT:
        kind = "torchvision's checkpoint" if published else "a PyTorch checkpoint"
        raise ValueError(
            f"`weights={weights!r}` is {kind}: it loads into torchvision's GoogLeNet, "
            f"batch_norm=True with layout={TORCHVISION_LAYOUT!r} (3x3 kernels in the "
            f"\"5x5\" branches, no LRN); received batch_norm={batch_norm!r}, "
            f"layout={layout!r}. Pass googlenet(batch_norm=True, "
            f"layout={TORCHVISION_LAYOUT!r}, weights=...)."
        )


# ---------------------------------------------------------------------- paper layout
def _paper_network(batch_norm: bool):
    """`(features, aux_head)` of Table 1 (`batch_norm`: the BN variant): `features(x,
    taps)` records each module's output in `taps`."""
    layers = keras.layers

    def unit(x, filters, kernel, strides=1, *, name):
        return conv_unit(x, filters, kernel, strides, name=name, batch_norm=batch_norm)

    def max_pool(x, name):
        return layers.MaxPooling2D(3, strides=2, padding="same", name=name)(x)

    def features(x, taps):
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

    def aux_head(x, num_classes, classifier_activation, *, name, dropout_rate):
        return googlenet_aux_head(
            x, num_classes, classifier_activation, name=name, dropout_rate=dropout_rate,
            batch_norm=batch_norm,
        )

    return features, aux_head


# ---------------------------------------------------------------------- torchvision layout
# Table 1's columns -> the layer names of a module's units (the reference Caffe model's)
# and torchvision's modules in `Inception` (branch1 .. branch4; branch4.0 is the pooling).
_MODULE_UNITS = {
    "1x1": "branch1",
    "3x3_reduce": "branch2.0",
    "3x3": "branch2.1",
    "5x5_reduce": "branch3.0",
    "5x5": "branch3.1",
    "pool_proj": "branch4.1",
}
_STEM_UNITS = {"conv1_7x7_s2": "conv1", "conv2_3x3_reduce": "conv2", "conv2_3x3": "conv3"}


def _basic_conv(x, filters: int, kernel: int, strides: int = 1, padding: str = "same", *, name: str):
    """torchvision's BasicConv2d: a convolution without bias (`name`), batch
    normalization with epsilon 0.001 (`{name}_bn`), ReLU (`{name}_relu`)."""
    return conv_unit(
        x, filters, kernel, strides, padding, name=name, batch_norm=True,
        bn_epsilon=TORCHVISION_BN_EPSILON,
    )


def _ceil_max_pool(x, size: int, *, name: str):
    """torchvision's `MaxPool2d(size, stride=2, ceil_mode=True)` at every input size:
    one row and column of zeros below and right (`{name}_pad`), then a "valid" pooling
    (`name`). The pooling then has ceil((n - size) / 2) + 1 windows, those of ceil_mode,
    each starting inside the map; the zeros leave every maximum as it is, because each
    of these poolings follows a ReLU (its inputs are >= 0, and every window holds at
    least one of them). Keras' "same" padding would give the same windows only at some
    sizes (3x3/2 pads one row above an odd-sized map)."""
    x = keras.layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_pad")(x)
    return keras.layers.MaxPooling2D(size, strides=2, padding="valid", name=name)(x)


def _torchvision_inception(x, n1x1, reduce3x3, n3x3, reduce5x5, n5x5, pool_proj, *, name):
    """torchvision's `Inception` module as plain layers, concatenated by `name`; the
    "5x5" branch has a 3x3 kernel as torchvision's (pytorch/vision#906)."""
    branch1 = _basic_conv(x, n1x1, 1, name=f"{name}_1x1")
    branch2 = _basic_conv(x, reduce3x3, 1, name=f"{name}_3x3_reduce")
    branch2 = _basic_conv(branch2, n3x3, 3, name=f"{name}_3x3")
    branch3 = _basic_conv(x, reduce5x5, 1, name=f"{name}_5x5_reduce")
    branch3 = _basic_conv(branch3, n5x5, 3, name=f"{name}_5x5")
    # MaxPool2d(3, stride=1, padding=1, ceil_mode=True): Keras' "same" (its padding
    # never wins a maximum, like PyTorch's).
    branch4 = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    branch4 = _basic_conv(branch4, pool_proj, 1, name=f"{name}_pool_proj")
    return keras.layers.Concatenate(name=name)([branch1, branch2, branch3, branch4])


def torchvision_aux_head(
    x, num_classes: int, classifier_activation: Any, *, name: str, dropout_rate: float = 0.7
):
    """torchvision's `InceptionAux`: adaptive average pooling to 4x4 (`{name}_pool`),
    BasicConv2d 1x1 128 (`{name}_conv`, `_bn`, `_relu`), flatten, FC 1024 with ReLU
    (`{name}_fc`), dropout, the classifier named `name`."""
    x = keras.layers.AdaptiveAveragePooling2D(TORCHVISION_AUX_GRID, name=f"{name}_pool")(x)
    x = _basic_conv(x, 128, 1, name=f"{name}_conv")
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    x = keras.layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    x = dropout_after(x, dropout_rate, f"{name}_fc")
    return classifier(x, num_classes, classifier_activation, name=name)


def _torchvision_network():
    """`(features, aux_head)` of torchvision's GoogLeNet (the module docstring lists
    how it differs from Table 1)."""
    layers = keras.layers

    def features(x, taps):
        x = layers.ZeroPadding2D(3, name="conv1_7x7_s2_pad")(x)
        x = _basic_conv(x, 64, 7, 2, "valid", name="conv1_7x7_s2")
        x = _ceil_max_pool(x, 3, name="pool1_3x3_s2")
        x = _basic_conv(x, 64, 1, name="conv2_3x3_reduce")
        x = _basic_conv(x, 192, 3, name="conv2_3x3")
        x = _ceil_max_pool(x, 3, name="pool2_3x3_s2")
        for item in TABLE_1:
            if item == "pool4":  # torchvision: MaxPool2d(2, stride=2, ceil_mode=True)
                x = _ceil_max_pool(x, 2, name="pool4_2x2_s2")
            elif isinstance(item, str):
                x = _ceil_max_pool(x, 3, name=f"{item}_3x3_s2")
            else:
                module, filters = item
                x = _torchvision_inception(x, *filters, name=f"inception_{module}")
                taps[module] = x
        return x

    return features, torchvision_aux_head


def torchvision_keys(model: keras.Model) -> CheckpointMap:
    """The map from the layers of a GoogLeNet built with `batch_norm=True,
    layout="torchvision"` to torchvision's `state_dict` keys, for `weights="....pth"` /
    `".safetensors"` and `weights="torchvision"`:

    - the stem's `conv1_7x7_s2`, `conv2_3x3_reduce`, `conv2_3x3` -> `conv1`, `conv2`,
      `conv3` (each convolution `{unit}` -> `{module}.conv`, its `{unit}_bn` ->
      `{module}.bn`);
    - `inception_{m}_1x1`, `_3x3_reduce`, `_3x3`, `_5x5_reduce`, `_5x5`, `_pool_proj`
      -> `inception{m}.branch1`, `.branch2.0`, `.branch2.1`, `.branch3.0`,
      `.branch3.1`, `.branch4.1`;
    - the classifier (`predictions`, or `logits` next to auxiliary heads) -> `fc`;
    - the auxiliary heads `aux{i}_conv`, `aux{i}_fc`, `aux{i}` -> `aux{i}.conv`,
      `aux{i}.fc1` (its rows regrouped from PyTorch's NCHW flattening),
      `aux{i}.fc2`.

    The classifiers keep their initial values where their number of classes differs
    from the checkpoint's; the checkpoint's top (`fc`, `aux1`, `aux2`) goes unused where
    the model has none (`include_top=False`, `aux_logits=False`).

    Raises:
        ValueError: `model` is not the torchvision layout (it has `InceptionBlock`s).
    """
    if any(isinstance(layer, InceptionBlock) for layer in model.layers):
        raise ValueError(
            f"Model {model.name!r} is GoogLeNet's layout 'paper'; torchvision's checkpoints "
            f"map onto googlenet(batch_norm=True, layout={TORCHVISION_LAYOUT!r})."
        )
    units = dict(_STEM_UNITS)
    for item in TABLE_1:
        if not isinstance(item, str):
            module = item[0]
            for column, branch in _MODULE_UNITS.items():
                units[f"inception_{module}_{column}"] = f"inception{module}.{branch}"
    aux_heads = [f"aux{index}" for index in range(1, len(AUX_AFTER) + 1)]
    for aux in aux_heads:
        units[f"{aux}_conv"] = f"{aux}.conv"
    main = [main_output_name(True), main_output_name(False)]
    layers, flattened = {}, {}
    for layer in model.layers:
        name = layer.name
        if name in units:
            layers[name] = f"{units[name]}.conv"
        elif name.endswith("_bn") and name[: -len("_bn")] in units:
            layers[name] = f"{units[name[: -len('_bn')]]}.bn"
        elif name in main:
            layers[name] = "fc"
        elif name in aux_heads:
            layers[name] = f"{name}.fc2"
        elif name.endswith("_fc") and name[: -len("_fc")] in aux_heads:
            layers[name] = f"{name[: -len('_fc')]}.fc1"
            flattened[name] = f"{name[: -len('_fc')]}_flatten"
    return CheckpointMap(
        layers, heads=(*main, *aux_heads), top=("fc", *aux_heads), flattened=flattened
    )


@register_model(
    "googlenet",
    default_input_shape=(224, 224, 3),
    min_input_size=MIN_INPUT_SIZE,
    reference="Szegedy et al. 2014, Table 1: 6,998,552 parameters (no aux heads)",
    weights={"torchvision": torchvision_weights("googlenet", batch_norm=True, layout="torchvision")},
    published=Published(
        69.778, "ImageNet", TORCHVISION_ACC1 + " (layout='torchvision': BN, 3x3 in the 5x5 branch)"
    ),
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
            (convolutions without bias) and no LRN. In the paper layout its "5x5"
            branch keeps the paper's 5x5 kernel.
        layout: `"paper"` (default: Table 1, as above) or `"torchvision"` (needs
            batch_norm=True): torchvision's GoogLeNet, whose ImageNet weights load with
            `weights="torchvision"` (or a `.pth` / `.safetensors` file of its
            state_dict, any num_classes, include_top=False too): 3x3 kernels in the
            "5x5" branches, batch-norm epsilon 0.001, max poolings rounding up
            (ceil_mode), a 2x2/2 pooling before 5a, dropout 0.2, and auxiliary heads
            pooling adaptively to 4x4 (any input of at least 32x32). 6,624,904
            trainable parameters (13,004,888 with aux_logits), as torchvision's.
            torchvision's `transform_input` is the weights' preprocessing, not a
            layer.
        dropout: dropout before the classifier; `None` (default): the layout's, 0.4
            (paper) or 0.2 (torchvision).
        aux_dropout: dropout in the auxiliary classifiers (paper: 0.7).
    """
    return _googlenet(**kwargs)
