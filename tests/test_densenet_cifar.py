"""CIFAR DenseNets (Huang et al. 2017, Table 2): exact counts, structure and the
argument checks of `densenet_cifar`."""

import keras
import numpy as np
import pytest

import keras_cnns
from keras_cnns.models.densenet import densenet_cifar
from conftest import count

# REFERENCE.md: 10 classes, trainable parameters (Table 2: 1.0M, 7.0M, 0.8M, 15.3M, 25.6M).
REFERENCE = {
    "densenet40": 1_019_722,
    "densenet100": 6_979_642,
    "densenet_bc100": 769_162,
    "densenet_bc250": 15_324_406,
    "densenet_bc190": 25_624_430,
}
TABLE_2_MILLIONS = {
    "densenet40": 1.0,
    "densenet100": 7.0,
    "densenet_bc100": 0.8,
    "densenet_bc250": 15.3,
    "densenet_bc190": 25.6,
}


@pytest.fixture(scope="module")
def built():
    """Each named model built once for the module (10 classes)."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = keras_cnns.get_model(name, num_classes=10)
        return cache[name]

    return get


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_trainable_counts(name, built):
    model = built(name)
    trainable = count(model.trainable_weights)
    assert trainable == REFERENCE[name]
    assert round(trainable / 1e6, 1) == TABLE_2_MILLIONS[name]
    assert model.input_shape == (None, 32, 32, 3) and model.name == name


def test_densenet100_k24_through_the_general_builder():
    model = densenet_cifar(100, 24, num_classes=10)
    assert count(model.trainable_weights) == 27_249_082  # Table 2: 27.2M
    assert model.name == "densenet100_k24"


def test_structure_of_densenet_bc100(built):
    model = built("densenet_bc100")
    assert model.get_layer("conv1_conv").filters == 24  # 2k for DenseNet-BC
    assert model.get_layer("conv2_block16_concat").output.shape[-1] == 24 + 16 * 12
    assert model.get_layer("conv2_block1_1_conv").filters == 48  # bottleneck 4k
    # θ = 0.5: floor(216 / 2) = 108 channels out of the first transition.
    assert model.get_layer("pool2_conv").filters == 108
    assert model.get_layer("pool3_pool").output.shape[1:3] == (8, 8)
    assert "conv5_block1_0_bn" not in [layer.name for layer in model.layers]  # three blocks
    assert densenet_cifar(100, 12, bottleneck=True, compression=0.5).name == "densenet_bc100"


def test_densenet40_has_no_bottleneck_and_a_16_filter_stem(built):
    model = built("densenet40")
    assert model.get_layer("conv1_conv").filters == 16
    assert model.get_layer("conv2_block1_1_conv").kernel_size == (3, 3)
    assert "conv2_block1_2_conv" not in [layer.name for layer in model.layers]
    assert model.get_layer("pool2_conv").filters == 16 + 12 * 12  # no compression


def test_dropout_after_every_convolution_but_the_first(rng):
    model = densenet_cifar(16, 6, bottleneck=True, compression=0.5, dropout=0.2, num_classes=3)
    assert model.name == "densenet_bc16_k6"
    dropouts = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    # (16 - 4) / 6 = 2 dense layers per block with 2 convolutions each, in 3 blocks, and
    # the 2 transitions: 3 * 2 * 2 + 2 = 14.
    assert len(dropouts) == 14 and "pool2_dropout" in dropouts
    assert all(rate == 0.2 for rate in (model.get_layer(n).rate for n in dropouts))
    x = rng.uniform(size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))


def test_other_names():
    assert densenet_cifar(10, 4, bottleneck=True).name == "densenet_b10_k4"
    assert densenet_cifar(7, 4, compression=0.5).name == "densenet_c7_k4"
    assert densenet_cifar(7, 4, name="mine").name == "mine"


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(depth=41), ValueError, r"`depth` must be of the form 3n\+4 .*received 41"),
        (dict(depth=43, bottleneck=True), ValueError, r"`depth` must be of the form 6n\+4 .*received 43"),
        (dict(depth=4), ValueError, "`depth`"),
        (dict(depth=40.0), TypeError, "`depth` must be an integer"),
        (dict(growth_rate=0), ValueError, r"`growth_rate` must be a positive integer .*received 0"),
        (dict(growth_rate=-12), ValueError, "growth_rate"),
        (dict(growth_rate=12.5), TypeError, "`growth_rate` must be an integer"),
        (dict(compression=0), ValueError, r"`compression` must be a number in \(0, 1\]"),
        (dict(compression=1.5), ValueError, r"`compression` must be a number in \(0, 1\]"),
        (dict(compression=-0.5), ValueError, "compression"),
        (dict(dropout=1.0), ValueError, "dropout"),
        (dict(bottleneck="yes"), TypeError, "`bottleneck` must be True or False"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, error, match):
    with pytest.raises(error, match=match):
        densenet_cifar(**{"depth": 40, **kwargs})


def test_minimum_input_size():
    model = keras_cnns.densenet40(input_shape=(4, 4, 3), include_top=False)
    assert model.output_shape == (None, 1, 1, 16 + 3 * 12 * 12)
    with pytest.raises(ValueError, match="at least 4x4"):
        keras_cnns.densenet40(input_shape=(3, 3, 3))
