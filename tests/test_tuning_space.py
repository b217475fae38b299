"""Hypermodels and search spaces: every family builds through its public builder, users fix
and narrow hyperparameters, bad requests fail clearly (no search runs here)."""

import keras
import keras_tuner as kt
import numpy as np
import pytest

import keras_cnns
from keras_cnns.cli import main
from keras_cnns.tuning import (
    HYPERMODELS,
    DenseNetHyperModel,
    GoogLeNetHyperModel,
    InceptionHyperModel,
    LeNetHyperModel,
    ResNetHyperModel,
    VGGHyperModel,
    get_hypermodel_class,
)

SHAPE = (28, 28, 1)
# Keep the random configurations cheap to build: the deepest ResNets/DenseNets are the
# same code with more blocks.
CHEAP = {"resnet": {"depth": (20, 44)}, "densenet": {"depth": (16, 40), "growth_rate": [12, 24]}}


def random_configuration(hypermodel, seed):
    """A HyperParameters with every knob drawn at random (conditional ones included)."""
    hp = kt.HyperParameters()
    hypermodel.declare_hyperparameters(hp)
    rng = np.random.default_rng(seed)
    for entry in hp.space:
        hp.values[entry.name] = entry.random_sample(int(rng.integers(1 << 30)))
    return hp


def test_every_family_has_a_hypermodel():
    assert set(HYPERMODELS) == {"lenet", "alexnet", "vgg", "googlenet", "inception", "resnet", "densenet"}
    assert set(HYPERMODELS) == set(keras_cnns.list_families())


def test_hypermodels_come_from_the_model_registry():
    # Every registered family has a hypermodel, in the registry's order, each class
    # naming its own family; errors list the same families.
    assert list(HYPERMODELS) == keras_cnns.list_families()
    for family, hypermodel_class in HYPERMODELS.items():
        assert hypermodel_class.family == family
        assert get_hypermodel_class(family.upper()) is hypermodel_class
    with pytest.raises(ValueError) as err:
        get_hypermodel_class("transformer")
    assert str(err.value).endswith(f"Families that can be tuned: {', '.join(keras_cnns.list_families())}.")


@pytest.mark.parametrize("family", sorted(HYPERMODELS))
def test_random_configurations_build_and_compile(family):
    hypermodel = HYPERMODELS[family](10, SHAPE, epochs=2, train_examples=100, ranges=CHEAP.get(family))
    for seed in (0, 1):
        hp = random_configuration(hypermodel, seed)
        model = hypermodel.build(hp)
        assert model.optimizer is not None and model.input_shape == (None, *SHAPE)
        assert type(model.optimizer).__name__.lower() == hp.values["optimizer"]
        # the recipe's weight decay reaches the kernels (as keras_cnns.train does it)
        decayed = [v for v in model.trainable_weights if getattr(v, "regularizer", None) is not None]
        assert bool(decayed) == (hp.values["weight_decay"] > 0)
        keras.backend.clear_session()


@pytest.mark.parametrize(
    "hypermodel_class, fixed, public",
    [
        (VGGHyperModel, {"config": "A", "batch_norm": True, "dropout": 0.3},
         lambda: keras_cnns.vgg11(num_classes=10, input_shape=(32, 32, 1), batch_norm=True)),
        (ResNetHyperModel, {"depth": 32, "preactivation": True, "shortcut": "B"},
         lambda: keras_cnns.resnet32(num_classes=10, input_shape=SHAPE, preactivation=True, shortcut="B")),
        (DenseNetHyperModel, {"depth": 40, "growth_rate": 12, "bottleneck": True, "compression": 0.5},
         lambda: keras_cnns.densenet_cifar(40, 12, bottleneck=True, compression=0.5, num_classes=10, input_shape=SHAPE)),
        (LeNetHyperModel, {"variant": "paper"},
         lambda: keras_cnns.lenet5(num_classes=10, input_shape=(32, 32, 1))),
    ],
)
def test_fixed_configuration_is_the_public_builders_network(hypermodel_class, fixed, public):
    model = hypermodel_class(10, SHAPE, fixed=fixed).build(kt.HyperParameters())
    reference = public()
    assert model.count_params() == reference.count_params()
    assert model.name == reference.name
    ours = {layer.name for layer in model.layers}
    assert {layer.name for layer in reference.layers[1:]} <= ours


def test_small_images_are_adapted_inside_the_model_like_training():
    # GoogLeNet's aux heads need 65x65: 28x28 images are resized inside the model.
    model = GoogLeNetHyperModel(10, SHAPE, fixed={"aux_logits": True}).build(kt.HyperParameters())
    assert model.input_shape == (None, 28, 28, 1)
    assert set(model.output) == {"logits", "aux1", "aux2"}
    assert any("fit_input" in layer.name or "resiz" in layer.name for layer in model.layers)


def test_aux_heads_train_and_report_the_main_accuracy():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, 28, 28, 1), dtype=np.uint8)
    y = rng.integers(0, 10, 32)
    hypermodel = GoogLeNetHyperModel(
        10, SHAPE, epochs=1, batch_size=16, fixed={"aux_logits": True, "aux_loss_weight": 0.5,
                                                    "label_smoothing": 0.1}, verbose=0,
    )
    hp = kt.HyperParameters()
    model = hypermodel.build(hp)
    assert model.get_compile_config()["loss_weights"] == {"logits": 1.0, "aux1": 0.5, "aux2": 0.5}
    history = hypermodel.fit(hp, model, x, y, validation_data=(x, y)).history
    assert history["val_accuracy"] == history["val_logits_accuracy"]
    assert history["accuracy"] == history["logits_accuracy"]


def test_conditional_hyperparameters():
    hypermodel = LeNetHyperModel(10, SHAPE, fixed={"variant": "paper"})
    hp = kt.HyperParameters()
    hypermodel.build(hp)
    assert hp.values["variant"] == "paper"
    assert not hp.is_active("activation") and not hp.is_active("subsampling")
    values = hypermodel.space.values(hp)
    assert "activation" not in values

    hp = kt.HyperParameters()
    InceptionHyperModel(10, SHAPE, fixed={"model": "inception_v2"}).space.values(hp)
    assert not hp.is_active("aux_logits") and not hp.is_active("aux_loss_weight")


def test_ranges_narrow_the_space_and_defaults_follow():
    hypermodel = ResNetHyperModel(
        10, SHAPE, ranges={"depth": (26, 44), "learning_rate": (1e-3, 1e-2), "shortcut": ["B", "C"],
                           "weight_decay": (1e-4, 5e-4)},
    )
    knobs = hypermodel.space.knobs
    assert (knobs["depth"].low, knobs["depth"].high, knobs["depth"].default) == (26, 44, 26)
    assert knobs["depth"].grid() == [26, 32, 38, 44]
    assert knobs["learning_rate"].default == 1e-2  # the recipe's 0.1, clipped into the range
    assert knobs["shortcut"].values == ("B", "C")
    assert knobs["weight_decay"].values == (1e-4, 2e-4, 5e-4)
    hp = kt.HyperParameters()
    hypermodel.declare_hyperparameters(hp)  # the registered space is the narrowed one
    depth = next(e for e in hp.space if e.name == "depth")
    assert {depth.random_sample(seed) for seed in range(40)} == {26, 32, 38, 44}
    rate = next(e for e in hp.space if e.name == "learning_rate")
    assert all(1e-3 <= rate.random_sample(seed) <= 1e-2 for seed in range(40))


def test_keras_tuner_hyperparameters_fix_and_narrow():
    hp = kt.HyperParameters()
    hp.Fixed("depth", 56)
    hp.Choice("shortcut", ["A", "B"])
    hp.Float("learning_rate", 1e-3, 3e-2)
    hypermodel = ResNetHyperModel(10, SHAPE, hyperparameters=hp)
    assert hypermodel.space.fixed == {"depth": 56}
    assert hypermodel.space.knobs["shortcut"].values == ("A", "B")
    assert (hypermodel.space.knobs["learning_rate"].low, hypermodel.space.knobs["learning_rate"].high) == (1e-3, 3e-2)
    model = hypermodel.build(kt.HyperParameters())
    assert model.name == "resnet56"


def test_optimizer_change_leaves_the_recipes_optimizer_settings():
    hypermodel = InceptionHyperModel(10, SHAPE, fixed={"optimizer": "adam"})
    recipe = hypermodel.recipe(hypermodel.space.values(kt.HyperParameters()))
    assert recipe.optimizer == "adam" and recipe.epsilon == 1e-7  # not RMSProp's 1.0
    same = InceptionHyperModel(10, SHAPE).recipe({"optimizer": "rmsprop"})
    assert same.epsilon == 1.0 and same.clipnorm == 2.0


@pytest.mark.parametrize(
    "hypermodel_class, kwargs, words",
    [
        (ResNetHyperModel, {"fixed": {"depth": 21}}, ["'depth'", "21", "[20, 110] in steps of 6"]),
        (ResNetHyperModel, {"fixed": {"depth": 1202}}, ["'depth'", "1202", "[20, 110]"]),
        (VGGHyperModel, {"fixed": {"config": "F"}}, ["'config'", "'F'", "'A', 'A-LRN', 'B', 'C', 'D', 'E'"]),
        (LeNetHyperModel, {"fixed": {"learning_rate": 2.0}}, ["'learning_rate'", "2.0", "[0.0001, 0.5]"]),
        (DenseNetHyperModel, {"fixed": {"bottleneck": "yes"}}, ["'bottleneck'", "'yes'", "True or False"]),
        (ResNetHyperModel, {"ranges": {"learning_rate": (1e-6, 0.1)}}, ["'learning_rate'", "1e-06", "[0.0001, 0.5]"]),
        (ResNetHyperModel, {"ranges": {"depth": (44, 20)}}, ["ranges['depth']", "low <= high"]),
        (VGGHyperModel, {"ranges": {"config": ["A", "Z"]}}, ["'config'", "'Z'"]),
        (ResNetHyperModel, {"fixed": {"dept": 20}}, ["unknown hyperparameter 'dept'", "Did you mean 'depth'"]),
    ],
)
def test_bad_fixes_and_ranges_name_the_hyperparameter_value_and_range(hypermodel_class, kwargs, words):
    with pytest.raises(ValueError) as err:
        hypermodel_class(10, SHAPE, **kwargs)
    for word in words:
        assert word in str(err.value)


def test_keras_tuner_fixed_value_outside_the_range_is_refused():
    hp = kt.HyperParameters()
    hp.Fixed("growth_rate", 13)
    with pytest.raises(ValueError, match=r"'growth_rate' = 13 is outside its declared range; accepted: one of 12, 24, 32, 40"):
        DenseNetHyperModel(10, SHAPE, hyperparameters=hp)


def test_unknown_family_and_variant():
    with pytest.raises(ValueError, match=r"Unknown family 'resnt'\. Did you mean 'resnet'\?"):
        get_hypermodel_class("resnt")
    with pytest.raises(ValueError, match=r"Unknown `variant` of densenet: 'tiny'"):
        DenseNetHyperModel(10, SHAPE, variant="tiny")
    imagenet = ResNetHyperModel(10, (64, 64, 3), variant="imagenet")
    assert imagenet.space.knobs["depth"].values == (18, 34, 50, 101, 152)
    assert ResNetHyperModel(10, (96, 96, 3)).variant == "imagenet"
    assert ResNetHyperModel(10, (32, 32, 3)).variant == "cifar"


def test_cli_lists_the_search_space(capsys):
    assert main(["tune", "resnet", "--list-hyperparameters", "--fix", "preactivation=true",
                 "--range", "depth=20:56"]) == 0
    out = capsys.readouterr().out
    assert "depth" in out and "[20, 56] in steps of 6" in out
    assert "= True" in out and "stochastic_depth" in out and "learning_rate" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["tune", "resnt"], "Unknown family 'resnt'. Did you mean 'resnet'?"),
        (["tune", "lenet", "--tuner", "grid"], "Unknown `tuner`: 'grid'; accepted: random, bayesian, hyperband."),
        (["tune", "lenet", "--max-trials", "0"], "`max_trials` must be a positive integer (>= 1); received 0."),
        (["tune", "lenet", "--max-trials", "-3"], "`max_trials` must be a positive integer (>= 1); received -3."),
        (["tune", "resnet", "--fix", "depth=21", "--limit", "10"],
         "hyperparameter 'depth' = 21 is outside its declared range; accepted: [20, 110] in steps of 6"),
        (["tune", "lenet", "--strategy", "tpu"], "Unknown `strategy`: 'tpu'"),
    ],
)
def test_cli_bad_inputs(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("keras-cnns tune: error:") and message in err
