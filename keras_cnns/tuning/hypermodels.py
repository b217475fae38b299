"""KerasTuner hypermodels: one per family, its search space taken from the paper's knobs.

Each hypermodel declares its knobs as a table (`Knob` rows): the family's own options
(VGG's configuration A-E, ResNet's 6n+2 depth, DenseNet's growth rate, ...) and the
recipe's (`optimizer`, `learning_rate`, `weight_decay`, `label_smoothing`,
`augmentation_strength`). `build(hp)` builds the network with the family's public
builder (`keras_cnns.get_model`, `keras_cnns.vgg`, `keras_cnns.resnet_cifar`, ...) and
compiles it for the trial's recipe, and `fit(hp, model, data, validation_data=...)` feeds
it the recipe's datasets, both through the training assembly that `keras_cnns.train` uses
(`keras_cnns.training.assembly`).

`HYPERMODELS` maps every registered model family (`keras_cnns.models.list_families()`,
in that order) to its hypermodel: each class names its `family` and registers itself.

    hypermodel = ResNetHyperModel(num_classes=10, input_shape=(28, 28, 1),
                                  fixed={"preactivation": True},
                                  ranges={"depth": (20, 56), "learning_rate": (1e-3, 0.3)})
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=10)
    tuner.search(train_split, validation_data=validation_split)   # DataSplits or arrays

`keras_cnns.tune(...)` does all of this, and more, in one call.
"""

from __future__ import annotations

import difflib
import functools
import math
from typing import Any, Callable, Sequence

import keras
import keras_tuner as kt
import numpy as np
import tensorflow as tf

from keras_cnns.data import DataSplit, from_arrays
from keras_cnns.models import auxiliary, get_model, list_families
from keras_cnns.models.densenet import CIFAR as DENSENET_CIFAR
from keras_cnns.models.densenet import IMAGENET as DENSENET_IMAGENET
from keras_cnns.models.densenet import densenet_cifar
from keras_cnns.models.resnet import IMAGENET_DEPTHS, LAYOUTS, SHORTCUT_OPTIONS, resnet_cifar
from keras_cnns.models.vgg import CONFIGS as VGG_CONFIGS
from keras_cnns.models.vgg import vgg
from keras_cnns.training.assembly import (
    build_for_data,
    choose_steps_per_execution,
    compile_for_recipe,
    make_dataset,
)
from keras_cnns.training.recipes import OPTIMIZERS, Recipe, get_recipe
from keras_cnns.tuning.space import Knob, SearchSpace
from keras_cnns.validation import check_image_shape, check_positive_int

#: The objective every hypermodel reports: the main classifier's validation accuracy
#: (models with auxiliary heads log it as `val_logits_accuracy`; it is copied over).
OBJECTIVE = "val_accuracy"
#: Weight decays worth trying: 0 and the papers' values (LeNet 0, Inception v3 4e-5,
#: ResNet/DenseNet 1e-4, GoogLeNet 2e-4, AlexNet/VGG 5e-4) and their neighbours.
WEIGHT_DECAYS = (0.0, 1e-5, 4e-5, 1e-4, 2e-4, 5e-4, 1e-3)
#: Augmentations whose magnitude `augmentation_strength` scales (flips are all-or-nothing).
SCALED_AUGMENTATIONS = ("random_resized_crop", "pad_crop_flip", "pca_color", "random_erasing")
#: Images up to this side get the CIFAR networks of ResNet and DenseNet, larger ones the
#: ImageNet networks.
CIFAR_MAX_SIDE = 64
# Fields of the optimizer a recipe tunes for its own optimizer; another optimizer starts
# from the Recipe defaults (e.g. Inception's RMSProp epsilon 1.0 is not Adam's).
_OPTIMIZER_FIELDS = ("momentum", "nesterov", "rmsprop_rho", "epsilon")


def _dropout(default: float, high: float = 0.7) -> Knob:
    return Knob("dropout", "float", low=0.0, high=high, step=0.1, default=default,
                doc="dropout rate of the classifier")


class CNNHyperModel(kt.HyperModel):
    """The common part of the family hypermodels (not used directly).

    Args:
        num_classes: classes of the data.
        input_shape: the model's `(height, width, channels)`; images of the data are
            padded or resized to it by the pipeline. Networks with a larger minimum
            input adapt it inside the model (`fit_input`, as `keras_cnns.train` does).
        epochs: the length of a training run (the learning-rate schedule spans it).
        batch_size: the batch size (default: the family's quick recipe, 64 or 128).
        train_examples: examples per epoch, for the schedule's step boundaries; None
            trains at a constant learning rate.
        dataset: the data set's name (for its normalization statistics).
        fixed: `{hyperparameter: value}` every trial uses (checked against the space).
        ranges: `{hyperparameter: (low, high)}` for numbers or `[values]` for choices:
            a narrower search space (inside the declared one).
        hyperparameters: a `keras_tuner.HyperParameters` with `Fixed` values and/or
            narrower `Choice`/`Int`/`Float` entries, the KerasTuner way of doing the same.
        seed: seed of the input pipeline's shuffling and augmentation.
        verbose: Keras' progress setting for `fit`.
    """

    #: The model family (`keras_cnns.models.list_families()`) of a concrete hypermodel.
    family: str = ""

    def __init__(
        self,
        num_classes: int = 10,
        input_shape: Sequence[int] = (28, 28, 1),
        *,
        epochs: int = 10,
        batch_size: int | None = None,
        train_examples: int | None = None,
        dataset: str | None = None,
        fixed: dict | None = None,
        ranges: dict | None = None,
        hyperparameters: kt.HyperParameters | None = None,
        seed: int | None = None,
        verbose: Any = "auto",
    ):
        super().__init__(name=f"{self.family}_hypermodel", tunable=True)
        self.num_classes = check_positive_int("num_classes", num_classes)
        self.input_shape = check_image_shape("input_shape", input_shape)
        self.epochs = check_positive_int("epochs", epochs)
        self.batch_size = None if batch_size is None else check_positive_int("batch_size", batch_size)
        self.train_examples = None if train_examples is None else check_positive_int("train_examples", train_examples)
        self.dataset = dataset
        self.seed = seed
        self.verbose = verbose
        self.base_recipe = self._base_recipe()
        self.space = SearchSpace(
            [*self.family_knobs(), *self.recipe_knobs()],
            fixed=fixed, ranges=ranges, hyperparameters=hyperparameters,
        )

    # ------------------------------------------------------------- what families define
    def recipe_model(self) -> str:
        """The registered model whose recipe the trials start from."""
        raise NotImplementedError

    def family_knobs(self) -> list[Knob]:
        """The family's own knobs."""
        raise NotImplementedError

    def builder(self, values: dict) -> tuple[Callable[..., keras.Model], dict]:
        """The public builder and its family options for one configuration."""
        raise NotImplementedError

    # ------------------------------------------------------------------ recipe
    def _base_recipe(self) -> Recipe:
        overrides = {"epochs": self.epochs}
        if self.batch_size is not None:
            overrides["batch_size"] = self.batch_size
        recipe = get_recipe(self.recipe_model(), "quick", **overrides).for_channels(self.input_shape[-1])
        if self.train_examples is None:
            recipe = recipe.replace(lr_boundaries=(), lr_multipliers=(1.0,), lr_decay_epochs=0.0)
        return recipe

    def recipe_knobs(self) -> list[Knob]:
        """The training knobs, their defaults the family's recipe."""
        base = self.base_recipe
        knobs = [
            Knob("optimizer", "choice", values=OPTIMIZERS, default=base.optimizer,
                 doc="sgd (with the recipe's momentum), rmsprop or adam"),
            Knob("learning_rate", "float", low=1e-4, high=0.5, sampling="log",
                 default=min(max(base.learning_rate, 1e-4), 0.5), doc="initial learning rate"),
            Knob("weight_decay", "choice", values=WEIGHT_DECAYS,
                 default=min(WEIGHT_DECAYS, key=lambda v: abs(v - base.weight_decay)),
                 doc="L2 penalty on conv/dense kernels (the papers' weight decay)"),
            Knob("label_smoothing", "float", low=0.0, high=0.2, step=0.05,
                 default=round(min(base.label_smoothing, 0.2) / 0.05) * 0.05,
                 doc="epsilon of label smoothing"),
        ]
        if any(a in SCALED_AUGMENTATIONS for a in base.augmentation):
            knobs.append(Knob(
                "augmentation_strength", "float", low=0.0, high=1.5, step=0.25, default=1.0,
                doc=f"scales the recipe's augmentation ({', '.join(base.augmentation)}); 1 = paper",
            ))
        return knobs

    def recipe(self, values: dict) -> Recipe:
        """The recipe of one configuration: the family's, with the tuned fields."""
        changes = {
            k: values[k] for k in ("optimizer", "learning_rate", "weight_decay", "label_smoothing")
            if k in values
        }
        if "aux_loss_weight" in values:
            changes["aux_loss_weight"] = values["aux_loss_weight"]
        if changes.get("optimizer", self.base_recipe.optimizer) != self.base_recipe.optimizer:
            defaults = Recipe(name="defaults")
            changes.update({k: getattr(defaults, k) for k in _OPTIMIZER_FIELDS})
        changes["learning_rate"] = float(changes.get("learning_rate", self.base_recipe.learning_rate))
        changes["label_smoothing"] = float(changes.get("label_smoothing", self.base_recipe.label_smoothing))
        changes["weight_decay"] = float(changes.get("weight_decay", self.base_recipe.weight_decay))
        return self.base_recipe.replace(**changes)

    def steps_per_epoch(self, recipe: Recipe) -> int:
        return math.ceil((self.train_examples or recipe.batch_size) / recipe.batch_size)

    # ------------------------------------------------------------------ build
    def declare_hyperparameters(self, hp: kt.HyperParameters) -> None:
        self.space.values(hp)

    def build(self, hp: kt.HyperParameters) -> keras.Model:
        """Build and compile the network of the trial's hyperparameters."""
        values = self.space.values(hp)
        recipe = self.recipe(values)
        builder, options = self.builder(values)
        model, _ = build_for_data(builder, self.input_shape, self.num_classes, {**recipe.model_options, **options})
        # As `keras_cnns.train` runs it: the trial's dataset is one pass per epoch, so a
        # block of steps ends with the epoch.
        return compile_for_recipe(model, recipe, self.steps_per_epoch(recipe),
                                  steps_per_execution=choose_steps_per_execution(model, recipe.batch_size))

    # ------------------------------------------------------------------ fit
    def fit(self, hp: kt.HyperParameters, model: keras.Model, x: Any, y: Any = None, *,
            validation_data: Any = None, callbacks: Sequence[keras.callbacks.Callback] = (),
            epochs: int | None = None, **kwargs) -> keras.callbacks.History:
        """Train `model` on `x`: a `DataSplit` (`keras_cnns.data.load`) or arrays `x, y`;
        `validation_data` likewise (a split, or an `(x, y)` pair)."""
        values = self.space.values(hp)
        recipe = self.recipe(values)
        strength = float(values.get("augmentation_strength", 1.0))
        train = self.pipeline(_as_split(x, y, "train"), model, recipe, training=True, strength=strength)
        validation = None
        if validation_data is not None:
            if isinstance(validation_data, tuple):
                validation_data = _as_split(*validation_data, "validation")
            validation = self.pipeline(_as_split(validation_data, None, "validation"), model, recipe, training=False)
        kwargs.setdefault("verbose", self.verbose)
        kwargs.setdefault("shuffle", False)  # the pipeline shuffles
        return model.fit(
            train, validation_data=validation, epochs=epochs or recipe.epochs,
            callbacks=[MainOutputMetrics(), *callbacks], **kwargs,
        )

    def pipeline(self, data: DataSplit, model: keras.Model, recipe: Recipe, *, training: bool,
                 strength: float = 1.0) -> tf.data.Dataset:
        """The batches a configuration trains or validates on (as `keras_cnns.train`'s)."""
        return make_dataset(
            data, model, recipe, input_shape=self.input_shape, num_classes=self.num_classes,
            training=training, seed=self.seed, augmentation_strength=strength,
        )


class MainOutputMetrics(keras.callbacks.Callback):
    """Copy the main output's metrics (`logits_accuracy`) of a model with auxiliary heads
    to the plain names (`accuracy`), so that every trial reports the same objective."""

    def _copy(self, logs):
        if logs is None:
            return
        prefix = f"{auxiliary.MAIN_OUTPUT}_"
        for key in list(logs):
            for head in ("val_", ""):
                if key.startswith(head + prefix) and key.endswith("accuracy"):
                    logs.setdefault(head + key[len(head + prefix):], logs[key])

    def on_epoch_end(self, epoch, logs=None):
        self._copy(logs)


# ---------------------------------------------------------------------- families
_REGISTERED: dict[str, type[CNNHyperModel]] = {}


def _register(cls: type[CNNHyperModel]) -> type[CNNHyperModel]:
    """Make `cls` the hypermodel of its `family` (a family of the model registry)."""
    if cls.family not in list_families():
        raise ValueError(
            f"{cls.__name__}.family = {cls.family!r} is not a registered model family; "
            f"registered: {', '.join(list_families())}."
        )
    if cls.family in _REGISTERED:
        raise ValueError(f"The family {cls.family!r} already has a hypermodel: {_REGISTERED[cls.family].__name__}.")
    _REGISTERED[cls.family] = cls
    return cls


@_register
class LeNetHyperModel(CNNHyperModel):
    """LeNet-5: the paper's network or the modern one, and the modern one's activation
    and pooling (LeCun et al. 1998; the seed's sigmoid/tanh/ReLU and max/average)."""

    family = "lenet"

    def recipe_model(self) -> str:
        return "lenet5"

    def family_knobs(self) -> list[Knob]:
        modern = (("variant", ("modern",)),)
        return [
            Knob("variant", "choice", values=("paper", "modern"), default="modern",
                 doc="paper: scaled tanh, trainable subsampling, C3 table, RBF; modern: ReLU-era"),
            Knob("activation", "choice", values=("relu", "tanh", "sigmoid"), default="relu", when=modern,
                 doc="activation of the modern variant"),
            Knob("subsampling", "choice", values=("max", "avg"), default="max", when=modern,
                 doc="pooling of the modern variant"),
        ]

    def builder(self, values):
        options = {k: values[k] for k in ("variant", "activation", "subsampling") if k in values}
        return functools.partial(get_model, "lenet5"), options


@_register
class AlexNetHyperModel(CNNHyperModel):
    """AlexNet: the two-tower paper network or the single tower, LRN, dropout."""

    family = "alexnet"

    def recipe_model(self) -> str:
        return "alexnet"

    def family_knobs(self) -> list[Knob]:
        return [
            Knob("variant", "choice", values=("paper", "single_tower"), default="paper",
                 doc="paper (96-256-384-384-256, two towers) or single_tower (torchvision)"),
            Knob("lrn", "boolean", default=True, doc="local response normalization after conv1, conv2"),
            _dropout(0.5),
        ]

    def builder(self, values):
        return functools.partial(get_model, "alexnet"), {k: values[k] for k in ("variant", "lrn", "dropout")}


@_register
class VGGHyperModel(CNNHyperModel):
    """VGG: the configurations A-E of Table 1, batch normalization, dropout."""

    family = "vgg"

    def recipe_model(self) -> str:
        return "vgg16"

    def family_knobs(self) -> list[Knob]:
        return [
            Knob("config", "choice", values=tuple(VGG_CONFIGS), default="D",
                 doc="Table 1 configuration (A: VGG-11 ... D: VGG-16, E: VGG-19)"),
            Knob("batch_norm", "boolean", default=False, doc="batch normalization after every conv"),
            _dropout(0.5),
        ]

    def builder(self, values):
        config = values["config"]
        options = {k: values[k] for k in ("batch_norm", "dropout")}
        return functools.partial(vgg, config), options


@_register
class GoogLeNetHyperModel(CNNHyperModel):
    """GoogLeNet: auxiliary classifiers and their loss weight, batch norm, dropout."""

    family = "googlenet"

    def recipe_model(self) -> str:
        return "googlenet"

    def family_knobs(self) -> list[Knob]:
        aux = (("aux_logits", (True,)),)
        return [
            Knob("aux_logits", "boolean", default=False, doc="the two auxiliary classifiers"),
            Knob("aux_loss_weight", "float", low=0.1, high=1.0, step=0.1, default=0.3, when=aux,
                 doc="weight of each auxiliary loss (paper: 0.3)"),
            Knob("batch_norm", "boolean", default=False, doc="BN variant (no LRN)"),
            _dropout(0.4),
        ]

    def builder(self, values):
        return functools.partial(get_model, "googlenet"), {k: values[k] for k in ("aux_logits", "batch_norm", "dropout")}


@_register
class InceptionHyperModel(CNNHyperModel):
    """Inception v2 (BN-Inception) or v3, v3's auxiliary classifier and its weight, dropout."""

    family = "inception"

    def recipe_model(self) -> str:
        return "inception_v3"

    def family_knobs(self) -> list[Knob]:
        v3 = ("model", ("inception_v3",))
        return [
            Knob("model", "choice", values=("inception_v2", "inception_v3"), default="inception_v3",
                 doc="BN-Inception (v2) or Inception v3"),
            Knob("aux_logits", "boolean", default=False, when=(v3,), doc="v3's auxiliary classifier"),
            Knob("aux_loss_weight", "float", low=0.1, high=1.0, step=0.1, default=0.4,
                 when=(v3, ("aux_logits", (True,))), doc="weight of the auxiliary loss (TF-Slim: 0.4)"),
            _dropout(0.0),
        ]

    def builder(self, values):
        options = {"dropout": values["dropout"]}
        if values["model"] == "inception_v3":
            options["aux_logits"] = values["aux_logits"]
        return functools.partial(get_model, values["model"]), options


class _TwoScaleHyperModel(CNNHyperModel):
    """A family with CIFAR-sized (`variant="cifar"`) and ImageNet networks."""

    VARIANTS = ("cifar", "imagenet")

    def __init__(self, num_classes: int = 10, input_shape: Sequence[int] = (28, 28, 1), *,
                 variant: str | None = None, **kwargs):
        shape = check_image_shape("input_shape", input_shape)
        if variant is None:
            variant = "cifar" if min(shape[:2]) <= CIFAR_MAX_SIDE else "imagenet"
        if variant not in self.VARIANTS:
            raise ValueError(
                f"Unknown `variant` of {self.family}: {variant!r}; accepted: "
                f"{', '.join(repr(v) for v in self.VARIANTS)} (None: cifar for images up to "
                f"{CIFAR_MAX_SIDE}x{CIFAR_MAX_SIDE}, else imagenet)."
            )
        self.variant = variant
        super().__init__(num_classes, shape, **kwargs)


@_register
class ResNetHyperModel(_TwoScaleHyperModel):
    """ResNet: CIFAR depth 6n+2, shortcut option, pre-activation, stochastic depth; or the
    ImageNet depths 18-152 and layouts (`keras_v2` is pre-activation).

    Args:
        variant: `"cifar"` (He et al. sec. 4.2, `keras_cnns.resnet_cifar`) or
            `"imagenet"` (Table 1); None picks by the input size.
    """

    family = "resnet"

    def recipe_model(self) -> str:
        return "resnet20" if self.variant == "cifar" else "resnet50"

    def family_knobs(self) -> list[Knob]:
        survival = Knob(
            "stochastic_depth", "float", low=0.5, high=1.0, step=0.1, default=1.0,
            doc="survival probability of the last block (1 = no stochastic depth; Huang: 0.5)",
        )
        if self.variant == "cifar":
            return [
                Knob("depth", "int", low=20, high=110, step=6, default=20,
                     doc="6n+2 layers (20, 32, 44, 56, 110 in the paper)"),
                Knob("shortcut", "choice", values=SHORTCUT_OPTIONS, default="A",
                     doc="A: zero-padded identities, B: projections when growing, C: all projections"),
                Knob("preactivation", "boolean", default=False, doc="pre-activation blocks (He et al. 2016)"),
                survival,
            ]
        return [
            Knob("depth", "choice", values=tuple(IMAGENET_DEPTHS), default=50, doc="Table 1 depth"),
            Knob("layout", "choice", values=tuple(LAYOUTS), default="v1.5",
                 doc="v1.5 (torchvision), keras (paper's stride), keras_v2 (pre-activation)"),
            Knob("shortcut", "choice", values=SHORTCUT_OPTIONS, default="B", doc="see the CIFAR variant"),
            survival,
        ]

    def builder(self, values):
        options = {"shortcut": values["shortcut"]}
        if values["stochastic_depth"] < 1.0:
            options["stochastic_depth"] = float(values["stochastic_depth"])
        depth = int(values["depth"])
        if self.variant == "cifar":
            options["preactivation"] = values["preactivation"]
            return functools.partial(resnet_cifar, depth), options
        options["layout"] = values["layout"]
        return functools.partial(get_model, f"resnet{depth}"), options


@_register
class DenseNetHyperModel(_TwoScaleHyperModel):
    """DenseNet: CIFAR depth, growth rate k, bottleneck (B), compression (C), dropout; or
    the ImageNet depths 121-264.

    Args:
        variant: `"cifar"` (Table 2, `keras_cnns.densenet_cifar`) or `"imagenet"`
            (Table 1); None picks by the input size.
    """

    family = "densenet"

    def recipe_model(self) -> str:
        return "densenet40" if self.variant == "cifar" else "densenet121"

    def family_knobs(self) -> list[Knob]:
        if self.variant == "cifar":
            growths = tuple(sorted({k for _, k, _, _ in DENSENET_CIFAR.values()} | {32}))
            return [
                # 6n+4 is a valid depth with and without the bottleneck (3n'+4, n' = 2n).
                Knob("depth", "int", low=16, high=100, step=6, default=40,
                     doc="L: 3n+4 (6n+4 with the bottleneck); 40, 100 in Table 2"),
                Knob("growth_rate", "choice", values=growths, default=12, doc="k, channels per dense layer"),
                Knob("bottleneck", "boolean", default=False, doc="1x1 conv (4k) before each 3x3 (DenseNet-B)"),
                Knob("compression", "float", low=0.5, high=1.0, step=0.25, default=1.0,
                     doc="theta of the transitions (DenseNet-C: 0.5)"),
                _dropout(0.0, high=0.3),
            ]
        return [
            Knob("depth", "choice", values=tuple(DENSENET_IMAGENET), default=121, doc="Table 1 depth"),
            _dropout(0.0, high=0.3),
        ]

    def builder(self, values):
        depth = int(values["depth"])
        if self.variant == "cifar":
            options = {k: values[k] for k in ("growth_rate", "bottleneck", "dropout")}
            options["compression"] = float(values["compression"])
            return functools.partial(densenet_cifar, depth), options
        return functools.partial(get_model, f"densenet{depth}"), {"dropout": values["dropout"]}


#: family -> hypermodel class, in the order of `keras_cnns.models.list_families()`.
HYPERMODELS: dict[str, type[CNNHyperModel]] = {
    family: _REGISTERED[family] for family in list_families() if family in _REGISTERED
}


def get_hypermodel_class(family: str) -> type[CNNHyperModel]:
    """The hypermodel of `family`; unknown names get close matches suggested."""
    if not isinstance(family, str):
        raise TypeError(f"`family` must be a string; received {family!r}.")
    key = family.strip().lower()
    if key not in HYPERMODELS:
        close = difflib.get_close_matches(key, HYPERMODELS, n=3, cutoff=0.75)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise ValueError(
            f"Unknown family {family!r}.{hint} Families that can be tuned: {', '.join(HYPERMODELS)}."
        )
    return HYPERMODELS[key]


# ---------------------------------------------------------------------- helpers
def _as_split(x: Any, y: Any, split: str) -> DataSplit:
    if isinstance(x, DataSplit):
        return x
    if y is None:
        raise TypeError(
            f"Pass the {split} data as a keras_cnns.data.DataSplit (keras_cnns.data.load) or as "
            f"uint8 image and integer label arrays; received {type(x).__name__} without labels."
        )
    return from_arrays(np.asarray(x), np.asarray(y), split=split)
