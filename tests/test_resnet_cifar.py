"""CIFAR-10 ResNets (He et al. 2015, section 4.2): exact counts, shortcut options,
pre-activation, stochastic depth and the 6n+2 rule."""

import keras
import numpy as np
import pytest

import keras_cnns
from keras_cnns.layers import IdentityShortcut, ResidualBlock, StochasticDepth
from keras_cnns.models.resnet import resnet_cifar
from conftest import count

# REFERENCE.md: option A shortcuts, 10 classes, trainable parameters.
REFERENCE = {
    20: 269_722,
    32: 464_154,
    44: 658_586,
    56: 853_018,
    110: 1_727_962,
    1202: 19_421_274,
}


def derived_count(depth: int, classes: int = 10) -> int:
    """Trainable parameters of the 6n+2 network written out from section 4.2: 3x3 conv
    (16) + BN, then n basic blocks at 16, 32 and 64 filters (two 3x3 convs + two BNs
    each; option A shortcuts have no parameters), then the classifier."""
    n = (depth - 2) // 6
    total = 3 * 9 * 16 + 2 * 16
    channels = 16
    for width in (16, 32, 64):
        for _ in range(n):
            total += 9 * channels * width + 2 * width + 9 * width * width + 2 * width
            channels = width
    return total + 64 * classes + classes


def test_the_derivation_reproduces_the_reference():
    assert {d: derived_count(d) for d in REFERENCE} == REFERENCE


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_trainable_counts(depth):
    model = keras_cnns.get_model(f"resnet{depth}", num_classes=10)
    assert count(model.trainable_weights) == REFERENCE[depth]
    assert model.input_shape == (None, 32, 32, 3)
    assert model.name == f"resnet{depth}"
    if depth == 20:
        assert model.count_params() == 271_098  # with the BN moving statistics


def test_resnet1202_count():
    # Built once (about 10 s on two cores): 600 residual blocks.
    model = keras_cnns.resnet1202(num_classes=10)
    assert count(model.trainable_weights) == REFERENCE[1202]
    blocks = [layer for layer in model.layers if isinstance(layer, ResidualBlock)]
    assert len(blocks) == 600 and blocks[-1].name == "conv4_block200"
    # Each block starts as the identity (its branch's last BN scale is zero) ...
    assert not np.asarray(blocks[0].parts["2_bn"].gamma).any()
    # ... and XLA cannot compile its training step in reasonable time: "auto" must not pick it.
    assert model.supports_jit is False
    resnet110 = keras_cnns.resnet110(num_classes=10)
    assert resnet110.supports_jit is True
    assert np.asarray(resnet110.get_layer("conv2_block1").parts["2_bn"].gamma).all()


def test_other_depths_of_the_form_6n_plus_2():
    model = resnet_cifar(26, num_classes=10)
    assert model.name == "resnet26"
    assert count(model.trainable_weights) == derived_count(26)


@pytest.mark.parametrize("depth", [21, 19, 2, 110.0])
def test_depth_must_be_6n_plus_2(depth):
    error = TypeError if isinstance(depth, float) else ValueError
    with pytest.raises(error, match="`depth`"):
        resnet_cifar(depth)


def test_depth_error_names_the_form():
    with pytest.raises(ValueError, match=r"`depth` must be of the form 6n\+2 .*received 21"):
        resnet_cifar(21)


def test_option_a_is_zero_padded_and_option_b_projects():
    a = keras_cnns.resnet20(num_classes=10)
    shortcut = a.get_layer("conv3_block1").parts["shortcut"]
    assert isinstance(shortcut, IdentityShortcut) and shortcut.strides == 2 and shortcut.filters == 32
    b = keras_cnns.resnet20(num_classes=10, shortcut="B")
    # Two projections (1x1 conv + BN) where the channels grow: 16->32 and 32->64.
    assert count(b.trainable_weights) == REFERENCE[20] + (16 * 32 + 64) + (32 * 64 + 128)
    assert "0_conv" in b.get_layer("conv4_block1").parts
    assert "0_conv" not in b.get_layer("conv4_block2").parts
    c = keras_cnns.resnet20(num_classes=10, shortcut="C")
    assert "0_conv" in c.get_layer("conv4_block2").parts


def test_preactivation_layout():
    model = keras_cnns.resnet20(num_classes=10, preactivation=True)
    names = [layer.name for layer in model.layers]
    assert "conv1_bn" not in names and names[-4:-2] == ["post_bn", "post_relu"]
    assert model.get_layer("conv2_block1").preactivation
    # The stem's BN (16 channels) moves to the end (64 channels), and the first block of
    # the 2nd and 3rd stages normalizes its 16 / 32 input channels before the convolution
    # instead of its 32 / 64 output channels after it.
    bn = lambda channels: 2 * channels  # noqa: E731  (gamma and beta)
    expected = REFERENCE[20] - bn(16) + bn(64) - (bn(32) - bn(16)) - (bn(64) - bn(32))
    assert count(model.trainable_weights) == expected


def test_stochastic_depth_training_varies_inference_is_deterministic(rng):
    model = keras_cnns.resnet20(num_classes=10, stochastic_depth=0.5)
    blocks = [layer for layer in model.layers if isinstance(layer, ResidualBlock)]
    assert [b.survival_probability for b in blocks] == pytest.approx(
        [1 - l / 9 * 0.5 for l in range(1, 10)]
    )
    assert isinstance(blocks[-1].parts["add"], StochasticDepth)
    assert count(model.trainable_weights) == REFERENCE[20]
    x = rng.uniform(size=(8, 32, 32, 3)).astype("float32")
    inference = [np.asarray(model(x, training=False)) for _ in range(3)]
    for again in inference[1:]:
        np.testing.assert_array_equal(again, inference[0])
    keras.utils.set_random_seed(3)
    training = [np.asarray(model(x, training=True)) for _ in range(5)]
    assert any(np.abs(training[0] - t).max() > 1e-6 for t in training[1:])
    # Survival 1.0 everywhere is exactly the plain network.
    same = keras_cnns.resnet20(num_classes=10, stochastic_depth=1.0)
    plain = keras_cnns.resnet20(num_classes=10)
    same.set_weights(plain.get_weights())
    np.testing.assert_allclose(same(x, training=True), plain(x, training=True), atol=1e-5)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(shortcut="D"), ValueError, r"Invalid `shortcut`: 'D'.*'A', 'B', 'C'"),
        (dict(shortcut="projection"), ValueError, "Invalid `shortcut`"),
        (dict(preactivation="yes"), TypeError, "`preactivation` must be True or False"),
        (dict(stochastic_depth=0), ValueError, r"`stochastic_depth` must be a survival probability in \(0, 1\]"),
        (dict(stochastic_depth=-0.5), ValueError, "stochastic_depth"),
        (dict(stochastic_depth=2), ValueError, "stochastic_depth"),
    ],
)
def test_bad_family_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        keras_cnns.resnet20(**kwargs)


def test_fashion_mnist_sized_input():
    model = keras_cnns.resnet20(num_classes=10, input_shape=(28, 28, 1))
    assert model.output_shape == (None, 10)
    assert model.get_layer("conv4_block3").output.shape[1:] == (7, 7, 64)
