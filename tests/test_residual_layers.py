"""The residual-network and DenseNet layers: StochasticDepth, IdentityShortcut,
ResidualBlock (and its functional form), DenseBlock and TransitionLayer."""

import math

import keras
import numpy as np
import pytest

from keras_cnns.layers import (
    DenseBlock,
    IdentityShortcut,
    ResidualBlock,
    StochasticDepth,
    TransitionLayer,
    linear_survival_probabilities,
)
from keras_cnns.layers.dense import dense_block, transition_block
from keras_cnns.layers.residual import residual_block


def copy_by_name(source: keras.Model, target: keras.Model, source_prefix: str) -> None:
    """Copy weights from a flat block (`{prefix}1_conv/kernel`) into a layer block
    (`block/1_conv/kernel`) by their keras.applications suffixes."""
    values = {}
    for weight in source.weights:
        layer, variable = weight.path.split("/")[-2:]
        values[(layer.removeprefix(source_prefix), variable)] = weight
    for weight in target.weights:
        layer, variable = weight.path.split("/")[-2:]
        weight.assign(values.pop((layer, variable)))
    assert not values  # every weight of the flat form has its twin


# ----------------------------------------------------------------- StochasticDepth
def test_stochastic_depth_inference_is_the_expected_value(rng):
    shortcut = rng.normal(size=(3, 4, 4, 2)).astype("float32")
    residual = rng.normal(size=(3, 4, 4, 2)).astype("float32")
    paper = StochasticDepth(0.7)
    np.testing.assert_allclose(
        paper([shortcut, residual], training=False), shortcut + 0.7 * residual, rtol=0, atol=1e-6
    )
    inverted = StochasticDepth(0.7, inverted=True)
    np.testing.assert_allclose(
        inverted([shortcut, residual], training=False), shortcut + residual, rtol=0, atol=1e-6
    )


def test_stochastic_depth_training_drops_whole_branches(rng):
    shortcut = rng.normal(size=(4, 2, 2, 3)).astype("float32")
    residual = rng.normal(size=(4, 2, 2, 3)).astype("float32")
    layer = StochasticDepth(0.5, seed=1)
    kept = []
    for _ in range(200):
        out = np.asarray(layer([shortcut, residual], training=True))
        dropped = np.allclose(out, shortcut, atol=1e-6)
        assert dropped or np.allclose(out, shortcut + residual, atol=1e-6)  # all or nothing
        kept.append(not dropped)
    assert 0.35 < np.mean(kept) < 0.65  # Bernoulli(0.5) over 200 draws

    rows = StochasticDepth(0.5, mode="row", inverted=True, seed=2)
    out = np.asarray(rows([shortcut, residual], training=True)).reshape(4, -1)
    flat_s, flat_r = shortcut.reshape(4, -1), residual.reshape(4, -1)
    for i in range(4):  # each example: dropped, or kept and scaled by 1/p
        assert np.allclose(out[i], flat_s[i], atol=1e-6) or np.allclose(
            out[i], flat_s[i] + 2.0 * flat_r[i], atol=1e-5
        )


def test_stochastic_depth_survival_one_is_a_plain_sum(rng):
    a, b = rng.normal(size=(2, 3, 3, 3, 1)).astype("float32")
    np.testing.assert_allclose(StochasticDepth(1.0)([a, b], training=True), a + b, atol=1e-6)


@pytest.mark.parametrize("value", [0, 0.0, -0.2, 1.5])
def test_stochastic_depth_rejects_bad_probabilities(value):
    with pytest.raises(ValueError, match=r"`survival_probability` must be .* in \(0, 1\]; received"):
        StochasticDepth(value)


def test_stochastic_depth_rejects_other_bad_arguments():
    with pytest.raises(TypeError, match="survival_probability"):
        StochasticDepth("half")
    with pytest.raises(ValueError, match=r"Invalid `mode`: 'sample'"):
        StochasticDepth(0.5, mode="sample")
    with pytest.raises(TypeError, match="inverted"):
        StochasticDepth(0.5, inverted=1)
    with pytest.raises(ValueError, match="same shape"):
        StochasticDepth(0.5)([keras.Input((4, 4, 2)), keras.Input((4, 4, 3))])


def test_linear_decay_rule():
    assert linear_survival_probabilities(4, 0.5) == [0.875, 0.75, 0.625, 0.5]
    with pytest.raises(ValueError, match="final_probability"):
        linear_survival_probabilities(4, 0.0)


# ---------------------------------------------------------------- IdentityShortcut
def test_identity_shortcut_subsamples_and_zero_pads(rng):
    x = rng.normal(size=(2, 5, 5, 4)).astype("float32")
    out = np.asarray(IdentityShortcut(8, strides=2)(x))
    assert out.shape == (2, 3, 3, 8)
    np.testing.assert_array_equal(out[..., 2:6], x[:, ::2, ::2, :])
    assert not out[..., :2].any() and not out[..., 6:].any()
    with pytest.raises(ValueError, match="cannot take an input with 4 channels"):
        IdentityShortcut(2)(x)
    with pytest.raises(ValueError, match=r"`filters` must be a positive integer \(>= 1\); received 0"):
        IdentityShortcut(0)


# ------------------------------------------------------------------ ResidualBlock
def test_tiny_block_by_hand_with_stochastic_depth():
    """A 1-channel basic block on a 1x1 map: the 3x3 convolutions see only their
    centre weight, batch norm (fresh statistics) divides by sqrt(1 + eps)."""
    eps, p = 1e-3, 0.5
    block = ResidualBlock(1, epsilon=eps, survival_probability=p)
    x = np.array([[[[0.8]]], [[[-1.5]]]], dtype="float32")
    block(x)
    w1, w2 = 1.5, -0.7
    for key, w in (("1_conv", w1), ("2_conv", w2)):
        kernel = np.zeros((3, 3, 1, 1), "float32")
        kernel[1, 1] = w
        block.parts[key].kernel.assign(kernel)
    scale = 1 / math.sqrt(1 + eps)
    branch = w2 * np.maximum(w1 * x * scale, 0) * scale
    expected = np.maximum(x + p * branch, 0)
    first = np.asarray(block(x, training=False))
    np.testing.assert_allclose(first, expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(block(x, training=False)), first)  # deterministic


@pytest.mark.parametrize(
    "settings",
    [
        dict(filters=8, bottleneck=True, strides=2, shortcut="projection"),
        dict(filters=8, bottleneck=True, strides=2, shortcut="projection", stride_in_1x1=True, conv_bias="all"),
        dict(filters=32, strides=2, shortcut="identity"),
        dict(filters=8, bottleneck=True, strides=2, preactivation=True, shortcut="projection", conv_bias="unnormalized"),
        dict(filters=16, preactivation=True, survival_probability=0.7),
    ],
    ids=["bottleneck-v1.5", "bottleneck-keras", "basic-option-a", "bottleneck-v2", "basic-v2-sd"],
)
def test_layer_and_functional_forms_agree(settings, rng):
    inputs = keras.Input((8, 8, 16))
    flat = keras.Model(inputs, residual_block(inputs, name="b", **settings))
    layered = keras.Model(inputs, ResidualBlock(name="block", **settings)(inputs))
    assert layered.count_params() == flat.count_params()
    assert layered.output_shape == flat.output_shape
    copy_by_name(flat, layered, "b_")
    x = rng.normal(size=(2, 8, 8, 16)).astype("float32")
    np.testing.assert_allclose(
        np.asarray(layered(x, training=False)), np.asarray(flat(x, training=False)), rtol=0, atol=1e-5
    )


def test_block_layout_details():
    inputs = keras.Input((8, 8, 16))
    keras_v1 = keras.Model(
        inputs,
        residual_block(inputs, name="k", filters=8, bottleneck=True, strides=2,
                       shortcut="projection", stride_in_1x1=True, conv_bias="all"),
    )
    assert keras_v1.get_layer("k_1_conv").strides == (2, 2)
    assert keras_v1.get_layer("k_2_conv").strides == (1, 1)
    assert all(keras_v1.get_layer(f"k_{i}_conv").use_bias for i in range(4))
    v15 = ResidualBlock(8, bottleneck=True, strides=2, shortcut="projection")
    v15(np.zeros((1, 8, 8, 16), "float32"))
    assert v15.parts["1_conv"].strides == (1, 1) and v15.parts["2_conv"].strides == (2, 2)
    assert not any(layer.use_bias for key, layer in v15.parts.items() if key.endswith("_conv"))
    # Pre-activation: only the convolutions that feed the addition have a bias, and the
    # projection reads the pre-activated input (no BN on the shortcut).
    v2 = ResidualBlock(8, bottleneck=True, preactivation=True, shortcut="projection",
                       conv_bias="unnormalized")
    v2(np.zeros((1, 8, 8, 16), "float32"))
    assert [k for k, layer in v2.parts.items() if k.endswith("_conv") and layer.use_bias] == ["0_conv", "3_conv"]
    assert "0_bn" not in v2.parts and "out" in v2.parts


@pytest.mark.parametrize("preactivation", [False, True])
def test_zero_init_residual_starts_as_the_identity(preactivation, rng):
    x = rng.normal(size=(2, 4, 4, 8)).astype("float32")
    block = ResidualBlock(8, preactivation=preactivation, zero_init_residual=True)
    expected = x if preactivation else np.maximum(x, 0)  # post-activation: ReLU(x + 0)
    np.testing.assert_allclose(block(x, training=True), expected, rtol=0, atol=1e-6)
    last = block.parts["2_conv"].kernel if preactivation else block.parts["2_bn"].gamma
    assert not np.asarray(last).any()


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(filters=8, zero_init_residual=1), TypeError, "`zero_init_residual` must be True or False"),
        (dict(filters=0), ValueError, r"`filters` must be a positive integer \(>= 1\); received 0"),
        (dict(filters=8, strides=0), ValueError, "`strides`"),
        (dict(filters=8, shortcut="zero"), ValueError, r"Invalid `shortcut`: 'zero'.*'identity'.*'projection'"),
        (dict(filters=8, conv_bias="some"), ValueError, r"Invalid `conv_bias`: 'some'"),
        (dict(filters=8, bottleneck="yes"), TypeError, "`bottleneck` must be True or False"),
        (dict(filters=8, survival_probability=0.0), ValueError, r"`survival_probability`.*\(0, 1\]"),
        (dict(filters=8, survival_probability=1.01), ValueError, "survival_probability"),
        (dict(filters=8, epsilon=0), ValueError, "`epsilon`"),
    ],
)
def test_residual_block_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        ResidualBlock(**kwargs)


def test_identity_shortcut_cannot_reduce_channels():
    with pytest.raises(ValueError, match="use a projection shortcut"):
        ResidualBlock(4, shortcut="identity")(np.zeros((1, 4, 4, 8), "float32"))


def test_layers_save_and_load_in_safe_mode(tmp_path, rng):
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = ResidualBlock(8, strides=2, shortcut="identity", survival_probability=0.8)(x)
    x = ResidualBlock(4, bottleneck=True, preactivation=True, shortcut="projection")(x)
    x = DenseBlock(2, 4, dropout=0.1)(x)
    x = TransitionLayer(0.5)(x)
    x = DenseBlock(2, 4, bottleneck=False, memory_efficient=True)(x)
    model = keras.Model(inputs, x)
    data = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    expected = np.asarray(model(data, training=False))
    model.save(tmp_path / "blocks.keras")
    restored = keras.saving.load_model(tmp_path / "blocks.keras", safe_mode=True)
    np.testing.assert_allclose(np.asarray(restored(data, training=False)), expected, rtol=0, atol=1e-6)
    for layer, twin in zip(model.layers, restored.layers):
        assert layer.get_config() == twin.get_config()


def test_get_config_is_exactly_the_constructor_arguments():
    block = ResidualBlock(8, bottleneck=True, strides=2, shortcut="projection", survival_probability=0.9)
    config = block.get_config()
    for key in ("filters", "bottleneck", "strides", "preactivation", "shortcut", "stride_in_1x1",
                "conv_bias", "expansion", "epsilon", "survival_probability", "zero_init_residual"):
        assert key in config
    assert ResidualBlock.from_config(config).get_config() == config
    dense = DenseBlock(3, 12, memory_efficient=True)
    assert DenseBlock.from_config(dense.get_config()).get_config() == dense.get_config()
    assert dense.get_config()["memory_efficient"] is True


# --------------------------------------------------------- DenseBlock, TransitionLayer
def test_dense_block_and_transition_shapes_and_agreement(rng):
    inputs = keras.Input((8, 8, 16))
    flat = keras.Model(
        inputs,
        transition_block(dense_block(inputs, num_layers=3, growth_rate=4, name="c"), compression=0.5, name="p"),
    )
    layered = keras.Model(inputs, TransitionLayer(0.5)(DenseBlock(3, 4)(inputs)))
    # 16 + 3 * 4 = 28 channels, halved by the transition; 2x2 average pooling.
    assert flat.output_shape == layered.output_shape == (None, 4, 4, 14)
    assert flat.get_layer("c_block1_1_conv").filters == 16  # bottleneck of 4k
    layered.set_weights(flat.get_weights())  # same variables in the same order
    x = rng.normal(size=(2, 8, 8, 16)).astype("float32")
    np.testing.assert_allclose(np.asarray(layered(x, training=False)), np.asarray(flat(x, training=False)), atol=1e-5)


def test_dense_block_concatenates_input_first(rng):
    x = rng.normal(size=(1, 4, 4, 5)).astype("float32")
    block = DenseBlock(2, 3, bottleneck=False)
    out = np.asarray(block(x))
    assert out.shape == (1, 4, 4, 11)
    np.testing.assert_array_equal(out[..., :5], x)


def test_transition_compression_floors():
    layer = TransitionLayer(0.5)
    assert layer.compute_output_shape((None, 8, 8, 25)) == (None, 4, 4, 12)
    layer(np.zeros((1, 8, 8, 25), "float32"))
    assert layer.parts["conv"].filters == 12


@pytest.mark.parametrize("value", [0, -12])
def test_dense_block_rejects_bad_growth_rate(value):
    with pytest.raises(ValueError, match=rf"`growth_rate` must be a positive integer.*received {value}"):
        DenseBlock(4, value)


@pytest.mark.parametrize("value", [0, 0.0, -0.5, 1.5])
def test_transition_rejects_bad_compression(value):
    with pytest.raises(ValueError, match=r"`compression` must be a number in \(0, 1\]"):
        TransitionLayer(value)


def test_dense_layers_reject_other_bad_arguments():
    with pytest.raises(ValueError, match=r"`dropout` must be a number in \[0, 1\)"):
        DenseBlock(4, 12, dropout=1.0)
    with pytest.raises(TypeError, match="memory_efficient"):
        DenseBlock(4, 12, memory_efficient="yes")
    with pytest.raises(ValueError, match="`num_layers`"):
        DenseBlock(0, 12)
    with pytest.raises(ValueError, match="leaves no channel"):
        TransitionLayer(0.1)(np.zeros((1, 4, 4, 5), "float32"))
