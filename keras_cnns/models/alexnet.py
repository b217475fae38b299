"""AlexNet (Krizhevsky, Sutskever & Hinton 2012) and its single-tower form (Krizhevsky
2014, "One weird trick for parallelizing convolutional neural networks").

Five convolutions (`conv1`..`conv5`, LRN `norm1`/`norm2`, pooling `pool1`/`pool2`/`pool5`)
and the fully connected top of `keras_cnns.layers.heads`: `fc6`, `fc6_dropout`, `fc7`,
`fc7_dropout`, `predictions`.

torchvision's AlexNet is `variant="single_tower"`: the same convolutions, poolings and
fully connected layers, so its state dicts (`.pth`, `.safetensors`) load by
`torchvision_keys` with `weights=PATH`, any `num_classes`, and give its outputs. Two
differences leave its weights and eval outputs alone: torchvision puts its dropouts before
fc6 and fc7 rather than after them, and average-pools the last feature map to 6x6
(`AdaptiveAvgPool2d`) before the classifier, the identity on the 6x6 pool5 map of a
224x224 input. Ours flattens pool5 as it is, so with `include_top=True` a checkpoint
loads at input sizes that give a 6x6 pool5 (any size with `include_top=False`)."""

from __future__ import annotations

from typing import Any

import keras

from keras_cnns.layers.grouped_conv import GroupedConv2D
from keras_cnns.layers.lrn import LocalResponseNormalization
from keras_cnns.layers.heads import CLASSIFIER, fully_connected_classifier
from keras_cnns.models.common import build_model, smallest_input
from keras_cnns.models.registry import Published, get_spec, register_model
from keras_cnns.validation import check_bool, check_choice, check_divides, check_rate
from keras_cnns.weights import CheckpointMap, is_checkpoint, torchvision_weights

# variant -> conv widths, conv1 padding, LRN by default, default input shape.
VARIANTS = {
    "paper": dict(widths=(96, 256, 384, 384, 256), conv1_pad=0, lrn=True, size=227),
    "single_tower": dict(widths=(64, 192, 384, 256, 256), conv1_pad=2, lrn=False, size=224),
}
_KERNELS = (11, 5, 3, 3, 3)
_POOL_AFTER = (1, 2, 5)
_GROUPED = (2, 4, 5)  # the convolutions that read only their own tower in the paper


def _windows(conv1_pad: int):
    windows = [(11 - 2 * conv1_pad, 4, "valid"), (3, 2, "valid")]
    windows += [(5, 1, "same"), (3, 2, "valid")] + [(3, 1, "same")] * 3 + [(3, 2, "valid")]
    return windows


def _alexnet(variant="paper", groups=None, lrn=None, dropout=0.5, **common) -> keras.Model:
    check_choice("variant", variant, VARIANTS)
    spec = VARIANTS[variant]
    widths = spec["widths"]
    groups = (2 if variant == "paper" else 1) if groups is None else groups
    check_divides(
        "groups", groups, [widths[0], widths[1], widths[2], widths[3], widths[3], widths[4]]
    )
    check_bool("lrn", lrn, allow_none=True)
    use_lrn = spec["lrn"] if lrn is None else lrn
    dropout = check_rate("dropout", dropout)
    weights = common.get("weights")
    torchvision_file = is_checkpoint(weights) or weights == "torchvision"
    if torchvision_file and (variant != "single_tower" or groups != 1 or use_lrn):
        kind = "are torchvision's" if weights == "torchvision" else "is a PyTorch/safetensors"
        raise ValueError(
            f"`weights={weights!r}` {kind} checkpoint: it loads into "
            "torchvision's AlexNet, variant='single_tower' with groups=1 and no LRN; "
            f"received variant={variant!r}, groups={groups!r}, lrn={use_lrn!r}. Pass "
            "alexnet(variant='single_tower', weights=...)."
        )
    layers = keras.layers

    def features(x):
        if spec["conv1_pad"]:
            x = layers.ZeroPadding2D(spec["conv1_pad"], name="conv1_pad")(x)
        for index, (filters, kernel) in enumerate(zip(widths, _KERNELS), start=1):
            grouped = groups > 1 and index in _GROUPED
            x = (GroupedConv2D if grouped else layers.Conv2D)(
                filters,
                kernel,
                strides=4 if index == 1 else 1,
                padding="valid" if index == 1 else "same",
                groups=groups if grouped else 1,
                activation="relu",
                name=f"conv{index}",
            )(x)
            if use_lrn and index in (1, 2):
                x = LocalResponseNormalization(name=f"norm{index}")(x)
            if index in _POOL_AFTER:
                x = layers.MaxPooling2D(3, strides=2, name=f"pool{index}")(x)
        return x

    def top(x, num_classes, classifier_activation):
        return fully_connected_classifier(
            x, num_classes, classifier_activation, [("fc6", 4096), ("fc7", 4096)],
            dropout_rate=dropout,
        )

    # The variant sets the default and smallest input; the registry the published weights.
    return build_model(
        "alexnet",
        features,
        top,
        default_input_shape=(spec["size"], spec["size"], 3),
        min_input_size=smallest_input(_windows(spec["conv1_pad"])),
        published_weights=get_spec("alexnet").weights,
        checkpoint_keys=_checkpoint_keys(weights),
        **common,
    )


# ---------------------------------------------------------------------- torchvision checkpoints
TORCHVISION_GRID = 6  # torchvision's AdaptiveAvgPool2d((6, 6)) before the classifier
TORCHVISION_KEYS = CheckpointMap(
    {
        "conv1": "features.0",
        "conv2": "features.3",
        "conv3": "features.6",
        "conv4": "features.8",
        "conv5": "features.10",
        "fc6": "classifier.1",
        "fc7": "classifier.4",
        CLASSIFIER: "classifier.6",
    },
    heads=(CLASSIFIER,),
    top=("classifier",),
    flattened={"fc6": "flatten"},
)


def torchvision_keys(model: keras.Model) -> CheckpointMap:
    """The map from the single-tower AlexNet's layers to torchvision's `state_dict`
    keys, for `weights="....pth"` / `".safetensors"`: `conv1`..`conv5` ->
    `features.0`, `.3`, `.6`, `.8`, `.10` (torchvision's ReLU and max-pooling modules
    take the numbers between); `fc6`, `fc7`, `predictions` -> `classifier.1`, `.4`, `.6`
    (its dropouts are `classifier.0` and `.3`); fc6's rows follow PyTorch's (C, H, W)
    flattening of the 6x6 pool5 map."""
    return TORCHVISION_KEYS


def _checkpoint_keys(weights: Any):
    """`build_model`'s `checkpoint_keys`: the map, once the built model's top is known to
    read the 6x6 grid that torchvision's classifier reads."""

    def keys(model: keras.Model) -> CheckpointMap:
        flatten = next((layer for layer in model.layers if layer.name == "flatten"), None)
        grid = None if flatten is None else tuple(flatten.input.shape[1:3])
        if grid is not None and grid != (TORCHVISION_GRID, TORCHVISION_GRID):
            raise ValueError(
                f"`weights={weights!r}` with include_top=True: torchvision's AlexNet "
                f"average-pools its last feature map to {TORCHVISION_GRID}x{TORCHVISION_GRID} "
                f"before fc6, ours flattens pool5 as it is, so the checkpoint's fc6 fits "
                f"inputs whose pool5 is {TORCHVISION_GRID}x{TORCHVISION_GRID}, such as "
                f"224x224; input_shape {tuple(model.input_shape[1:])!r} gives a "
                f"{grid[0]}x{grid[1]} pool5. Pass input_shape=(224, 224, 3), or "
                "include_top=False for other sizes."
            )
        return torchvision_keys(model)

    return keys


@register_model(
    "alexnet",
    default_input_shape=(227, 227, 3),
    min_input_size=smallest_input(_windows(0)),
    reference="Krizhevsky et al. 2012: 60,965,224 parameters with two towers",
    weights={"torchvision": torchvision_weights("alexnet", variant="single_tower")},
    published=Published.from_error(
        40.7, "ImageNet", "Krizhevsky et al. 2012, Table 2 (1 CNN, 40.7% top-1 error)"
    ),
    options=_alexnet,
)
def alexnet(**kwargs) -> keras.Model:
    """AlexNet: five convolutions (LRN and overlapping 3x3/2 max pooling) and three FC layers.

    Family options:
        variant: `"paper"` (default) — 96-256-384-384-256 filters, LRN after conv1 and
            conv2, 227x227x3 input so that the last pooling gives 6x6x256.
            `"single_tower"` — 64-192-384-256-256 without LRN, 224x224x3 input
            (torchvision's AlexNet: `weights="torchvision"` loads its IMAGENET1K_V1
            file).
        groups: groups of conv2, conv4 and conv5; the paper's two GPU towers are
            `groups=2` (default for "paper"), `groups=1` is one tower.
        lrn: override whether LRN follows conv1 and conv2.
        dropout: dropout rate after fc6 and fc7 (paper: 0.5).
    """
    return _alexnet(**kwargs)
