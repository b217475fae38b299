"""keras_cnns.layers.BatchNormalization: Keras' layer with TensorFlow's fused kernel in
training. Outputs, gradients and moving statistics must equal Keras' own layer."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_cnns
from keras_cnns.keras_internals import sublayers
from keras_cnns.layers import BatchNormalization
from keras_cnns.models.common import InputTooSmallError


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


# Every registered model with its default options, and the family options that add batch
# normalization or put it inside other layers (auxiliary heads, the layout variants,
# stochastic depth's wrapped blocks, memory-efficient dense blocks).
# (Every registered model with its default options is checked by
# test_every_model.py::test_declared_minimum_input_size_is_exact, on the model it builds
# anyway, through `assert_fused_batch_norm` below.)
BN_OPTIONS = [
    *[(name, dict(batch_norm=True)) for name in keras_cnns.list_models("vgg")],
    ("googlenet", dict(batch_norm=True, aux_logits=True)),
    ("googlenet", dict(batch_norm=True, layout="torchvision", aux_logits=True)),
    ("inception_v3", dict(aux_logits=True)),
    ("inception_v3", dict(layout="torchvision", aux_logits=True)),
    ("resnet50", dict(layout="keras")),
    ("resnet18", dict(stochastic_depth=0.5)),
    ("resnet20", dict(preactivation=True, stochastic_depth=0.5)),
    ("resnet20", dict(shortcut="C")),
    ("densenet121", dict(memory_efficient=True)),
    ("densenet_bc100", dict(memory_efficient=True)),
]
# The models without any batch normalization with their default options.
NO_BATCH_NORM = {"lenet5", "alexnet", "googlenet", *keras_cnns.list_models("vgg")}
# Counted by hand, to show that the search reaches the layers nested in blocks.
BATCH_NORM_COUNTS = {
    # Stem, then 9 blocks of two.
    ("resnet20", ()): 1 + 9 * 2,  # checked in test_every_model.py
    # 48 bottleneck layers of two, two transitions, the final one (no stem BN on CIFAR).
    ("densenet_bc100", (("memory_efficient", True),)): 48 * 2 + 2 + 1,
    # Stem 3, nine modules of six convolutions, one in each auxiliary head.
    ("googlenet", (("aux_logits", True), ("batch_norm", True))): 3 + 9 * 6 + 2,
    # keras.applications' InceptionV3: 94 (and one in the auxiliary head).
    ("inception_v3", (("aux_logits", True),)): 94 + 2,
}


def _built_at_smallest_input(name, options):
    """The model with its top (auxiliary heads included), 10 classes, at the smallest
    input these options accept (their error names it)."""
    spec = keras_cnns.get_spec(name)
    size, channels = spec.min_input_size, spec.default_input_shape[-1]
    try:
        return keras_cnns.get_model(name, num_classes=10, input_shape=(size, size, channels), **options)
    except InputTooSmallError as err:
        size = err.min_size
    return keras_cnns.get_model(name, num_classes=10, input_shape=(size, size, channels), **options)


@pytest.mark.parametrize(
    "name,options", BN_OPTIONS,
    ids=["-".join([name, *(f"{k}={v}" for k, v in options.items())]) for name, options in BN_OPTIONS],
)
def test_every_batch_norm_is_the_fused_layer(name, options):
    """README: fused batch norm in every BN model. Every batch normalization of the model,
    inside blocks and nested layers too, is `keras_cnns.layers.BatchNormalization` itself
    (not Keras' layer, nor another subclass)."""
    assert_fused_batch_norm(_built_at_smallest_input(name, options), name, options)


def assert_fused_batch_norm(model, name: str, options: dict) -> None:
    """Every batch normalization of `model` (built by `name` with `options`), nested ones
    included, is the fused layer; the models in NO_BATCH_NORM have none by default; the
    counts of BATCH_NORM_COUNTS hold."""
    found = [
        layer for layer in sublayers(model, recursive=True)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    if not options and name in NO_BATCH_NORM:
        assert not found
        return
    assert found, f"{name} {options}: no batch normalization found"
    assert all(type(layer) is BatchNormalization for layer in found), sorted(
        {f"{type(layer).__module__}.{type(layer).__qualname__}" for layer in found}
    )
    expected = BATCH_NORM_COUNTS.get((name, tuple(sorted(options.items()))))
    if expected is not None:
        assert len(found) == expected
