import dataclasses
import hashlib
import logging

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

import keras_cnns
from keras_cnns.models import registry
from conftest import count

# Torchvision's published counts (REFERENCE.md): plain totals and batch-norm trainable.
REFERENCE = {
    "vgg11": (132_863_336, 132_868_840),
    "vgg13": (133_047_848, 133_053_736),
    "vgg16": (138_357_544, 138_365_992),
    "vgg19": (143_667_240, 143_678_248),
}

# The paper's Table 1 written independently of the package: (kernel, filters) per conv.
TABLE_1 = {
    "vgg11_lrn": [(3, 64), (3, 128), (3, 256), (3, 256)] + [(3, 512)] * 4,
    "vgg16_c": [(3, 64), (3, 64), (3, 128), (3, 128), (3, 256), (3, 256), (1, 256)]
    + [(3, 512), (3, 512), (1, 512)] * 2,
}


def paper_count(convs, classes=1000):
    total, channels = 0, 3
    for kernel, filters in convs:
        total += kernel * kernel * channels * filters + filters
        channels = filters
    return total + (7 * 7 * 512 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * classes + classes)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_counts_equal_torchvision(name):
    plain, with_bn = REFERENCE[name]
    assert keras_cnns.get_model(name).count_params() == plain
    bn = keras_cnns.get_model(name, batch_norm=True)
    assert count(bn.trainable_weights) == with_bn
    assert isinstance(bn.get_layer("block1_conv1_bn"), keras.layers.BatchNormalization)


@pytest.mark.parametrize("name", sorted(TABLE_1))
def test_other_configurations_match_table_one(name):
    model = keras_cnns.get_model(name)
    assert model.count_params() == paper_count(TABLE_1[name])


def test_a_lrn_has_lrn_after_the_first_convolution():
    model = keras_cnns.vgg11_lrn(input_shape=(32, 32, 3), include_top=False)
    names = [layer.name for layer in model.layers]
    assert names[names.index("block1_conv1") + 1] == "block1_lrn"
    assert isinstance(model.get_layer("block1_lrn"), keras_cnns.layers.LocalResponseNormalization)


def test_configuration_c_uses_one_by_one_convolutions():
    model = keras_cnns.vgg16_c(input_shape=(32, 32, 3), include_top=False)
    assert model.get_layer("block3_conv3").kernel_size == (1, 1)
    assert model.get_layer("block5_conv2").kernel_size == (3, 3)


def test_generic_builder_and_bad_config():
    model = keras_cnns.vgg("B", input_shape=(32, 32, 3), num_classes=10)
    assert model.name == "vgg13"
    with pytest.raises(ValueError, match=r"`config`: 'F'.*'A', 'A-LRN', 'B', 'C', 'D', 'E'"):
        keras_cnns.vgg("F")


def test_quickstart_shapes():
    model = keras_cnns.vgg19(num_classes=10, input_shape=(32, 32, 3))
    assert model.output_shape == (None, 10)
    grey = keras_cnns.vgg19(num_classes=10, input_shape=(28, 28, 1), fit_input="pad")
    assert grey.output_shape == (None, 10)


@pytest.mark.parametrize("name", ["vgg16", "vgg19"])
def test_weight_transfer_from_keras_applications(name, rng):
    reference = {"vgg16": keras.applications.VGG16, "vgg19": keras.applications.VGG19}[name](
        weights=None
    )
    ours = keras_cnns.get_model(name)
    assert ours.count_params() == reference.count_params()
    ours_weighted = [layer.name for layer in ours.layers if layer.weights]
    theirs_weighted = [layer.name for layer in reference.layers if layer.weights]
    assert ours_weighted == theirs_weighted
    ours.set_weights(reference.get_weights())
    x = rng.uniform(-120, 150, size=(2, 224, 224, 3)).astype("float32")
    diff = np.abs(ours.predict(x, verbose=0) - reference.predict(x, verbose=0)).max()
    assert diff <= 1e-5


@pytest.fixture(scope="module")
def vgg16_notop_file(tmp_path_factory):
    """A keras.applications VGG16 (no top) weight file in its published legacy h5 format."""
    keras.utils.set_random_seed(3)
    reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    path = tmp_path_factory.mktemp("weights") / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    return path, reference


def test_imagenet_weights_load_through_keras_get_file(vgg16_notop_file, tmp_path, monkeypatch, rng):
    # The network is unavailable here: the published file is replaced by a local one of the
    # same format, served from a file:// origin with its own hash; the loading path is real.
    path, reference = vgg16_notop_file
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    spec = registry.get_spec("vgg16")
    local = dataclasses.replace(
        spec.weights["imagenet"],
        notop_url=path.as_uri(),
        notop_hash=digest,
        cache_dir=str(tmp_path),
    )
    monkeypatch.setitem(registry._REGISTRY, "vgg16", dataclasses.replace(spec, weights={"imagenet": local}))
    ours = keras_cnns.vgg16(weights="imagenet", include_top=False, input_shape=(32, 32, 3))
    assert (tmp_path / "models" / path.name).exists()
    x = rng.uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        ours.predict(x, verbose=0), reference.predict(x, verbose=0), rtol=0, atol=1e-5
    )


def test_imagenet_weights_published_location():
    weights = registry.get_spec("vgg19").weights["imagenet"]
    assert weights.top_url.endswith("vgg19/vgg19_weights_tf_dim_ordering_tf_kernels.h5")
    assert weights.top_hash == "cbe5617147190e668d6c5d5026f83318"


def test_weights_from_a_path(tmp_path, rng):
    source = keras_cnns.vgg11(num_classes=5, input_shape=(32, 32, 3))
    path = tmp_path / "vgg11.weights.h5"
    source.save_weights(path)
    loaded = keras_cnns.vgg11(num_classes=5, input_shape=(32, 32, 3), weights=str(path))
    x = rng.uniform(size=(1, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), source.predict(x, verbose=0))
    # Another num_classes: everything but the classifier (tests/test_weights_keras_files.py).
    other = keras_cnns.vgg11(num_classes=7, input_shape=(32, 32, 3), weights=str(path))
    np.testing.assert_array_equal(other.get_layer("fc2").kernel.numpy(), source.get_layer("fc2").kernel.numpy())
    with pytest.raises(ValueError, match="does not fit this model"):
        keras_cnns.vgg11(num_classes=7, input_shape=(64, 64, 3), weights=str(path))


def test_imagenet_weights_with_any_num_classes(tmp_path, monkeypatch, caplog):
    # keras.applications' file with the classifier (its legacy h5, loaded by order), into
    # a 10-class model: every layer but the classifier is loaded, the classifier starts
    # fresh, one log line names it with both shapes. The published file is replaced by
    # one of a VGG16 at 32x32 (fc1 then takes 512 features), to stay small.
    keras.utils.set_random_seed(4)
    reference = keras.applications.VGG16(weights=None, input_shape=(32, 32, 3))
    path = tmp_path / "vgg16_weights_tf_dim_ordering_tf_kernels.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    spec = registry.get_spec("vgg16")
    local = dataclasses.replace(
        spec.weights["imagenet"],
        top_url=path.as_uri(),
        top_hash=hashlib.sha256(path.read_bytes()).hexdigest(),
        input_shape=(32, 32, 3),
        cache_dir=str(tmp_path / "cache"),
    )
    monkeypatch.setitem(registry._REGISTRY, "vgg16", dataclasses.replace(spec, weights={"imagenet": local}))
    with caplog.at_level(logging.WARNING, logger="keras_cnns"):
        ours = keras_cnns.vgg16(weights="imagenet", num_classes=10, input_shape=(32, 32, 3))
    lines = [r.getMessage() for r in caplog.records if r.name == "keras_cnns"]
    assert len(lines) == 1 and path.name in lines[0], lines
    assert "predictions (checkpoint (4096, 1000), model (4096, 10))" in lines[0]
    for name in ("block1_conv1", "block5_conv3", "fc1", "fc2"):
        for mine, theirs in zip(ours.get_layer(name).weights, reference.get_layer(name).weights):
            np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    head = ours.get_layer("predictions")
    assert head.kernel.shape == (4096, 10)
    np.testing.assert_array_equal(head.bias.numpy(), np.zeros(10))  # Keras' initialization


def test_imagenet_weight_constraints():
    with pytest.raises(ValueError, match="3-channel"):
        keras_cnns.vgg16(weights="imagenet", input_shape=(224, 224, 1))
    with pytest.raises(ValueError, match=r"input_shape \(224, 224, 3\)"):
        keras_cnns.vgg16(weights="imagenet", input_shape=(64, 64, 3))
    with pytest.raises(ValueError, match="batch_norm=False"):
        keras_cnns.vgg16(weights="imagenet", batch_norm=True)
    with pytest.raises(ValueError, match=r"published name \('torchvision'\)"):
        keras_cnns.vgg13(weights="imagenet")
    with pytest.raises(ValueError, match=r"published name \(none for this model\)"):
        keras_cnns.vgg16_c(weights="torchvision")


def test_torchvision_weights_follow_batch_norm():
    """`vgg16(batch_norm=True, weights="torchvision")` is torchvision's vgg16_bn file; the
    plain builder's is vgg16's, and keras.applications' "imagenet" only exists without
    batch norm."""
    from keras_cnns.models.vgg import published_weights
    from keras_cnns.weights import TORCHVISION_URLS

    for name in ("vgg11", "vgg13", "vgg16", "vgg19"):
        assert published_weights(name, False)["torchvision"].top_url == TORCHVISION_URLS[name]
        with_bn = published_weights(name, True)
        assert with_bn["torchvision"].top_url == TORCHVISION_URLS[f"{name}_bn"]
        assert with_bn["torchvision"].preprocessing == "torch"
        assert "imagenet" not in with_bn
    assert set(published_weights("vgg16", False)) == {"imagenet", "torchvision"}
