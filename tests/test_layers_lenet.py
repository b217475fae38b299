import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_cnns.layers import (
    LENET5_C3_TABLE,
    ConnectionTableConv2D,
    EuclideanRBF,
    TrainableSubsampling,
    scaled_tanh,
)
from conftest import count

# Table I of the paper, written as the paper prints it: rows are S2 maps, columns C3 maps.
PAPER_TABLE_I = [
    "X   XXX  XXXX XX",
    "XX   XXX  XXXX X",
    "XXX   XXX  X XXX",
    " XXX  XXXX  X XX",
    "  XXX  XXXX XX X",
    "   XXX  XXXX XXX",
]


def test_default_table_is_table_one_of_the_paper():
    for c3_map, inputs in enumerate(LENET5_C3_TABLE):
        expected = [row for row in range(6) if PAPER_TABLE_I[row][c3_map] == "X"]
        assert list(inputs) == expected


def test_c3_parameter_count_is_the_tables():
    layer = ConnectionTableConv2D(5, name="c3")
    layer.build((None, 14, 14, 6))
    assert count(layer.trainable_weights) == 1516  # (6*3 + 9*4 + 6) * 25 + 16


def test_absent_connections_get_no_gradient_and_no_output(rng):
    layer = ConnectionTableConv2D(5)
    x = tf.constant(rng.normal(size=(1, 14, 14, 6)).astype("float32"))
    layer(x)
    for out_map, inputs in enumerate(LENET5_C3_TABLE):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.reduce_sum(layer(x)[..., out_map])
        grad = tape.gradient(y, x).numpy()
        per_input = np.abs(grad).sum(axis=(0, 1, 2))
        for in_map in range(6):
            if in_map in inputs:
                assert per_input[in_map] > 0
            else:
                assert per_input[in_map] == 0
    kernel = np.asarray(layer.full_kernel())
    for out_map, inputs in enumerate(LENET5_C3_TABLE):
        for in_map in range(6):
            assert np.any(kernel[:, :, in_map, out_map] != 0) == (in_map in inputs)


def test_matches_a_full_convolution_with_masked_kernel(rng):
    table = [[0], [0, 1], [1, 2]]
    layer = ConnectionTableConv2D(3, table, padding="same")
    x = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    y = np.asarray(layer(x))
    reference = tf.nn.conv2d(x, layer.full_kernel(), 1, "SAME") + np.asarray(layer.bias)
    np.testing.assert_allclose(y, reference.numpy(), atol=1e-5)
    assert count(layer.trainable_weights) == 9 * 5 + 3


def test_trains_only_existing_connections(rng):
    inputs = keras.Input((6, 6, 2))
    layer = ConnectionTableConv2D(3, [[0], [1]], name="sparse")
    model = keras.Model(inputs, layer(inputs))
    model.compile("sgd", "mse")
    model.fit(rng.normal(size=(4, 6, 6, 2)), rng.normal(size=(4, 4, 4, 2)), verbose=0)
    kernel = np.asarray(layer.full_kernel())
    assert np.all(kernel[:, :, 1, 0] == 0) and np.all(kernel[:, :, 0, 1] == 0)


@pytest.mark.parametrize(
    "table,match",
    [([], "at least one"), ([[0, 0]], "distinct"), ([[]], "distinct"), ("abc", "sequence")],
)
def test_bad_tables(table, match):
    with pytest.raises(ValueError, match=match):
        ConnectionTableConv2D(5, table)


def test_table_reading_a_missing_input_map():
    with pytest.raises(ValueError, match="reads input map 6"):
        ConnectionTableConv2D(5, [[0, 6]])(np.zeros((1, 8, 8, 6), "float32"))


def test_subsampling_is_average_times_coefficient_plus_bias(rng):
    layer = TrainableSubsampling(2)
    x = rng.normal(size=(1, 4, 4, 6)).astype("float32")
    layer(x)
    assert count(layer.trainable_weights) == 12
    layer.coefficient.assign(np.arange(1, 7, dtype="float32"))
    layer.bias.assign(np.full(6, 0.5, "float32"))
    expected = x.reshape(1, 2, 2, 2, 2, 6).mean(axis=(2, 4)) * np.arange(1, 7) + 0.5
    np.testing.assert_allclose(np.asarray(layer(x)), expected, atol=1e-5)


def test_rbf_computes_squared_euclidean_distances(rng):
    layer = EuclideanRBF(10)
    x = rng.normal(size=(3, 84)).astype("float32")
    y = np.asarray(layer(x))
    prototypes = np.asarray(layer.prototypes)
    assert prototypes.shape == (84, 10) and set(np.unique(prototypes)) == {-1.0, 1.0}
    expected = ((x[:, :, None] - prototypes[None]) ** 2).sum(axis=1)
    np.testing.assert_allclose(y, expected, rtol=1e-5)
    assert count(layer.non_trainable_weights) == 840 and not layer.trainable_weights
    np.testing.assert_allclose(np.asarray(EuclideanRBF(10, negate=True)(x)), -expected, rtol=1e-5)


def test_scaled_tanh_is_lecuns_squashing_function():
    # f(a) = A tanh(S a) with A = 1.7159, S = 2/3 (LeCun et al. 1998, appendix A), at
    # points where it differs from the identity and from tanh by far more than the
    # tolerance, and its asymptotes +-A.
    x = np.array([0.5, 2.0, -3.0, 10.0, -10.0], "float32")
    y = np.asarray(scaled_tanh(x))
    expected = 1.7159 * np.tanh(2.0 * x.astype("float64") / 3.0)
    np.testing.assert_allclose(y, expected, rtol=1e-6, atol=0)
    assert np.all(np.abs(y - x) > 0.05) and np.all(np.abs(y - np.tanh(x)) > 0.05)
    np.testing.assert_allclose(y, [0.551684, 1.492939, -1.654175, 1.715894, -1.715894], rtol=1e-6)
    # The paper chose A and S so that f(1) = 1 and f(-1) = -1 (and f(0) = 0).
    fixed = np.asarray(scaled_tanh(np.array([1.0, -1.0, 0.0], "float32")))
    np.testing.assert_allclose(fixed, [1.0, -1.0, 0.0], rtol=0, atol=1e-4)


def test_layers_serialize():
    for layer in (
        ConnectionTableConv2D(3, [[0], [0, 1]], name="a"),
        TrainableSubsampling(2, name="b"),
        EuclideanRBF(4, negate=True, seed=3, name="c"),
    ):
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
        assert type(restored) is type(layer)
        assert restored.get_config() == layer.get_config()
