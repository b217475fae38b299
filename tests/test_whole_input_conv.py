"""WholeInputConv2D: a Conv2D whose kernel covers its input, computed as a matrix product.
Same values, gradients, weights and configuration as `keras.layers.Conv2D`; the ordinary
convolution for any other input; LeNet-5's C5 uses it."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_cnns
from keras_cnns.layers import WholeInputConv2D
from keras_cnns.precision import precision_policy


def _pair(input_shape, **options):
    keras.utils.set_random_seed(1)
    ours = WholeInputConv2D(**options)
    reference = keras.layers.Conv2D(**options)
    ours.build((None, *input_shape))
    reference.build((None, *input_shape))
    reference.set_weights([np.random.default_rng(2).normal(size=w.shape).astype("float32")
                           for w in ours.get_weights()])
    ours.set_weights(reference.get_weights())
    return ours, reference


@pytest.mark.parametrize("input_shape,covers", [((5, 5, 16), True), ((7, 7, 16), False), ((5, 3, 4), True)])
def test_outputs_and_gradients_equal_conv2d(input_shape, covers):
    kernel = (5, 3) if input_shape == (5, 3, 4) else 5  # a non-square kernel covering its input
    ours, reference = _pair(input_shape, filters=12, kernel_size=kernel, activation="relu")
    x = tf.constant(np.random.default_rng(3).normal(size=(4, *input_shape)).astype("float32"))
    assert ours._covers_input(x) is covers
    results = []
    for layer in (ours, reference):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(y * tf.range(1.0, 13.0))
        results.append((y, *tape.gradient(loss, [x, *layer.trainable_weights])))
    assert results[0][0].shape == results[1][0].shape
    for a, b in zip(*results):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5)


def test_same_padding_dilation_or_groups_run_the_convolution():
    # A 3x3 kernel dilated by 2 spans 5x5, and a 5x5 input under "same" padding has 25
    # outputs: neither is one product. Groups are a block-diagonal kernel.
    for kernel, options in ((5, dict(padding="same")), (3, dict(dilation_rate=2)), (5, dict(groups=2))):
        ours, reference = _pair((5, 5, 4), filters=6, kernel_size=kernel, **options)
        x = tf.constant(np.random.default_rng(4).normal(size=(2, 5, 5, 4)).astype("float32"))
        assert not ours._covers_input(x)
        np.testing.assert_allclose(ours(x).numpy(), reference(x).numpy(), rtol=1e-5, atol=1e-5)


def test_lenet5_c5_is_a_whole_input_convolution_with_the_papers_kernel():
    for variant in ("paper", "modern"):
        model = keras_cnns.lenet5(num_classes=10, variant=variant)
        c5 = model.get_layer("c5")
        assert isinstance(c5, WholeInputConv2D)
        assert tuple(c5.kernel.shape) == (5, 5, 16, 120)
        # A larger input: C5 sees a 6x6 map and convolves (2x2 outputs).
        larger = keras_cnns.lenet5(num_classes=10, variant=variant, input_shape=(36, 36, 1))
        assert tuple(larger.get_layer("c5").output.shape) == (None, 2, 2, 120)


def test_saves_loads_and_computes_under_mixed_precision(tmp_path):
    model = keras_cnns.lenet5(num_classes=10, variant="modern")
    path = tmp_path / "lenet.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.get_layer("c5")) is WholeInputConv2D
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 1)).astype("float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    with precision_policy("mixed_bfloat16"):
        layer = WholeInputConv2D(8, 5)
        y = layer(tf.ones((2, 5, 5, 3)))
    assert y.dtype == tf.bfloat16 and layer.kernel.dtype == "float32"
