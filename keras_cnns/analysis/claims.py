"""The seed's claims, computed.

Each function returns the numbers behind one statement of the review the project grew
from (seed/000_69c926c3457d1840.txt), counted on real Keras layers rather than by hand:
the weights by `count_params()`, receptive fields and multiply-adds by
`keras_cnns.analysis.profile`. `seed_claims()` lists them all with what the seed says.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import keras
import numpy as np

from keras_cnns.analysis.profile import _as_model, profile, receptive_field
from keras_cnns.keras_internals import sublayers
from keras_cnns.validation import check_positive_int


def _chain(input_shape: tuple, layers: Sequence[keras.layers.Layer], name: str) -> keras.Model:
    inputs = keras.Input(input_shape)
    x = inputs
    for layer in layers:
        x = layer(x)
    return keras.Model(inputs, x, name=name)


# --------------------------------------------------------------- 3x3 stacks (VGG)
@dataclasses.dataclass(frozen=True)
class StackedConvolutions:
    """`layers` stacked k x k convolutions against the one large convolution that sees
    as far (C channels in and out, no biases)."""

    channels: int
    layers: int
    kernel: int
    stacked_receptive_field: int
    stacked_weights: int
    single_kernel: int
    single_receptive_field: int
    single_weights: int

    @property
    def weight_ratio(self) -> float:
        """single / stacked weights: 49/27 = 1.81 for three 3x3 against one 7x7."""
        return self.single_weights / self.stacked_weights


def stacked_vs_single_convolution(
    channels: int = 64, layers: int = 3, kernel: int = 3
) -> StackedConvolutions:
    """VGG's argument (seed, VGG section): three stacked 3x3 convolutions see a 7x7
    window with 3·(3·3·C²) = 27C² weights, one 7x7 convolution sees the same with 49C².

    Both stacks are built as Keras models with `channels` channels and no biases; their
    weights are counted and their receptive fields computed by `receptive_field`.
    """
    check_positive_int("channels", channels)
    check_positive_int("layers", layers)
    check_positive_int("kernel", kernel)
    single_kernel = layers * (kernel - 1) + 1
    size = 2 * single_kernel
    stacked = _chain(
        (size, size, channels),
        [keras.layers.Conv2D(channels, kernel, padding="same", use_bias=False, activation="relu")
         for _ in range(layers)],
        "stacked",
    )
    single = _chain(
        (size, size, channels),
        [keras.layers.Conv2D(channels, single_kernel, padding="same", use_bias=False, activation="relu")],
        "single",
    )
    return StackedConvolutions(
        channels=channels,
        layers=layers,
        kernel=kernel,
        stacked_receptive_field=receptive_field(stacked)[0],
        stacked_weights=stacked.count_params(),
        single_kernel=single_kernel,
        single_receptive_field=receptive_field(single)[0],
        single_weights=single.count_params(),
    )


# ------------------------------------------------------- 1x1 bottleneck (GoogLeNet)
@dataclasses.dataclass(frozen=True)
class Bottleneck:
    """A k x k convolution against a 1x1 reduction followed by the same k x k one."""

    direct_weights: int
    bottleneck_weights: int
    direct_macs: int
    bottleneck_macs: int

    @property
    def reduction(self) -> float:
        """direct / bottleneck weights (also the ratio of multiply-adds)."""
        return self.direct_weights / self.bottleneck_weights


def bottleneck_example(
    in_channels: int = 128,
    out_channels: int = 256,
    reduced: int = 32,
    kernel: int = 5,
    size: int = 100,
) -> Bottleneck:
    """The seed's Inception v1 example: a 100x100x128 input and a 5x5 convolution with
    256 outputs has 128x5x5x256 = 819,200 weights; a 1x1 convolution down to 32
    channels first needs 128x1x1x32 + 32x5x5x256 = 208,896 ("about 4x fewer"; 3.92x).
    Multiply-adds are the weights times the 100x100 output positions."""
    for name, value in (("in_channels", in_channels), ("out_channels", out_channels),
                        ("reduced", reduced), ("kernel", kernel), ("size", size)):
        check_positive_int(name, value)
    shape = (size, size, in_channels)
    direct = _chain(shape, [keras.layers.Conv2D(out_channels, kernel, padding="same", use_bias=False)], "direct")
    bottleneck = _chain(
        shape,
        [keras.layers.Conv2D(reduced, 1, use_bias=False),
         keras.layers.Conv2D(out_channels, kernel, padding="same", use_bias=False)],
        "bottleneck",
    )
    return Bottleneck(
        direct_weights=direct.count_params(),
        bottleneck_weights=bottleneck.count_params(),
        direct_macs=profile(direct).macs,
        bottleneck_macs=profile(bottleneck).macs,
    )


# ---------------------------------------------------- fully connected layers' share
@dataclasses.dataclass(frozen=True)
class FullyConnectedShare:
    """Parameters of a model's fully connected (`Dense`) layers against all of them."""

    model: str
    fully_connected_params: int
    total_params: int

    @property
    def share(self) -> float:
        return self.fully_connected_params / self.total_params


def fully_connected_share(model: Any = "vgg16") -> FullyConnectedShare:
    """The seed (fully connected layer section) says the fully connected layers hold
    about 80 % of a network's parameters. Computed: 89.4 % of VGG16's 138.4 M, 86.1 %
    of VGG19's 143.7 M (AlexNet: 96.2 %).

    Args:
        model: a Keras model or a registered model name.
    """
    model = _as_model(model, "fully_connected_share")
    dense = [
        layer for layer in sublayers(model, recursive=True)
        if isinstance(layer, keras.layers.Dense)
    ]
    return FullyConnectedShare(
        model=model.name,
        fully_connected_params=sum(layer.count_params() for layer in dense),
        total_params=model.count_params(),
    )


# ----------------------------------------------------- GAP head against an FC head
@dataclasses.dataclass(frozen=True)
class HeadComparison:
    """A flatten + fully connected head against global average pooling + one layer."""

    fully_connected_params: int
    gap_params: int
    fully_connected_macs: int
    gap_macs: int

    @property
    def ratio(self) -> float:
        return self.fully_connected_params / self.gap_params


def gap_vs_fully_connected_head(
    features: Sequence[int] = (7, 7, 512),
    num_classes: int = 1000,
    hidden: Sequence[int] = (4096, 4096),
) -> HeadComparison:
    """Network in Network's global average pooling (seed, GoogLeNet and fully connected
    sections) against VGG's head: on VGG's 7x7x512 feature map, flatten + 4096 + 4096
    + 1000 has 123,642,856 parameters; global average pooling + 1000 has 513,000
    (241x fewer)."""
    features = tuple(features)
    if len(features) != 3 or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in features):
        raise ValueError(
            f"`features` must be a feature-map shape (height, width, channels); received {features!r}."
        )
    check_positive_int("num_classes", num_classes)
    for units in hidden:
        check_positive_int("hidden units", units)
    fc = _chain(
        features,
        [keras.layers.Flatten(), *[keras.layers.Dense(units, activation="relu") for units in hidden],
         keras.layers.Dense(num_classes)],
        "fully_connected_head",
    )
    gap = _chain(features, [keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(num_classes)], "gap_head")
    return HeadComparison(
        fully_connected_params=fc.count_params(),
        gap_params=gap.count_params(),
        fully_connected_macs=profile(fc).macs,
        gap_macs=profile(gap).macs,
    )


# ------------------------------------------------ n x 1 + 1 x n factorization (v3)
@dataclasses.dataclass(frozen=True)
class AsymmetricFactorization:
    """An n x n convolution against an n x 1 followed by a 1 x n one (C channels)."""

    n: int
    channels: int
    square_weights: int
    factorized_weights: int
    square_receptive_field: tuple
    factorized_receptive_field: tuple

    @property
    def saving(self) -> float:
        """The fraction of weights saved: 1 - 2/n."""
        return 1.0 - self.factorized_weights / self.square_weights


def asymmetric_factorization(n: int = 3, channels: int = 1) -> AsymmetricFactorization:
    """Inception v3's factorization (seed, Inception v2/v3 section): an n x 1 then a
    1 x n convolution see the same n x n window as one n x n convolution, with 2n
    weights per pair of channels instead of n² (3: 6 against 9; 7: 14 against 49)."""
    check_positive_int("n", n)
    check_positive_int("channels", channels)
    size = 2 * n
    shape = (size, size, channels)
    square = _chain(shape, [keras.layers.Conv2D(channels, n, padding="same", use_bias=False)], "square")
    factorized = _chain(
        shape,
        [keras.layers.Conv2D(channels, (n, 1), padding="same", use_bias=False),
         keras.layers.Conv2D(channels, (1, n), padding="same", use_bias=False)],
        "factorized",
    )
    return AsymmetricFactorization(
        n=n,
        channels=channels,
        square_weights=square.count_params(),
        factorized_weights=factorized.count_params(),
        square_receptive_field=tuple(_axis_fields(square)),
        factorized_receptive_field=tuple(_axis_fields(factorized)),
    )


def _axis_fields(model: keras.Model) -> list[int]:
    from keras_cnns.analysis.profile import _input_shapes, _Tracer

    field = _Tracer.run(model, _input_shapes(model, None)).largest_field()
    return [int(s) for s in field.size]


# ------------------------------------------------------- label smoothing (v3)
def label_smoothing_targets(labels: Any, num_classes: int, epsilon: float = 0.1) -> np.ndarray:
    """Inception v3's smoothed targets (seed, label smoothing section):
    `(1 - epsilon) * one_hot(labels) + epsilon / num_classes`.

    Args:
        labels: integer class indices, any shape.
        num_classes: K.
        epsilon: the smoothing ε in [0, 1].
    """
    check_positive_int("num_classes", num_classes)
    if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not 0 <= epsilon <= 1:
        raise ValueError(f"`epsilon` must be a number in [0, 1]; received {epsilon!r}.")
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"`labels` must lie in [0, {num_classes - 1}]; received values from "
            f"{labels.min()} to {labels.max()}."
        )
    one_hot = np.eye(num_classes, dtype="float64")[labels]
    return (1.0 - epsilon) * one_hot + epsilon / num_classes


def label_smoothing_matches_keras(
    epsilon: float = 0.1, num_classes: int = 10, batch: int = 8, seed: int = 0
) -> tuple[float, float]:
    """The cross-entropy of random predictions against `label_smoothing_targets`, and
    what `keras.losses.CategoricalCrossentropy(label_smoothing=epsilon)` gives on the
    one-hot labels: `(ours, keras)`, equal when Keras uses the same formula."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, size=batch)
    logits = rng.normal(size=(batch, num_classes))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    targets = label_smoothing_targets(labels, num_classes, epsilon)
    ours = float(np.mean(-(targets * np.log(probabilities)).sum(axis=1)))
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=epsilon)
    theirs = float(
        keras.ops.convert_to_numpy(
            loss(np.eye(num_classes, dtype="float32")[labels], probabilities.astype("float32"))
        )
    )
    return ours, theirs


# ------------------------------------------------------------------- all of them
def seed_claims() -> list[dict[str, str]]:
    """Every claim with what the seed says and what we compute (rows of a table)."""
    stacked = stacked_vs_single_convolution(channels=64)
    bottleneck = bottleneck_example()
    vgg16, vgg19 = fully_connected_share("vgg16"), fully_connected_share("vgg19")
    head = gap_vs_fully_connected_head()
    three, seven = asymmetric_factorization(3), asymmetric_factorization(7)
    ours, theirs = label_smoothing_matches_keras()
    c2 = stacked.channels**2
    return [
        {
            "claim": "three stacked 3x3 convolutions against one 7x7",
            "seed": "both see 7x7; 27C² against 49C² weights",
            "computed": f"receptive fields {stacked.stacked_receptive_field} and "
            f"{stacked.single_receptive_field}; {stacked.stacked_weights // c2}C² against "
            f"{stacked.single_weights // c2}C² (C={stacked.channels}: "
            f"{stacked.stacked_weights:,} against {stacked.single_weights:,})",
        },
        {
            "claim": "1x1 bottleneck before a 5x5 convolution (128 -> 32 -> 256)",
            "seed": "128x5x5x256 against 128x1x1x32 + 32x5x5x256, about 4x fewer",
            "computed": f"{bottleneck.direct_weights:,} against {bottleneck.bottleneck_weights:,} "
            f"weights ({bottleneck.reduction:.2f}x); {bottleneck.direct_macs / 1e9:.2f} G against "
            f"{bottleneck.bottleneck_macs / 1e9:.2f} G multiply-adds at 100x100",
        },
        {
            "claim": "fully connected layers' share of the parameters",
            "seed": "about 80 %",
            "computed": f"VGG16 {vgg16.share:.1%} ({vgg16.fully_connected_params:,} of "
            f"{vgg16.total_params:,}); VGG19 {vgg19.share:.1%}",
        },
        {
            "claim": "global average pooling instead of fully connected layers",
            "seed": "far fewer parameters, no loss of accuracy",
            "computed": f"on 7x7x512: {head.fully_connected_params:,} against "
            f"{head.gap_params:,} parameters ({head.ratio:.0f}x fewer)",
        },
        {
            "claim": "n x 1 then 1 x n instead of n x n",
            "seed": "from n x n down to 2 x n weights",
            "computed": f"n=3: {three.factorized_weights} against {three.square_weights} "
            f"({three.saving:.0%} saved); n=7: {seven.factorized_weights} against "
            f"{seven.square_weights} ({seven.saving:.0%}); same {three.n}x{three.n} / "
            f"{seven.n}x{seven.n} receptive field",
        },
        {
            "claim": "label smoothing",
            "seed": "(1 - ε) · one_hot + ε / K",
            "computed": f"cross-entropy with our targets {ours:.6f}, Keras' "
            f"CategoricalCrossentropy(label_smoothing=0.1) {theirs:.6f}",
        },
    ]
