"""Every builder rejects bad common arguments at build time, naming the argument."""

import keras
import pytest

import keras_cnns

# One model per family built so far; the checks live in one shared helper.
NAMES = ["lenet5", "alexnet", "vgg11"]

BAD = [
    (dict(num_classes=0), ValueError, r"`num_classes` must be a positive integer \(>= 1\); received 0"),
    (dict(num_classes=-3), ValueError, "num_classes"),
    (dict(num_classes=2.5), TypeError, r"`num_classes` must be an integer; received 2.5"),
    (dict(num_classes=True), TypeError, "num_classes"),
    (dict(input_shape=(32, 32)), ValueError, r"`input_shape` must be a tuple .* rank 3"),
    (dict(input_shape=(1, 32, 32, 3)), ValueError, "rank 3"),
    (dict(input_shape=(64, 0, 3)), ValueError, r"positive integers.*width=0"),
    (dict(input_shape=(64, 64, -1)), ValueError, "channels=-1"),
    (dict(input_shape=(64.0, 64, 3)), ValueError, "height=64.0"),
    (dict(input_shape=(None, 64, 3)), ValueError, "height undefined"),
    (dict(input_shape=(8, 8, 3)), ValueError, r"too small: this network needs at least \d+x\d+"),
    (dict(pooling="mean", include_top=False), ValueError, r"`pooling`: 'mean'.*None, 'avg', 'max'"),
    (dict(pooling="avg"), ValueError, r"`pooling='avg'` is only used with include_top=False"),
    (dict(include_top="yes"), TypeError, "include_top"),
    (dict(weights="imagenet21k"), ValueError, r"Invalid `weights`: 'imagenet21k'"),
    (dict(weights="/no/such/file.weights.h5"), ValueError, "neither a published weights name nor an existing file"),
    (dict(weights=3), TypeError, "weights"),
    (dict(classifier_activation="softmaxx"), ValueError, r"Unknown `classifier_activation`: 'softmaxx'"),
    (dict(classifier_activation=3), TypeError, "classifier_activation"),
    (dict(fit_input="crop"), ValueError, r"`fit_input`: 'crop'.*'pad', 'resize'"),
    (dict(name=5), TypeError, "name"),
]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("kwargs,error,match", BAD, ids=[str(b[0]) for b in BAD])
def test_bad_common_argument(name, kwargs, error, match):
    with pytest.raises(error, match=match):
        keras_cnns.get_model(name, **kwargs)


def test_valid_activations_and_logits():
    assert keras_cnns.lenet5(classifier_activation=None).get_layer("predictions").activation
    model = keras_cnns.vgg11(input_shape=(32, 32, 3), num_classes=3, classifier_activation="sigmoid")
    assert model.get_layer("predictions").activation is keras.activations.sigmoid


def test_undefined_spatial_size_is_fine_without_the_top():
    model = keras_cnns.vgg11(include_top=False, input_shape=(None, None, 3), pooling="max")
    assert model.output_shape == (None, 512)


def test_channels_first_is_refused():
    keras.config.set_image_data_format("channels_first")
    try:
        with pytest.raises(ValueError, match="channels_last"):
            keras_cnns.lenet5()
    finally:
        keras.config.set_image_data_format("channels_last")


def test_unknown_model_name_suggests_close_matches():
    with pytest.raises(ValueError, match=r"Unknown model name 'vgg91'\. Did you mean: vgg19"):
        keras_cnns.get_model("vgg91")
    with pytest.raises(TypeError, match="string"):
        keras_cnns.get_model(19)


def test_registry_lists_every_builder():
    names = keras_cnns.list_models()
    for name in ["lenet5", "alexnet", "vgg11", "vgg11_lrn", "vgg13", "vgg16_c", "vgg16", "vgg19"]:
        assert name in names
        assert getattr(keras_cnns, name) is keras_cnns.get_spec(name).builder
    assert keras_cnns.list_models("vgg") == ["vgg11", "vgg11_lrn", "vgg13", "vgg16_c", "vgg16", "vgg19"]
    assert "Common arguments" in keras_cnns.vgg19.__doc__ and "batch_norm" in keras_cnns.vgg19.__doc__
    with pytest.raises(ValueError, match="Unknown family 'resnett'"):
        keras_cnns.list_models("resnett")
    assert keras_cnns.get_model("VGG-16", input_shape=(32, 32, 3), include_top=False).name == "vgg16"
