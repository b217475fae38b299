import keras
import numpy as np
import pytest

import keras_cnns
from keras_cnns.layers import InceptionBlock, LocalResponseNormalization
from keras_cnns.models.auxiliary import loss_config, repeat_targets, without_aux_heads
from conftest import count

# "Going deeper with convolutions", Table 1, typed in independently of the package:
# module, input channels, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
TABLE_1 = [
    ("3a", 192, 64, 96, 128, 16, 32, 32),
    ("3b", 256, 128, 128, 192, 32, 96, 64),
    ("4a", 480, 192, 96, 208, 16, 48, 64),
    ("4b", 512, 160, 112, 224, 24, 64, 64),
    ("4c", 512, 128, 128, 256, 24, 64, 64),
    ("4d", 512, 112, 144, 288, 32, 64, 64),
    ("4e", 528, 256, 160, 320, 32, 128, 128),
    ("5a", 832, 256, 160, 320, 32, 128, 128),
    ("5b", 832, 384, 192, 384, 48, 128, 128),
]
# The stem: (kernel, in, out) of conv1 7x7/2, conv2 3x3 reduce, conv2 3x3.
STEM = [(7, 3, 64), (1, 64, 64), (3, 64, 192)]
# REFERENCE.md's per-module counts (derived from the same table).
REFERENCE = {
    "stem": 124_416, "3a": 163_696, "3b": 388_736, "4a": 376_176, "4b": 449_160,
    "4c": 510_104, "4d": 605_376, "4e": 868_352, "5a": 1_043_456, "5b": 1_444_080,
    "fc": 1_025_000,
}


def module_convs(row):
    """(kernel, in, out) of every convolution of a Table 1 row."""
    _name, cin, n1, r3, n3, r5, n5, proj = row
    return [(1, cin, n1), (1, cin, r3), (3, r3, n3), (1, cin, r5), (5, r5, n5), (1, cin, proj)]


def conv_count(convs, batch_norm=False):
    # Plain: kernel + bias. BN variant, trainable: kernel + gamma + beta (no bias).
    return sum(k * k * cin * cout + (2 * cout if batch_norm else cout) for k, cin, cout in convs)


def expected_counts(batch_norm=False, classes=1000):
    counts = {"stem": conv_count(STEM, batch_norm)}
    for row in TABLE_1:
        counts[row[0]] = conv_count(module_convs(row), batch_norm)
    counts["fc"] = 1024 * classes + classes
    return counts


@pytest.fixture(scope="module")
def paper():
    return keras_cnns.googlenet()


def test_per_module_counts_match_table_1(paper):
    # The typed table is self-consistent: each module reads what the previous one wrote.
    outputs = [n1 + n3 + n5 + proj for _m, _c, n1, _r3, n3, _r5, n5, proj in TABLE_1]
    assert [row[1] for row in TABLE_1[1:]] == outputs[:-1] and outputs[-1] == 1024
    expected = expected_counts()
    assert expected == REFERENCE
    stem = ("conv1_7x7_s2", "conv2_3x3_reduce", "conv2_3x3")
    measured = {"stem": sum(paper.get_layer(n).count_params() for n in stem)}
    for row in TABLE_1:
        measured[row[0]] = paper.get_layer(f"inception_{row[0]}").count_params()
    measured["fc"] = paper.get_layer("predictions").count_params()
    assert measured == expected
    assert paper.count_params() == sum(expected.values()) == 6_998_552


def test_table_1_layout(paper):
    sizes = {
        "conv1_7x7_s2": (112, 112, 64), "pool1_3x3_s2": (56, 56, 64),
        "conv2_3x3": (56, 56, 192), "pool2_3x3_s2": (28, 28, 192),
        "inception_3a": (28, 28, 256), "inception_3b": (28, 28, 480),
        "pool3_3x3_s2": (14, 14, 480), "inception_4a": (14, 14, 512),
        "inception_4d": (14, 14, 528), "inception_4e": (14, 14, 832),
        "pool4_3x3_s2": (7, 7, 832), "inception_5b": (7, 7, 1024),
    }
    for name, shape in sizes.items():
        assert tuple(paper.get_layer(name).output.shape[1:]) == shape, name
    # LRN as Caffe's (size 5, alpha 1e-4 divided by n, beta 0.75, k 1) after pool1, conv2.
    for name in ("pool1_norm1", "conv2_norm2"):
        lrn = paper.get_layer(name)
        assert isinstance(lrn, LocalResponseNormalization)
        assert (lrn.depth_radius, lrn.bias, lrn.beta) == (2, 1.0, 0.75)
        assert lrn.alpha == pytest.approx(1e-4 / 5)
    assert paper.get_layer("avg_pool_dropout").rate == 0.4
    block = paper.get_layer("inception_4e")
    assert isinstance(block, InceptionBlock)
    fives = [sub[0] for path, op, sub in block.iter_ops() if path == (2, 1)]
    assert fives[0].kernel_size == (5, 5) and fives[0].filters == 128


def test_lrn_equals_caffe_formula(paper, rng):
    # Caffe: b = a / (1 + alpha/n * sum over 5 channels a^2)^0.75 with alpha = 1e-4, n = 5.
    a = rng.uniform(0, 30, size=(1, 2, 2, 64)).astype("float32")
    b = np.asarray(paper.get_layer("pool1_norm1")(a))
    padded = np.pad(a**2, ((0, 0), (0, 0), (0, 0), (2, 2)))
    sums = sum(padded[..., i : i + 64] for i in range(5))
    np.testing.assert_allclose(b, a / (1 + 1e-4 / 5 * sums) ** 0.75, rtol=1e-5)


def test_batch_norm_variant_count_against_torchvision():
    model = keras_cnns.googlenet(batch_norm=True)
    expected = expected_counts(batch_norm=True)
    assert count(model.trainable_weights) == sum(expected.values())
    assert model.get_layer("inception_3a").count_params() > expected["3a"]  # + moving stats
    # torchvision's 6,624,904 uses 3x3 kernels in the "5x5" branches; ours keeps 5x5.
    quirk = sum((25 - 9) * row[5] * row[6] for row in TABLE_1)
    assert count(model.trainable_weights) - quirk == 6_624_904
    names = [layer.name for layer in model.layers]
    assert not any(isinstance(layer, LocalResponseNormalization) for layer in model.layers)
    assert "conv1_7x7_s2_bn" in names and model.get_layer("conv1_7x7_s2").use_bias is False
    assert model.get_layer("inception_3a").batch_norm


def aux_head_count(batch_norm, cin):
    conv = cin * 128 + (2 * 128 if batch_norm else 128)
    return conv + (4 * 4 * 128 * 1024 + 1024) + (1024 * 1000 + 1000)


def test_aux_heads_follow_section_5():
    plain = keras_cnns.googlenet(aux_logits=True)
    assert set(plain.output) == {"logits", "aux1", "aux2"}
    assert plain.count_params() - 6_998_552 == aux_head_count(False, 512) + aux_head_count(False, 528)
    pool = plain.get_layer("aux1_pool")
    assert pool.pool_size == (5, 5) and pool.strides == (3, 3)
    assert tuple(pool.output.shape[1:]) == (4, 4, 512)
    assert plain.get_layer("aux2_pool").input.shape[-1] == 528  # after 4d
    assert plain.get_layer("aux1_fc_dropout").rate == 0.7
    assert plain.get_layer("aux1_fc").units == 1024
    bn = keras_cnns.googlenet(aux_logits=True, batch_norm=True)
    no_aux = count(keras_cnns.googlenet(batch_norm=True).trainable_weights)
    added = count(bn.trainable_weights) - no_aux
    assert added == aux_head_count(True, 512) + aux_head_count(True, 528) == 6_379_984  # TV


@pytest.fixture(scope="module")
def aux_model():
    keras.utils.set_random_seed(0)
    return keras_cnns.googlenet(num_classes=5, input_shape=(65, 65, 3), aux_logits=True)


def test_two_training_steps_include_the_aux_losses(aux_model, rng):
    model = aux_model
    loss = "sparse_categorical_crossentropy"
    model.compile(
        keras.optimizers.SGD(0.01),
        loss={"logits": loss, "aux1": loss, "aux2": loss},
        loss_weights={"logits": 1.0, "aux1": 0.3, "aux2": 0.3},
    )
    assert loss_config(model, loss) == {
        "loss": {"logits": loss, "aux1": loss, "aux2": loss},
        "loss_weights": {"logits": 1.0, "aux1": 0.3, "aux2": 0.3},
    }
    x = rng.uniform(0, 1, size=(8, 65, 65, 3)).astype("float32")
    y = rng.integers(0, 5, size=8)
    before = [np.array(w) for w in model.get_layer("aux1_fc").weights]
    history = model.fit(x, repeat_targets(model, y), batch_size=4, epochs=1, verbose=0)
    logs = {k: v[-1] for k, v in history.history.items()}
    assert np.isfinite(logs["loss"])
    weighted = logs["logits_loss"] + 0.3 * logs["aux1_loss"] + 0.3 * logs["aux2_loss"]
    assert logs["loss"] == pytest.approx(weighted, rel=1e-4)
    assert logs["loss"] > logs["logits_loss"] + 0.1  # the aux terms are really there
    after = model.get_layer("aux1_fc").weights
    assert not np.array_equal(before[0], np.array(after[0]))  # aux heads get gradients


def test_inference_model_shares_the_weights(aux_model, rng, tmp_path):
    serving = without_aux_heads(aux_model)
    assert serving.output_shape == (None, 5)
    assert not any(layer.name.startswith("aux") for layer in serving.layers)
    assert serving.count_params() == keras_cnns.googlenet(num_classes=5, input_shape=(65, 65, 3)).count_params()
    x = rng.uniform(0, 1, size=(2, 65, 65, 3)).astype("float32")
    np.testing.assert_allclose(
        serving.predict(x, verbose=0), aux_model.predict(x, verbose=0)["logits"], rtol=0, atol=1e-6
    )
    kernel = aux_model.get_layer("logits").kernel
    assert any(w is kernel for w in serving.weights)
    path = tmp_path / "serving.keras"
    serving.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(restored.predict(x, verbose=0), serving.predict(x, verbose=0), atol=1e-6)
    plain = keras_cnns.googlenet(num_classes=5, input_shape=(65, 65, 3))
    assert without_aux_heads(plain) is plain


def test_include_top_false_with_pooling():
    model = keras_cnns.googlenet(include_top=False, pooling="avg", input_shape=(96, 96, 3))
    assert model.output_shape == (None, 1024)
    model = keras_cnns.googlenet(include_top=False, input_shape=(None, None, 3))
    assert model.output_shape == (None, None, None, 1024)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(aux_logits=True, include_top=False), ValueError, r"`aux_logits=True` needs include_top=True"),
        (dict(input_shape=(31, 31, 3)), ValueError, r"at least 32x32"),
        (dict(aux_logits=True, input_shape=(64, 64, 3)), ValueError, r"at least 65x65"),
        (dict(aux_logits=True, input_shape=(None, None, 3)), ValueError, r"fully connected top"),
        (dict(aux_logits="yes"), TypeError, r"`aux_logits` must be True or False"),
        (dict(batch_norm=1), TypeError, r"`batch_norm` must be True or False"),
        (dict(dropout=1.0), ValueError, r"`dropout`"),
        (dict(aux_dropout=-0.1), ValueError, r"`aux_dropout`"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        keras_cnns.googlenet(**kwargs)
