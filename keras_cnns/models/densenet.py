"""DenseNet (Huang et al. 2017, "Densely connected convolutional networks") and its
memory-efficient form (Pleiss et al. 2017, "Memory-efficient implementation of DenseNets").

The ImageNet networks (Table 1: DenseNet-121/169/201/264, and torchvision's DenseNet-161
with k=48) and the CIFAR networks of Table 2 are rows of two small tables read by one
function. The ImageNet networks are keras.applications' layout and layer names
(`conv1_conv`, `conv2_block1_0_bn`, `pool2_conv`, `bn`, `avg_pool`, `predictions`; the top
is `keras_cnns.layers.heads.pooled_classifier`), so its DenseNet121/169/201 weight files
load with `weights="imagenet"`.

With `memory_efficient=True` every dense block is one `DenseBlock` layer (`conv2`,
`conv3`, ...) that recomputes each dense layer's concatenation-BN-ReLU-conv in the
backward pass (`keras.remat`), and every transition one `TransitionLayer` (`pool2`, ...).
The parameters are the same, in the same order; published weights are loaded into the
plain network and copied over.

torchvision's DenseNet-121/161/169/201 are the same networks as the ImageNet rows here:
stem conv0-norm0-relu0-pool0, dense layers norm1-relu1-conv1(4k, 1x1)-norm2-relu2-conv2(k,
3x3), transitions norm-relu-conv(1x1, half the channels)-pool(2x2 average), then norm5,
ReLU, global average pooling and the classifier, no convolution bias. Their state dicts
(`.pth`, `.safetensors`) load by `torchvision_keys` with `weights=PATH`, with any
`num_classes`, and give torchvision's outputs. The one difference is the batch-norm
epsilon, keras.applications' 1.001e-5 here and PyTorch's 1e-5 there. It changes nothing in
float32 where a channel's running variance is well above epsilon (1e-8 is below the
resolution of `variance + epsilon`); only variances of the order of 1e-5 show it (2.6e-4
of the logits' scale with the final norm's variances at 1e-5, measured), so no separate
layout is kept for it.
"""

from __future__ import annotations

import re

import keras

from keras_cnns.layers.batch_norm import BatchNormalization
from keras_cnns.layers.dense import (
    DenseBlock,
    TransitionLayer,
    dense_block,
    transition_block,
)
from keras_cnns.layers.heads import CLASSIFIER, pooled_classifier
from keras_cnns.models.common import build_model, smallest_input
from keras_cnns.models.registry import (
    TORCHVISION_ACC1,
    PretrainedWeights,
    Published,
    get_spec,
    register_model,
)
from keras_cnns.validation import (
    check_bool,
    check_compression,
    check_int,
    check_positive_int,
    check_rate,
)
from keras_cnns.weights import KERAS_TOP1_SOURCE, CheckpointMap, torchvision_weights

# Table 1 (and torchvision's densenet161): depth -> (growth rate k, layers per block).
# The stem has 2k filters; every dense layer has the bottleneck; transitions halve.
IMAGENET = {
    121: (32, (6, 12, 24, 16)),
    161: (48, (6, 12, 36, 24)),
    169: (32, (6, 12, 32, 32)),
    201: (32, (6, 12, 48, 32)),
    264: (32, (6, 12, 64, 48)),
}
# Table 2: name -> (depth L, growth rate k, bottleneck, compression θ).
CIFAR = {
    "densenet40": (40, 12, False, 1.0),
    "densenet100": (100, 12, False, 1.0),
    "densenet_bc100": (100, 12, True, 0.5),
    "densenet_bc250": (250, 24, True, 0.5),
    "densenet_bc190": (190, 40, True, 0.5),
}
KA_EPSILON = 1.001e-5  # keras.applications' batch-norm epsilon
CIFAR_EPSILON = 1e-5

# Padded stem convolution and max pooling act as stride-2 windows of size 1; each
# transition's 2x2 average pooling needs a map of at least 2x2.
IMAGENET_MIN_SIZE = smallest_input([(1, 2, "valid")] * 2 + [(2, 2, "valid")] * 3)
CIFAR_MIN_SIZE = smallest_input([(2, 2, "valid")] * 2)

_KA = "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"


def _ka_weights(depth: int, top_hash: str, notop_hash: str, top1: float) -> PretrainedWeights:
    """keras.applications' published files (same URLs and hashes as keras.applications)."""
    stem = f"{_KA}densenet{depth}_weights_tf_dim_ordering_tf_kernels"
    return PretrainedWeights(
        top_url=f"{stem}.h5", top_hash=top_hash, notop_url=f"{stem}_notop.h5",
        notop_hash=notop_hash, preprocessing="torch", top1=top1, top1_source=KERAS_TOP1_SOURCE,
    )


KA_WEIGHTS = {
    121: _ka_weights(121, "9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738", 75.0),
    169: _ka_weights(169, "d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b", 76.2),
    201: _ka_weights(201, "1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1", 77.3),
}


# ---------------------------------------------------------------------- builders
def densenet_cifar(
    depth: int = 100,
    growth_rate: int = 12,
    bottleneck: bool = False,
    compression: float = 1.0,
    dropout: float = 0.0,
    **kwargs,
) -> keras.Model:
    """Any CIFAR DenseNet of Huang et al. (section 3, Table 2): a 3x3 convolution (16
    filters, or 2k for DenseNet-BC), three dense blocks of equal size separated by
    transitions, BN-ReLU, global average pooling and the classifier.

    Args:
        depth: L, counting the convolutions, the transitions and the classifier:
            3n + 4 with n dense layers per block, or 6n + 4 with the bottleneck (each
            dense layer then has two convolutions).
        growth_rate: k, the channels each dense layer adds.
        bottleneck: BN-ReLU-conv1x1(4k) before each 3x3 convolution ("B").
        compression: θ in (0, 1]: a transition keeps floor(θ m) of its m channels ("C").
        dropout: rate after each convolution but the first (the paper's 0.2 is for
            training without data augmentation).
        **kwargs: the common arguments, and `memory_efficient` (see `densenet_bc100`).

    `densenet_cifar(100, 12, bottleneck=True, compression=0.5)` is `densenet_bc100`.
    """
    return _densenet_cifar(depth, growth_rate, bottleneck, compression, dropout, **kwargs)


def _densenet(depth: int, memory_efficient: bool = False, dropout: float = 0.0, **common):
    growth_rate, blocks = IMAGENET[depth]
    layers = keras.layers

    def stem(x):
        x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
        x = layers.Conv2D(
            2 * growth_rate, 7, strides=2, use_bias=False, kernel_initializer="he_normal",
            name="conv1_conv",
        )(x)
        x = BatchNormalization(epsilon=KA_EPSILON, name="conv1_bn")(x)
        x = layers.Activation("relu", name="conv1_relu")(x)
        x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
        return layers.MaxPooling2D(3, strides=2, name="pool1")(x)

    spec = get_spec(f"densenet{depth}")
    return _build(
        spec.name,
        build_args=spec.build_args(),
        stem=stem,
        growth_rate=growth_rate,
        blocks=blocks,
        bottleneck=True,
        compression=0.5,
        dropout=dropout,
        epsilon=KA_EPSILON,
        memory_efficient=memory_efficient,
        common=common,
        checkpoint_keys=torchvision_keys,
    )


def _densenet_cifar(
    depth, growth_rate, bottleneck, compression, dropout=0.0, memory_efficient=False, **common
):
    check_int("depth", depth)
    check_positive_int("growth_rate", growth_rate)
    check_bool("bottleneck", bottleneck)
    compression = check_compression(compression)
    convs_per_layer = 2 if bottleneck else 1
    step = 3 * convs_per_layer
    if depth < 4 + step or (depth - 4) % step:
        form = "6n+4 (e.g. 100, 190, 250) with bottleneck" if bottleneck else "3n+4 (e.g. 40, 100)"
        raise ValueError(
            f"`depth` must be of the form {form}, n >= 1: three blocks of n dense layers "
            f"plus the first convolution, two transitions and the classifier; received {depth}."
        )
    layers_per_block = (depth - 4) // step
    bc = bottleneck and compression < 1.0
    default_name = next(
        (name for name, row in CIFAR.items() if row == (depth, growth_rate, bottleneck, compression)),
        None,
    )
    if default_name is not None:
        model_name, build_args = default_name, get_spec(default_name).build_args()
    else:  # any other CIFAR DenseNet (densenet_cifar): the CIFAR input, no published weights
        letters = ("b" if bottleneck else "") + ("c" if compression < 1.0 else "")
        model_name = f"densenet{'_' + letters if letters else ''}{depth}_k{growth_rate}"
        build_args = dict(default_input_shape=(32, 32, 3), min_input_size=CIFAR_MIN_SIZE)
    layers = keras.layers

    def stem(x):
        # "16 (or twice the growth rate for DenseNet-BC) output channels" (section 3).
        filters = 2 * growth_rate if bc else 16
        return layers.Conv2D(
            filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
            name="conv1_conv",
        )(x)

    return _build(
        model_name,
        build_args=build_args,
        stem=stem,
        growth_rate=growth_rate,
        blocks=(layers_per_block,) * 3,
        bottleneck=bottleneck,
        compression=compression,
        dropout=dropout,
        epsilon=CIFAR_EPSILON,
        memory_efficient=memory_efficient,
        common=common,
    )


def _build(
    model_name,
    *,
    build_args,
    stem,
    growth_rate,
    blocks,
    bottleneck,
    compression,
    dropout,
    epsilon,
    memory_efficient,
    common,
    checkpoint_keys=None,
) -> keras.Model:
    check_bool("memory_efficient", memory_efficient)
    dropout = check_rate("dropout", dropout)
    weights = common.get("weights")
    if memory_efficient and weights is not None:
        # Weight files are written layer by layer for the plain graph: load them there
        # (through the one shared loader), then copy; both hold the same variables in
        # the same order.
        settings = dict(
            build_args=build_args, stem=stem, growth_rate=growth_rate, blocks=blocks,
            bottleneck=bottleneck, compression=compression, dropout=dropout, epsilon=epsilon,
            checkpoint_keys=checkpoint_keys,
        )
        plain = _build(model_name, **settings, memory_efficient=False, common=common)
        model = _build(
            model_name, **settings, memory_efficient=True, common=dict(common, weights=None)
        )
        model.set_weights(plain.get_weights())
        return model
    layers = keras.layers
    block_options = dict(
        growth_rate=growth_rate, bottleneck=bottleneck, dropout=dropout, epsilon=epsilon
    )

    def features(x):
        x = stem(x)
        for index, num_layers in enumerate(blocks):
            stage = index + 2
            if memory_efficient:
                x = DenseBlock(
                    num_layers, memory_efficient=True, name=f"conv{stage}", **block_options
                )(x)
            else:
                x = dense_block(x, num_layers=num_layers, name=f"conv{stage}", **block_options)
            if index < len(blocks) - 1:
                if memory_efficient:
                    x = TransitionLayer(
                        compression, dropout=dropout, epsilon=epsilon, name=f"pool{stage}"
                    )(x)
                else:
                    x = transition_block(
                        x, compression=compression, dropout=dropout, epsilon=epsilon,
                        name=f"pool{stage}",
                    )
        x = BatchNormalization(epsilon=epsilon, name="bn")(x)
        return layers.Activation("relu", name="relu")(x)

    return build_model(
        model_name, features, pooled_classifier, fixed_size_top=False,
        checkpoint_keys=checkpoint_keys, **build_args, **common,
    )


# ---------------------------------------------------------------------- torchvision checkpoints
_DENSE_LAYER = re.compile(r"conv(\d)_block(\d+)_(0_bn|1_conv|1_bn|2_conv)")
_TRANSITION = re.compile(r"pool(\d)_(bn|conv)")
# keras.applications' suffix in a dense layer -> torchvision's module in `_DenseLayer`.
_DENSE_LAYER_MODULES = {"0_bn": "norm1", "1_conv": "conv1", "1_bn": "norm2", "2_conv": "conv2"}
_TRANSITION_MODULES = {"bn": "norm", "conv": "conv"}
_STEM_MODULES = {
    "conv1_conv": "features.conv0", "conv1_bn": "features.norm0", "bn": "features.norm5"
}
# Old torchvision checkpoints (the published IMAGENET1K_V1 files among them) name a dense
# layer's modules `norm.1`, `conv.1`, `norm.2`, `conv.2`; torchvision renames them on load
# with this pattern (torchvision.models.densenet._load_state_dict).
_LEGACY_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def torchvision_keys(model: keras.Model) -> CheckpointMap:
    """The map from an ImageNet DenseNet's layers to torchvision's `state_dict` keys, for
    `weights="....pth"` / `".safetensors"`:

    - `conv1_conv`, `conv1_bn` -> `features.conv0`, `features.norm0`;
    - `conv{s}_block{i}_0_bn` / `_1_conv` / `_1_bn` / `_2_conv` ->
      `features.denseblock{s-1}.denselayer{i}.norm1` / `.conv1` / `.norm2` / `.conv2`;
    - `pool{s}_bn` / `pool{s}_conv` -> `features.transition{s-1}.norm` / `.conv`;
    - `bn` -> `features.norm5`; the classifier `predictions` -> `classifier`.

    torchvision's published IMAGENET1K_V1 files still carry the legacy keys
    (`...denselayer1.norm.1.weight`): rename them with `rename_legacy_keys` first, as
    torchvision does when it loads them.
    """
    layers = {}
    for layer in model.layers:
        name = layer.name
        if name in _STEM_MODULES:
            layers[name] = _STEM_MODULES[name]
        elif name == CLASSIFIER:
            layers[name] = "classifier"
        elif match := _DENSE_LAYER.fullmatch(name):
            stage, index, part = match.groups()
            layers[name] = (
                f"features.denseblock{int(stage) - 1}.denselayer{index}."
                f"{_DENSE_LAYER_MODULES[part]}"
            )
        elif match := _TRANSITION.fullmatch(name):
            stage, part = match.groups()
            layers[name] = f"features.transition{int(stage) - 1}.{_TRANSITION_MODULES[part]}"
    return CheckpointMap(
        layers, heads=(CLASSIFIER,), top=("classifier",), rename=rename_legacy_key
    )


def rename_legacy_key(key: str) -> str:
    """A torchvision DenseNet checkpoint key as torchvision's modules name it today: the
    legacy `features.denseblock1.denselayer1.norm.1.weight` of its published files becomes
    `...denselayer1.norm1.weight`; other keys are kept as they are."""
    match = _LEGACY_KEY.match(key)
    return match.group(1) + match.group(2) if match else key


def rename_legacy_keys(state: dict) -> dict:
    """`rename_legacy_key` applied to every key of a state dict."""
    return {rename_legacy_key(key): value for key, value in state.items()}


# ---------------------------------------------------------------------- registry
_IMAGENET_DOC = """
    Family options:
        memory_efficient: recompute each dense layer's concatenation-BN-ReLU-conv in
            the backward pass instead of storing it (Pleiss et al. 2017; same
            parameters, outputs and gradients, less memory in training, slower steps).
        dropout: dropout rate after each convolution of the dense blocks and
            transitions (0 by default, as in the ImageNet models).
"""
_CIFAR_DOC = """
    Family options:
        memory_efficient: recompute each dense layer's concatenation-BN-ReLU-conv in
            the backward pass instead of storing it (Pleiss et al. 2017).
        dropout: dropout rate after each convolution but the first (Huang et al. use
            0.2 when training without data augmentation; 0 by default).
    Other depths, growth rates and compressions: `keras_cnns.models.densenet.densenet_cifar`.
"""
_IMAGENET_REG = dict(
    default_input_shape=(224, 224, 3), min_input_size=IMAGENET_MIN_SIZE, options=_densenet,
    options_doc=_IMAGENET_DOC,
)
_CIFAR_REG = dict(
    default_input_shape=(32, 32, 3), min_input_size=CIFAR_MIN_SIZE, options=_densenet_cifar,
    options_doc=_CIFAR_DOC,
)
_KA_REF = "Huang et al. 2017, Table 1; keras.applications; torchvision"
_HUANG = "Huang et al. 2017, Table 2 (C10+ error {}%)"


def _tv(top1: float) -> Published:
    return Published(top1, "ImageNet", TORCHVISION_ACC1)


def _huang(error: float) -> Published:
    return Published.from_error(error, "CIFAR-10", _HUANG.format(error))


@register_model(
    "densenet", reference=_KA_REF,
    weights={"imagenet": KA_WEIGHTS[121], "torchvision": torchvision_weights("densenet121")},
    published=_tv(74.434),
    **_IMAGENET_REG,
)
def densenet121(**kwargs) -> keras.Model:
    """DenseNet-121 (k=32): dense blocks of 6-12-24-16 bottleneck layers (ImageNet)."""
    return _densenet(121, **kwargs)


@register_model(
    "densenet", reference="torchvision densenet161 (k=48)",
    weights={"torchvision": torchvision_weights("densenet161")}, published=_tv(77.138),
    **_IMAGENET_REG,
)
def densenet161(**kwargs) -> keras.Model:
    """DenseNet-161 (k=48): dense blocks of 6-12-36-24 bottleneck layers (ImageNet)."""
    return _densenet(161, **kwargs)


@register_model(
    "densenet", reference=_KA_REF,
    weights={"imagenet": KA_WEIGHTS[169], "torchvision": torchvision_weights("densenet169")},
    published=_tv(75.600),
    **_IMAGENET_REG,
)
def densenet169(**kwargs) -> keras.Model:
    """DenseNet-169 (k=32): dense blocks of 6-12-32-32 bottleneck layers (ImageNet)."""
    return _densenet(169, **kwargs)


@register_model(
    "densenet", reference=_KA_REF,
    weights={"imagenet": KA_WEIGHTS[201], "torchvision": torchvision_weights("densenet201")},
    published=_tv(76.896),
    **_IMAGENET_REG,
)
def densenet201(**kwargs) -> keras.Model:
    """DenseNet-201 (k=32): dense blocks of 6-12-48-32 bottleneck layers (ImageNet)."""
    return _densenet(201, **kwargs)


@register_model("densenet", reference="Huang et al. 2017, Table 1", **_IMAGENET_REG)
def densenet264(**kwargs) -> keras.Model:
    """DenseNet-264 (k=32): dense blocks of 6-12-64-48 bottleneck layers (ImageNet)."""
    return _densenet(264, **kwargs)


@register_model(
    "densenet", reference="Huang et al. 2017, Table 2 (1.0M)", published=_huang(5.24), **_CIFAR_REG
)
def densenet40(**kwargs) -> keras.Model:
    """DenseNet (L=40, k=12) for CIFAR: 3 blocks of 12 BN-ReLU-conv3x3 layers."""
    return _densenet_cifar(*CIFAR["densenet40"], **kwargs)


@register_model(
    "densenet", reference="Huang et al. 2017, Table 2 (7.0M)", published=_huang(4.10), **_CIFAR_REG
)
def densenet100(**kwargs) -> keras.Model:
    """DenseNet (L=100, k=12) for CIFAR: 3 blocks of 32 BN-ReLU-conv3x3 layers."""
    return _densenet_cifar(*CIFAR["densenet100"], **kwargs)


@register_model(
    "densenet", reference="Huang et al. 2017, Table 2 (0.8M)", published=_huang(4.51), **_CIFAR_REG
)
def densenet_bc100(**kwargs) -> keras.Model:
    """DenseNet-BC (L=100, k=12) for CIFAR: 3 blocks of 16 bottleneck layers, θ=0.5."""
    return _densenet_cifar(*CIFAR["densenet_bc100"], **kwargs)


@register_model(
    "densenet", reference="Huang et al. 2017, Table 2 (15.3M)", published=_huang(3.62), **_CIFAR_REG
)
def densenet_bc250(**kwargs) -> keras.Model:
    """DenseNet-BC (L=250, k=24) for CIFAR: 3 blocks of 41 bottleneck layers, θ=0.5."""
    return _densenet_cifar(*CIFAR["densenet_bc250"], **kwargs)


@register_model(
    "densenet", reference="Huang et al. 2017, Table 2 (25.6M)", published=_huang(3.46), **_CIFAR_REG
)
def densenet_bc190(**kwargs) -> keras.Model:
    """DenseNet-BC (L=190, k=40) for CIFAR: 3 blocks of 31 bottleneck layers, θ=0.5."""
    return _densenet_cifar(*CIFAR["densenet_bc190"], **kwargs)
