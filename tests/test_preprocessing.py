"""The preprocessing that travels with the weights: `WeightsPreprocessing` against
keras.applications' own `preprocess_input` and torchvision's `transform_input`,
`keras_cnns.preprocess_input`, and `include_preprocessing` (a model that takes plain
pixels, uint8 or float, and saves and loads in safe mode)."""

from __future__ import annotations

import types

import keras
import numpy as np
import pytest

import keras_cnns
from keras_cnns.layers import WeightsPreprocessing
from keras_cnns.models.preprocessing import weights_preprocessing

SIZE = 40
RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 256, size=(2, SIZE, SIZE, 3)).astype("uint8")


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_modes_equal_keras_applications(mode):
    expected = keras.applications.imagenet_utils.preprocess_input(
        PIXELS.astype("float32"), mode=mode
    )
    got = keras.ops.convert_to_numpy(WeightsPreprocessing(mode)(PIXELS))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)


def test_transform_input_equals_torchvision(torchvision):
    """torchvision's GoogLeNet `_transform_input` on "torch"-normalized NCHW images."""
    import torch

    normalized = keras.ops.convert_to_numpy(WeightsPreprocessing("torch")(PIXELS))
    holder = types.SimpleNamespace(transform_input=True)
    expected = torchvision.models.GoogLeNet._transform_input(
        holder, torch.from_numpy(normalized.transpose(0, 3, 1, 2).copy())
    ).numpy().transpose(0, 2, 3, 1)
    got = keras.ops.convert_to_numpy(WeightsPreprocessing("torch", transform_input=True)(PIXELS))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # ... which is pixels scaled to [-1, 1], up to rounding.
    np.testing.assert_allclose(got, PIXELS / 127.5 - 1, atol=1e-5)


def test_every_published_entry_names_its_preprocessing():
    seen = {}
    for name in keras_cnns.list_models():
        for weights, entry in keras_cnns.get_spec(name).weights.items():
            assert entry.preprocessing in ("caffe", "tf", "torch"), (name, weights)
            seen[(name, weights)] = weights_preprocessing(name, weights).describe()
    assert seen[("vgg16", "imagenet")] == "caffe"
    assert seen[("resnet50", "imagenet")] == "caffe"
    assert seen[("resnet50_v2", "imagenet")] == "tf"
    assert seen[("inception_v3", "imagenet")] == "tf"
    assert seen[("densenet121", "imagenet")] == "torch"
    assert seen[("resnet18", "torchvision")] == "torch"


def test_preprocess_input_follows_the_weights():
    caffe = keras_cnns.preprocess_input(PIXELS, "vgg16", weights="imagenet")
    torch_style = keras_cnns.preprocess_input(PIXELS, "vgg16", weights="torchvision")
    np.testing.assert_allclose(
        caffe, keras.applications.vgg16.preprocess_input(PIXELS.astype("float32")), atol=1e-4
    )
    np.testing.assert_allclose(
        torch_style, keras.applications.densenet.preprocess_input(PIXELS.astype("float32")),
        atol=1e-5,
    )
    assert isinstance(caffe, np.ndarray) and caffe.dtype == np.float32
    # One published set: no need to name it. A file: known by its kind and name.
    np.testing.assert_array_equal(keras_cnns.preprocess_input(PIXELS, "resnet18"), torch_style)
    assert weights_preprocessing("resnet18", "/any/where/model.safetensors").mode == "torch"
    assert weights_preprocessing(
        "vgg16", "/cache/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    ).mode == "caffe"


def test_preprocess_input_errors_name_what_would_fit():
    with pytest.raises(ValueError, match=r"`weights` is needed.*'imagenet', 'torchvision'"):
        keras_cnns.preprocess_input(PIXELS, "vgg16")
    with pytest.raises(ValueError, match=r"Cannot tell.*mine\.weights\.h5.*'imagenet'"):
        keras_cnns.preprocess_input(PIXELS, "vgg16", weights="mine.weights.h5")
    with pytest.raises(ValueError, match=r"not named after a registered model"):
        keras_cnns.preprocess_input(PIXELS, keras.Sequential([keras.Input((4,))], name="mine"))
    with pytest.raises(TypeError, match="model_or_name"):
        keras_cnns.preprocess_input(PIXELS, 3)


@pytest.fixture(scope="module")
def inside_and_outside():
    """resnet18 with the torchvision preprocessing inside, and the same network
    without it (the same weights)."""
    inside = keras_cnns.resnet18(
        num_classes=4, input_shape=(SIZE, SIZE, 3), include_preprocessing="torch"
    )
    outside = keras_cnns.resnet18(num_classes=4, input_shape=(SIZE, SIZE, 3))
    outside.set_weights(inside.get_weights())
    return inside, outside


def test_model_with_preprocessing_takes_uint8_pixels(inside_and_outside):
    inside, outside = inside_and_outside
    assert inside.get_layer("preprocessing").get_config()["mode"] == "torch"
    expected = outside.predict(
        keras_cnns.preprocess_input(PIXELS, "resnet18", weights="torchvision"), verbose=0
    )
    np.testing.assert_allclose(inside.predict(PIXELS, verbose=0), expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        inside.predict(PIXELS.astype("float32"), verbose=0), expected, rtol=1e-4, atol=1e-6
    )
    # Its images need no preprocessing outside: they pass through.
    np.testing.assert_array_equal(
        keras_cnns.preprocess_input(PIXELS, inside), PIXELS.astype("float32")
    )


def test_model_with_preprocessing_loads_in_safe_mode(inside_and_outside, tmp_path):
    inside, _ = inside_and_outside
    path = tmp_path / "model.keras"
    inside.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.get_layer("preprocessing"), WeightsPreprocessing)
    np.testing.assert_allclose(
        loaded.predict(PIXELS, verbose=0), inside.predict(PIXELS, verbose=0), rtol=1e-6
    )


def test_include_preprocessing_true_reads_the_weights_file(tmp_path, torchvision):
    """`include_preprocessing=True` with a torchvision checkpoint by path: "torch"."""
    import torch

    from torch_reference import random_torchvision

    path = tmp_path / "resnet18.pth"
    torch.save(random_torchvision(torchvision, "resnet18", seed=1).state_dict(), path)
    model = keras_cnns.resnet18(
        input_shape=(SIZE, SIZE, 3), weights=str(path), include_preprocessing=True
    )
    assert model.get_layer("preprocessing").get_config()["mode"] == "torch"


def test_include_preprocessing_errors():
    with pytest.raises(ValueError, match=r"weights=None has none.*'caffe' \| 'tf' \| 'torch'"):
        keras_cnns.lenet5(include_preprocessing=True)
    with pytest.raises(ValueError, match=r"RGB images.*\(32, 32, 1\) has 1"):
        keras_cnns.lenet5(include_preprocessing="torch")
    with pytest.raises(ValueError, match=r"include_preprocessing.*'caffe', 'tf', 'torch'"):
        keras_cnns.lenet5(include_preprocessing="imagenet")
    with pytest.raises(TypeError, match="include_preprocessing"):
        keras_cnns.lenet5(include_preprocessing=1)
    # "tf" scaling takes any channel count.
    model = keras_cnns.lenet5(include_preprocessing="tf")
    assert model.get_layer("preprocessing").get_config()["mode"] == "tf"
    with pytest.raises(ValueError, match="transform_input"):
        WeightsPreprocessing("caffe", transform_input=True)
