import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_cnns.layers import LocalResponseNormalization


@pytest.mark.parametrize(
    "radius,bias,alpha,beta",
    [(2, 2.0, 1e-4, 0.75), (0, 1.0, 0.5, 0.5), (1, 1.0, 1e-2, 0.75), (5, 0.5, 1e-3, 1.0)],
)
def test_equals_tensorflow_lrn(radius, bias, alpha, beta, rng):
    x = rng.normal(0, 10, size=(2, 5, 4, 16)).astype("float32")
    ours = LocalResponseNormalization(radius, bias, alpha, beta)(x)
    reference = tf.nn.local_response_normalization(
        x, depth_radius=radius, bias=bias, alpha=alpha, beta=beta
    )
    np.testing.assert_allclose(np.asarray(ours), reference.numpy(), rtol=1e-5, atol=1e-6)


def test_alexnet_constants_are_the_default():
    layer = LocalResponseNormalization()
    assert (layer.depth_radius, layer.bias, layer.alpha, layer.beta) == (2, 2.0, 1e-4, 0.75)


def test_normalization_actually_changes_large_activations(rng):
    x = np.full((1, 1, 1, 8), 100.0, dtype="float32")
    y = np.asarray(LocalResponseNormalization()(x))
    # 100 / (2 + 1e-4 * 5 * 100^2)^0.75 at the centre channels (5 neighbours in the window)
    assert y[0, 0, 0, 4] == pytest.approx(100 / (2 + 1e-4 * 5 * 1e4) ** 0.75, rel=1e-5)


def test_config_round_trip():
    layer = LocalResponseNormalization(depth_radius=3, bias=1.5, alpha=2e-4, beta=0.5, name="n")
    clone = LocalResponseNormalization.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(restored, LocalResponseNormalization) and restored.depth_radius == 3


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(depth_radius=-1), "depth_radius"),
        (dict(depth_radius=1.5), "depth_radius"),
        (dict(alpha=-1.0), "alpha"),
        (dict(beta="x"), "beta"),
        (dict(bias=0.0), "bias"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LocalResponseNormalization(**kwargs)
