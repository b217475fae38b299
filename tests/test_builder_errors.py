"""Every builder rejects bad common arguments at build time, naming the argument."""

import keras
import numpy as np
import pytest

import keras_cnns

# Every registered model: the checks live in one shared helper (models/common.py), and
# each case below fails there, before any layer is built, so all of them are cheap.
NAMES = keras_cnns.list_models()
# The models whose classifier flattens a fixed-size map (the others pool globally, and
# take an undefined height and width even with include_top=True).
FIXED_SIZE_TOP = {"lenet5", "alexnet"} | set(keras_cnns.list_models("vgg"))

BAD = [
    (dict(num_classes=0), ValueError, r"`num_classes` must be a positive integer \(>= 1\); received 0"),
    (dict(num_classes=-3), ValueError, "num_classes"),
    (dict(num_classes=2.5), TypeError, r"`num_classes` must be an integer; received 2.5"),
    (dict(num_classes=True), TypeError, "num_classes"),
    (dict(input_shape=(32, 32)), ValueError, r"`input_shape` must be a tuple .* rank 3"),
    (dict(input_shape=(1, 32, 32, 3)), ValueError, "rank 3"),
    (dict(input_shape=[[64, 64, 3]]), ValueError, "rank 3"),
    (dict(input_shape="224x224"), ValueError, r"`input_shape` must be a tuple .* received '224x224'"),
    (dict(input_shape=224), ValueError, r"`input_shape` must be a tuple .* received 224"),
    (dict(input_shape=(64, 0, 3)), ValueError, r"positive integers.*width=0"),
    (dict(input_shape=(64, 64, -1)), ValueError, "channels=-1"),
    (dict(input_shape=(64.0, 64, 3)), ValueError, "height=64.0"),
    (dict(pooling="mean", include_top=False), ValueError, r"Invalid `pooling`: 'mean'.*None, 'avg', 'max'"),
    (dict(pooling="avg"), ValueError, r"`pooling='avg'` is only used with include_top=False"),
    (dict(pooling="max", include_top=True), ValueError, r"`pooling='max'` is only used with include_top=False"),
    (dict(include_top="yes"), TypeError, "include_top"),
    (dict(weights="imagenet21k"), ValueError, r"Invalid `weights`: 'imagenet21k' is neither a published"),
    (dict(weights="/no/such/file.weights.h5"), ValueError, "neither a published weights name nor an existing file"),
    (dict(weights=3), TypeError, "weights"),
    (dict(classifier_activation="softmaxx"), ValueError, r"Unknown `classifier_activation`: 'softmaxx'"),
    (dict(classifier_activation=3), TypeError, "classifier_activation"),
    (dict(fit_input="crop"), ValueError, r"Invalid `fit_input`: 'crop'.*'pad', 'resize'"),
    (dict(name=5), TypeError, "name"),
    (dict(include_preprocessing="imagenet"), ValueError,
     r"Invalid `include_preprocessing`: 'imagenet'.*'caffe', 'tf', 'torch'"),
    (dict(include_preprocessing=1), TypeError, r"`include_preprocessing` must be True, False or a mode"),
    (dict(include_preprocessing=True), ValueError, r"weights=None has none"),
]


def _model_specific(name):
    """The cases whose expected error depends on the model: an input one pixel below its
    declared minimum, and an undefined height where its classifier needs a fixed size."""
    spec = keras_cnns.get_spec(name)
    size, channels = spec.min_input_size, spec.default_input_shape[-1]
    cases = [
        (dict(input_shape=(size - 1, size, channels)), ValueError,
         rf"too small: this network needs at least {size}x{size}"),
        (dict(input_shape=(size, size - 1, channels)), ValueError, rf"needs at least {size}x{size}"),
    ]
    if name in FIXED_SIZE_TOP:
        cases.append((dict(input_shape=(None, 64, 3)), ValueError, "height undefined"))
    return cases


CASES = [
    pytest.param(name, *case, id=f"{name}-{case[0]}")
    for name in NAMES
    for case in BAD + _model_specific(name)
]


@pytest.mark.parametrize("name,kwargs,error,match", CASES)
def test_bad_common_argument(name, kwargs, error, match):
    with pytest.raises(error, match=match):
        keras_cnns.get_model(name, **kwargs)


def test_classifier_activation_is_the_one_passed(rng):
    # LeNet-5's paper output: `predictions` applies the activation to the negated RBF
    # distances (`rbf`); None leaves them as logits, the default is their softmax.
    x = rng.uniform(0, 1, size=(4, 32, 32, 1)).astype("float32")
    for activation in (None, "softmax"):
        model = keras_cnns.lenet5(classifier_activation=activation)
        expected_fn = keras.activations.linear if activation is None else keras.activations.softmax
        assert model.get_layer("predictions").activation is expected_fn
        logits_model = keras.Model(model.input, model.get_layer("rbf").output)
        logits = keras.ops.convert_to_numpy(logits_model(x))
        outputs = keras.ops.convert_to_numpy(model(x))
        expected = logits if activation is None else keras.ops.convert_to_numpy(keras.ops.softmax(logits))
        np.testing.assert_allclose(outputs, expected, rtol=1e-6, atol=1e-7)
        assert np.all(logits <= 0)  # negated squared distances
    np.testing.assert_allclose(outputs.sum(axis=-1), 1.0, rtol=1e-6)  # the softmax's
    # A dense classifier: the activation is the layer's, applied to its pre-activation.
    model = keras_cnns.vgg11(input_shape=(32, 32, 3), num_classes=3, classifier_activation="sigmoid")
    head = model.get_layer("predictions")
    assert head.activation is keras.activations.sigmoid
    images = rng.uniform(0, 1, size=(2, 32, 32, 3)).astype("float32")
    features = keras.Model(model.input, head.input)(images)
    pre = keras.ops.matmul(features, head.kernel) + head.bias
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(images)),
        keras.ops.convert_to_numpy(keras.ops.sigmoid(pre)), rtol=1e-6,
    )
    # A callable is used as it is.
    custom = keras_cnns.lenet5(variant="modern", classifier_activation=keras.activations.tanh)
    assert custom.get_layer("predictions").activation is keras.activations.tanh


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
