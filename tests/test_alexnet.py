import keras
import numpy as np
import pytest

import keras_cnns
from keras_cnns.layers import LocalResponseNormalization


@pytest.fixture(scope="module")
def paper():
    return keras_cnns.alexnet()


def test_paper_count_with_two_towers(paper):
    assert paper.count_params() == 60_965_224


def test_paper_layout(paper):
    assert paper.input_shape == (None, 227, 227, 3)
    assert paper.get_layer("pool5").output.shape[1:] == (6, 6, 256)
    assert isinstance(paper.get_layer("norm1"), LocalResponseNormalization)
    assert isinstance(paper.get_layer("norm2"), LocalResponseNormalization)
    assert [paper.get_layer(f"conv{i}").groups for i in range(1, 6)] == [1, 2, 1, 2, 2]
    assert paper.get_layer("pool1").pool_size == (3, 3) and paper.get_layer("pool1").strides == (2, 2)
    assert paper.get_layer("fc6_dropout").rate == 0.5 and paper.get_layer("fc7_dropout").rate == 0.5


def test_one_tower_paper_layout():
    assert keras_cnns.alexnet(groups=1).count_params() == 62_378_344


def test_single_tower_variant_matches_torchvision():
    model = keras_cnns.alexnet(variant="single_tower")
    assert model.count_params() == 61_100_840
    assert model.input_shape == (None, 224, 224, 3)
    assert model.get_layer("pool5").output.shape[1:] == (6, 6, 256)
    assert not any(isinstance(layer, LocalResponseNormalization) for layer in model.layers)


def test_small_input_and_fit_input():
    model = keras_cnns.alexnet(input_shape=(67, 67, 3), num_classes=10)
    assert model.get_layer("pool5").output.shape[1:3] == (1, 1)
    with pytest.raises(ValueError, match="at least 67x67"):
        keras_cnns.alexnet(input_shape=(28, 28, 1))
    resized = keras_cnns.alexnet(input_shape=(28, 28, 1), fit_input="resize", num_classes=10)
    assert resized.get_layer("fit_input_resize").output.shape[1:3] == (67, 67)
    assert keras_cnns.alexnet(variant="single_tower", input_shape=(63, 63, 3), include_top=False)


def test_grouped_convolution_keeps_towers_apart(rng):
    # With groups=2 the first half of conv2's outputs depends only on the first half of
    # its inputs: perturbing input channels 48..95 must leave outputs 0..127 unchanged.
    model = keras_cnns.alexnet(input_shape=(67, 67, 3), include_top=False)
    conv2 = model.get_layer("conv2")
    x = rng.normal(size=(1, 8, 8, 96)).astype("float32")
    x2 = x.copy()
    x2[..., 48:] += 1.0
    y, y2 = np.asarray(conv2(x)), np.asarray(conv2(x2))
    np.testing.assert_array_equal(y[..., :128], y2[..., :128])
    assert not np.allclose(y[..., 128:], y2[..., 128:])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(groups=3), r"groups.*accepted values: 1, 2, 4, 8, 16, 32"),
        (dict(groups=0), "groups"),
        (dict(variant="caffenet"), "variant"),
        (dict(dropout=1.0), "dropout"),
        (dict(lrn="yes"), "lrn"),
    ],
)
def test_bad_family_options(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        keras_cnns.alexnet(**kwargs)


def test_trains_a_step_at_small_size(rng):
    model = keras_cnns.alexnet(input_shape=(67, 67, 3), num_classes=4)
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    loss = model.train_on_batch(rng.uniform(size=(2, 67, 67, 3)), np.array([0, 3]))
    assert np.isfinite(loss)


def test_torchvision_weights_need_the_single_tower():
    """`weights="torchvision"` is torchvision's single-tower AlexNet file: the paper's
    two-tower LRN network is refused before anything is downloaded, naming the variant
    to pass."""
    from keras_cnns.weights import TORCHVISION_URLS

    entry = keras_cnns.get_spec("alexnet").weights["torchvision"]
    assert entry.top_url == TORCHVISION_URLS["alexnet"]
    assert entry.input_shape == (224, 224, 3) and entry.preprocessing == "torch"
    with pytest.raises(ValueError, match=r"variant='single_tower'.*received variant='paper'"):
        keras_cnns.alexnet(weights="torchvision")
    with pytest.raises(ValueError, match=r"groups=1"):
        keras_cnns.alexnet(variant="single_tower", groups=2, weights="torchvision")
