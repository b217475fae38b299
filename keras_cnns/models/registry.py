"""The model registry: builders register themselves with a decorator.

`get_model("vgg19")` and `list_models()` read this table, so no hand-kept list of models
exists anywhere else in the package. A model's entry (`ModelSpec`) is the one place that
holds what the package knows of it: its family, default input shape, smallest input,
published weights, reference and published accuracy (`analysis.PUBLISHED` reads it).

`register_model` also gives every builder its real signature: the common arguments of
`COMMON_ARGS` and the family options read from the family's private builder (`options=`),
all keyword-only, so that `inspect.signature(keras_cnns.vgg19)` and `help()` show them,
the defaults shown are the defaults used, and an unknown keyword fails with the list of
accepted ones.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
from typing import Any, Callable, Iterator, Mapping, Sequence

import keras

# What a published weights name stands for (URL, hash, input, preprocessing): defined with
# the downloads in keras_cnns.weights, used in every family's registration.
from keras_cnns.weights.published import PretrainedWeights  # noqa: F401


@dataclasses.dataclass(frozen=True)
class Published:
    """A published accuracy of the architecture: top-1 in percent, on `dataset`, from
    `source`. Papers often give the error instead: `Published.from_error(8.75, ...)`."""

    top1: float
    dataset: str
    source: str

    @property
    def error(self) -> float:
        """The top-1 error in percent (100 - top1)."""
        return round(100.0 - self.top1, 6)

    @classmethod
    def from_error(cls, error: float, dataset: str, source: str) -> "Published":
        """The figure of a paper that reports a top-1 error in percent."""
        return cls(round(100.0 - error, 6), dataset, source)


# Sources shared by several models (analysis/compare.py explains them).
TORCHVISION_ACC1 = "torchvision IMAGENET1K_V1 acc@1"
KERAS_IO_TOP1 = "keras.io/api/applications Top-1"


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
    published: Published | None = None

    @property
    def summary_line(self) -> str:
        doc = (self.builder.__doc__ or "").strip().splitlines()
        return doc[0] if doc else self.name

    def build_args(self) -> dict[str, Any]:
        """`build_model`'s model-specific arguments, as registered: the default input
        shape, the smallest input size and the published weights."""
        return dict(
            default_input_shape=self.default_input_shape,
            min_input_size=self.min_input_size,
            published_weights=self.weights,
        )


# The common arguments of every builder, in keras.applications' order, with their
# defaults (`build_model` takes the same defaults; a test checks that they agree).
COMMON_ARGS: tuple[tuple[str, Any], ...] = (
    ("num_classes", 1000),
    ("input_shape", None),
    ("include_top", True),
    ("pooling", None),
    ("weights", None),
    ("classifier_activation", "softmax"),
    ("name", None),
    ("fit_input", None),
    ("include_preprocessing", False),
)

COMMON_ARGS_DOC = """
    Common arguments (the same for every model, as in `keras.applications`):
        num_classes: number of output classes when `include_top=True` (a positive int).
        input_shape: `(height, width, channels)`; `None` takes the model's default size.
        include_top: keep the classifier; with `False` the model ends at its last
            feature map (or the global pooling chosen by `pooling`).
        pooling: `None`, `"avg"` or `"max"`: global pooling when `include_top=False`.
        weights: `None` (random init), the name of published weights (`"imagenet"`,
            `"torchvision"` where the model has them; any `num_classes`: the
            classifier starts fresh where its shape differs) or the path to a weights
            file (`.weights.h5`, legacy `.h5`, or a torchvision checkpoint `.pth`,
            `.pt`, `.safetensors` where the family maps its keys).
        classifier_activation: activation of the last layer (`"softmax"`, `None` for
            logits, or any Keras activation).
        name: the model's name (defaults to the builder's name).
        fit_input: `None`, `"pad"` or `"resize"`: inputs smaller than the network's
            minimum size are zero-padded or resized inside the model up to that size
            (e.g. Fashion-MNIST's 28x28 into LeNet-5 or VGG); without it such an input
            is rejected with the minimum size in the message.
        include_preprocessing: `True`: the model takes pixels in [0, 255] (uint8 or
            float) and applies the preprocessing its `weights` expect inside (a
            `keras_cnns.layers.WeightsPreprocessing` layer named "preprocessing": the
            published entry's "caffe", "tf" or "torch"; "torch" for a torchvision
            checkpoint); or a mode, `"caffe"`, `"tf"` or `"torch"`, with any weights.
            `False` (default): the model takes preprocessed inputs
            (`keras_cnns.preprocess_input`).
    All arguments are keyword-only.
"""


_REGISTRY: dict[str, ModelSpec] = {}


def builder_signature(
    options: Callable[..., Any] | None = None,
    *,
    fixed: Sequence[str] = (),
    defaults: Mapping[str, Any] | None = None,
) -> inspect.Signature:
    """The signature of a builder: the common arguments, then the family options.

    The family options are the parameters of `options` (the family's private builder)
    that have a default, in order, without those in `fixed` (options the builder sets
    itself); `defaults` overrides some of their defaults for one builder.
    """
    params = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
        for name, default in COMMON_ARGS
    ]
    common = {name for name, _ in COMMON_ARGS}
    defaults = dict(defaults or {})
    if options is not None:
        for param in inspect.signature(options).parameters.values():
            if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL):
                continue
            if param.default is param.empty or param.name in fixed or param.name in common:
                continue
            default = defaults.pop(param.name, param.default)
            params.append(inspect.Parameter(param.name, inspect.Parameter.KEYWORD_ONLY, default=default))
    if defaults:
        raise ValueError(f"`defaults` names options the builder does not have: {sorted(defaults)}.")
    return inspect.Signature(params, return_annotation="keras.Model")


def bind_arguments(
    builder_name: str,
    signature: inspect.Signature,
    args: tuple,
    kwargs: dict[str, Any],
    fixed: Sequence[str] = (),
) -> dict[str, Any]:
    """Every argument of a call, defaults filled in from `signature`; a TypeError that
    lists the accepted arguments for a positional or unknown one. Names in `fixed` pass
    through untouched (the builder rejects them with its own explanation)."""
    if args:
        raise TypeError(
            f"{builder_name}() takes keyword arguments only; received {len(args)} positional "
            f"argument(s) {args!r}. Pass e.g. num_classes=... or input_shape=...."
        )
    accepted = list(signature.parameters)
    unknown = [key for key in kwargs if key not in signature.parameters and key not in fixed]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, accepted, n=3, cutoff=0.6)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise TypeError(
            f"{builder_name}() got an unexpected keyword argument {key!r}.{hint} "
            f"Accepted: {', '.join(accepted)}."
        )
    bound = signature.bind(**{k: v for k, v in kwargs.items() if k in signature.parameters})
    bound.apply_defaults()
    return {**bound.arguments, **{k: v for k, v in kwargs.items() if k in fixed}}


def register_model(
    family: str,
    *,
    default_input_shape: tuple[int, int, int] = (224, 224, 3),
    min_input_size: int,
    weights: dict[str, PretrainedWeights] | None = None,
    reference: str = "",
    published: Published | None = None,
    options: Callable[..., Any] | None = None,
    fixed: Sequence[str] = (),
    defaults: Mapping[str, Any] | None = None,
    options_doc: str = "",
) -> Callable[[Callable[..., keras.Model]], Callable[..., keras.Model]]:
    """Register a model builder under its function name.

    The returned builder is the decorated one with its real signature (see
    `builder_signature`): it fills in the defaults of that signature and rejects
    positional and unknown arguments, then calls the decorated function with every
    argument by keyword.

    Args:
        family: the family the model belongs to (`"vgg"`, `"resnet"`, ...).
        default_input_shape: the input shape used when `input_shape=None`.
        min_input_size: the smallest height/width the network accepts with its
            default options (a test checks it against the real network).
        weights: published weights the builder can load by name.
        reference: where the architecture comes from (paper, torchvision, ...).
        published: the published accuracy of the architecture, if any.
        options: the family's private builder, whose keyword parameters with defaults
            are the builder's family options.
        fixed: options of `options` this builder sets itself (left out of its
            signature; passing one reaches the builder, which explains it).
        defaults: family-option defaults that differ for this builder.
        options_doc: family options shared by several builders, appended to each
            builder's docstring (with the common arguments).
    """
    signature = builder_signature(options, fixed=fixed, defaults=defaults)

    def decorate(builder: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
        name = builder.__name__
        if name in _REGISTRY:
            raise ValueError(f"A model named {name!r} is already registered.")

        @functools.wraps(builder)
        def registered(*args: Any, **kwargs: Any) -> keras.Model:
            return builder(**bind_arguments(name, signature, args, kwargs, fixed))

        registered.__doc__ = (builder.__doc__ or "").rstrip() + "\n" + options_doc + COMMON_ARGS_DOC
        registered.__signature__ = signature
        _REGISTRY[name] = ModelSpec(
            name=name,
            family=family,
            builder=registered,
            default_input_shape=tuple(default_input_shape),
            min_input_size=int(min_input_size),
            weights=dict(weights or {}),
            reference=reference,
            published=published,
        )
        return registered

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


def models_with_weights(weights_name: str) -> list[str]:
    """The registered models that publish weights under `weights_name`, in
    registration order."""
    return [name for name, spec in _REGISTRY.items() if weights_name in spec.weights]


def _canonical(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def get_model(name: str, /, **kwargs: Any) -> keras.Model:
    """Build the registered model `name` with the builder's keyword arguments (which
    may include the model's own `name=`).

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


class _PublishedFigures(Mapping[str, Published]):
    """`name -> Published` for every registered model with a published figure, read
    from the registry at each access (a read-only view, in registration order)."""

    def __getitem__(self, name: str) -> Published:
        spec = _REGISTRY.get(name)
        if spec is None or spec.published is None:
            raise KeyError(name)
        return spec.published

    def __iter__(self) -> Iterator[str]:
        return iter([name for name, spec in _REGISTRY.items() if spec.published is not None])

    def __len__(self) -> int:
        return sum(1 for spec in _REGISTRY.values() if spec.published is not None)

    def __repr__(self) -> str:
        return f"PUBLISHED({dict(self)!r})"


# The published figures of every registered model (`keras_cnns.analysis.PUBLISHED`).
PUBLISHED: Mapping[str, Published] = _PublishedFigures()
