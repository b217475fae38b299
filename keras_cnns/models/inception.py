"""Inception v2 (BN-Inception, Ioffe & Szegedy 2015) and Inception v3 (Szegedy et al. 2016,
"Rethinking the Inception Architecture for Computer Vision").

Both are stems of plain convolutions followed by a table of `InceptionBlock`s: v2's
modules come from the columns of the BN paper's Figure 5, v3's are keras.applications'
`mixed0`..`mixed10` (the paper's Figures 5, 6, 7 and the grid reductions of Figure 10),
weight-compatible with `keras.applications.InceptionV3`. Both end in
`keras_cnns.layers.heads.pooled_classifier` (`avg_pool`, `avg_pool_dropout` when dropout
is on, `predictions`); v3's auxiliary classifier is `heads.inception_v3_aux_head`, and with
it the outputs are `{"logits", "aux"}`, also the names of the two output layers.

v3 has two layouts of the same layers and names: `"keras"` (keras.applications, whose
weights `"imagenet"` load) and `"torchvision"` (torchvision.models.inception_v3: batch
normalization with a scale, average-pooling branches that count their zero padding, the
auxiliary classifier at torchvision's 299x299 and dropout 0.5; its weights
`"torchvision"` and `.pth` / `.safetensors` files load through `torchvision_keys`).
"""

from __future__ import annotations

import h5py
import keras

from keras_cnns.layers.inception import (
    InceptionBlock,
    concat,
    conv,
    conv_unit,
    pool,
    spec_output_size,
)
from keras_cnns.layers.heads import (
    CLASSIFIER,
    MAIN_OUTPUT,
    inception_v3_aux_head,
    main_output_name,
    pooled_classifier,
    with_aux_heads,
)
from keras_cnns.models.common import InputTooSmallError, build_model, output_size
from keras_cnns.models.registry import (
    KERAS_IO_TOP1,
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

# ============================================================ Inception v2 (BN-Inception)
# Figure 5 of Ioffe & Szegedy: module -> (#1x1, #3x3 reduce, #3x3, double #3x3 reduce,
# double #3x3, pool type, pool proj (None: pass through), stride). The printed pool-proj
# column reads 128 for 4c and 4d, which contradicts the table's own output column
# (14x14x576: 160+160+160+proj = 576 needs 96); we follow the output column, as TF-Slim's
# inception_v2 does.
BN_INCEPTION_TABLE: tuple = (
    ("3a", (64, 64, 64, 64, 96, "avg", 32, 1)),
    ("3b", (64, 64, 96, 64, 96, "avg", 64, 1)),
    ("3c", (0, 128, 160, 64, 96, "max", None, 2)),
    ("4a", (224, 64, 96, 96, 128, "avg", 128, 1)),
    ("4b", (192, 96, 128, 96, 128, "avg", 128, 1)),
    ("4c", (160, 128, 160, 128, 160, "avg", 96, 1)),
    ("4d", (96, 128, 192, 160, 192, "avg", 96, 1)),
    ("4e", (0, 128, 192, 192, 256, "max", None, 2)),
    ("5a", (352, 192, 320, 160, 224, "avg", 128, 1)),
    ("5b", (352, 192, 320, 192, 224, "max", 128, 1)),
)
# Everything is "same"-padded (any size survives); the smallest input is the total
# stride, 32, as for keras.applications' same-padded networks.
V2_MIN_INPUT_SIZE = 32


def bn_inception_branches(
    n1x1: int, reduce3x3: int, n3x3: int, reduce_d3x3: int, n_d3x3: int,
    pool_type: str, pool_proj: int | None, stride: int = 1,
) -> list:
    """A BN-Inception module from one row of Figure 5: the 5x5 branch of GoogLeNet is two
    3x3 convolutions; a stride-2 module has no 1x1 branch and passes the pooling through."""
    branches = [[conv(n1x1, 1)]] if n1x1 else []
    branches.append([conv(reduce3x3, 1), conv(n3x3, 3, stride)])
    branches.append([conv(reduce_d3x3, 1), conv(n_d3x3, 3), conv(n_d3x3, 3, stride)])
    branches.append([pool(pool_type, 3, stride)] + ([conv(pool_proj, 1)] if pool_proj else []))
    return branches


def _inception_v2(dropout: float = 0.0, **common) -> keras.Model:
    dropout = check_rate("dropout", dropout)
    layers = keras.layers

    def unit(x, filters, kernel, strides=1, *, name):
        return conv_unit(x, filters, kernel, strides, name=name, batch_norm=True)

    def features(x):
        x = unit(x, 64, 7, 2, name="conv1_7x7_s2")
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool1_3x3_s2")(x)
        x = unit(x, 64, 1, name="conv2_3x3_reduce")
        x = unit(x, 192, 3, name="conv2_3x3")
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="pool2_3x3_s2")(x)
        for module, row in BN_INCEPTION_TABLE:
            x = InceptionBlock(
                bn_inception_branches(*row), batch_norm=True, name=f"inception_{module}"
            )(x)
        return x

    def top(x, num_classes, classifier_activation):
        return pooled_classifier(x, num_classes, classifier_activation, dropout_rate=dropout)

    spec = get_spec("inception_v2")
    return build_model(spec.name, features, top, **spec.build_args(), fixed_size_top=False, **common)


@register_model(
    "inception",
    default_input_shape=(224, 224, 3),
    min_input_size=V2_MIN_INPUT_SIZE,
    reference="Ioffe & Szegedy 2015, Figure 5 (BN-Inception); TF-Slim inception_v2",
    options=_inception_v2,
)
def inception_v2(**kwargs) -> keras.Model:
    """Inception v2 (BN-Inception): batch norm everywhere, 5x5 as two 3x3, stride-2 modules.

    GoogLeNet with batch normalization after every convolution, the 5x5 branches
    replaced by two 3x3 convolutions, and stride-2 modules (3c, 4e) instead of max
    pooling between stages.

    Batch normalization has a scale and an offset (the paper's gamma and beta),
    epsilon 1e-3; convolutions have no bias. The first convolution is a plain 7x7/2
    convolution as in the paper's table (TF-Slim makes it separable).

    Family options:
        dropout: dropout before the classifier (default 0: the BN paper removes it).
    """
    return _inception_v2(**kwargs)


# ============================================================================ Inception v3
# The average-pooling branches of the 35x35, 17x17 and 8x8 modules: Keras' "same" pooling
# (keras.applications) divides by the pixels inside the image; torchvision's
# `F.avg_pool2d(x, 3, stride=1, padding=1)` counts the zero padding (count_include_pad).
def _avg_pool(count_include_pad: bool) -> dict:
    return pool("avg", 3, count_include_pad=count_include_pad)


def _v3_35x35(pool_proj: int, include_pad: bool = False) -> list:  # Figure 5 (as in KA)
    return [
        [conv(64, 1)],
        [conv(48, 1), conv(64, 5)],
        [conv(64, 1), conv(96, 3), conv(96, 3)],
        [_avg_pool(include_pad), conv(pool_proj, 1)],
    ]


def _v3_reduce_35x35() -> list:  # Figure 10: 35x35 -> 17x17
    return [
        [conv(384, 3, 2, "valid")],
        [conv(64, 1), conv(96, 3), conv(96, 3, 2, "valid")],
        [pool("max", 3, 2, "valid")],
    ]


def _v3_17x17(c7: int, include_pad: bool = False) -> list:  # Figure 6: 1x7 and 7x1
    return [
        [conv(192, 1)],
        [conv(c7, 1), conv(c7, (1, 7)), conv(192, (7, 1))],
        [conv(c7, 1), conv(c7, (7, 1)), conv(c7, (1, 7)), conv(c7, (7, 1)), conv(192, (1, 7))],
        [_avg_pool(include_pad), conv(192, 1)],
    ]


def _v3_reduce_17x17() -> list:  # 17x17 -> 8x8
    return [
        [conv(192, 1), conv(320, 3, 2, "valid")],
        [conv(192, 1), conv(192, (1, 7)), conv(192, (7, 1)), conv(192, 3, 2, "valid")],
        [pool("max", 3, 2, "valid")],
    ]


def _v3_8x8(include_pad: bool = False) -> list:  # Figure 7: expanded filter banks
    return [
        [conv(320, 1)],
        [conv(384, 1), concat([conv(384, (1, 3))], [conv(384, (3, 1))])],
        [conv(448, 1), conv(384, 3), concat([conv(384, (1, 3))], [conv(384, (3, 1))])],
        [_avg_pool(include_pad), conv(192, 1)],
    ]


# keras.applications' stem (name -> op) and modules; the names are TF-Slim's for the stem
# (keras.applications leaves them unnamed) and keras.applications' for the modules.
V3_STEM: tuple = (
    ("conv_1a_3x3", conv(32, 3, 2, "valid")),
    ("conv_2a_3x3", conv(32, 3, 1, "valid")),
    ("conv_2b_3x3", conv(64, 3)),
    ("pool_3a_3x3", pool("max", 3, 2, "valid")),
    ("conv_3b_1x1", conv(80, 1, 1, "valid")),
    ("conv_4a_3x3", conv(192, 3, 1, "valid")),
    ("pool_5a_3x3", pool("max", 3, 2, "valid")),
)


def v3_modules(count_include_pad: bool = False) -> tuple:
    """Inception v3's modules, `(name, branches)`: keras.applications' (Keras' average
    pooling), or with `count_include_pad=True` torchvision's (its average pooling counts
    the zero padding); the layers and their shapes are the same."""
    pad = count_include_pad
    return (
        ("mixed0", _v3_35x35(32, pad)),
        ("mixed1", _v3_35x35(64, pad)),
        ("mixed2", _v3_35x35(64, pad)),
        ("mixed3", _v3_reduce_35x35()),
        ("mixed4", _v3_17x17(128, pad)),
        ("mixed5", _v3_17x17(160, pad)),
        ("mixed6", _v3_17x17(160, pad)),
        ("mixed7", _v3_17x17(192, pad)),
        ("mixed8", _v3_reduce_17x17()),
        ("mixed9", _v3_8x8(pad)),
        ("mixed10", _v3_8x8(pad)),
    )


V3_MODULES: tuple = v3_modules()
V3_AUX_AFTER = "mixed7"  # the last 17x17 module
V3_AUX_HEAD = "aux"  # the auxiliary classifier's output key and layer name
# keras.applications' batch normalization: no scale, epsilon 1e-3; convolutions without bias.
_V3_BN = dict(batch_norm=True, bn_scale=False, bn_epsilon=1e-3)
# torchvision's BasicConv2d: convolution without bias, batch normalization with a scale
# (eps 0.001), ReLU.
_V3_TORCHVISION_BN = dict(batch_norm=True, bn_scale=True, bn_epsilon=1e-3)
V3_LAYOUTS = ("keras", "torchvision")
# torchvision's Inception3 defaults to dropout 0.5 before its classifier.
_V3_DEFAULT_DROPOUT = {"keras": 0.0, "torchvision": 0.5}

_KA = "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
# keras.applications' published files (same URLs and hashes), in Keras' legacy h5 format.
INCEPTION_V3_IMAGENET = PretrainedWeights(
    top_url=_KA + "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
    top_hash="9a0d58056eeedaa3f26cb7ebd46da564",
    notop_url=_KA + "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
    notop_hash="bcbd6486424b2319ff4ef7d526e38f63",
    input_shape=(299, 299, 3),
    preprocessing="tf",
    top1=77.9,
    top1_source=KERAS_TOP1_SOURCE,
)


def _v3_grid(size: int, until: str | None = None) -> int | None:
    """Spatial size after the stem and the modules (up to and including `until`)."""
    current: int | None = size
    for _name, op in V3_STEM:
        window = op["kernel"] if op["op"] == "conv" else op["size"]
        current = output_size(current, window[0], op["strides"][0], op["padding"])
        if current < 1:
            return None
    for name, branches in V3_MODULES:
        current = spec_output_size(branches, current)
        if current is None or name == until:
            return current
    return current


def _v3_aux_pooled(size: int) -> int | None:
    grid = _v3_grid(size, until=V3_AUX_AFTER)
    pooled = None if grid is None else output_size(grid, 5, 3, "valid")
    return pooled if pooled is not None and pooled >= 1 else None


V3_MIN_INPUT_SIZE = next(n for n in range(1, 1024) if _v3_grid(n))  # 75, as keras.applications
V3_AUX_MIN_INPUT_SIZE = next(n for n in range(1, 1024) if _v3_aux_pooled(n))
# torchvision's auxiliary head keeps its 5x5 convolution (its weights' shape): it needs a
# 5x5 pooled grid, a 17x17 mixed7, which takes inputs of 299x299 and up.
V3_TORCHVISION_AUX_MIN_INPUT_SIZE = next(
    n for n in range(1, 1024) if (_v3_aux_pooled(n) or 0) >= 5
)


def _check_v3_layout(layout: str, weights, aux_logits: bool, common: dict) -> None:
    """Refuse weights of the other layout, and torchvision's aux head below 299x299,
    with messages that say what to pass."""
    check_choice("layout", layout, V3_LAYOUTS)
    published = get_spec("inception_v3").weights
    if layout == "torchvision" and weights == "imagenet" and "imagenet" in published:
        raise ValueError(
            "`weights='imagenet'` are keras.applications' weights, for layout='keras' (batch "
            "normalization without scale, Keras' average pooling); received "
            "layout='torchvision'. Pass inception_v3(layout='keras', weights='imagenet'), or "
            "inception_v3(layout='torchvision', weights='torchvision') for torchvision's."
        )
    torchvision_file = weights == "torchvision" and "torchvision" in published
    if layout == "keras" and (torchvision_file or is_checkpoint(weights)):
        kind = "torchvision's checkpoint" if torchvision_file else "a PyTorch checkpoint"
        raise ValueError(
            f"`weights={weights!r}` is {kind}: it loads into torchvision's Inception v3, "
            "layout='torchvision' (batch normalization with scale, average pooling that "
            "counts the padding); received layout='keras'. Pass "
            "inception_v3(layout='torchvision', weights=...)."
        )
    shape = common.get("input_shape")
    if (
        layout == "torchvision" and aux_logits and common.get("fit_input") is None
        and isinstance(shape, (tuple, list)) and len(shape) == 3
    ):
        small = [d for d in shape[:2] if isinstance(d, int) and 0 < d < V3_TORCHVISION_AUX_MIN_INPUT_SIZE]
        if small:
            size = V3_TORCHVISION_AUX_MIN_INPUT_SIZE
            raise InputTooSmallError(
                f"`input_shape` {tuple(shape)!r} is too small for torchvision's auxiliary "
                f"classifier (layout='torchvision', aux_logits=True): its 5x5 convolution "
                f"needs the 17x17 mixed7 grid of inputs of at least {size}x{size}. Pass "
                f"aux_logits=False (the network alone takes {V3_MIN_INPUT_SIZE}x"
                f"{V3_MIN_INPUT_SIZE} and up), a larger input_shape, or fit_input='pad' / "
                "'resize'.",
                size,
            )


def _inception_v3(
    aux_logits: bool = False,
    dropout: float | None = None,
    layout: str = "keras",
    **common,
) -> keras.Model:
    check_bool("aux_logits", aux_logits)
    _check_v3_layout(layout, common.get("weights"), aux_logits, common)
    dropout = check_rate("dropout", _V3_DEFAULT_DROPOUT[layout] if dropout is None else dropout)
    if aux_logits and common.get("include_top", True) is False:
        raise ValueError(
            "`aux_logits=True` needs include_top=True: the auxiliary classifier is a "
            "classification head. Pass aux_logits=False with include_top=False."
        )
    torchvision = layout == "torchvision"
    bn = _V3_TORCHVISION_BN if torchvision else _V3_BN
    modules = v3_modules(count_include_pad=torchvision)
    if aux_logits:
        min_size = V3_TORCHVISION_AUX_MIN_INPUT_SIZE if torchvision else V3_AUX_MIN_INPUT_SIZE
    else:
        min_size = V3_MIN_INPUT_SIZE
    layers = keras.layers
    taps = {}

    def features(x):
        for name, op in V3_STEM:
            if op["op"] == "pool":
                x = layers.MaxPooling2D(
                    tuple(op["size"]), strides=tuple(op["strides"]), padding=op["padding"], name=name
                )(x)
            else:
                x = conv_unit(
                    x, op["filters"], op["kernel"], op["strides"], op["padding"], name=name, **bn
                )
        for name, branches in modules:
            x = InceptionBlock(branches, **bn, name=name)(x)
            taps[name] = x
        return x

    def top(x, num_classes, classifier_activation):
        logits = pooled_classifier(
            x, num_classes, classifier_activation, dropout_rate=dropout,
            name=main_output_name(aux_logits),
        )
        if not aux_logits:
            return logits
        aux = inception_v3_aux_head(
            taps[V3_AUX_AFTER], num_classes, classifier_activation, name=V3_AUX_HEAD, **bn
        )
        return with_aux_heads(logits, {V3_AUX_HEAD: aux})

    spec = get_spec("inception_v3")
    return build_model(
        spec.name,
        features,
        top,
        default_input_shape=spec.default_input_shape,
        min_input_size=min_size,
        published_weights=spec.weights,
        fixed_size_top=False,
        weights_loader=None if torchvision else _load_weights_file,
        checkpoint_keys=torchvision_keys if torchvision else None,
        **common,
    )


@register_model(
    "inception",
    default_input_shape=(299, 299, 3),
    min_input_size=V3_MIN_INPUT_SIZE,
    weights={"imagenet": INCEPTION_V3_IMAGENET, "torchvision": torchvision_weights("inception_v3", layout="torchvision")},
    reference=(
        "Szegedy et al. 2016; keras.applications.InceptionV3 (23,851,784 parameters); "
        "torchvision inception_v3 (layout='torchvision')"
    ),
    published=Published(77.9, "ImageNet", KERAS_IO_TOP1),
    options=_inception_v3,
)
def inception_v3(**kwargs) -> keras.Model:
    """Inception v3: factorized convolutions, 1x7/7x1 modules (= keras.applications).

    A factorized stem, 3 modules at 35x35, 5 at 17x17 (7x7 factorized into 1x7 and 7x1),
    2 at 8x8 with expanded filter banks, grid reductions by parallel stride-2
    convolution and pooling.

    Weight-compatible with `keras.applications.InceptionV3` (the same layers, batch
    normalization without scale): `weights="imagenet"` loads keras.applications' file,
    and `keras_applications_layers(model)` pairs our layers with theirs. Inputs are
    expected in [-1, 1] (`keras.applications.inception_v3.preprocess_input`). With
    `layout="torchvision"` it is torchvision's `inception_v3` instead, and
    `weights="torchvision"` loads torchvision's IMAGENET1K_V1 file. Train with label
    smoothing 0.1 as in the paper:
    `keras.losses.CategoricalCrossentropy(label_smoothing=0.1)`.

    Family options:
        aux_logits: add the paper's BN auxiliary classifier on the last 17x17 grid
            (mixed7): 5x5/3 average pooling, 1x1 conv 128, a 5x5 conv 768 acting as
            the batch-normalized fully connected layer (its kernel shrinks to the pooled
            grid below 299x299, as in TF-Slim), FC classes. The model then has the
            outputs `{"logits", "aux"}`, also the names of its output layers (see
            `keras_cnns.models.auxiliary`; the main classifier is `logits` instead of
            `predictions`, and still loads keras.applications' weights); needs
            include_top=True and inputs of at least 107x107 (299x299 in the
            torchvision layout, whose 5x5 convolution keeps its size). With
            weights="imagenet" the aux head starts untrained (keras.applications has
            none); weights="torchvision" loads torchvision's.
        dropout: dropout before the classifier (default None: 0 in the keras layout,
            as keras.applications; 0.5 in the torchvision layout, as torchvision).
        layout: `"keras"` (default): keras.applications' InceptionV3 (batch
            normalization without scale, Keras' "same" average pooling, which leaves
            the padding out of its mean), for `weights="imagenet"` and
            keras.applications' files. `"torchvision"`: torchvision's `inception_v3`
            (its BasicConv2d: convolution without bias, batch normalization with scale,
            eps 0.001, ReLU; the modules' 3x3/1 average pooling counts its zero padding,
            `count_include_pad=True`; dropout 0.5; with aux_logits its InceptionAux),
            27,161,264 trainable parameters with the aux head. It loads
            `weights="torchvision"` (torchvision's IMAGENET1K_V1 file: 299x299 images,
            "torch" preprocessing followed by torchvision's `transform_input`, which is
            part of the weights' preprocessing, not of the network) and torchvision
            `.pth` / `.safetensors` state dicts by path, with any num_classes (fresh
            classifiers, named in one log line) and include_top=False; the layer names
            map to torchvision's keys through `torchvision_keys(model)`. Each layout
            refuses the other's weights with a message saying what to pass.
    """
    return _inception_v3(**kwargs)


# ------------------------------------------------------------- torchvision checkpoints
# torchvision's names of the stem's BasicConv2d modules, by ours.
_TORCHVISION_STEM = {
    "conv_1a_3x3": "Conv2d_1a_3x3",
    "conv_2a_3x3": "Conv2d_2a_3x3",
    "conv_2b_3x3": "Conv2d_2b_3x3",
    "conv_3b_1x1": "Conv2d_3b_1x1",
    "conv_4a_3x3": "Conv2d_4a_3x3",
}
# torchvision's BasicConv2d modules of each module class, in the order of the
# convolutions of our branch specification (`InceptionBlock.iter_ops`: branch by branch,
# a concat's sub-branches after the op before them).
_TORCHVISION_A = (  # InceptionA: mixed0..2
    "branch1x1", "branch5x5_1", "branch5x5_2",
    "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3", "branch_pool",
)
_TORCHVISION_B = ("branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3")
_TORCHVISION_C = (  # InceptionC: mixed4..7
    "branch1x1", "branch7x7_1", "branch7x7_2", "branch7x7_3",
    "branch7x7dbl_1", "branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5",
    "branch_pool",
)
_TORCHVISION_D = (
    "branch3x3_1", "branch3x3_2", "branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3",
    "branch7x7x3_4",
)
_TORCHVISION_E = (  # InceptionE: mixed9, mixed10
    "branch1x1", "branch3x3_1", "branch3x3_2a", "branch3x3_2b",
    "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3a", "branch3x3dbl_3b", "branch_pool",
)
# Our module -> (torchvision's module, its BasicConv2d modules in our order).
_TORCHVISION_MODULES = {
    "mixed0": ("Mixed_5b", _TORCHVISION_A),
    "mixed1": ("Mixed_5c", _TORCHVISION_A),
    "mixed2": ("Mixed_5d", _TORCHVISION_A),
    "mixed3": ("Mixed_6a", _TORCHVISION_B),
    "mixed4": ("Mixed_6b", _TORCHVISION_C),
    "mixed5": ("Mixed_6c", _TORCHVISION_C),
    "mixed6": ("Mixed_6d", _TORCHVISION_C),
    "mixed7": ("Mixed_6e", _TORCHVISION_C),
    "mixed8": ("Mixed_7a", _TORCHVISION_D),
    "mixed9": ("Mixed_7b", _TORCHVISION_E),
    "mixed10": ("Mixed_7c", _TORCHVISION_E),
}
# The auxiliary head (`heads.inception_v3_aux_head`) -> torchvision's InceptionAux.
_TORCHVISION_AUX = {
    "aux_conv1": "AuxLogits.conv0.conv",
    "aux_conv1_bn": "AuxLogits.conv0.bn",
    "aux_conv2": "AuxLogits.conv1.conv",
    "aux_conv2_bn": "AuxLogits.conv1.bn",
    V3_AUX_HEAD: "AuxLogits.fc",
}


def torchvision_keys(model: keras.Model) -> CheckpointMap:
    """The map from an `inception_v3(layout="torchvision")` model's layers to
    torchvision's `state_dict` keys, for `weights="torchvision"` and `.pth` /
    `.safetensors` files:

    - the stem `conv_1a_3x3` / `conv_1a_3x3_bn` .. `conv_4a_3x3` -> `Conv2d_1a_3x3.conv` /
      `.bn` .. `Conv2d_4a_3x3`;
    - the modules `mixed0`..`mixed10` -> `Mixed_5b`, `Mixed_5c`, `Mixed_5d`, `Mixed_6a`,
      `Mixed_6b`..`Mixed_6e`, `Mixed_7a`..`Mixed_7c`; the convolutions and batch
      normalizations inside a block by their paths (`"mixed0/branch2_2_conv"` ->
      `Mixed_5b.branch5x5_2.conv`, `"mixed9/branch2_2a_1_bn"` ->
      `Mixed_7b.branch3x3_2a.bn`);
    - the auxiliary head `aux_conv1`, `aux_conv2` (and their `_bn`), `aux` ->
      `AuxLogits.conv0`, `AuxLogits.conv1`, `AuxLogits.fc`;
    - the classifier (`predictions`, or `logits` next to the aux head) -> `fc`.

    The classifiers are the heads (fresh for another num_classes); `fc` and `AuxLogits`
    are the top, unused without them (include_top=False, aux_logits=False).
    torchvision's `transform_input` is not in the network: it belongs to the
    preprocessing of its published weights.
    """
    names = {layer.name for layer in model.layers}
    layers = {}
    for ours, theirs in _TORCHVISION_STEM.items():
        layers[ours] = f"{theirs}.conv"
        layers[f"{ours}_bn"] = f"{theirs}.bn"
    for name, (module, convs) in _TORCHVISION_MODULES.items():
        if name not in names:
            continue
        units = [sub for _path, op, sub in model.get_layer(name).iter_ops() if op["op"] == "conv"]
        if len(units) != len(convs) or any(len(unit) != 2 for unit in units):
            raise ValueError(
                f"Module {name!r} of {model.name!r} is not torchvision's {module}: it has "
                f"{len(units)} convolution units, torchvision's {len(convs)} convolutions "
                "with batch normalization. Build inception_v3(layout='torchvision')."
            )
        for (conv_layer, bn_layer), theirs in zip(units, convs):
            layers[f"{name}/{conv_layer.name}"] = f"{module}.{theirs}.conv"
            layers[f"{name}/{bn_layer.name}"] = f"{module}.{theirs}.bn"
    layers.update({ours: theirs for ours, theirs in _TORCHVISION_AUX.items() if ours in names})
    heads = [name for name in (CLASSIFIER, MAIN_OUTPUT, V3_AUX_HEAD) if name in names]
    layers.update({name: "fc" for name in (CLASSIFIER, MAIN_OUTPUT) if name in names})
    return CheckpointMap(layers, heads=tuple(heads), top=("fc", "AuxLogits"))


# ------------------------------------------------- keras.applications weight compatibility
def _load_weights_file(model: keras.Model, path: str) -> None:
    """`build_model`'s loader: keras.applications' legacy h5 files (the published
    `"imagenet"` ones, or any such file by path) by position, since their layers are not
    ours; Keras' own formats by `model.load_weights`."""
    if _is_legacy_h5(path):
        load_keras_applications_weights(model, path)
    else:
        model.load_weights(path)


def _is_legacy_h5(path: str) -> bool:
    if path.endswith(".weights.h5") or not path.endswith((".h5", ".hdf5")):
        return False
    with h5py.File(path, "r") as f:
        return "layer_names" in f.attrs or "model_weights" in f


def _functional_depths(block: InceptionBlock) -> list[tuple[int, tuple, keras.layers.Layer]]:
    """(depth, path, layer) for the weighted sub-layers of a block, where depth counts the
    layers between it and the block's output in keras.applications' flat graph (conv,
    batch norm and activation are three layers; a pooling and a nested concat one)."""

    def length(branch):
        total = 0
        for op in branch:
            if op["op"] == "concat":
                total += 1 + max(length(sub) for sub in op["branches"])
            else:
                total += 3 if op["op"] == "conv" else 1
        return total

    def depth_after(branches, path):
        # layers after the op at `path` up to the block's output
        b, k, *rest = path
        branch = branches[b]
        tail = length(branch[k + 1:])
        if not rest:
            return tail
        return depth_after(branch[k]["branches"], tuple(rest)) + 1 + tail

    spec = block.branches
    result = []
    for path, op, sublayers in block.iter_ops():
        if op["op"] != "conv":
            continue
        after = depth_after(spec, path)
        conv_layer, bn_layer = sublayers
        result.append((after + 2, path, conv_layer))  # conv -> bn -> activation -> ...
        result.append((after + 1, path, bn_layer))
    return result


def keras_applications_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """The weighted layers of an `inception_v3` model in keras.applications' order.

    keras.applications' InceptionV3 is a flat functional graph whose `layers` Keras
    orders by depth (longest path to the output), ties broken by traversal order; its
    published h5 files store the weights in that order. Within each module this puts
    our block's convolutions and batch normalizations in the same order, so
    `zip(keras_applications_layers(ours), [l for l in ka.layers if l.weights])` pairs
    each layer with its keras.applications counterpart. The auxiliary head (not in
    keras.applications) is left out.
    """
    ordered = []
    for name, op in V3_STEM:
        if op["op"] == "conv":
            ordered += [model.get_layer(name), model.get_layer(f"{name}_bn")]
    for name, _branches in V3_MODULES:
        block = model.get_layer(name)
        by_depth = sorted(_functional_depths(block), key=lambda item: (-item[0], item[1]))
        ordered += [layer for _depth, _path, layer in by_depth]
    # The classifier: `predictions`, or `logits` next to the auxiliary head.
    names = {layer.name for layer in model.layers}
    ordered += [model.get_layer(name) for name in (CLASSIFIER, MAIN_OUTPUT) if name in names]
    return ordered


def load_keras_applications_weights(model: keras.Model, path: str) -> None:
    """Load a keras.applications InceptionV3 weight file (legacy h5) into our model.

    The file lists its layers in keras.applications' order; each is assigned to the
    layer `keras_applications_layers` puts at the same position, after checking that
    the number of layers and every weight shape agree.
    """
    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
        stored = []
        for raw in group.attrs["layer_names"]:
            layer_name = raw.decode("utf8") if isinstance(raw, bytes) else str(raw)
            weight_names = [
                w.decode("utf8") if isinstance(w, bytes) else str(w)
                for w in group[layer_name].attrs["weight_names"]
            ]
            if weight_names:
                stored.append((layer_name, [group[layer_name][w][()] for w in weight_names]))
    targets = keras_applications_layers(model)
    if len(stored) != len(targets):
        raise ValueError(
            f"`weights`: the file {path!r} holds {len(stored)} layers with weights; this "
            f"model needs {len(targets)} (a file with the classifier needs include_top=True, "
            "one without it include_top=False)."
        )
    for (stored_name, values), layer in zip(stored, targets):
        expected = [tuple(w.shape) for w in layer.weights]
        received = [tuple(v.shape) for v in values]
        if expected != received:
            raise ValueError(
                f"`weights`: layer {stored_name!r} of {path!r} has weight shapes {received}; "
                f"our {layer.name!r} needs {expected} (check num_classes)."
            )
        layer.set_weights(values)
