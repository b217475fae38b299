"""The model registry: builders register themselves with a decorator.

`get_model("vgg19")` and `list_models()` read this table, so no hand-kept list of models
exists anywhere else in the package.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Callable

import keras


@dataclasses.dataclass(frozen=True)
class PretrainedWeights:
    """Where a published weight file lives and what it expects.

    `top_*` is the file with the classifier, `notop_*` the one without (for
    `include_top=False`). Hashes are checked by `keras.utils.get_file`.
    """

    top_url: str
    top_hash: str
    notop_url: str | None = None
    notop_hash: str | None = None
    input_shape: tuple[int, int, int] = (224, 224, 3)
    num_classes: int = 1000
    cache_subdir: str = "models"
    cache_dir: str | None = None  # None: Keras' home ($KERAS_HOME or ~/.keras)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the registry knows of one model."""

    name: str
    family: str
    builder: Callable[..., keras.Model]
    default_input_shape: tuple[int, int, int]
    min_input_size: int
    weights: dict[str, PretrainedWeights]
    reference: str

    @property
    def summary_line(self) -> str:
        doc = (self.builder.__doc__ or "").strip().splitlines()
        return doc[0] if doc else self.name


COMMON_ARGS_DOC = """
    Common arguments (the same for every model, as in `keras.applications`):
        num_classes: number of output classes when `include_top=True` (a positive int).
        input_shape: `(height, width, channels)`; `None` takes the model's default size.
        include_top: keep the classifier; with `False` the model ends at its last
            feature map (or the global pooling chosen by `pooling`).
        pooling: `None`, `"avg"` or `"max"`: global pooling when `include_top=False`.
        weights: `None` (random init), the name of published weights (e.g.
            `"imagenet"` where the model has them) or the path to a weights file.
        classifier_activation: activation of the last layer (`"softmax"`, `None` for
            logits, or any Keras activation).
        name: the model's name (defaults to the builder's name).
        fit_input: `None`, `"pad"` or `"resize"`: inputs smaller than the network's
            minimum size are zero-padded or resized inside the model up to that size
            (e.g. Fashion-MNIST's 28x28 into LeNet-5 or VGG); without it such an input
            is rejected with the minimum size in the message.
"""


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    family: str,
    *,
    default_input_shape: tuple[int, int, int] = (224, 224, 3),
    min_input_size: int,
    weights: dict[str, PretrainedWeights] | None = None,
    reference: str = "",
    options_doc: str = "",
) -> Callable[[Callable[..., keras.Model]], Callable[..., keras.Model]]:
    """Register a model builder under its function name.

    Args:
        family: the family the model belongs to (`"vgg"`, `"resnet"`, ...).
        default_input_shape: the input shape used when `input_shape=None`.
        min_input_size: the smallest height/width the network accepts with its
            default options (a test checks it against the real network).
        weights: published weights the builder can load by name.
        reference: where the architecture comes from (paper, torchvision, ...).
        options_doc: family options shared by several builders, appended to each
            builder's docstring (with the common arguments).
    """

    def decorate(builder: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
        name = builder.__name__
        builder.__doc__ = (builder.__doc__ or "").rstrip() + "\n" + options_doc + COMMON_ARGS_DOC
        if name in _REGISTRY:
            raise ValueError(f"A model named {name!r} is already registered.")
        _REGISTRY[name] = ModelSpec(
            name=name,
            family=family,
            builder=builder,
            default_input_shape=tuple(default_input_shape),
            min_input_size=int(min_input_size),
            weights=dict(weights or {}),
            reference=reference,
        )
        return builder

    return decorate


def get_spec(name: str) -> ModelSpec:
    """The registry entry of `name`; unknown names get close matches suggested."""
    if not isinstance(name, str):
        raise TypeError(f"Model name must be a string; received {name!r}.")
    key = name.strip().lower()
    if key in _REGISTRY:
        return _REGISTRY[key]
    # Spelling-insensitive: "VGG-16", "vgg_16" and "ResNet50V2" find vgg16 and resnet50_v2.
    canonical = {_canonical(known): known for known in _REGISTRY}
    if _canonical(key) in canonical:
        return _REGISTRY[canonical[_canonical(key)]]
    close = difflib.get_close_matches(key, _REGISTRY, n=5, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ValueError(
        f"Unknown model name {name!r}.{hint} "
        f"Known models: {', '.join(sorted(_REGISTRY))}."
    )


def _canonical(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def get_model(name: str, **kwargs: Any) -> keras.Model:
    """Build the registered model `name` with the builder's keyword arguments.

    >>> model = get_model("vgg16", num_classes=10, input_shape=(32, 32, 3))
    """
    return get_spec(name).builder(**kwargs)


def list_models(family: str | None = None) -> list[str]:
    """Names of all registered models (of one family if given), in registration order."""
    if family is None:
        return list(_REGISTRY)
    families = sorted({spec.family for spec in _REGISTRY.values()})
    if family not in families:
        raise ValueError(
            f"Unknown family {family!r}; known families: {', '.join(families)}."
        )
    return [name for name, spec in _REGISTRY.items() if spec.family == family]


def list_families() -> list[str]:
    """The families that have registered models, in registration order."""
    return list(dict.fromkeys(spec.family for spec in _REGISTRY.values()))
