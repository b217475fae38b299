"""ImageNet DenseNets: keras.applications' and torchvision's counts, weight compatibility
with keras.applications' DenseNet121/169/201 (plain and memory-efficient)."""

import dataclasses
import hashlib

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

import keras_cnns
from keras_cnns.layers import DenseBlock, TransitionLayer
from keras_cnns.models import registry
from keras_cnns.models.densenet import IMAGENET
from conftest import count

# REFERENCE.md: keras.applications totals and torchvision trainable counts.
KERAS_APPLICATIONS = {
    "densenet121": (keras.applications.DenseNet121, 8_062_504, 7_978_856),
    "densenet169": (keras.applications.DenseNet169, 14_307_880, 14_149_480),
    "densenet201": (keras.applications.DenseNet201, 20_242_984, 20_013_928),
}
DENSENET161_TRAINABLE = 28_681_000
SIZES = {"densenet121": 224}  # the others at 64x64 (global pooling before the classifier)


def derived_counts(growth_rate, blocks, classes=1000):
    """(trainable, total) written out from Huang et al. Table 1: 7x7 conv (2k) + BN, dense
    layers BN-conv1x1(4k)-BN-conv3x3(k), transitions BN-conv1x1(half), final BN + FC.
    A BN has 2 trainable and 2 moving parameters per channel."""
    k = growth_rate
    convs, bn_channels = 7 * 7 * 3 * 2 * k, 2 * k
    channels = 2 * k
    for index, layers in enumerate(blocks):
        for _ in range(layers):
            convs += channels * 4 * k + 9 * 4 * k * k
            bn_channels += channels + 4 * k
            channels += k
        if index < len(blocks) - 1:
            bn_channels += channels
            convs += channels * (channels // 2)
            channels //= 2
    bn_channels += channels
    dense = channels * classes + classes
    return convs + 2 * bn_channels + dense, convs + 4 * bn_channels + dense


def test_the_derivation_reproduces_the_references():
    for name, (_, total, trainable) in KERAS_APPLICATIONS.items():
        assert derived_counts(*IMAGENET[int(name[8:])]) == (trainable, total)
    assert derived_counts(48, (6, 12, 36, 24))[0] == DENSENET161_TRAINABLE


def test_densenet161_count():
    model = keras_cnns.densenet161()
    assert count(model.trainable_weights) == DENSENET161_TRAINABLE
    assert model.get_layer("conv1_conv").filters == 96  # 2k with k = 48
    assert model.get_layer("conv2_block1_1_conv").filters == 192  # 4k
    assert model.get_layer("conv2_block1_2_conv").filters == 48


def test_densenet264_count():
    model = keras_cnns.densenet264()
    trainable, total = derived_counts(32, (6, 12, 64, 48))
    assert (count(model.trainable_weights), model.count_params()) == (trainable, total)
    assert model.get_layer("conv5_block48_concat")


def _legacy_h5(model, directory):
    path = directory / f"{model.name}_weights_tf_dim_ordering_tf_kernels.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path


def _local_weights(name, path, directory):
    spec = registry.get_spec(name)
    (directory / "cache").mkdir()  # get_file falls back to /tmp/.keras if it does not exist
    local = dataclasses.replace(
        spec.weights["imagenet"],
        top_url=path.as_uri(),
        top_hash=hashlib.sha256(path.read_bytes()).hexdigest(),
        cache_dir=str(directory / "cache"),
    )
    return dataclasses.replace(spec, weights={"imagenet": local})


@pytest.fixture(scope="module", params=sorted(KERAS_APPLICATIONS))
def pair(request, tmp_path_factory):
    """keras.applications' model with random weights, and ours loaded from a legacy h5 file
    written from it, through `weights="imagenet"` (a local file:// URL, no network)."""
    name = request.param
    size = SIZES.get(name, 64)
    keras.utils.set_random_seed(5)
    reference = KERAS_APPLICATIONS[name][0](
        weights=None, input_shape=(size, size, 3), classifier_activation=None
    )
    directory = tmp_path_factory.mktemp(name)
    path = _legacy_h5(reference, directory)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(registry._REGISTRY, name, _local_weights(name, path, directory))
        ours = keras_cnns.get_model(
            name, weights="imagenet", input_shape=(size, size, 3), classifier_activation=None
        )
        assert (directory / "cache" / "models" / path.name).exists()
        efficient = None
        if name == "densenet121":  # published weights into the memory-efficient form
            efficient = keras_cnns.densenet121(
                weights="imagenet", memory_efficient=True, classifier_activation=None
            )
    yield name, reference, ours, efficient
    keras.backend.clear_session()


def test_counts_and_layers_match_keras_applications(pair):
    name, reference, ours, _ = pair
    _, total, trainable = KERAS_APPLICATIONS[name]
    assert ours.count_params() == reference.count_params() == total
    assert count(ours.trainable_weights) == trainable  # torchvision's count
    assert [layer.name for layer in ours.layers if layer.weights] == [
        layer.name for layer in reference.layers if layer.weights
    ]


def test_keras_applications_weights_give_identical_outputs(pair, rng):
    name, reference, ours, efficient = pair
    size = SIZES.get(name, 64)
    x = rng.uniform(-1, 1, size=(2, size, size, 3)).astype("float32")
    expected = np.asarray(reference(x, training=False))
    assert np.std(expected) > 1e-3
    assert np.abs(np.asarray(ours(x, training=False)) - expected).max() <= 1e-5
    if efficient is not None:
        assert isinstance(efficient.get_layer("conv3"), DenseBlock)
        assert isinstance(efficient.get_layer("pool3"), TransitionLayer)
        assert efficient.count_params() == reference.count_params()
        assert np.abs(np.asarray(efficient(x, training=False)) - expected).max() <= 1e-5


def test_imagenet_weights_published_locations():
    weights = registry.get_spec("densenet169").weights["imagenet"]
    assert weights.top_url == (
        "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
        "densenet169_weights_tf_dim_ordering_tf_kernels.h5"
    )
    assert weights.top_hash == "d699b8f76981ab1b30698df4c175e90b"
    assert weights.notop_hash == "b8c4d4c20dd625c148057b9ff1c1176b"
    # keras.applications publishes no DenseNet-161; torchvision does (IMAGENET1K_V1).
    assert set(registry.get_spec("densenet161").weights) == {"torchvision"}
    torchvision = registry.get_spec("densenet161").weights["torchvision"]
    assert torchvision.top_url == "https://download.pytorch.org/models/densenet161-8d451a50.pth"
    assert torchvision.top_hash == "8d451a50" and torchvision.preprocessing == "torch"
    for depth in (121, 169, 201):
        assert set(registry.get_spec(f"densenet{depth}").weights) == {"imagenet", "torchvision"}


def test_minimum_input_is_the_last_transition():
    # 29 -> 15 (stem conv) -> 8 (max pool) -> 4 -> 2 -> 1 (three 2x2 average poolings).
    model = keras_cnns.densenet121(input_shape=(29, 29, 3), include_top=False)
    assert model.output_shape == (None, 1, 1, 1024)
    with pytest.raises(ValueError, match="at least 29x29"):
        keras_cnns.densenet121(input_shape=(28, 28, 3))


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(memory_efficient="yes"), TypeError, "`memory_efficient` must be True or False"),
        (dict(dropout=1.0), ValueError, r"`dropout` must be a number in \[0, 1\); received 1\."),
        (dict(dropout=-0.1), ValueError, "dropout"),
    ],
)
def test_bad_family_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        keras_cnns.densenet121(input_shape=(32, 32, 3), **kwargs)
