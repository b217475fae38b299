"""ImageNet ResNets: torchvision's counts, keras.applications' weight compatibility (v1
layout and V2), shortcut options, stochastic depth and argument checks."""

import dataclasses
import hashlib

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

import keras_cnns
from keras_cnns.layers import StochasticDepth
from keras_cnns.models import registry
from conftest import count

# REFERENCE.md: torchvision trainable counts (no conv bias), keras.applications totals.
TORCHVISION = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
}
KERAS_APPLICATIONS = {
    "resnet50": (keras.applications.ResNet50, dict(layout="keras"), 25_636_712),
    "resnet101": (keras.applications.ResNet101, dict(layout="keras"), 44_707_176),
    "resnet152": (keras.applications.ResNet152, dict(layout="keras"), 60_419_944),
    "resnet50_v2": (keras.applications.ResNet50V2, {}, 25_613_800),
    "resnet101_v2": (keras.applications.ResNet101V2, {}, 44_675_560),
    "resnet152_v2": (keras.applications.ResNet152V2, {}, 60_380_648),
}
# ResNet50 and ResNet50V2 are compared at the published 224x224; the deeper ones at 64x64
# (global pooling makes the classifier independent of the size; it keeps CI fast).
SIZES = {"resnet50": 224, "resnet50_v2": 224}


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_default_layout_has_torchvision_counts(name):
    model = keras_cnns.get_model(name)
    assert count(model.trainable_weights) == TORCHVISION[name]
    # "v1.5": no convolution has a bias, and the stride sits on the 3x3 (or first 3x3).
    assert not any(getattr(layer, "use_bias", False) for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
    if name in ("resnet18", "resnet34"):
        assert model.get_layer("conv3_block1_1_conv").strides == (2, 2)
    else:
        assert model.get_layer("conv3_block1_1_conv").strides == (1, 1)
        assert model.get_layer("conv3_block1_2_conv").strides == (2, 2)
    if name == "resnet50":
        # keras.applications v1 = torchvision + 3 x (BN channels) (conv bias, moving stats).
        bn_channels = sum(
            layer.gamma.shape[0] for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
        )
        assert TORCHVISION[name] + 3 * bn_channels == KERAS_APPLICATIONS[name][2]


def _legacy_h5(model, directory, include_top=True):
    stem = model.name.replace("_", "")
    suffix = "" if include_top else "_notop"
    path = directory / f"{stem}_weights_tf_dim_ordering_tf_kernels{suffix}.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    return path


@pytest.fixture(scope="module", params=sorted(KERAS_APPLICATIONS))
def pair(request, tmp_path_factory):
    """A keras.applications model with random weights, and ours loaded from a legacy h5
    file written from it, through `weights="imagenet"` and the real loader (the published
    URL replaced by a local file:// one with its own hash: no network here)."""
    name = request.param
    reference_builder, options, _ = KERAS_APPLICATIONS[name]
    size = SIZES.get(name, 64)
    keras.utils.set_random_seed(7)
    reference = reference_builder(
        weights=None, input_shape=(size, size, 3), classifier_activation=None
    )
    directory = tmp_path_factory.mktemp(name)
    path = _legacy_h5(reference, directory)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    spec = registry.get_spec(name)
    (directory / "cache").mkdir()  # get_file falls back to /tmp/.keras if it does not exist
    local = dataclasses.replace(
        spec.weights["imagenet"], top_url=path.as_uri(), top_hash=digest, cache_dir=str(directory / "cache")
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(registry._REGISTRY, name, dataclasses.replace(spec, weights={"imagenet": local}))
        ours = keras_cnns.get_model(
            name, weights="imagenet", input_shape=(size, size, 3), classifier_activation=None, **options
        )
    assert (directory / "cache" / "models" / path.name).exists()
    yield name, reference, ours
    keras.backend.clear_session()


def test_keras_applications_counts_and_layers(pair):
    name, reference, ours = pair
    assert ours.count_params() == reference.count_params() == KERAS_APPLICATIONS[name][2]
    assert [layer.name for layer in ours.layers if layer.weights] == [
        layer.name for layer in reference.layers if layer.weights
    ]
    assert [w.shape for w in ours.weights] == [w.shape for w in reference.weights]


def test_keras_applications_weights_give_identical_outputs(pair, rng):
    name, reference, ours = pair
    size = SIZES.get(name, 64)
    x = rng.uniform(-1, 1, size=(2, size, size, 3)).astype("float32")
    expected = np.asarray(reference(x, training=False))
    assert np.abs(np.asarray(ours(x, training=False)) - expected).max() <= 1e-5
    assert np.std(expected) > 1e-3  # logits, not a saturated softmax


def test_set_weights_from_keras_applications_resnet50(rng):
    """The plain transfer, at the published 224x224 with the classifier."""
    keras.utils.set_random_seed(11)
    reference = keras.applications.ResNet50(weights=None, classifier_activation=None)
    ours = keras_cnns.resnet50(layout="keras", classifier_activation=None)
    ours.set_weights(reference.get_weights())
    x = rng.uniform(-1, 1, size=(2, 224, 224, 3)).astype("float32")
    diff = np.abs(np.asarray(ours(x, training=False)) - np.asarray(reference(x, training=False))).max()
    assert diff <= 1e-5


def test_imagenet_weights_published_locations():
    for name, stem, top_hash in [
        ("resnet50", "resnet50", "2cb95161c43110f7111970584f804107"),
        ("resnet152_v2", "resnet152v2", "a49b44d1979771252814e80f8ec446f9"),
    ]:
        weights = registry.get_spec(name).weights["imagenet"]
        assert weights.top_url.endswith(f"resnet/{stem}_weights_tf_dim_ordering_tf_kernels.h5")
        assert weights.top_hash == top_hash
        assert weights.notop_url.endswith(f"{stem}_weights_tf_dim_ordering_tf_kernels_notop.h5")
    assert set(registry.get_spec("resnet18").weights) == {"torchvision"}  # no keras.applications file
    assert registry.get_spec("resnet50").weights["imagenet"].preprocessing == "caffe"
    assert registry.get_spec("resnet152_v2").weights["imagenet"].preprocessing == "tf"


def test_imagenet_weights_need_the_keras_layout():
    with pytest.raises(ValueError, match=r"layout='keras'.*resnet50\(layout='keras', weights='imagenet'\)"):
        keras_cnns.resnet50(weights="imagenet")
    with pytest.raises(ValueError, match="shortcut='B'"):
        keras_cnns.resnet101(weights="imagenet", layout="keras", shortcut="A")


def test_shortcut_options_change_counts_by_the_projections():
    # Option A drops the three projection shortcuts (1x1 conv + BN) of ResNet-34 where the
    # channels grow: 64->128, 128->256, 256->512. Option C adds a projection to every
    # other block: all 3 of conv2 (64 -> 64: B has none there), then (4-1) + (6-1) + (3-1)
    # blocks at 128, 256, 512 channels.
    def projection(cin, cout):
        return cin * cout + 2 * cout

    a = keras_cnns.resnet34(shortcut="A", input_shape=(32, 32, 3))
    grown = projection(64, 128) + projection(128, 256) + projection(256, 512)
    assert count(a.trainable_weights) == TORCHVISION["resnet34"] - grown
    assert isinstance(a.get_layer("conv3_block1_shortcut"), keras_cnns.layers.IdentityShortcut)
    c = keras_cnns.resnet34(shortcut="C", input_shape=(32, 32, 3))
    extra = 3 * projection(64, 64) + 3 * projection(128, 128) + 5 * projection(256, 256) + 2 * projection(512, 512)
    assert count(c.trainable_weights) == TORCHVISION["resnet34"] + extra


def test_v2_layout_strides_each_stage_at_its_end():
    model = keras_cnns.resnet50_v2(input_shape=(64, 64, 3), include_top=False)
    assert model.get_layer("conv2_block3_2_conv").strides == (2, 2)
    assert model.get_layer("conv5_block3_2_conv").strides == (1, 1)
    assert model.get_layer("conv2_block1_0_conv").use_bias and not model.get_layer("conv2_block1_1_conv").use_bias
    assert model.output_shape == (None, 2, 2, 2048)
    with pytest.raises(ValueError, match=r"fixed layout 'keras_v2'.*resnet50\(layout=...\)"):
        keras_cnns.resnet50_v2(layout="v1.5")


def test_stochastic_depth_on_imagenet_resnet(rng):
    plain = keras_cnns.resnet18(num_classes=10, input_shape=(32, 32, 3))
    model = keras_cnns.resnet18(num_classes=10, input_shape=(32, 32, 3), stochastic_depth=0.5)
    assert model.count_params() == plain.count_params()
    merges = [layer for layer in model.layers if isinstance(layer, StochasticDepth)]
    assert [m.name for m in merges][:2] == ["conv2_block1_add", "conv2_block2_add"]
    # Linear decay over the 8 blocks: 1 - l/8 * 0.5, ending at 0.5.
    assert [m.survival_probability for m in merges] == pytest.approx([1 - l / 16 for l in range(1, 9)])
    x = rng.uniform(size=(4, 32, 32, 3)).astype("float32")
    first, second = (np.asarray(model(x, training=False)) for _ in range(2))
    np.testing.assert_array_equal(first, second)
    keras.utils.set_random_seed(5)
    train = [np.asarray(model(x, training=True)) for _ in range(4)]
    assert any(np.abs(train[0] - t).max() > 1e-6 for t in train[1:])


def test_keras_v1_with_stochastic_depth_keeps_the_weight_order():
    plain = keras_cnns.resnet50(layout="keras", input_shape=(32, 32, 3), include_top=False)
    dropped = keras_cnns.resnet50(layout="keras", input_shape=(32, 32, 3), include_top=False, stochastic_depth=0.8)
    assert [l.name for l in plain.layers if l.weights] == [l.name for l in dropped.layers if l.weights]


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(layout="v3"), ValueError, r"Invalid `layout`: 'v3'.*'v1.5', 'keras', 'keras_v2'"),
        (dict(shortcut="D"), ValueError, r"Invalid `shortcut`: 'D'.*'A', 'B', 'C'"),
        (dict(stochastic_depth=0.0), ValueError, r"`stochastic_depth` must be a survival probability in \(0, 1\]"),
        (dict(stochastic_depth=1.2), ValueError, r"`stochastic_depth`.*received 1.2"),
        (dict(stochastic_depth="0.5"), TypeError, "stochastic_depth"),
    ],
)
def test_bad_family_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        keras_cnns.resnet18(input_shape=(32, 32, 3), **kwargs)
