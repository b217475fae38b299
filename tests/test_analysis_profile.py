"""keras_cnns.analysis.profile / receptive_field: multiply-adds against torchvision's
published figures, receptive fields against independent computations, parameters,
depth, memory, stages, nested layers and bad inputs."""

import keras
import numpy as np
import pytest

import keras_cnns
from keras_cnns.analysis import profile, receptive_field
from keras_cnns.layers import DenseBlock, InceptionBlock, conv, pool

# torchvision's published multiply-adds (G) per image at 224x224 (Inception v3: 299x299),
# ../shared/REFERENCE.md; our architectures are the same, so within 2 %.
TORCHVISION_GMACS = {
    "vgg11": 7.609, "vgg13": 11.308, "vgg16": 15.47, "vgg19": 19.632,
    "resnet18": 1.814, "resnet34": 3.664, "resnet50": 4.089, "resnet101": 7.801,
    "resnet152": 11.514,
    "densenet121": 2.834, "densenet161": 7.728, "densenet169": 3.36, "densenet201": 4.291,
    "inception_v3": 5.713,
}


@pytest.mark.parametrize("name", sorted(TORCHVISION_GMACS))
def test_macs_match_torchvision(name):
    model = keras_cnns.get_model(name)
    report = profile(model)
    assert abs(report.gmacs / TORCHVISION_GMACS[name] - 1) < 0.02, (name, report.gmacs)
    assert report.params == model.count_params()
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert report.trainable_params == trainable
    assert report.non_trainable_params == model.count_params() - trainable
    # The rows add up to the totals.
    assert sum(row.macs for row in report.layers) == report.macs
    assert sum(row.params for row in report.layers) == report.params
    assert sum(stage.macs for stage in report.stages) == report.macs


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
