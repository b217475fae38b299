"""ResNet (He et al. 2015, "Deep residual learning for image recognition"; He et al. 2016,
"Identity mappings in deep residual networks"; Huang et al. 2016, "Deep networks with
stochastic depth").

The ImageNet networks of Table 1 (18 to 152 layers) and the CIFAR-10 networks of section
4.2 (6n+2 layers) are rows of two small tables read by one function. Three layouts of the
ImageNet networks are kept apart, because each one has its own published weights and
parameter count:

- `"v1.5"` (default): torchvision's ResNets: no convolution bias, the bottleneck's stride
  on its 3x3 convolution; torchvision's ImageNet weights load with
  `weights="torchvision"` (ResNet-18 to 152), or from a `.pth`/`.safetensors` file.
- `"keras"`: keras.applications' ResNet50/101/152: every convolution has a bias, the
  stride is on the bottleneck's first 1x1 convolution as in the paper; its ImageNet
  weights load with `weights="imagenet"`.
- `"keras_v2"`: keras.applications' ResNet50V2/101V2/152V2, pre-activation blocks (BN-ReLU
  before each convolution) with the stride on each stage's last block; used by the
  `resnet*_v2` builders.

The ImageNet networks are wired one Keras layer per convolution / normalization, with
keras.applications' names (`conv1_conv`, `conv2_block1_1_conv`, ..., `avg_pool`,
`predictions`: the top is `keras_cnns.layers.heads.pooled_classifier`) in every layout,
because keras.applications' weight files are loaded layer by layer in graph
order. The CIFAR networks (no published weights, up to 1202 layers) use one
`ResidualBlock` layer per block (`conv2_block1`, ...): a flat ResNet-1202 would be a chain
of about 3,600 layers, deeper than Keras' recursive graph walk can follow within
Python's default recursion limit.
"""

from __future__ import annotations

import dataclasses
import re

import keras

from keras_cnns.layers.batch_norm import BatchNormalization
from keras_cnns.layers.residual import ResidualBlock, residual_block
from keras_cnns.layers.stochastic_depth import linear_survival_probabilities
from keras_cnns.layers.heads import CLASSIFIER, pooled_classifier
from keras_cnns.models.common import build_model
from keras_cnns.models.registry import (
    KERAS_IO_TOP1,
    TORCHVISION_ACC1,
    PretrainedWeights,
    Published,
    get_spec,
    list_models,
    register_model,
)
from keras_cnns.validation import check_bool, check_choice, check_int, check_survival_probability
from keras_cnns.weights import (
    KERAS_TOP1_SOURCE,
    CheckpointMap,
    is_checkpoint,
    torchvision_weights,
)


@dataclasses.dataclass(frozen=True)
class Layout:
    """How a ResNet layout builds its blocks (see the module docstring)."""

    preactivation: bool
    conv_bias: str  # in the blocks: "none", "all", "unnormalized"
    stem_bias: bool
    stride_in_1x1: bool
    stride_at_stage_end: bool  # keras.applications' ResNetV2 strides a stage's last block
    epsilon: float


LAYOUTS = {
    "v1.5": Layout(False, "none", False, False, False, 1e-5),
    "keras": Layout(False, "all", True, True, False, 1.001e-5),
    "keras_v2": Layout(True, "unnormalized", True, False, True, 1.001e-5),
}
CIFAR_LAYOUTS = {
    False: Layout(False, "none", False, False, False, 1e-5),
    True: Layout(True, "none", False, False, False, 1e-5),
}

# Table 1 of He et al. 2015: depth -> (bottleneck blocks, blocks per stage conv2..conv5).
IMAGENET_DEPTHS = {
    18: (False, (2, 2, 2, 2)),
    34: (False, (3, 4, 6, 3)),
    50: (True, (3, 4, 6, 3)),
    101: (True, (3, 4, 23, 3)),
    152: (True, (3, 8, 36, 3)),
}
IMAGENET_WIDTHS = (64, 128, 256, 512)
CIFAR_WIDTHS = (16, 32, 64)  # section 4.2: 6n+2 layers, n basic blocks per stage
CIFAR_DEPTHS = (20, 32, 44, 56, 110, 1202)
# He et al. 2015 sec. 3.3: (A) zero-padded identity shortcuts when channels grow,
# (B) projections when channels grow, identities otherwise, (C) projections everywhere.
SHORTCUT_OPTIONS = ("A", "B", "C")

# An input of the total stride gives the last stage a 1x1 map; every convolution is padded,
# so smaller inputs would still run, with later stages seeing nothing but padding.
IMAGENET_MIN_SIZE = 32
CIFAR_MIN_SIZE = 4

# XLA's compile time of a training step grows faster than linearly with the number of
# residual blocks (JAX on CPU, 2 cores: 54 blocks 13 s, 150 blocks 80 s, 600 blocks
# (ResNet-1202) over 10 minutes and 18 GB without finishing, while the step itself runs in
# about 25 s un-compiled). Deeper CIFAR networks therefore opt out of the automatic XLA
# compilation of `compile(jit_compile="auto")`; `jit_compile=True` still forces it.
XLA_MAX_BLOCKS = 200

_KA = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"


def _ka_weights(stem: str, top_hash: str, notop_hash: str, top1: float) -> PretrainedWeights:
    """keras.applications' published files (same URLs and hashes as keras.applications),
    with its preprocessing: "caffe" for ResNet v1, "tf" for ResNet v2."""
    return PretrainedWeights(
        top_url=f"{_KA}{stem}_weights_tf_dim_ordering_tf_kernels.h5",
        top_hash=top_hash,
        notop_url=f"{_KA}{stem}_weights_tf_dim_ordering_tf_kernels_notop.h5",
        notop_hash=notop_hash,
        preprocessing="tf" if stem.endswith("v2") else "caffe",
        top1=top1,
        top1_source=KERAS_TOP1_SOURCE,
        build_options=() if stem.endswith("v2") else (("layout", "keras"),),
    )


KA_WEIGHTS = {
    "resnet50": _ka_weights(
        "resnet50", "2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626", 74.9
    ),
    "resnet101": _ka_weights(
        "resnet101", "f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21", 76.4
    ),
    "resnet152": _ka_weights(
        "resnet152", "100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c", 76.6
    ),
    "resnet50_v2": _ka_weights(
        "resnet50v2", "3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917", 76.0
    ),
    "resnet101_v2": _ka_weights(
        "resnet101v2", "6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5", 77.2
    ),
    "resnet152_v2": _ka_weights(
        "resnet152v2", "a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33", 78.0
    ),
}
# The layout each published file was trained with.
_WEIGHTS_LAYOUT = {"resnet50": "keras", "resnet101": "keras", "resnet152": "keras"}


def _published(name: str) -> dict[str, PretrainedWeights]:
    """The weights `name` publishes: torchvision's IMAGENET1K_V1 file (our default
    layout "v1.5"), and keras.applications' file where it has one."""
    weights = {"torchvision": torchvision_weights(name)}
    if name in KA_WEIGHTS:
        weights["imagenet"] = KA_WEIGHTS[name]
    return weights


# ---------------------------------------------------------------------- builders
def resnet_cifar(depth: int = 20, **kwargs) -> keras.Model:
    """A CIFAR-10 ResNet of any depth 6n+2 (He et al. 2015, section 4.2): a 3x3
    convolution with 16 filters, three stages of n basic blocks with 16, 32 and 64
    filters (the 2nd and 3rd start with stride 2), global average pooling and the
    classifier. `resnet_cifar(110)` is `resnet110`; other depths (e.g. 26) work too.

    Takes the common arguments and the family options of `resnet20`.
    """
    check_int("depth", depth, minimum=8)
    if (depth - 2) % 6:
        raise ValueError(
            f"`depth` must be of the form 6n+2 with n >= 1 (20, 32, 44, 56, 110, 1202, "
            f"...); received {depth}."
        )
    return _resnet_cifar(depth, **kwargs)


def _resnet(
    model_name: str,
    depth: int,
    layout: str = "v1.5",
    shortcut: str = "B",
    stochastic_depth: float | None = None,
    zero_init_residual: bool = False,
    **common,
) -> keras.Model:
    check_choice("layout", layout, LAYOUTS)
    check_choice("shortcut", shortcut, SHORTCUT_OPTIONS)
    published = _WEIGHTS_LAYOUT.get(model_name, layout)
    if (
        model_name in KA_WEIGHTS
        and common.get("weights") == "imagenet"
        and (layout != published or shortcut != "B")
    ):
        raise ValueError(
            f"`weights='imagenet'` are keras.applications' weights for layout={published!r} "
            f"and shortcut='B'; received layout={layout!r}, shortcut={shortcut!r}. Pass "
            f"{model_name}(layout={published!r}, weights='imagenet')."
        )
    weights = common.get("weights")
    published_torchvision = weights == "torchvision" and weights in get_spec(model_name).weights
    if (is_checkpoint(weights) or published_torchvision) and (
        layout != TORCHVISION_LAYOUT or shortcut != "B"
    ):
        kind = "torchvision's checkpoint" if published_torchvision else "a PyTorch checkpoint"
        raise ValueError(
            f"`weights={common['weights']!r}` is {kind}: it loads "
            f"into torchvision's ResNet, layout={TORCHVISION_LAYOUT!r} with shortcut='B'; "
            f"received layout={layout!r}, shortcut={shortcut!r}. Pass "
            f"resnet{depth}(layout={TORCHVISION_LAYOUT!r}, shortcut='B', weights=...)."
        )
    bottleneck, stage_blocks = IMAGENET_DEPTHS[depth]
    layout_spec = LAYOUTS[layout]
    spec = get_spec(model_name)
    return _build(
        model_name,
        build_args=spec.build_args(),
        stem=_imagenet_stem(layout_spec),
        bottleneck=bottleneck,
        stage_blocks=stage_blocks,
        widths=IMAGENET_WIDTHS,
        layout=layout_spec,
        shortcut=shortcut,
        stochastic_depth=stochastic_depth,
        zero_init_residual=zero_init_residual,
        common=common,
        checkpoint_keys=torchvision_keys,
    )


def _resnet_cifar(
    depth: int,
    shortcut: str = "A",
    preactivation: bool = False,
    stochastic_depth: float | None = None,
    zero_init_residual: bool = False,
    **common,
) -> keras.Model:
    check_choice("shortcut", shortcut, SHORTCUT_OPTIONS)
    check_bool("preactivation", preactivation)
    name = f"resnet{depth}"
    if name in list_models():
        build_args = get_spec(name).build_args()
    else:  # any other depth 6n+2 (resnet_cifar): the CIFAR input, no published weights
        build_args = dict(default_input_shape=(32, 32, 3), min_input_size=CIFAR_MIN_SIZE)
    layout = CIFAR_LAYOUTS[preactivation]
    blocks = (depth - 2) // 6
    model = _build(
        name,
        build_args=build_args,
        stem=_cifar_stem(layout),
        bottleneck=False,
        stage_blocks=(blocks,) * 3,
        widths=CIFAR_WIDTHS,
        layout=layout,
        shortcut=shortcut,
        stochastic_depth=stochastic_depth,
        zero_init_residual=zero_init_residual,
        common=common,
        blocks_as_layers=True,
    )
    if 3 * blocks > XLA_MAX_BLOCKS:
        # `compile(jit_compile="auto")` asks every layer; this keeps it off XLA.
        model.supports_jit = False
    return model


def _build(
    model_name,
    *,
    build_args,
    stem,
    bottleneck,
    stage_blocks,
    widths,
    layout: Layout,
    shortcut,
    stochastic_depth,
    zero_init_residual,
    common,
    blocks_as_layers=False,
    checkpoint_keys=None,
) -> keras.Model:
    num_blocks = sum(stage_blocks)
    if stochastic_depth is None:
        survival = [1.0] * num_blocks
    else:
        final = check_survival_probability("stochastic_depth", stochastic_depth)
        survival = linear_survival_probabilities(num_blocks, final)
    expansion = 4 if bottleneck else 1
    layers = keras.layers

    def features(x):
        x = stem(x)
        channels, index = x.shape[-1], 0
        for stage, (blocks, width) in enumerate(zip(stage_blocks, widths)):
            last_stage = stage == len(stage_blocks) - 1
            for block in range(blocks):
                if layout.stride_at_stage_end:
                    strides = 2 if block == blocks - 1 and not last_stage else 1
                else:
                    strides = 2 if block == 0 and stage > 0 else 1
                out_channels = width * expansion
                grows = out_channels != channels
                projection = shortcut == "C" or (shortcut == "B" and grows)
                settings = dict(
                    filters=width,
                    bottleneck=bottleneck,
                    strides=strides,
                    preactivation=layout.preactivation,
                    shortcut="projection" if projection else "identity",
                    stride_in_1x1=layout.stride_in_1x1,
                    conv_bias=layout.conv_bias,
                    epsilon=layout.epsilon,
                    survival_probability=survival[index],
                    zero_init_residual=zero_init_residual,
                )
                name = f"conv{stage + 2}_block{block + 1}"
                if blocks_as_layers:
                    x = ResidualBlock(name=name, **settings)(x)
                else:
                    x = residual_block(x, name=name, **settings)
                channels, index = out_channels, index + 1
        if layout.preactivation:
            x = BatchNormalization(epsilon=layout.epsilon, name="post_bn")(x)
            x = layers.Activation("relu", name="post_relu")(x)
        return x

    return build_model(
        model_name, features, pooled_classifier, fixed_size_top=False,
        checkpoint_keys=checkpoint_keys, **build_args, **common,
    )


# ---------------------------------------------------------------------- torchvision checkpoints
TORCHVISION_LAYOUT = "v1.5"  # torchvision's ResNets (no conv bias, stride on the 3x3)
_BLOCK_LAYER = re.compile(r"conv(\d)_block(\d+)_(\d)_(conv|bn)")


def torchvision_keys(model: keras.Model) -> CheckpointMap:
    """The map from an ImageNet ResNet's layers (layout "v1.5", shortcut "B") to
    torchvision's `state_dict` keys, for `weights="....pth"` / `".safetensors"`:

    - `conv1_conv`, `conv1_bn` -> `conv1`, `bn1`;
    - `conv{s}_block{b}_{i}_conv` / `_bn` -> `layer{s-1}.{b-1}.conv{i}` / `.bn{i}`;
    - the projection shortcut `conv{s}_block{b}_0_conv` / `_bn` ->
      `layer{s-1}.{b-1}.downsample.0` / `.1`;
    - the classifier `predictions` -> `fc`.
    """
    layers = {}
    for layer in model.layers:
        name = layer.name
        if name in ("conv1_conv", "conv1_bn"):
            layers[name] = {"conv1_conv": "conv1", "conv1_bn": "bn1"}[name]
        elif name == CLASSIFIER:
            layers[name] = "fc"
        elif match := _BLOCK_LAYER.fullmatch(name):
            stage, block, index, kind = match.groups()
            base = f"layer{int(stage) - 1}.{int(block) - 1}"
            if index == "0":
                layers[name] = f"{base}.downsample.{0 if kind == 'conv' else 1}"
            else:
                layers[name] = f"{base}.{kind}{index}"
    return CheckpointMap(layers, heads=(CLASSIFIER,), top=("fc",))


def _imagenet_stem(layout: Layout):
    layers = keras.layers

    def stem(x):
        x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
        x = layers.Conv2D(
            64, 7, strides=2, use_bias=layout.stem_bias, kernel_initializer="he_normal",
            name="conv1_conv",
        )(x)
        if not layout.preactivation:
            x = BatchNormalization(epsilon=layout.epsilon, name="conv1_bn")(x)
            x = layers.Activation("relu", name="conv1_relu")(x)
        x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
        return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)

    return stem


def _cifar_stem(layout: Layout):
    layers = keras.layers

    def stem(x):
        x = layers.Conv2D(
            CIFAR_WIDTHS[0], 3, padding="same", use_bias=False, kernel_initializer="he_normal",
            name="conv1_conv",
        )(x)
        if not layout.preactivation:
            x = BatchNormalization(epsilon=layout.epsilon, name="conv1_bn")(x)
            x = layers.Activation("relu", name="conv1_relu")(x)
        return x

    return stem


def _fixed_layout(kwargs: dict, builder: str) -> dict:
    if "layout" in kwargs:
        raise ValueError(
            f"`{builder}` has the fixed layout 'keras_v2' (keras.applications' ResNetV2); "
            f"received layout={kwargs['layout']!r}. Use {builder[:-3]}(layout=...) for the "
            "other layouts."
        )
    return dict(kwargs, layout="keras_v2")


# ---------------------------------------------------------------------- registry
_STOCHASTIC_DEPTH_DOC = """        stochastic_depth: `None` (default) or the survival probability p_L of the last
            residual block, in (0, 1]: block l of L keeps its branch with probability
            1 - (l / L)(1 - p_L) in training and is scaled by it in inference (Huang et
            al. 2016 use 0.5).
        zero_init_residual: start every residual branch at zero (its last BN scale, or
            last convolution when pre-activated), so that each block begins as the
            identity (Goyal et al. 2017). False by default, except for ResNet-1202.
"""
_IMAGENET_DOC = """
    Family options:
        layout: `"v1.5"` (default; torchvision: no convolution bias, the bottleneck's
            stride on its 3x3; needed for `weights="torchvision"`), `"keras"` (keras.applications' ResNet50/101/152: conv
            bias, stride on the first 1x1; needed for `weights="imagenet"`) or
            `"keras_v2"` (pre-activation, as `resnet50_v2`).
        shortcut: `"B"` (default: projections where channels grow), `"A"` (zero-padded
            identities, no parameters) or `"C"` (projections everywhere).
""" + _STOCHASTIC_DEPTH_DOC
_V2_DOC = """
    Family options:
        shortcut: `"B"` (default), `"A"` or `"C"` (see `resnet50`).
""" + _STOCHASTIC_DEPTH_DOC
_CIFAR_DOC = """
    Family options:
        shortcut: `"A"` (default: zero-padded identity shortcuts, the paper's CIFAR
            choice), `"B"` (projections where channels grow) or `"C"` (projections
            everywhere).
        preactivation: pre-activation blocks (He et al. 2016, "Identity mappings").
""" + _STOCHASTIC_DEPTH_DOC
_IMAGENET = dict(default_input_shape=(224, 224, 3), min_input_size=IMAGENET_MIN_SIZE, options=_resnet)
_V1 = dict(options_doc=_IMAGENET_DOC, **_IMAGENET)
_V2 = dict(options_doc=_V2_DOC, fixed=("layout",), **_IMAGENET)
_CIFAR = dict(
    default_input_shape=(32, 32, 3), min_input_size=CIFAR_MIN_SIZE, options=_resnet_cifar,
    options_doc=_CIFAR_DOC,
)
_TV = "He et al. 2015, Table 1; torchvision"
_KA_REF = "He et al. 2015, Table 1; torchvision; keras.applications (layout='keras')"
_V2_REF = "He et al. 2016 (pre-activation); keras.applications ResNetV2"
_HE = "He et al. 2015, Table 6 (CIFAR-10 error {}%)"


def _tv(top1: float) -> Published:
    return Published(top1, "ImageNet", TORCHVISION_ACC1)


def _keras_io(top1: float) -> Published:
    return Published(top1, "ImageNet", KERAS_IO_TOP1)


def _he(error: float) -> Published:
    return Published.from_error(error, "CIFAR-10", _HE.format(error))


@register_model(
    "resnet", reference=_TV, weights=_published("resnet18"), published=_tv(69.758), **_V1
)
def resnet18(**kwargs) -> keras.Model:
    """ResNet-18: basic blocks, 2-2-2-2 per stage (ImageNet)."""
    return _resnet("resnet18", 18, **kwargs)


@register_model(
    "resnet", reference=_TV, weights=_published("resnet34"), published=_tv(73.314), **_V1
)
def resnet34(**kwargs) -> keras.Model:
    """ResNet-34: basic blocks, 3-4-6-3 per stage (ImageNet)."""
    return _resnet("resnet34", 34, **kwargs)


@register_model(
    "resnet", reference=_KA_REF, weights=_published("resnet50"),
    published=_tv(76.130), **_V1,
)
def resnet50(**kwargs) -> keras.Model:
    """ResNet-50: bottleneck blocks, 3-4-6-3 per stage (ImageNet)."""
    return _resnet("resnet50", 50, **kwargs)


@register_model(
    "resnet", reference=_KA_REF, weights=_published("resnet101"),
    published=_tv(77.374), **_V1,
)
def resnet101(**kwargs) -> keras.Model:
    """ResNet-101: bottleneck blocks, 3-4-23-3 per stage (ImageNet)."""
    return _resnet("resnet101", 101, **kwargs)


@register_model(
    "resnet", reference=_KA_REF, weights=_published("resnet152"),
    published=_tv(78.312), **_V1,
)
def resnet152(**kwargs) -> keras.Model:
    """ResNet-152: bottleneck blocks, 3-8-36-3 per stage (ImageNet)."""
    return _resnet("resnet152", 152, **kwargs)


@register_model(
    "resnet", reference=_V2_REF, weights={"imagenet": KA_WEIGHTS["resnet50_v2"]},
    published=_keras_io(76.0), **_V2,
)
def resnet50_v2(**kwargs) -> keras.Model:
    """ResNet-50 v2: pre-activation bottleneck blocks (keras.applications ResNet50V2)."""
    return _resnet("resnet50_v2", 50, **_fixed_layout(kwargs, "resnet50_v2"))


@register_model(
    "resnet", reference=_V2_REF, weights={"imagenet": KA_WEIGHTS["resnet101_v2"]},
    published=_keras_io(77.2), **_V2,
)
def resnet101_v2(**kwargs) -> keras.Model:
    """ResNet-101 v2: pre-activation bottleneck blocks (keras.applications ResNet101V2)."""
    return _resnet("resnet101_v2", 101, **_fixed_layout(kwargs, "resnet101_v2"))


@register_model(
    "resnet", reference=_V2_REF, weights={"imagenet": KA_WEIGHTS["resnet152_v2"]},
    published=_keras_io(78.0), **_V2,
)
def resnet152_v2(**kwargs) -> keras.Model:
    """ResNet-152 v2: pre-activation bottleneck blocks (keras.applications ResNet152V2)."""
    return _resnet("resnet152_v2", 152, **_fixed_layout(kwargs, "resnet152_v2"))


@register_model("resnet", reference="He et al. 2015, sec. 4.2 (n=3)", published=_he(8.75), **_CIFAR)
def resnet20(**kwargs) -> keras.Model:
    """ResNet-20 for CIFAR-10: 3 basic blocks per stage, 16-32-64 filters (0.27M)."""
    return _resnet_cifar(20, **kwargs)


@register_model("resnet", reference="He et al. 2015, sec. 4.2 (n=5)", published=_he(7.51), **_CIFAR)
def resnet32(**kwargs) -> keras.Model:
    """ResNet-32 for CIFAR-10: 5 basic blocks per stage, 16-32-64 filters (0.46M)."""
    return _resnet_cifar(32, **kwargs)


@register_model("resnet", reference="He et al. 2015, sec. 4.2 (n=7)", published=_he(7.17), **_CIFAR)
def resnet44(**kwargs) -> keras.Model:
    """ResNet-44 for CIFAR-10: 7 basic blocks per stage, 16-32-64 filters (0.66M)."""
    return _resnet_cifar(44, **kwargs)


@register_model("resnet", reference="He et al. 2015, sec. 4.2 (n=9)", published=_he(6.97), **_CIFAR)
def resnet56(**kwargs) -> keras.Model:
    """ResNet-56 for CIFAR-10: 9 basic blocks per stage, 16-32-64 filters (0.85M)."""
    return _resnet_cifar(56, **kwargs)


@register_model("resnet", reference="He et al. 2015, sec. 4.2 (n=18)", published=_he(6.43), **_CIFAR)
def resnet110(**kwargs) -> keras.Model:
    """ResNet-110 for CIFAR-10: 18 basic blocks per stage, 16-32-64 filters (1.7M)."""
    return _resnet_cifar(110, **kwargs)


@register_model(
    "resnet", reference="He et al. 2015, sec. 4.2 (n=200)",
    defaults={"zero_init_residual": True}, **_CIFAR,
)
def resnet1202(**kwargs) -> keras.Model:
    """ResNet-1202 for CIFAR-10: 200 basic blocks per stage, 16-32-64 filters (19.4M).

    Two departures from the defaults, both for its depth:

    - `zero_init_residual=True` by default: at the standard initialization the 600
      residual branches add up (post-activation, each ends in a unit-variance BN) to logits
      with a standard deviation of about 16, so that most softmax outputs fall below the
      clipping of Keras' probability-space cross-entropy and give no gradient; starting
      each block as the identity avoids it. Pass `zero_init_residual=False` for the
      paper's initialization.
    - Too deep for XLA to compile a training step in reasonable time: the built model has
      `supports_jit = False`, so `compile()`'s default `jit_compile="auto"` trains it
      without XLA (the attribute is not saved: compile a reloaded model with
      `jit_compile=False`).
    """
    return _resnet_cifar(1202, **kwargs)
