"""keras_cnns.layers.BatchNormalization: Keras' layer with TensorFlow's fused kernel in
training. Outputs, gradients and moving statistics must equal Keras' own layer."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_cnns
from keras_cnns.layers import BatchNormalization


def _pair(**kwargs):
    ours, theirs = BatchNormalization(**kwargs), keras.layers.BatchNormalization(**kwargs)
    shape = (4, 5, 6, 3)
    ours.build(shape)
    theirs.build(shape)
    rng = np.random.default_rng(0)
    weights = [rng.normal(1.0, 0.3, size=w.shape).astype("float32") for w in theirs.weights]
    weights = [np.abs(w) if "variance" in v.path else w for w, v in zip(weights, theirs.weights)]
    theirs.set_weights(weights)
    ours.set_weights(weights)
    return ours, theirs


@pytest.mark.parametrize("scale,center", [(True, True), (False, True), (True, False)])
def test_training_step_equals_keras(scale, center):
    ours, theirs = _pair(scale=scale, center=center, momentum=0.9, epsilon=1e-3)
    x = tf.constant(np.random.default_rng(1).normal(2.0, 3.0, size=(4, 5, 6, 3)), "float32")
    initial_mean = ours.moving_mean.numpy().copy()
    results = []
    for layer in (ours, theirs):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * tf.range(1.0, 4.0))
        grads = tape.gradient(loss, [x, *layer.trainable_weights])
        results.append((y, grads, layer.moving_mean.numpy(), layer.moving_variance.numpy()))
    (y1, g1, m1, v1), (y2, g2, m2, v2) = results
    np.testing.assert_allclose(y1, y2, atol=1e-5)
    for a, b in zip(g1, g2):
        np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_allclose(m1, m2, atol=1e-6)
    np.testing.assert_allclose(v1, v2, atol=1e-6)
    # The moving statistics did move (a step that updated nothing would also be "equal").
    assert np.abs(m1 - initial_mean).min() > 1e-3
    np.testing.assert_allclose(ours(x, training=False), theirs(x, training=False), atol=1e-5)


def test_config_round_trip_keeps_class():
    layer = BatchNormalization(epsilon=1e-3, scale=False, name="bn")
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(restored) is BatchNormalization
    assert restored.get_config() == layer.get_config()


def test_inception_models_use_fused_batch_norm():
    for model in (keras_cnns.inception_v3(num_classes=10, input_shape=(75, 75, 3)),
                  keras_cnns.inception_v2(num_classes=10, input_shape=(64, 64, 3))):
        bns = [l for l in model._flatten_layers() if isinstance(l, keras.layers.BatchNormalization)]
        assert bns and all(type(l) is BatchNormalization for l in bns), model.name
