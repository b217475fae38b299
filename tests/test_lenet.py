import keras
import numpy as np
import pytest

import keras_cnns
from conftest import count

PAPER_LAYER_COUNTS = {"c1": 156, "s2": 12, "c3": 1516, "s4": 32, "c5": 48120, "f6": 10164}


@pytest.fixture(scope="module")
def paper():
    return keras_cnns.lenet5(num_classes=10)


def test_paper_variant_has_exactly_60000_trainable_parameters(paper):
    assert count(paper.trainable_weights) == 60_000
    for name, expected in PAPER_LAYER_COUNTS.items():
        assert count(paper.get_layer(name).trainable_weights) == expected, name


def test_rbf_output_has_840_fixed_weights(paper):
    rbf = paper.get_layer("rbf")
    assert count(rbf.non_trainable_weights) == 840 and not rbf.trainable_weights
    assert paper.count_params() == 60_840


def test_paper_variant_uses_scaled_tanh_and_outputs_probabilities(paper, rng):
    assert paper.input_shape == (None, 32, 32, 1)
    probs = paper.predict(rng.uniform(size=(4, 32, 32, 1)), verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert paper.get_layer("c1_tanh").activation is keras_cnns.layers.scaled_tanh


def test_modern_variant():
    model = keras_cnns.lenet5(variant="modern", num_classes=10)
    # 156 + (6*25*16 + 16) + 48,120 + 10,164 + 850: a full C3, a dense softmax head.
    assert model.count_params() == 156 + 2416 + 48120 + 10164 + 850
    assert isinstance(model.get_layer("s2"), keras.layers.MaxPooling2D)
    sigmoid = keras_cnns.lenet5(variant="modern", activation="sigmoid", subsampling="avg")
    assert isinstance(sigmoid.get_layer("s2"), keras.layers.AveragePooling2D)


def test_fashion_mnist_size_needs_fit_input():
    with pytest.raises(ValueError, match="at least 32x32.*fit_input"):
        keras_cnns.lenet5(input_shape=(28, 28, 1))
    padded = keras_cnns.lenet5(input_shape=(28, 28, 1), fit_input="pad", num_classes=10)
    assert padded.get_layer("fit_input_pad").output.shape[1:3] == (32, 32)
    assert count(padded.trainable_weights) == 60_000
    resized = keras_cnns.lenet5(input_shape=(28, 28, 1), fit_input="resize", num_classes=10)
    assert resized.get_layer("fit_input_resize").output.shape[1:3] == (32, 32)


def test_padding_centres_the_image(rng):
    model = keras_cnns.lenet5(input_shape=(28, 28, 1), fit_input="pad", num_classes=10)
    pad = keras.Model(model.input, model.get_layer("fit_input_pad").output)
    x = rng.uniform(size=(1, 28, 28, 1)).astype("float32")
    y = pad.predict(x, verbose=0)
    np.testing.assert_array_equal(y[0, 2:30, 2:30], x[0])
    assert y[0, :2].sum() == 0 and y[0, 30:].sum() == 0


def test_include_top_false_ends_at_c5():
    model = keras_cnns.lenet5(include_top=False)
    assert model.output_shape == (None, 1, 1, 120)
    assert keras_cnns.lenet5(include_top=False, pooling="avg").output_shape == (None, 120)


def test_lenet_trains_on_a_batch(rng):
    # The RBF head's scores span hundreds: it wants small steps, as the paper's 5e-4.
    keras.utils.set_random_seed(1)
    model = keras_cnns.lenet5(num_classes=10)
    model.compile(keras.optimizers.SGD(1e-3), "sparse_categorical_crossentropy")
    x = rng.uniform(size=(32, 32, 32, 1)).astype("float32")
    y = rng.integers(0, 10, size=32)
    first = model.train_on_batch(x, y)
    for _ in range(20):
        last = model.train_on_batch(x, y)
    assert last < first


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(variant="lecun"), "variant"),
        (dict(variant="modern", activation="swishy"), "activation"),
        (dict(variant="modern", subsampling="min"), "subsampling"),
    ],
)
def test_bad_family_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_cnns.lenet5(**kwargs)
