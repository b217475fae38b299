"""keras_cnns.analysis.profile / receptive_field: multiply-adds against torchvision's
published figures, its own models and hand counts, receptive fields against independent
computations, parameters, depth, memory, stages, nested layers and bad inputs."""

import keras
import numpy as np
import pytest

import keras_cnns
from keras_cnns.analysis import profile, receptive_field
from keras_cnns.layers import DenseBlock, InceptionBlock, conv, pool

# torchvision's published multiply-adds per image, in G (the "GFLOPS" of its weights
# tables, `_meta["_ops"]` in torchvision/models/*.py, which count multiply-adds): 224x224,
# Inception v3 299x299. torchvision rounds them to three decimals (vgg16's 15.47 is
# 15.470), so ours are compared at that rounding: equal in millions. Each entry: our
# builder and the options that build torchvision's network, and its figure.
TORCHVISION_GMACS = {
    "alexnet": ("alexnet", dict(variant="single_tower"), 0.714),
    **{
        f"{name}{suffix}": (name, dict(batch_norm=bool(suffix)), gmacs)
        for name, gmacs in (("vgg11", 7.609), ("vgg13", 11.308), ("vgg16", 15.47), ("vgg19", 19.632))
        for suffix in ("", "_bn")
    },
    "googlenet": ("googlenet", dict(batch_norm=True, layout="torchvision"), 1.498),
    "inception_v3": ("inception_v3", dict(layout="torchvision"), 5.713),
    # The keras.applications layout (BN without scale) has the same convolutions.
    "inception_v3_keras_layout": ("inception_v3", {}, 5.713),
    "resnet18": ("resnet18", {}, 1.814),
    "resnet34": ("resnet34", {}, 3.664),
    "resnet50": ("resnet50", {}, 4.089),
    "resnet101": ("resnet101", {}, 7.801),
    "resnet152": ("resnet152", {}, 11.514),
    "densenet121": ("densenet121", {}, 2.834),
    "densenet161": ("densenet161", {}, 7.728),
    "densenet169": ("densenet169", {}, 3.36),
    "densenet201": ("densenet201", {}, 4.291),
}
# torchvision's builder of the same network (its models without auxiliary heads).
TORCHVISION_BUILDERS = {
    "googlenet": ("googlenet", dict(aux_logits=False, init_weights=False), 224),
    "inception_v3": ("inception_v3", dict(aux_logits=False, init_weights=False), 299),
    "inception_v3_keras_layout": ("inception_v3", dict(aux_logits=False, init_weights=False), 299),
}


def _torchvision_macs(torchvision, name: str) -> int:
    """Multiply-adds of torchvision's own model, counted here by forward hooks on its
    convolutions (output elements x kernel area x input channels per group) and linear
    layers (outputs x inputs), the convention of its published figures. The model lives
    on PyTorch's "meta" device: shapes only, no weights, no arithmetic."""
    import torch

    builder, options, size = TORCHVISION_BUILDERS.get(name, (name, {}, 224))
    with torch.device("meta"):
        module = getattr(torchvision.models, builder)(**options).eval()
    total = 0

    def count(layer, inputs, output):
        nonlocal total
        per_output = (
            layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1]
            if isinstance(layer, torch.nn.Conv2d)
            else layer.in_features
        )
        total += output[0].numel() * per_output

    for layer in module.modules():
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.Linear)):
            layer.register_forward_hook(count)
    with torch.no_grad():
        module(torch.zeros(1, 3, size, size, device="meta"))
    return total


@pytest.mark.parametrize("name", list(TORCHVISION_GMACS))
def test_macs_match_torchvision(name, torchvision):
    """Every network torchvision publishes a figure for and we build the same way: our
    multiply-adds rounded as torchvision rounds its published figure (three decimals, in
    G) equal it, and equal exactly those of torchvision's own model counted here."""
    builder, options, published = TORCHVISION_GMACS[name]
    model = keras_cnns.get_model(builder, **options)
    report = profile(model)
    assert round(report.macs / 1e6) == round(published * 1e3), (name, report.macs)
    assert report.macs == _torchvision_macs(torchvision, name), name
    assert report.params == model.count_params()
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert report.trainable_params == trainable
    assert report.non_trainable_params == model.count_params() - trainable
    # The rows add up to the totals.
    assert sum(row.macs for row in report.layers) == report.macs
    assert sum(row.params for row in report.layers) == report.params
    assert sum(stage.macs for stage in report.stages) == report.macs


def _conv(size: int, kernel: int, inputs: int, outputs: int, groups: int = 1) -> int:
    """Multiply-adds of a convolution with a `size` x `size` output map."""
    return size * size * kernel * kernel * (inputs // groups) * outputs


def test_alexnet_two_towers_against_one_tower_by_hand():
    """README: the paper's two towers at 227 need 0.724 G multiply-adds, torchvision's
    single tower at 224 0.714 G; layer by layer from the papers' shapes."""
    # Two towers (Krizhevsky et al. 2012, Figure 2), 227x227: conv1 11x11/4 -> 55,
    # pool 3x3/2 -> 27, conv2 5x5 (each tower reads its own 48 maps) -> 27, pool -> 13,
    # conv3 reads both towers, conv4 and conv5 their own; pool -> 6; fc 4096, 4096, 1000.
    paper = {
        "conv1": _conv(55, 11, 3, 96),
        "conv2": _conv(27, 5, 96, 256, groups=2),
        "conv3": _conv(13, 3, 256, 384),
        "conv4": _conv(13, 3, 384, 384, groups=2),
        "conv5": _conv(13, 3, 384, 256, groups=2),
        "fc6": 6 * 6 * 256 * 4096,
        "fc7": 4096 * 4096,
        "predictions": 4096 * 1000,
    }
    # One tower 64-192-384-256-256 (Krizhevsky 2014; torchvision): 224 padded by 2.
    single = {
        "conv1": _conv(55, 11, 3, 64),
        "conv2": _conv(27, 5, 64, 192),
        "conv3": _conv(13, 3, 192, 384),
        "conv4": _conv(13, 3, 384, 256),
        "conv5": _conv(13, 3, 256, 256),
        "fc6": 6 * 6 * 256 * 4096,
        "fc7": 4096 * 4096,
        "predictions": 4096 * 1000,
    }
    for by_hand, model in (
        (paper, keras_cnns.alexnet()),
        (single, keras_cnns.alexnet(variant="single_tower")),
    ):
        report = profile(model)
        assert {row.name: row.macs for row in report.layers if row.macs} == by_hand
        assert report.macs == sum(by_hand.values())
    assert sum(paper.values()) == 724_406_816 and round(sum(paper.values()) / 1e9, 3) == 0.724
    assert sum(single.values()) == 714_188_480 and round(sum(single.values()) / 1e9, 3) == 0.714


# GoogLeNet, Szegedy et al. 2014, Table 1: module, output grid, (#1x1, #3x3 reduce, #3x3,
# #5x5 reduce, #5x5, pool proj); the modules read 192 channels first, then each the
# concatenation of the one before.
GOOGLENET_TABLE_1 = (
    ("3a", 28, (64, 96, 128, 16, 32, 32)),
    ("3b", 28, (128, 128, 192, 32, 96, 64)),
    ("4a", 14, (192, 96, 208, 16, 48, 64)),
    ("4b", 14, (160, 112, 224, 24, 64, 64)),
    ("4c", 14, (128, 128, 256, 24, 64, 64)),
    ("4d", 14, (112, 144, 288, 32, 64, 64)),
    ("4e", 14, (256, 160, 320, 32, 128, 128)),
    ("5a", 7, (256, 160, 320, 32, 128, 128)),
    ("5b", 7, (384, 192, 384, 48, 128, 128)),
)


def _googlenet_macs_by_hand(kernel: int) -> dict[str, int]:
    """GoogLeNet's multiply-adds at 224x224 by stage, with `kernel` x `kernel` in the
    "5x5" branches (the paper's 5, torchvision's 3)."""
    stages = {
        "stem": _conv(112, 7, 3, 64) + _conv(56, 1, 64, 64) + _conv(56, 3, 64, 192),
        "classifier": 1024 * 1000,
    }
    inputs = 192
    for module, size, (n1x1, reduce3, n3x3, reduce5, n5x5, proj) in GOOGLENET_TABLE_1:
        stages[module] = (
            _conv(size, 1, inputs, n1x1)
            + _conv(size, 1, inputs, reduce3) + _conv(size, 3, reduce3, n3x3)
            + _conv(size, 1, inputs, reduce5) + _conv(size, kernel, reduce5, n5x5)
            + _conv(size, 1, inputs, proj)
        )
        inputs = n1x1 + n3x3 + n5x5 + proj
    assert inputs == 1024
    return stages


def test_googlenet_five_by_five_against_torchvisions_three_by_three_by_hand():
    """README: our GoogLeNet (true 5x5 branches) needs 1.583 G multiply-adds,
    torchvision's layout (3x3 in the "5x5" branches) 1.498 G: 0.084 G apart."""
    paper, torchvision_layout = _googlenet_macs_by_hand(5), _googlenet_macs_by_hand(3)
    ours = profile(keras_cnns.googlenet())
    # One InceptionBlock layer per module in the paper layout.
    rows = {row.name: row.macs for row in ours.layers}
    for module, *_ in GOOGLENET_TABLE_1:
        assert rows[f"inception_{module}"] == paper[module], module
    assert ours.macs == sum(paper.values()) == 1_582_671_872
    theirs = profile(keras_cnns.googlenet(batch_norm=True, layout="torchvision"))
    assert theirs.macs == sum(torchvision_layout.values()) == 1_498_376_192
    difference = ours.macs - theirs.macs
    # Only the "5x5" branches differ: 25 - 9 = 16 taps per reduce-output pair.
    assert difference == sum(
        size * size * 16 * reduce5 * n5x5 for _, size, (_, _, _, reduce5, n5x5, _) in GOOGLENET_TABLE_1
    )
    assert (round(ours.macs / 1e9, 3), round(theirs.macs / 1e9, 3)) == (1.583, 1.498)
    assert round(difference / 1e9, 3) == 0.084


def _hand_receptive_field(layers):
    """The textbook recursion over a chain of (kernel, stride) windows."""
    size, stride = 1, 1
    for kernel, step in layers:
        size += (kernel - 1) * stride
        stride *= step
    return size, stride


def test_receptive_fields_against_independent_computations():
    # VGG16 (Simonyan & Zisserman, Table 1, column D): 3x3/1 convolutions, 2x2/2 pools.
    vgg16 = []
    for convs in (2, 2, 3, 3, 3):
        vgg16 += [(3, 1)] * convs + [(2, 2)]
    assert _hand_receptive_field(vgg16) == (212, 32)
    assert receptive_field(keras_cnns.vgg16()) == (212, 32)
    # AlexNet (Krizhevsky et al.): 11/4 conv, 3/2 pool, 5/1 conv, 3/2 pool, three 3/1, 3/2 pool.
    alexnet = [(11, 4), (3, 2), (5, 1), (3, 2), (3, 1), (3, 1), (3, 1), (3, 2)]
    assert _hand_receptive_field(alexnet) == (195, 32)
    assert receptive_field(keras_cnns.alexnet()) == (195, 32)
    # ResNet-50 v1.5 (torchvision: the stride on the bottleneck's 3x3): the longest path
    # runs through the 3x3 of every block (the 1x1s add nothing).
    resnet = [(7, 2), (3, 2)]
    for stage, blocks in enumerate((3, 4, 6, 3)):
        for block in range(blocks):
            resnet += [(3, 2 if stage > 0 and block == 0 else 1)]
    assert _hand_receptive_field(resnet) == (427, 32)
    assert receptive_field(keras_cnns.resnet50()) == (427, 32)


def test_receptive_fields_against_published_tables():
    # Araujo, Norris & Sim, "Computing receptive fields of convolutional neural networks",
    # Distill 2019, Table 1: ResNet-50 v1 (stride in the first 1x1, as keras.applications
    # and our layout="keras") 483; Inception v3 1311; both with stride 32.
    assert receptive_field(keras_cnns.resnet50(layout="keras")) == (483, 32)
    assert receptive_field(keras_cnns.inception_v3()) == (1311, 32)
    # A layer's own receptive field.
    assert receptive_field(keras_cnns.vgg16(), layer="block5_conv3") == (196, 16)
    assert receptive_field(keras_cnns.vgg16(), layer="block1_conv1") == (3, 1)


def test_branches_and_concatenation_report_the_largest():
    inputs = keras.Input((32, 32, 4))
    small = keras.layers.Conv2D(2, 3, padding="same", name="small")(inputs)
    large = keras.layers.Conv2D(2, 7, padding="same", name="large")(inputs)
    merged = keras.layers.Concatenate(name="merged")([small, large])
    out = keras.layers.Conv2D(2, 3, strides=2, padding="same", name="after")(merged)
    model = keras.Model(inputs, out)
    assert receptive_field(model, layer="merged") == (7, 1)
    assert receptive_field(model) == (9, 2)
    # An inception block (one layer with branches): its 5x5 branch after a 1x1 wins.
    block = InceptionBlock([[conv(4, 1)], [conv(2, 1), conv(4, 5)], [pool("max", 3), conv(2, 1)]])
    single = keras.Sequential([keras.Input((16, 16, 3)), block])
    assert receptive_field(single) == (5, 1)


def test_asymmetric_kernels_and_dilation():
    inputs = keras.Input((32, 32, 1))
    x = keras.layers.Conv2D(1, (1, 7), padding="same")(inputs)
    x = keras.layers.Conv2D(1, (7, 1), padding="same")(x)
    assert receptive_field(keras.Model(inputs, x)) == (7, 1)
    dilated = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Conv2D(1, 3, dilation_rate=2)])
    assert receptive_field(dilated) == (5, 1)


def test_composite_layers_are_counted_inside():
    # GoogLeNet's inception (3a) on 28x28x192 (Szegedy et al. Table 1): 64 1x1; 96 1x1
    # -> 128 3x3; 16 1x1 -> 32 5x5; pool -> 32 1x1.
    report = profile(keras_cnns.googlenet())
    row = next(r for r in report.layers if r.name == "inception_3a")
    per_position = 192 * 64 + 192 * 96 + 96 * 9 * 128 + 192 * 16 + 16 * 25 * 32 + 192 * 32
    assert row.macs == 28 * 28 * per_position == 128_049_152
    assert row.type == "InceptionBlock" and row.output_shape == (28, 28, 256)
    # CIFAR ResNet-20 (one ResidualBlock layer per block), 10 classes, by hand.
    resnet20 = profile(keras_cnns.resnet20(num_classes=10))
    by_hand = (
        32 * 32 * 27 * 16
        + 6 * 32 * 32 * 9 * 16 * 16
        + 16 * 16 * 9 * 16 * 32 + 5 * 16 * 16 * 9 * 32 * 32
        + 8 * 8 * 9 * 32 * 64 + 5 * 8 * 8 * 9 * 64 * 64
        + 64 * 10
    )
    assert resnet20.macs == by_hand == 40_551_040
    assert resnet20.receptive_field == 81 and resnet20.depth == 20


def test_dense_block_layer_equals_the_functional_form():
    inputs = keras.Input((16, 16, 8))
    layer_form = keras.Model(inputs, DenseBlock(num_layers=3, growth_rate=4)(inputs))
    functional = keras_cnns.densenet_bc100(num_classes=10)
    efficient = keras_cnns.densenet_bc100(num_classes=10, memory_efficient=True)
    assert any(isinstance(layer, DenseBlock) for layer in efficient.layers)
    a, b = profile(functional), profile(efficient)
    assert a.macs == b.macs and a.params == b.params and a.depth == b.depth == 100
    assert a.receptive_field == b.receptive_field
    # 3 layers of BN-ReLU-1x1(16)-BN-ReLU-3x3(4) on 8, 12, 16 input channels.
    per_position = sum(c * 16 + 16 * 9 * 4 for c in (8, 12, 16))
    assert profile(layer_form).macs == 16 * 16 * per_position


def test_keras_applications_and_nested_models():
    # MobileNet v1 (Howard et al. 2017, Table 8): 569 million multiply-adds, a check of
    # the depthwise-convolution rule.
    mobilenet = keras.applications.MobileNet(weights=None)
    assert abs(profile(mobilenet).macs / 569e6 - 1) < 0.01
    # A keras.applications backbone nested inside a Sequential model.
    backbone = keras.applications.MobileNet(weights=None, include_top=False, input_shape=(96, 96, 3))
    model = keras.Sequential(
        [keras.Input((96, 96, 3)), backbone, keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)]
    )
    outer, inner = profile(model), profile(backbone)
    assert outer.macs == inner.macs + 1024 * 10
    assert outer.receptive_field == inner.receptive_field
    assert outer.params == model.count_params()
    assert [row.name for row in outer.layers][1] == backbone.name


def test_the_trace_leaves_the_model_unchanged():
    model = keras_cnns.resnet20(num_classes=10)
    before = [(len(layer._inbound_nodes), len(layer._outbound_nodes)) for layer in model.layers]
    profile(model)
    receptive_field(model)
    after = [(len(layer._inbound_nodes), len(layer._outbound_nodes)) for layer in model.layers]
    assert before == after
    x = np.zeros((1, 32, 32, 3), "float32")
    assert model.predict(x, verbose=0).shape == (1, 10)
    # Layers are called normally after the trace.
    assert keras.layers.Dense(2)(keras.Input((3,))).shape == (None, 2)


def test_depth_memory_and_a_hand_counted_model():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1), name="pixels"),
            keras.layers.Conv2D(4, 3, padding="same", name="block1_conv"),
            keras.layers.BatchNormalization(name="block1_bn"),
            keras.layers.MaxPooling2D(name="block1_pool"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(3, name="predictions"),
        ]
    )
    report = profile(model)
    assert report.macs == 8 * 8 * 9 * 4 + 4 * 4 * 4 * 3
    assert report.depth == 2
    assert report.params == 40 + 16 + 195 and report.trainable_params == 40 + 8 + 195
    # Every tensor of the forward pass, float32, per image: input, conv, BN, pool,
    # flatten, dense.
    assert report.activation_memory == 4 * (64 + 256 + 256 + 64 + 64 + 3)
    assert [s.name for s in report.stages] == ["block1", "head"]
    assert report.stages[0].layers == 4 and report.stages[0].receptive_field == 4
    assert report.layers[-1].receptive_field is None
    text = str(report)
    assert "total" in text and "block1" in text and f"{report.macs:,}" in text
    assert "predictions" in report.table("layers")


def test_stage_names_of_our_models():
    stages = [s.name for s in profile(keras_cnns.vgg16()).stages]
    assert stages == ["block1", "block2", "block3", "block4", "block5", "fc1", "fc2", "head"]
    resnet = profile(keras_cnns.resnet18())
    assert [s.name for s in resnet.stages] == ["conv1", "pool1", "conv2", "conv3", "conv4", "conv5", "head"]
    conv3 = next(s for s in resnet.stages if s.name == "conv3")
    assert conv3.output_shape == (28, 28, 128) and conv3.rf_stride == 8


def test_input_shape_override_and_variable_size():
    model = keras_cnns.resnet18(include_top=False, input_shape=(None, None, 3))
    with pytest.raises(ValueError, match="variable size.*input_shape="):
        profile(model)
    # Every feature map doubles in height and width from 224 to 448 (sizes 112 ... 7 -> 224 ... 14).
    small, large = profile(model, input_shape=(224, 224, 3)), profile(model, input_shape=(448, 448, 3))
    assert large.macs == 4 * small.macs
    with pytest.raises(ValueError, match="input_shape"):
        profile(model, input_shape=(0, 224, 3))


def test_bad_inputs_give_clear_errors():
    with pytest.raises(TypeError, match=r"takes a Keras model .*received an object of type builtins.dict"):
        profile({"not": "a model"})
    with pytest.raises(TypeError, match="a layer, not a model"):
        receptive_field(keras.layers.Dense(3))
    with pytest.raises(ValueError, match="Unknown model name 'vgg_166'.*Did you mean: vgg16"):
        profile("vgg_166")
    with pytest.raises(ValueError, match="no layer named 'block5_conv3'.*block5_conv2"):
        receptive_field(keras_cnns.vgg11(), layer="block5_conv3")

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(2, 3)

        def call(self, x):
            return self.conv(x)

    subclassed = Subclassed()
    with pytest.raises(ValueError, match="pass input_shape"):
        profile(subclassed)
    subclassed(np.zeros((1, 8, 8, 1), "float32"))
    assert profile(subclassed, input_shape=(8, 8, 1)).macs == 6 * 6 * 9 * 2
    dense_only = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no tensor with spatial axes"):
        receptive_field(dense_only)
