"""The paper recipes as data, the schedule, weight decay and label smoothing."""

import keras
import numpy as np
import pytest

import keras_cnns
from keras_cnns.optimizers import SGD as FusedSGD
from keras_cnns.schedules import RecipeSchedule
from keras_cnns.training.assembly import compile_for_recipe
from keras_cnns.training.optim import (
    apply_weight_decay,
    make_loss,
    make_optimizer,
    make_schedule,
)
from keras_cnns.training.recipes import PAPER, RECIPES, Recipe, get_recipe


def test_resnet_cifar_recipe_is_he_et_al():
    recipe = PAPER["resnet_cifar"]
    assert (recipe.optimizer, recipe.learning_rate, recipe.momentum) == ("sgd", 0.1, 0.9)
    assert (recipe.weight_decay, recipe.batch_size) == (1e-4, 128)
    # lr / 10 at 32k and 48k of 64k iterations
    assert recipe.lr_boundaries == (32 / 64, 48 / 64)
    assert recipe.lr_multipliers == pytest.approx((1.0, 0.1, 0.01))
    assert "pad_crop_flip" in recipe.augmentation


def test_densenet_inception_alexnet_googlenet_recipes():
    dense = PAPER["densenet_cifar"]
    assert (dense.batch_size, dense.epochs, dense.nesterov, dense.learning_rate) == (64, 300, True, 0.1)
    assert dense.lr_boundaries == (0.5, 0.75) and dense.weight_decay == 1e-4
    inception = PAPER["inception"]
    assert (inception.optimizer, inception.rmsprop_rho, inception.epsilon) == ("rmsprop", 0.9, 1.0)
    assert (inception.learning_rate, inception.lr_decay_rate, inception.lr_decay_epochs) == (0.045, 0.94, 2)
    assert (inception.clipnorm, inception.label_smoothing) == (2.0, 0.1)
    alexnet = PAPER["alexnet"]
    assert (alexnet.batch_size, alexnet.momentum, alexnet.weight_decay) == (128, 0.9, 5e-4)
    assert "pca_color" in alexnet.augmentation and alexnet.model_options == {"dropout": 0.5}
    assert PAPER["googlenet"].aux_loss_weight == 0.3


def test_recipe_lookup_by_model():
    assert get_recipe("vgg16", "paper").name == "vgg/paper"
    assert get_recipe("lenet5").name == "lenet/quick"
    quick = get_recipe("alexnet", "quick", epochs=3)
    assert quick.epochs == 3 and quick.weight_decay == 5e-4 and quick.batch_size == 128
    assert get_recipe("vgg11", augmentation="flip,random_erasing").augmentation == ("flip", "random_erasing")


@pytest.mark.parametrize(
    "overrides,error,match",
    [
        (dict(epochs="3"), TypeError, r"`epochs` must be int; received '3'"),
        (dict(learning_rate=True), TypeError, "learning_rate"),
        (dict(nesterov=1), TypeError, "nesterov"),
        (dict(lr_boundaries=("a",)), TypeError, "lr_boundaries"),
        (dict(epoch=3), ValueError, r"Unknown recipe field 'epoch'\. Did you mean epochs"),
        (dict(optimizer="adagrad"), ValueError, "optimizer"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(label_smoothing=1.0), ValueError, "label_smoothing"),
        (dict(lr_boundaries=(0.5,)), ValueError, "one more value"),
        (dict(batch_norm_momentum=1.0), ValueError, r"`batch_norm_momentum` must be in \[0, 1\) or None"),
        (dict(batch_norm_momentum="0.9"), TypeError, "batch_norm_momentum"),
    ],
)
def test_bad_recipe_fields(overrides, error, match):
    with pytest.raises(error, match=match):
        get_recipe("resnet20" if "resnet20" in keras_cnns.list_models() else "vgg11", **overrides)


def test_unknown_recipe_name():
    with pytest.raises(ValueError, match="'paper', 'quick'"):
        get_recipe("lenet5", "fast")


def test_schedule_piecewise_and_exponential():
    recipe = Recipe(name="t", learning_rate=0.1, epochs=4, lr_boundaries=(0.5, 0.75), lr_multipliers=(1, 0.1, 0.01))
    schedule = make_schedule(recipe, steps_per_epoch=100)
    values = [float(schedule(s)) for s in (0, 199, 200, 299, 300, 399)]
    np.testing.assert_allclose(values, [0.1, 0.1, 0.01, 0.01, 0.001, 0.001], rtol=1e-6)
    inception = make_schedule(PAPER["inception"], steps_per_epoch=10)
    np.testing.assert_allclose(
        [float(inception(s)) for s in (0, 19, 20, 45)], [0.045, 0.045, 0.045 * 0.94, 0.045 * 0.94**2], rtol=1e-6
    )
    restored = RecipeSchedule.from_config(schedule.get_config())
    assert float(restored(250)) == pytest.approx(0.01)


def test_optimizers_follow_the_recipe():
    sgd = make_optimizer(PAPER["densenet_cifar"], 10)
    assert type(sgd) is FusedSGD and sgd.nesterov and sgd.momentum == 0.9
    rms = make_optimizer(PAPER["inception"], 10)
    assert isinstance(rms, keras.optimizers.RMSprop)
    assert (rms.rho, rms.epsilon, rms.clipnorm) == (0.9, 1.0, 2.0)


def _recipes_of_every_model():
    """Every recipe any registered model gets: each recipe family, under each recipe name
    (`RECIPES`: "paper", "quick", "finetune", ...)."""
    recipes = {}
    for model_name in keras_cnns.list_models():
        for recipe_name in RECIPES:
            recipe = get_recipe(model_name, recipe_name)
            recipes.setdefault(recipe.name, (model_name, recipe))
    return recipes


def test_every_sgd_recipe_gets_the_fused_sgd():
    """README: the fused SGD momentum update (`keras_cnns.optimizers.SGD`) wherever a
    recipe trains with SGD: the optimizer is exactly that class, not Keras' SGD (which
    it subclasses), with the recipe's momentum; also once compiled into a model."""
    recipes = _recipes_of_every_model()
    sgd = {name: pair for name, pair in recipes.items() if pair[1].optimizer == "sgd"}
    # The SGD recipes of the papers, their quick forms and the default fine-tuning one.
    expected = {"resnet_cifar/paper", "densenet/quick"} | ({"vgg/finetune"} if "finetune" in RECIPES else set())
    assert expected <= set(sgd), sorted(recipes)
    for name, (_, recipe) in sgd.items():
        optimizer = make_optimizer(recipe, 10)
        assert type(optimizer) is FusedSGD, (name, type(optimizer))
        assert (optimizer.momentum, optimizer.nesterov) == (recipe.momentum, recipe.nesterov), name
    others = {
        type(make_optimizer(recipe, 10)) for name, (_, recipe) in recipes.items() if name not in sgd
    }
    assert FusedSGD not in others and keras.optimizers.SGD not in others
    # The path training takes (`train`, the fine-tuning phases): compile_for_recipe.
    model = keras_cnns.lenet5(variant="modern", num_classes=10)
    compile_for_recipe(model, get_recipe("lenet5", "quick", optimizer="sgd", momentum=0.9), 10)
    assert type(model.optimizer) is FusedSGD


def test_weight_decay_is_the_papers_l2_on_kernels(rng):
    model = keras_cnns.lenet5(variant="modern", num_classes=10)
    decayed = apply_weight_decay(model, 1e-2)
    assert decayed == 5  # c1, c3, c5, f6, predictions kernels; no biases
    kernels = [w for w in model.trainable_weights if w.path.endswith("kernel")]
    expected = 1e-2 / 2 * sum(float(np.sum(np.square(np.asarray(k)))) for k in kernels)
    assert float(sum(model.losses)) == pytest.approx(expected, rel=1e-5)


def test_label_smoothing_target_formula():
    loss = make_loss(Recipe(name="t", label_smoothing=0.1))
    probs = np.array([[0.7, 0.2, 0.1]], "float32")
    onehot = np.array([[1.0, 0.0, 0.0]], "float32")
    smoothed = (1 - 0.1) * onehot + 0.1 / 3
    assert float(loss(onehot, probs)) == pytest.approx(float(-(smoothed * np.log(probs)).sum()), rel=1e-5)
    assert isinstance(make_loss(Recipe(name="t")), keras.losses.SparseCategoricalCrossentropy)


def test_batch_norm_momentum_reaches_every_batch_norm(rng):
    """`batch_norm_momentum` is given to every batch norm, those inside Inception v2's
    blocks too, and a training step moves the moving mean by (1 - momentum) of the batch's
    mean: the first batch norm's moving mean starts at 0 and ends at 0.5 x the mean of its
    input (the convolution before it, computed before the step changes its kernel)."""
    model = keras_cnns.get_model("inception_v2", num_classes=3, input_shape=(32, 32, 3))
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    nested = [n for n in norms if n not in model.layers]
    assert nested and {n.momentum for n in norms} == {0.99}
    recipe = get_recipe("inception_v2", optimizer="sgd", learning_rate=0.01, batch_norm_momentum=0.5)
    compile_for_recipe(model, recipe, steps_per_epoch=1)
    assert {n.momentum for n in norms} == {0.5}

    first = norms[0]
    before_bn = keras.Model(model.input, first.input)
    x = rng.uniform(0, 1, size=(4, 32, 32, 3)).astype("float32")
    batch_mean = keras.ops.convert_to_numpy(before_bn(x, training=True)).mean(axis=(0, 1, 2))
    model.train_on_batch(x, keras.utils.to_categorical([0, 1, 2, 0], 3))  # label smoothing: one-hot
    np.testing.assert_allclose(keras.ops.convert_to_numpy(first.moving_mean), 0.5 * batch_mean,
                               rtol=1e-4, atol=1e-6)
