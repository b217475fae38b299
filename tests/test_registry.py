"""The registry as the single source of truth: builders' signatures, the model-specific
arguments build_model receives, and the published figures."""

import dataclasses
import inspect
import json

import keras
import pytest

import keras_cnns
from keras_cnns.analysis import PUBLISHED, Published
from keras_cnns.models import registry
from keras_cnns.models import resnet as resnet_module
from keras_cnns.models.common import build_model
from keras_cnns.models.registry import COMMON_ARGS

NAMES = keras_cnns.list_models()
COMMON = [name for name, _ in COMMON_ARGS]


def signature(name):
    return inspect.signature(keras_cnns.get_spec(name).builder)


@pytest.mark.parametrize("name", NAMES)
def test_signature_has_the_common_arguments_then_the_family_options(name):
    params = signature(name).parameters
    assert list(params)[: len(COMMON)] == COMMON
    assert {n: params[n].default for n in COMMON} == dict(COMMON_ARGS)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params.values())
    assert len(params) > len(COMMON) or name == "densenet264"  # every family has options
    # The builder's module attribute is the registered one, with the same signature.
    assert inspect.signature(getattr(keras_cnns, name)) == signature(name)


def test_common_defaults_are_build_models():
    params = inspect.signature(build_model).parameters
    assert {name: params[name].default for name in COMMON} == dict(COMMON_ARGS)


def test_vgg19_signature_reads():
    text = str(inspect.signature(keras_cnns.vgg19))
    assert text.startswith(
        "(*, num_classes=1000, input_shape=None, include_top=True, pooling=None, weights=None, "
        "classifier_activation='softmax', name=None, fit_input=None, include_preprocessing=False, "
        "batch_norm=False, dropout=0.5)"
    )


def test_family_options_come_from_the_private_builders():
    from keras_cnns.models import densenet, googlenet, vgg

    def options(fn, skip=()):
        return {
            n: p.default for n, p in inspect.signature(fn).parameters.items()
            if p.default is not p.empty and n not in skip
        }

    def family(name):
        params = signature(name).parameters
        return {n: p.default for n, p in params.items() if n not in COMMON}

    assert family("vgg16") == options(vgg._vgg) == {"batch_norm": False, "dropout": 0.5}
    assert family("googlenet") == options(googlenet._googlenet)
    assert family("googlenet") == {
        "aux_logits": False, "batch_norm": False, "layout": "paper", "dropout": None,
        "aux_dropout": 0.7,
    }
    assert family("resnet50") == options(resnet_module._resnet)
    assert family("resnet50_v2") == options(resnet_module._resnet, skip=("layout",))
    assert family("resnet20") == options(resnet_module._resnet_cifar)
    assert family("resnet1202") == {**options(resnet_module._resnet_cifar), "zero_init_residual": True}
    assert family("densenet40") == options(densenet._densenet_cifar) == {"dropout": 0.0, "memory_efficient": False}


def _config(model):
    return json.dumps(model.get_config(), sort_keys=True, default=str)


@pytest.mark.parametrize(
    "name,common",
    [
        ("lenet5", {}),
        ("alexnet", {"input_shape": (67, 67, 3)}),
        ("vgg11", {"input_shape": (32, 32, 3)}),
        ("googlenet", {"input_shape": (32, 32, 3)}),
        ("resnet20", {}),
        ("densenet40", {}),
    ],
)
def test_signature_defaults_are_the_defaults_used(name, common):
    params = signature(name).parameters
    defaults = {n: p.default for n, p in params.items()}
    implicit = keras_cnns.get_model(name, **common)
    explicit = keras_cnns.get_model(name, **{**defaults, **common})
    assert _config(implicit) == _config(explicit)
    assert implicit.name == name and implicit.output_shape == (None, defaults["num_classes"])


def test_defaults_shown_reach_the_layers():
    vgg = keras_cnns.vgg11(input_shape=(32, 32, 3))
    assert vgg.get_layer("fc1_dropout").rate == signature("vgg11").parameters["dropout"].default
    googlenet = keras_cnns.googlenet(input_shape=(32, 32, 3))
    # dropout=None: the layout's own rate, the paper's 0.4 here (torchvision's: 0.2).
    assert signature("googlenet").parameters["dropout"].default is None
    assert googlenet.get_layer("avg_pool_dropout").rate == 0.4
    assert "aux1" not in [layer.name for layer in googlenet.layers]  # aux_logits=False


def test_resnet1202_receives_its_own_default(monkeypatch):
    seen = {}

    def capture(depth, **kwargs):
        seen.update(kwargs, depth=depth)
        return "built"

    monkeypatch.setattr(resnet_module, "_resnet_cifar", capture)
    assert keras_cnns.resnet1202() == "built"
    assert seen["depth"] == 1202 and seen["zero_init_residual"] is True
    assert seen["num_classes"] == 1000 and seen["shortcut"] == "A"
    keras_cnns.resnet1202(zero_init_residual=False)
    assert seen["zero_init_residual"] is False


@pytest.mark.parametrize("name", NAMES)
def test_unknown_and_positional_arguments_are_refused(name):
    builder = keras_cnns.get_spec(name).builder
    with pytest.raises(TypeError, match=rf"{name}\(\) got an unexpected keyword argument 'no_such_option'.*Accepted: num_classes, input_shape"):
        builder(no_such_option=1)
    with pytest.raises(TypeError, match=rf"{name}\(\) takes keyword arguments only"):
        builder(10)


def test_unknown_argument_suggests_the_close_one():
    with pytest.raises(TypeError, match=r"'dropuot'\. Did you mean: dropout\?"):
        keras_cnns.vgg19(dropuot=0.3)
    with pytest.raises(TypeError, match=r"'num_class'\. Did you mean: num_classes\?"):
        keras_cnns.get_model("resnet20", num_class=10)
    # A fixed option is still explained by the builder itself.
    with pytest.raises(ValueError, match=r"fixed layout 'keras_v2'"):
        keras_cnns.resnet50_v2(layout="keras")


def test_unregistered_variants_need_no_stand_in_entry(monkeypatch):
    # Other CIFAR depths and DenseNets carry their own default input and minimum size:
    # build_model looks nothing up, so they build without resnet20 / densenet40 entries.
    without = {k: v for k, v in registry._REGISTRY.items() if k not in ("resnet20", "densenet40")}
    monkeypatch.setattr(registry, "_REGISTRY", without)  # a copy: the real order is kept
    assert "resnet20" not in keras_cnns.list_models()
    resnet = keras_cnns.resnet_cifar(26, num_classes=10)
    assert resnet.name == "resnet26" and resnet.input_shape == (None, 32, 32, 3)
    densenet = keras_cnns.densenet_cifar(22, 12, num_classes=10)
    assert densenet.name == "densenet22_k12" and densenet.input_shape == (None, 32, 32, 3)
    with pytest.raises(ValueError, match="at least 4x4"):
        keras_cnns.resnet_cifar(26, input_shape=(3, 3, 3))


def test_build_model_takes_the_model_specifics_explicitly():
    def features(x):
        return keras.layers.Conv2D(4, 3, name="conv")(x)

    def top(x, num_classes, activation):
        return keras.layers.Dense(num_classes, activation=activation, name="predictions")(
            keras.layers.Flatten()(x)
        )

    model = build_model("tiny", features, top, default_input_shape=(8, 8, 1), min_input_size=3, num_classes=2)
    assert model.name == "tiny" and model.input_shape == (None, 8, 8, 1)
    with pytest.raises(ValueError, match="at least 3x3"):
        build_model("tiny", features, top, default_input_shape=(8, 8, 1), min_input_size=3, input_shape=(2, 2, 1))
    with pytest.raises(ValueError, match=r"published name \(none for this model\)"):
        build_model("tiny", features, top, default_input_shape=(8, 8, 1), min_input_size=3, weights="imagenet")


# ----------------------------------------------------------------- published figures
def test_published_figures_are_the_registry_entries():
    specs = {name: keras_cnns.get_spec(name) for name in NAMES}
    assert dict(PUBLISHED) == {n: s.published for n, s in specs.items() if s.published is not None}
    assert list(PUBLISHED) == [n for n in NAMES if specs[n].published is not None]
    assert PUBLISHED["alexnet"] == Published(59.3, "ImageNet", "Krizhevsky et al. 2012, Table 2 (1 CNN, 40.7% top-1 error)")
    assert PUBLISHED["alexnet"].error == 40.7
    assert PUBLISHED["resnet20"] == Published(91.25, "CIFAR-10", "He et al. 2015, Table 6 (CIFAR-10 error 8.75%)")
    assert PUBLISHED["densenet_bc100"].top1 == 95.49 and PUBLISHED["densenet_bc100"].error == 4.51
    assert PUBLISHED["vgg16"].source == "torchvision IMAGENET1K_V1 acc@1"
    assert "vgg16_c" not in PUBLISHED and "densenet264" not in PUBLISHED
    assert PUBLISHED.get("inception_v2") is None
    with pytest.raises(KeyError):
        PUBLISHED["inception_v2"]


def test_published_follows_the_registry(monkeypatch):
    spec = keras_cnns.get_spec("vgg16_c")
    figure = Published.from_error(25.0, "ImageNet", "a test")
    monkeypatch.setitem(registry._REGISTRY, "vgg16_c", dataclasses.replace(spec, published=figure))
    assert PUBLISHED["vgg16_c"].top1 == 75.0
