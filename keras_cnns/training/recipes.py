"""Each family's training recipe from its paper, as data.

A `Recipe` holds every choice a paper makes about training: optimizer, learning rate and
its schedule, weight decay, batch size, epochs, label smoothing, gradient clipping,
auxiliary-loss weight, augmentation and model options such as dropout. `get_recipe(model,
"paper")` gives the paper's values; `"quick"` keeps the paper's optimizer, decay and
schedule shape but trains briefly with batch 128, for small data and quick runs;
`"finetune"` starts from pretrained weights (`FINETUNE_OVERRIDES`: a head-phase and a lower
full-network learning rate, see `keras_cnns.training.finetune`). Every field can be
overridden (`get_recipe("resnet20", epochs=5)`, or `--epochs 5` on the CLI).
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from typing import Any

from keras_cnns.models.registry import get_spec

OPTIMIZERS = ("sgd", "rmsprop", "adam")
NORMALIZATIONS = ("scale", "standardize", "none")
RECIPES = ("finetune", "paper", "quick")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How to train a model. Learning-rate boundaries are fractions of the whole run.

    Attributes:
        name: the recipe's name (`"<family>/paper"`, `"<family>/quick"`).
        optimizer: `"sgd"`, `"rmsprop"` or `"adam"`.
        learning_rate: the initial learning rate (in fine-tuning: of the phase where every
            layer trains, after `freeze_epochs`).
        head_learning_rate: fine-tuning's head phase (the first `freeze_epochs` epochs,
            only the new head trains): its learning rate; None: `learning_rate`.
        momentum: SGD momentum, RMSProp momentum.
        nesterov: Nesterov momentum for SGD.
        weight_decay: L2 penalty `weight_decay / 2 * ||w||^2` on convolution and dense
            kernels, added to the loss: the same as the papers' (Caffe's, torch's) SGD
            weight decay, which enters the momentum. 0 turns it off.
        lr_boundaries: fractions of the total steps where the learning rate changes.
        lr_multipliers: the learning-rate multiplier before the first boundary, between
            boundaries and after the last (one more than `lr_boundaries`).
        lr_decay_epochs, lr_decay_rate: exponential staircase decay, the rate applied
            every `lr_decay_epochs` epochs (Inception); 0 turns it off.
        batch_size: the global batch size (split over replicas).
        epochs: passes over the training split.
        label_smoothing: epsilon of `y = (1 - eps) * onehot + eps / K`.
        clipnorm: clip each gradient to this norm (Inception v3: 2.0); None for none.
        rmsprop_rho, epsilon: RMSProp's decay and epsilon (Inception v3: 0.9, 1.0).
        aux_loss_weight: weight of each auxiliary classifier's loss (GoogLeNet: 0.3).
        batch_norm_momentum: the momentum of every batch norm's moving mean and variance
            (what inference uses); None keeps the model's own (Keras' 0.99). At 0.99 the
            averages forget their start (mean 0, variance 1) over a few hundred steps, so a
            run of a few dozen steps evaluates near chance however well it trains; 0.9
            (PyTorch's default, momentum 0.1 there) follows the batches within about 30.
        freeze_batch_norm: in a run from pretrained `weights`, keep the batch norms frozen
            (inference mode, scale and offset fixed) in the phase where the other layers
            train too. Ignored without weights.
        augmentation: augmentation names of `keras_cnns.data.build_pipeline`.
        normalization: input normalization of the pipeline.
        model_options: builder options the recipe sets (e.g. dropout).
        source: where the values come from.
    """

    name: str
    optimizer: str = "sgd"
    learning_rate: float = 0.01
    head_learning_rate: float | None = None
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    lr_boundaries: tuple[float, ...] = ()
    lr_multipliers: tuple[float, ...] = (1.0,)
    lr_decay_epochs: float = 0.0
    lr_decay_rate: float = 1.0
    batch_size: int = 128
    epochs: int = 10
    label_smoothing: float = 0.0
    clipnorm: float | None = None
    rmsprop_rho: float = 0.9
    epsilon: float = 1e-7
    aux_loss_weight: float = 0.3
    batch_norm_momentum: float | None = None
    freeze_batch_norm: bool = False
    augmentation: tuple[str, ...] = ()
    normalization: str = "scale"
    model_options: dict = dataclasses.field(default_factory=dict)
    source: str = ""

    def __post_init__(self):
        _validate(self)

    def replace(self, **overrides: Any) -> "Recipe":
        """A copy with some fields changed; unknown fields and wrong types are refused."""
        fields = {f.name for f in dataclasses.fields(self)}
        for key in overrides:
            if key not in fields:
                close = difflib.get_close_matches(key, fields, n=3)
                hint = f" Did you mean {', '.join(close)}?" if close else ""
                raise ValueError(
                    f"Unknown recipe field {key!r}.{hint} Fields: {', '.join(sorted(fields))}."
                )
        overrides = {k: _coerce(k, v) for k, v in overrides.items()}
        return dataclasses.replace(self, **overrides)

    def for_channels(self, channels: int) -> "Recipe":
        """The recipe for images of `channels` channels: AlexNet's colour augmentation
        (`pca_color`) is defined on RGB, so images that are not RGB skip it."""
        if channels == 3 or "pca_color" not in self.augmentation:
            return self
        return self.replace(augmentation=tuple(a for a in self.augmentation if a != "pca_color"))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _coerce(field: str, value: Any) -> Any:
    if field in ("lr_boundaries", "lr_multipliers", "augmentation") and isinstance(value, list):
        return tuple(value)
    if field == "augmentation" and isinstance(value, str):
        return tuple(part for part in value.split(",") if part)
    return value


def _type_ok(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if annotation is dict:
        return isinstance(value, dict)
    if origin is tuple:
        (item,) = {a for a in typing.get_args(annotation) if a is not Ellipsis}
        return isinstance(value, tuple) and all(_type_ok(v, item) for v in value)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return any(_type_ok(value, a) if a is not type(None) else value is None for a in typing.get_args(annotation))
    return True


_HINTS = None


def _validate(recipe: Recipe) -> None:
    global _HINTS
    if _HINTS is None:
        _HINTS = typing.get_type_hints(Recipe)
    for field in dataclasses.fields(recipe):
        value = getattr(recipe, field.name)
        if not _type_ok(value, _HINTS[field.name]):
            hint = _HINTS[field.name]
            expected = getattr(hint, "__name__", str(hint)) if typing.get_origin(hint) is None else str(hint)
            raise TypeError(
                f"Recipe field `{field.name}` must be {expected}; received {value!r} "
                f"({type(value).__name__})."
            )
    if recipe.optimizer not in OPTIMIZERS:
        raise ValueError(f"Recipe field `optimizer`: {recipe.optimizer!r}; accepted: {', '.join(OPTIMIZERS)}.")
    if recipe.normalization not in NORMALIZATIONS:
        raise ValueError(
            f"Recipe field `normalization`: {recipe.normalization!r}; accepted: {', '.join(NORMALIZATIONS)}."
        )
    for name in ("learning_rate", "batch_size", "epochs"):
        if getattr(recipe, name) <= 0:
            raise ValueError(f"Recipe field `{name}` must be > 0; received {getattr(recipe, name)}.")
    if recipe.head_learning_rate is not None and recipe.head_learning_rate <= 0:
        raise ValueError(
            f"Recipe field `head_learning_rate` must be > 0 or None; received {recipe.head_learning_rate}."
        )
    if recipe.weight_decay < 0:
        raise ValueError(f"Recipe field `weight_decay` must be >= 0; received {recipe.weight_decay}.")
    if not 0 <= recipe.label_smoothing < 1:
        raise ValueError(f"Recipe field `label_smoothing` must be in [0, 1); received {recipe.label_smoothing}.")
    if len(recipe.lr_multipliers) != len(recipe.lr_boundaries) + 1:
        raise ValueError(
            "Recipe field `lr_multipliers` needs one more value than `lr_boundaries`; received "
            f"{len(recipe.lr_multipliers)} multipliers for {len(recipe.lr_boundaries)} boundaries."
        )
    if list(recipe.lr_boundaries) != sorted(recipe.lr_boundaries) or any(
        not 0 < b < 1 for b in recipe.lr_boundaries
    ):
        raise ValueError(
            "Recipe field `lr_boundaries` must be increasing fractions of the run in (0, 1); "
            f"received {recipe.lr_boundaries}."
        )
    if recipe.batch_norm_momentum is not None and not 0 <= recipe.batch_norm_momentum < 1:
        raise ValueError(
            "Recipe field `batch_norm_momentum` must be in [0, 1) or None (the model's own); "
            f"received {recipe.batch_norm_momentum}."
        )
    if recipe.clipnorm is not None and recipe.clipnorm <= 0:
        raise ValueError(f"Recipe field `clipnorm` must be > 0 or None; received {recipe.clipnorm}.")


def _step(*boundaries: float, factor: float = 0.1) -> dict:
    return dict(
        lr_boundaries=tuple(boundaries),
        lr_multipliers=tuple(factor**i for i in range(len(boundaries) + 1)),
    )


# The papers' recipes. Where a paper leaves a value out, `source` says where it comes from.
PAPER: dict[str, Recipe] = {
    "lenet": Recipe(
        name="lenet/paper",
        optimizer="sgd",
        momentum=0.0,
        learning_rate=5e-4,
        lr_boundaries=(0.1, 0.25, 0.4, 0.6),
        lr_multipliers=(1.0, 0.4, 0.2, 0.1, 0.02),
        batch_size=1,
        epochs=20,
        source="LeCun et al. 1998 sec. V-B: 20 passes, step size 5e-4 (2 passes), 2e-4 (3), "
        "1e-4 (3), 5e-5 (4), then 1e-5; one example at a time (SGD stands in for their "
        "stochastic diagonal Levenberg-Marquardt).",
    ),
    "alexnet": Recipe(
        name="alexnet/paper",
        learning_rate=0.01,
        weight_decay=5e-4,
        batch_size=128,
        epochs=90,
        **_step(0.33, 0.66, 0.9),
        augmentation=("random_resized_crop", "flip", "pca_color"),
        model_options={"dropout": 0.5},
        source="Krizhevsky et al. 2012 sec. 5: SGD, batch 128, momentum 0.9, weight decay "
        "5e-4, lr 0.01 divided by 10 three times over about 90 cycles (on plateaus; here at "
        "fixed points), PCA colour augmentation, dropout 0.5.",
    ),
    "vgg": Recipe(
        name="vgg/paper",
        learning_rate=0.01,
        weight_decay=5e-4,
        batch_size=256,
        epochs=74,
        **_step(0.4, 0.7, 0.9),
        augmentation=("random_resized_crop", "flip", "pca_color"),
        model_options={"dropout": 0.5},
        source="Simonyan & Zisserman sec. 3.1: batch 256, momentum 0.9, weight decay 5e-4, "
        "dropout 0.5 on fc1/fc2, lr 0.01 decreased 10x three times (on plateaus), 74 epochs.",
    ),
    "googlenet": Recipe(
        name="googlenet/paper",
        learning_rate=0.01,
        weight_decay=2e-4,
        lr_decay_epochs=8,
        lr_decay_rate=0.96,
        batch_size=32,
        epochs=60,
        aux_loss_weight=0.3,
        augmentation=("random_resized_crop", "flip"),
        model_options={"dropout": 0.4},
        source="Szegedy et al. 2014 sec. 6: momentum 0.9, lr decreased 4% every 8 epochs, aux "
        "losses weighted 0.3, dropout 0.4, crops of 8%-100% area; lr 0.01, weight decay 2e-4, "
        "batch 32 and 60 epochs are from BVLC's Caffe GoogLeNet solver (the paper gives none).",
    ),
    "inception": Recipe(
        name="inception/paper",
        optimizer="rmsprop",
        learning_rate=0.045,
        momentum=0.0,
        rmsprop_rho=0.9,
        epsilon=1.0,
        lr_decay_epochs=2,
        lr_decay_rate=0.94,
        clipnorm=2.0,
        label_smoothing=0.1,
        weight_decay=4e-5,
        batch_size=32,
        epochs=100,
        aux_loss_weight=0.4,
        augmentation=("random_resized_crop", "flip"),
        source="Szegedy et al. 2016 sec. 8 and 7: RMSProp decay 0.9, epsilon 1.0, lr 0.045 "
        "x0.94 every 2 epochs, gradient clipping 2.0, label smoothing 0.1, batch 32 per "
        "replica, 100 epochs; weight decay 4e-5 and aux weight 0.4 from TF-Slim's training "
        "of the same network.",
    ),
    "resnet_cifar": Recipe(
        name="resnet_cifar/paper",
        learning_rate=0.1,
        weight_decay=1e-4,
        batch_size=128,
        epochs=182,
        **_step(0.5, 0.75),
        augmentation=("pad_crop_flip",),
        normalization="standardize",
        source="He et al. 2015 sec. 4.2: SGD 0.1, momentum 0.9, weight decay 1e-4, batch 128, "
        "lr /10 at 32k and 48k of 64k iterations (182 epochs of 45k images), 4-pixel pad + "
        "random 32x32 crop + horizontal flip.",
    ),
    "resnet": Recipe(
        name="resnet/paper",
        learning_rate=0.1,
        weight_decay=1e-4,
        batch_size=256,
        epochs=90,
        **_step(1 / 3, 2 / 3),
        augmentation=("random_resized_crop", "flip"),
        normalization="standardize",
        source="He et al. 2015 sec. 3.4: SGD 0.1, momentum 0.9, weight decay 1e-4, batch 256, "
        "lr /10 on plateaus (here every 30 of 90 epochs, as torchvision).",
    ),
    "densenet_cifar": Recipe(
        name="densenet_cifar/paper",
        learning_rate=0.1,
        nesterov=True,
        weight_decay=1e-4,
        batch_size=64,
        epochs=300,
        **_step(0.5, 0.75),
        augmentation=("pad_crop_flip",),
        normalization="standardize",
        source="Huang et al. 2017 sec. 4.2: batch 64, 300 epochs, lr 0.1 /10 at 50% and 75%, "
        "weight decay 1e-4, Nesterov momentum 0.9; dropout 0.2 only without augmentation.",
    ),
    "densenet": Recipe(
        name="densenet/paper",
        learning_rate=0.1,
        nesterov=True,
        weight_decay=1e-4,
        batch_size=256,
        epochs=90,
        **_step(1 / 3, 2 / 3),
        augmentation=("random_resized_crop", "flip"),
        normalization="standardize",
        source="Huang et al. 2017 sec. 4.2: ImageNet, batch 256, 90 epochs, lr 0.1 /10 at "
        "epochs 30 and 60, weight decay 1e-4, Nesterov momentum 0.9.",
    ),
}

# "quick": the paper's optimizer and schedule shape, short runs at batch 128.
QUICK_OVERRIDES: dict[str, dict] = {
    # Measured on Fashion-MNIST: LeNet-5 (modern) overfits after ~10 epochs at a constant
    # rate; two steps down and horizontal flips keep it above 90 % test accuracy.
    "lenet": dict(optimizer="adam", learning_rate=1e-3, momentum=0.0, lr_boundaries=(0.5, 0.8),
                  lr_multipliers=(1.0, 0.3, 0.1), batch_size=64, epochs=15, augmentation=("flip",)),
    "default": dict(batch_size=128, epochs=10),
}  # fmt: skip


# "finetune": from pretrained weights, `train(weights=..., freeze_epochs=N)`. The new head
# trains alone at `head_learning_rate` for N epochs, then every layer at the lower
# `learning_rate`, both constant (the schedule of the quick recipe is dropped), the batch
# norms frozen in inference mode (`freeze_batch_norm`: Keras' transfer-learning guide keeps
# them in inference mode when it unfreezes the base model; Detectron2 freezes them,
# FrozenBatchNorm2d, for the small batches of fine-tuning. Measured here: ResNet-20 on 16x16
# Fashion-MNIST, pretrained on 3,000 images of classes 0-4, then 200 steps of batch 10 on 100
# images of classes 5-9, the first 100 on the head alone: 76.7 % of held-out test images
# with the batch norms frozen, 64.9 % training them).
# Everything else (batch size, epochs, weight decay, augmentation, label smoothing) is the
# quick recipe's. Where the learning rates come from:
# - SGD families: Caffe's fine-tuning example (BVLC, examples/finetune_flickr_style: SGD,
#   momentum 0.9, base lr 0.001 for the pretrained layers, 10x for the new classifier) and
#   torchvision's transfer-learning tutorial (SGD, lr 0.001, momentum 0.9): head 0.01, then
#   0.001.
# - Inception (Keras' guide fine-tunes Xception, an Inception network): Keras' transfer-learning
#   guide (keras.io/guides/transfer_learning: the new top with Adam at its default 1e-3, then
#   the whole model with Adam(1e-5), "a very low learning rate").
# - LeNet-5 (Adam, as its quick recipe): the guide's ratio (100x lower for every layer) from
#   a head rate 10x the guide's, measured here: Adam moves each weight by about the learning
#   rate per step, and a fresh classifier on LeNet-5's 84 features reached 81 % of held-out
#   Fashion-MNIST test images (classes 5-9, 50 training images) in 50 steps at 1e-2 but
#   27 % at 1e-3.
_FINETUNE = dict(lr_boundaries=(), lr_multipliers=(1.0,), lr_decay_epochs=0.0, lr_decay_rate=1.0,
                 freeze_batch_norm=True)
_ADAM = dict(optimizer="adam", epsilon=1e-7, momentum=0.0, **_FINETUNE)
FINETUNE_OVERRIDES: dict[str, dict] = {
    "lenet": dict(_ADAM, head_learning_rate=1e-2, learning_rate=1e-4,
                  source="Adam 1e-2 for the new head, then 1e-4 for every layer (Keras' "
                  "transfer-learning guide's ratio; the head rate measured on LeNet-5)."),
    "inception": dict(_ADAM, head_learning_rate=1e-3, learning_rate=1e-5,
                      source="Keras' transfer-learning guide (Xception): Adam 1e-3 for the new "
                      "head, then Adam 1e-5 for every layer."),
    "default": dict(_FINETUNE, head_learning_rate=1e-2, learning_rate=1e-3, momentum=0.9,
                    source="Caffe's finetune_flickr_style example (SGD, momentum 0.9, lr 0.001 "
                    "for the pretrained layers, 10x for the new classifier) and torchvision's "
                    "transfer-learning tutorial (SGD 0.001, momentum 0.9): the new head alone at "
                    "0.01, then every layer at 0.001."),
}


def recipe_key(model_name: str) -> str:
    """The recipe family of a registered model (CIFAR-sized models get the CIFAR recipe)."""
    spec = get_spec(model_name)
    family = spec.family
    if family in ("resnet", "densenet") and spec.default_input_shape[0] <= 32:
        return f"{family}_cifar"
    if family not in PAPER:
        # e.g. a family registered later without a recipe of its own.
        raise ValueError(f"No training recipe for family {family!r} (model {model_name!r}).")
    return family


def get_recipe(model_name: str, recipe: str = "quick", **overrides: Any) -> Recipe:
    """The recipe of `model_name`: `"paper"`, `"quick"` or `"finetune"` (the quick
    recipe with `FINETUNE_OVERRIDES`), then `overrides` applied."""
    if recipe not in RECIPES:
        raise ValueError(
            f"Unknown `recipe`: {recipe!r}; accepted: {', '.join(repr(r) for r in RECIPES)}."
        )
    key = recipe_key(model_name)
    base = PAPER[key]
    if recipe in ("quick", "finetune"):
        quick = QUICK_OVERRIDES.get(key, QUICK_OVERRIDES["default"])
        base = base.replace(
            name=f"{key}/quick",
            source=f"Quick runs: {base.name}'s optimizer and schedule shape, shortened. " + base.source,
            **quick,
        )
    if recipe == "finetune":
        finetune = dict(FINETUNE_OVERRIDES.get(key, FINETUNE_OVERRIDES["default"]))
        source = finetune.pop("source")
        base = base.replace(name=f"{key}/finetune", source=f"Fine-tuning: {source} Otherwise {base.name}.",
                            **finetune)
    return base.replace(**overrides)
