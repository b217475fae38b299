"""The training assembly (keras_cnns.training.assembly) that `train()` and the KerasTuner
hypermodels share: build for the data, compile for a recipe (aux heads, weight decay,
label smoothing), the datasets' targets; and the layering of training/ and tuning/."""

import ast
import warnings
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np
import pytest

import keras_cnns
from keras_cnns.data import from_arrays
from keras_cnns.models import auxiliary
from keras_cnns.training.assembly import (
    accuracy_name,
    build_and_compile,
    build_for_data,
    SMALL_STEP_MACS,
    choose_fit_input,
    choose_steps_per_execution,
    compile_for_recipe,
    make_dataset,
)
from keras_cnns.training.recipes import Recipe, get_recipe

PACKAGE = Path(keras_cnns.__file__).parent


def test_choose_fit_input_pads_a_little_and_resizes_a_lot():
    assert choose_fit_input(32, (28, 28, 1)) == "pad"  # LeNet-5's 32x32 from 28x28
    assert choose_fit_input(65, (28, 28, 1)) == "resize"
    assert choose_fit_input(35, (28, None, 1)) == "pad"


def test_steps_per_execution_auto_follows_the_size_of_a_step():
    from keras_cnns.analysis import profile

    lenet = keras_cnns.lenet5(num_classes=10)
    assert choose_steps_per_execution(lenet, 128) == 16  # 326,520 MACs per image
    assert choose_steps_per_execution(keras_cnns.resnet20(num_classes=10), 128) == 1
    assert choose_steps_per_execution(lenet, 128, 4) == 4
    any_size = keras_cnns.vgg11(num_classes=10, input_shape=(None, None, 3), include_top=False, pooling="avg")
    assert choose_steps_per_execution(any_size, 1) == 1
    # The rule is the forward pass of one batch against SMALL_STEP_MACS.
    largest_small_batch = (SMALL_STEP_MACS - 1) // profile(lenet).macs
    assert choose_steps_per_execution(lenet, largest_small_batch) == 16
    assert choose_steps_per_execution(lenet, largest_small_batch + 1) == 1
    for bad in (0, -2, 1.5, True, "fast"):
        with pytest.raises(ValueError, match=r"`steps_per_execution` must be 'auto' or a positive integer"):
            choose_steps_per_execution(lenet, 128, bad)


def test_build_for_data_takes_a_name_or_a_builder():
    model, fit_input = build_for_data("lenet5", (28, 28, 1), 10)
    assert fit_input == "pad" and model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    same, none = build_for_data(keras_cnns.lenet5, (32, 32, 1), 7, {"variant": "modern"})
    assert none is None and same.output_shape == (None, 7)
    assert any(layer.name.startswith("fit_input") for layer in model.layers)
    assert not any(layer.name.startswith("fit_input") for layer in same.layers)


def test_compile_for_a_recipe_with_aux_heads():
    recipe = get_recipe("googlenet").replace(aux_loss_weight=0.25, label_smoothing=0.1, weight_decay=1e-4)
    model, fit_input = build_and_compile(
        "googlenet", recipe, image_shape=(28, 28, 1), num_classes=10, steps_per_epoch=3,
        options={"aux_logits": True, "dropout": 0.0},
    )
    assert fit_input == "resize"
    config = model.get_compile_config()
    assert config["loss_weights"] == {"logits": 1.0, "aux1": 0.25, "aux2": 0.25}
    # One loss per output, named by the output dict's keys, the main output first.
    assert list(config["loss"]) == auxiliary.output_names(model) == ["logits", "aux1", "aux2"]
    assert all(loss.label_smoothing == 0.1 for loss in model.loss.values())
    assert accuracy_name(model) == "logits_accuracy"
    assert any(getattr(v, "regularizer", None) is not None for v in model.trainable_weights)


def test_one_output_model_and_no_weight_decay():
    model, _ = build_for_data("lenet5", (32, 32, 1), 10)
    compile_for_recipe(model, Recipe(name="plain", weight_decay=0.0), steps_per_epoch=2)
    assert accuracy_name(model) == "accuracy"
    assert isinstance(model.loss, keras.losses.SparseCategoricalCrossentropy)
    assert not any(getattr(v, "regularizer", None) is not None for v in model.trainable_weights)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_dataset_targets_follow_the_outputs_and_the_loss(smoothing):
    rng = np.random.default_rng(0)
    data = from_arrays(rng.integers(0, 256, (12, 28, 28, 1), dtype=np.uint8), np.arange(12) % 4, split="train")
    recipe = Recipe(name="r", batch_size=4, label_smoothing=smoothing)
    model, _ = build_for_data("googlenet", (28, 28, 1), 4, {"aux_logits": True})
    images, targets = next(iter(make_dataset(data, model, recipe, input_shape=(28, 28, 1), num_classes=4,
                                             training=False)))
    assert images.shape == (4, 28, 28, 1)
    assert sorted(targets) == ["aux1", "aux2", "logits"]
    expected = np.eye(4)[np.arange(4)] if smoothing else np.arange(4)
    for value in targets.values():
        np.testing.assert_array_equal(value.numpy(), expected)


def test_grey_images_drop_the_colour_augmentation_once():
    alexnet = get_recipe("alexnet")
    assert "pca_color" in alexnet.augmentation
    assert alexnet.for_channels(1).augmentation == ("random_resized_crop", "flip")
    assert alexnet.for_channels(3) is alexnet
    resnet = get_recipe("resnet20")
    assert resnet.for_channels(1) is resnet


def test_hypermodel_fit_is_quiet_about_shuffle():
    from keras_cnns.tuning import LeNetHyperModel

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, 28, 28, 1), dtype=np.uint8)
    y = np.arange(32) % 10
    hypermodel = LeNetHyperModel(10, (28, 28, 1), epochs=1, batch_size=16, verbose=0)
    hp = kt.HyperParameters()
    model = hypermodel.build(hp)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hypermodel.fit(hp, model, x, y, validation_data=(x, y))
    assert not [w for w in caught if "shuffle" in str(w.message)]


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module == "keras_cnns":
            yield from (f"keras_cnns:{alias.name}" for alias in node.names)


@pytest.mark.parametrize("subpackage", ["training", "tuning"])
def test_subpackages_do_not_import_the_top_level_package(subpackage):
    for path in sorted((PACKAGE / subpackage).glob("*.py")):
        found = [name for name in _imports(path) if name == "keras_cnns" or name.startswith("keras_cnns:")]
        assert not found, f"{path.name} imports {found}: import from keras_cnns.models, keras_cnns.data, ..."


def test_auxiliary_loss_weight_is_exactly_the_papers():
    """GoogLeNet's total loss is the main cross-entropy plus 0.3 times each auxiliary
    one (section 5), computed here by hand from the three outputs: a weight of 1.0, or an
    auxiliary head left out, gives another number."""
    from keras_cnns.training.assembly import compile_for_recipe
    from keras_cnns.training.recipes import get_recipe

    keras.utils.set_random_seed(3)
    model = keras_cnns.googlenet(num_classes=4, input_shape=(65, 65, 3), aux_logits=True)
    recipe = get_recipe("googlenet", "quick", weight_decay=0.0, label_smoothing=0.0)
    assert recipe.aux_loss_weight == 0.3
    compile_for_recipe(model, recipe, steps_per_epoch=1)
    x = np.random.default_rng(0).uniform(0, 1, (6, 65, 65, 3)).astype("float32")
    y = np.array([0, 1, 2, 3, 1, 2])
    total = model.evaluate(x, auxiliary.repeat_targets(model, y), verbose=0, return_dict=True)["loss"]
    outputs = model(x, training=False)
    ce = keras.losses.SparseCategoricalCrossentropy()
    parts = {name: float(ce(y, outputs[name])) for name in ("logits", "aux1", "aux2")}
    by_hand = parts["logits"] + 0.3 * (parts["aux1"] + parts["aux2"])
    assert total == pytest.approx(by_hand, rel=1e-5)
    assert abs(by_hand - (parts["logits"] + parts["aux1"] + parts["aux2"])) > 1e-3 * by_hand
