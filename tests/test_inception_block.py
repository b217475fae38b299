import json

import keras
import numpy as np
import pytest

from keras_cnns.layers import (
    BranchSpecError,
    InceptionBlock,
    concat,
    conv,
    normalize_branches,
    pool,
    spec_output_size,
)

# GoogLeNet's 3a written out by hand as plain data (what a user would type).
MODULE_3A = [
    [{"op": "conv", "filters": 64, "kernel": 1}],
    [{"op": "conv", "filters": 96, "kernel": 1}, {"op": "conv", "filters": 128, "kernel": 3}],
    [{"op": "conv", "filters": 16, "kernel": 1}, {"op": "conv", "filters": 32, "kernel": 5}],
    [{"op": "pool", "type": "max", "size": 3}, {"op": "conv", "filters": 32, "kernel": 1}],
]
# Inception v3's 8x8 module: a nested concat (1x3 and 3x1 reading the same tensor).
EXPANDED = [
    [conv(32, 1)],
    [conv(24, 1), concat([conv(16, (1, 3))], [conv(16, (3, 1))])],
    [pool("avg", 3), conv(8, 1)],
]
# Inception v3's 17x17 -> 8x8 reduction: stride-2 "valid" branches with an asymmetric pair.
REDUCTION = [
    [conv(12, 1), conv(20, 3, 2, "valid")],
    [conv(12, 1), conv(12, (1, 7)), conv(12, (7, 1)), conv(12, 3, 2, "valid")],
    [pool("max", 3, 2, "valid")],
]


def test_helpers_write_canonical_json_data():
    assert conv(64, (1, 7)) == {
        "op": "conv", "filters": 64, "kernel": [1, 7], "strides": [1, 1], "padding": "same",
    }
    assert pool("avg", 3, 2, "valid") == {
        "op": "pool", "type": "avg", "size": [3, 3], "strides": [2, 2], "padding": "valid",
    }
    canonical = normalize_branches(MODULE_3A)
    assert canonical[1][1] == conv(128, 3)
    assert canonical[3][0] == pool("max", 3)
    assert json.loads(json.dumps(normalize_branches(EXPANDED))) == normalize_branches(EXPANDED)


def test_googlenet_module_from_plain_data(rng):
    block = InceptionBlock(MODULE_3A, name="inception_3a")
    x = rng.normal(size=(2, 28, 28, 192)).astype("float32")
    y = np.asarray(block(x))
    assert y.shape == (2, 28, 28, 64 + 128 + 32 + 32)
    expected = (192 * 64 + 64) + (192 * 96 + 96) + (9 * 96 * 128 + 128)
    expected += (192 * 16 + 16) + (25 * 16 * 32 + 32) + (192 * 32 + 32)
    assert block.count_params() == expected == 163_696
    kernels = [layers[0].kernel_size for _p, op, layers in block.iter_ops() if op["op"] == "conv"]
    assert kernels == [(1, 1), (1, 1), (3, 3), (1, 1), (5, 5), (1, 1)]


def test_output_is_the_concatenation_of_the_branches(rng):
    # Recompute every branch by hand with the block's own sub-layers.
    block = InceptionBlock(EXPANDED, batch_norm=True, name="expanded")
    x = rng.normal(size=(2, 8, 8, 40)).astype("float32")
    y = np.asarray(block(x, training=False))
    layers = {path: sub for path, _op, sub in block.iter_ops()}

    def unit(path, t):
        conv_layer, bn = layers[path]
        return np.maximum(np.asarray(bn(conv_layer(t), training=False)), 0)

    b1 = unit((0, 0), x)
    b2_in = unit((1, 0), x)
    b2 = np.concatenate([unit((1, 1, 0, 0), b2_in), unit((1, 1, 1, 0), b2_in)], axis=-1)
    b3 = unit((2, 1), np.asarray(layers[(2, 0)][0](x)))
    np.testing.assert_allclose(y, np.concatenate([b1, b2, b3], axis=-1), rtol=1e-5, atol=1e-5)
    assert y.shape[-1] == 32 + 32 + 8


def test_grid_reduction_with_asymmetric_convolutions():
    block = InceptionBlock(REDUCTION, batch_norm=True, bn_scale=False, name="reduce")
    out = block(keras.Input((17, 17, 24)))
    assert tuple(out.shape) == (None, 8, 8, 20 + 12 + 24)
    kinds = {path: sub[0] for path, op, sub in block.iter_ops() if op["op"] == "conv"}
    assert kinds[(1, 1)].kernel_size == (1, 7) and kinds[(1, 2)].kernel_size == (7, 1)
    assert kinds[(1, 3)].strides == (2, 2) and kinds[(1, 3)].padding == "valid"
    assert spec_output_size(REDUCTION, 17) == 8
    assert spec_output_size(REDUCTION, 2) is None  # a 3x3 valid window does not fit


def test_sub_layers_are_tracked_and_named_readably():
    block = InceptionBlock(EXPANDED, batch_norm=True, bn_scale=False, name="mixed9")
    block.build((None, 8, 8, 40))
    names = [layer.name for _p, _op, sub in block.iter_ops() for layer in sub]
    assert names[:4] == ["branch1_1_conv", "branch1_1_bn", "branch2_1_conv", "branch2_1_bn"]
    assert "branch2_2a_1_conv" in names and "branch2_2b_1_bn" in names
    assert "branch3_1_pool" in names
    paths = [w.path for w in block.weights]
    assert "mixed9/branch2_2a_1_conv/kernel" in paths
    # Conv without bias under batch norm; BN without scale: beta + moving mean/variance.
    assert len(block.trainable_weights) == 5 + 5  # 5 kernels, 5 betas
    assert len(block.weights) == 5 + 5 * 3


def test_get_config_round_trip_and_safe_mode_save(tmp_path, rng):
    kwargs = dict(batch_norm=True, use_bias=None, bn_scale=False, bn_epsilon=1e-3,
                  bn_momentum=0.9, activation="relu")
    block = InceptionBlock(EXPANDED, name="expanded", **kwargs)
    config = block.get_config()
    assert config["branches"] == normalize_branches(EXPANDED)
    assert {k: config[k] for k in kwargs} == kwargs
    json.dumps(config)
    clone = InceptionBlock.from_config(config)
    assert clone.get_config() == config

    inputs = keras.Input((8, 8, 40))
    model = keras.Model(inputs, block(inputs))
    x = rng.normal(size=(2, 8, 8, 40)).astype("float32")
    model.predict(x, verbose=0)
    path = tmp_path / "block.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_a_user_can_read_and_change_the_specification():
    block = InceptionBlock(MODULE_3A, name="inception_3a")
    spec = block.branches
    spec[2][1]["kernel"] = [3, 3]  # TV's "5x5" branch, for instance
    spec[0][0]["filters"] = 10
    changed = InceptionBlock(spec, name="changed")
    assert block.branches[2][1]["kernel"] == [5, 5]  # the copy did not touch the block
    out = changed(keras.Input((28, 28, 192)))
    assert out.shape[-1] == 10 + 128 + 32 + 32
    assert changed.count_params() == 163_696 - 193 * (64 - 10) - (25 - 9) * 16 * 32


@pytest.mark.parametrize(
    "branches,match",
    [
        ("conv", r"`branches` must be a list of branches"),
        ([], r"`branches` is empty"),
        ([[conv(8, 1)], []], r"`branches\[1\]` is an empty branch"),
        ([conv(8, 1)], r"`branches\[0\]` must be a list of ops"),
        ([[("conv", 8)]], r"`branches\[0\]\[0\]` must be an op dict"),
        ([[{"op": "dense", "units": 8}]], r"`branches\[0\]\[0\]\['op'\]` is 'dense'"),
        ([[{"op": "conv", "filters": 8, "kernel": 1, "stride": 2}]], r"unknown keys \['stride'\]"),
        ([[{"op": "conv", "kernel": 1}]], r"lacks the required keys \['filters'\]"),
        ([[{"op": "conv", "filters": 0, "kernel": 1}]], r"\['filters'\]` must be a positive int"),
        ([[{"op": "conv", "filters": "64", "kernel": 1}]], r"\['filters'\]` must be a positive int"),
        ([[{"op": "conv", "filters": 8, "kernel": [1, 2, 3]}]], r"\['kernel'\]` must be a positive int or a pair"),
        ([[{"op": "conv", "filters": 8, "kernel": 1, "padding": "full"}]], r"\['padding'\]` is 'full'"),
        ([[{"op": "pool", "type": "min", "size": 3}]], r"pooling types: 'max', 'avg'"),
        ([[{"op": "pool", "type": "max", "size": 3, "strides": 0}]], r"\['strides'\]` must be"),
        ([[{"op": "pool", "type": "avg", "size": 3, "count_include_pad": 1}]],
         r"\['count_include_pad'\]` must be True or False; received 1"),
        ([[{"op": "pool", "type": "max", "size": 3, "count_include_pad": True}]],
         r"\['count_include_pad'\]` is True for a 'max' pooling.*'avg' pooling with 'same'"),
        ([[{"op": "pool", "type": "avg", "size": 3, "padding": "valid", "count_include_pad": True}]],
         r"\['count_include_pad'\]` is True for a 'avg' pooling with 'valid' padding"),
        ([[{"op": "conv", "filters": 8, "kernel": 1, "count_include_pad": True}]],
         r"unknown keys \['count_include_pad'\] for a 'conv' op"),
        ([[conv(8, 1), {"op": "concat", "branches": []}]], r"`branches\[0\]\[1\]\['branches'\]` is empty"),
        ([[conv(8, 1), {"op": "concat", "branches": [[{"op": "conv"}]]}]],
         r"`branches\[0\]\[1\]\['branches'\]\[0\]\[0\]` \('conv' op\) lacks"),
    ],
)
def test_malformed_specifications_are_rejected(branches, match):
    with pytest.raises(BranchSpecError, match=match):
        InceptionBlock(branches)
    assert issubclass(BranchSpecError, ValueError)


def test_branches_that_disagree_on_size_are_rejected_at_build():
    block = InceptionBlock([[conv(8, 3, 2)], [conv(8, 1)]], name="uneven")
    with pytest.raises(ValueError, match=r"'uneven'.*different sizes \[\(8, 8\), \(16, 16\)\]"):
        block(keras.Input((16, 16, 4)))


def test_too_small_input_for_a_valid_window_is_rejected():
    block = InceptionBlock(REDUCTION, name="reduce")
    with pytest.raises(ValueError, match=r"`branches\[0\]\[1\]` \(conv 20 3x3/2x2 valid\) gets a 2x2 input"):
        block(keras.Input((2, 2, 24)))


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(batch_norm="yes"), TypeError, "`batch_norm` must be True or False"),
        (dict(use_bias=1), TypeError, "`use_bias`"),
        (dict(activation="swishy"), ValueError, "Unknown `activation` 'swishy'"),
        (dict(bn_momentum=1.5), ValueError, r"`bn_momentum` must be a number in \(0, 1\)"),
        (dict(bn_epsilon=0), ValueError, "`bn_epsilon`"),
    ],
)
def test_bad_block_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        InceptionBlock(MODULE_3A, **kwargs)


# ------------------------------------------------------- average pooling that counts padding
def _include_pad_reference(x, size):
    """3x3/1 average pooling over zero padding, divided by the full window (numpy)."""
    pad = (size - 1) // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    h, w = x.shape[1:3]
    windows = [padded[:, i:i + h, j:j + w] for i in range(size) for j in range(size)]
    return np.sum(windows, axis=0) / (size * size)


def test_count_include_pad_spec_is_plain_data_written_only_when_true():
    op = pool("avg", 3, count_include_pad=True)
    assert op == {"op": "pool", "type": "avg", "size": [3, 3], "strides": [1, 1],
                  "padding": "same", "count_include_pad": True}
    # The default leaves the key out: specifications and saved configs from before the
    # option are canonical as they were.
    assert pool("avg", 3) == pool("avg", 3, count_include_pad=False)
    assert "count_include_pad" not in pool("avg", 3)
    assert normalize_branches([[dict(op, count_include_pad=False)]])[0][0] == pool("avg", 3)
    with pytest.raises(BranchSpecError, match=r"`pool\(...\)\['count_include_pad'\]` is True for a 'max'"):
        pool("max", 3, count_include_pad=True)


def test_count_include_pad_block_config_round_trip_and_outputs(tmp_path, rng):
    branches = [[conv(6, 1)], [pool("avg", 3, count_include_pad=True), conv(4, 1)]]
    block = InceptionBlock(branches, batch_norm=True, name="padded")
    config = block.get_config()
    assert config["branches"][1][0]["count_include_pad"] is True
    assert json.loads(json.dumps(config)) == config
    assert InceptionBlock.from_config(config).get_config() == config

    inputs = keras.Input((6, 5, 3))
    model = keras.Model(inputs, block(inputs))
    x = rng.normal(size=(2, 6, 5, 3)).astype("float32")
    path = tmp_path / "padded.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))

    # The pooling alone, against numpy: the border windows divide by 9 as well.
    pooled = np.asarray(InceptionBlock([[pool("avg", 3, count_include_pad=True)]])(x))
    np.testing.assert_allclose(pooled, _include_pad_reference(x, 3), rtol=0, atol=1e-6)
    keras_same = np.asarray(InceptionBlock([[pool("avg", 3)]])(x))
    assert np.abs(pooled - keras_same)[:, 0].max() > 1e-3  # Keras' pooling leaves padding out
    np.testing.assert_allclose(pooled[:, 1:-1, 1:-1], keras_same[:, 1:-1, 1:-1], rtol=0, atol=1e-6)


def test_a_saved_config_without_the_key_loads_the_same(rng):
    # A config written before `count_include_pad` existed: Keras' average pooling.
    old = {"name": "old", "trainable": True, "dtype": "float32", "branches": [
        [{"op": "pool", "type": "avg", "size": [3, 3], "strides": [1, 1], "padding": "same"}]
    ], "batch_norm": False, "use_bias": None, "bn_scale": True, "bn_epsilon": 0.001,
        "bn_momentum": 0.99, "activation": "relu"}
    block = InceptionBlock.from_config(old)
    assert block.get_config()["branches"] == old["branches"]
    x = rng.normal(size=(1, 4, 4, 2)).astype("float32")
    expected = keras.layers.AveragePooling2D(3, strides=1, padding="same")(x)
    np.testing.assert_allclose(np.asarray(block(x)), np.asarray(expected), rtol=0, atol=1e-6)
