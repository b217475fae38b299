"""The one place where every builder's common arguments are checked and applied.

Family files describe their network (a `features` function and a `top` function built
from `keras_cnns.layers.heads`) and hand both to `build_model` with the model's default
input shape, smallest input and published weights (from its registry entry,
`ModelSpec.build_args()`, or the family's own table for unregistered variants).
`build_model` owns the input layer, input-size checks and adaptation, the top/pooling
choice and weight loading. No family file repeats any of that.
"""

from __future__ import annotations

import io
import math
import os
import re
import warnings
import zipfile
from typing import Any, Callable, Mapping, Sequence

import h5py
import keras

from keras_cnns.layers.heads import global_pool
from keras_cnns.layers.preprocessing import MODES as PREPROCESSING_MODES
from keras_cnns.layers.preprocessing import WeightsPreprocessing
from keras_cnns.models.registry import PretrainedWeights, models_with_weights
from keras_cnns.validation import check_activation, check_bool, check_choice, check_int
from keras_cnns.weights import (
    CHECKPOINT_SUFFIXES,
    CheckpointMap,
    copy_layers,
    is_checkpoint,
    load_checkpoint,
)
from keras_cnns.weights import download
from keras_cnns.weights.preprocessing import PixelPreprocessing, preprocessing_of

POOLING_CHOICES = (None, "avg", "max")
FIT_INPUT_CHOICES = (None, "pad", "resize")

class InputTooSmallError(ValueError):
    """The input is smaller than the network accepts; `min_size` is the smallest side."""

    def __init__(self, message: str, min_size: int):
        super().__init__(message)
        self.min_size = min_size


def output_size(size: int | None, kernel: int, stride: int, padding: str) -> int | None:
    """Spatial output size of a convolution or pooling window (Keras semantics)."""
    if size is None:
        return None
    if padding == "same":
        return math.ceil(size / stride)
    return (size - kernel) // stride + 1


def smallest_input(windows: Sequence[tuple[int, int, str]]) -> int:
    """Smallest input size that survives a chain of (kernel, stride, padding) windows."""
    for size in range(1, 4096):
        current: int | None = size
        for kernel, stride, padding in windows:
            current = output_size(current, kernel, stride, padding)
            if current is None or current < 1:
                break
        else:
            return size
    raise ValueError("No input size up to 4096 survives these windows.")


def _check_input_shape(
    input_shape: Any, default: tuple[int, int, int], allow_none: bool
) -> tuple[int | None, int | None, int]:
    if input_shape is None:
        return tuple(default)
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3:
        raise ValueError(
            "`input_shape` must be a tuple (height, width, channels) of rank 3, channels "
            f"last; received {input_shape!r}."
        )
    shape = []
    for axis, dim in zip(("height", "width", "channels"), input_shape):
        if dim is None and axis != "channels":
            if not allow_none:
                raise ValueError(
                    f"`input_shape` {tuple(input_shape)!r} leaves the {axis} undefined, which "
                    "this model's classifier cannot take (its fully connected top needs a "
                    "fixed size); give a size or use include_top=False."
                )
            shape.append(None)
            continue
        if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
            raise ValueError(
                f"`input_shape` must hold positive integers (height and width may be None "
                f"with include_top=False); received {tuple(input_shape)!r}: {axis}={dim!r}."
            )
        shape.append(dim)
    return tuple(shape)


def _check_weights(
    weights: Any, spec_weights: dict[str, PretrainedWeights], model_name: str, checkpoints: bool
) -> PretrainedWeights | str | None:
    if weights is None:
        return None
    if isinstance(weights, os.PathLike):
        weights = os.fspath(weights)
    if not isinstance(weights, str):
        raise TypeError(f"`weights` must be None, a name or a path; received {weights!r}.")
    if weights in spec_weights:
        return spec_weights[weights]
    if os.path.isfile(weights):
        return weights
    names = ", ".join(repr(n) for n in spec_weights) or "none for this model"
    formats = (".weights.h5", ".h5", ".keras") + (CHECKPOINT_SUFFIXES if checkpoints else ())
    elsewhere = [name for name in models_with_weights(weights) if name != model_name]
    hint = (
        f" {weights!r} weights are published for: {', '.join(elsewhere)}." if elsewhere else ""
    )
    raise ValueError(
        f"Invalid `weights`: {weights!r} is neither a published weights name nor an "
        f"existing file. Accepted for {model_name!r}: None, a published name ({names}), "
        f"or the path to a weights file ({', '.join(formats)})."
        f"{hint}"
    )


# ---------------------------------------------------------------------- builder
def build_model(
    model_name: str,
    features: Callable[[Any], Any],
    top: Callable[[Any, int, Any], Any],
    *,
    default_input_shape: tuple[int, int, int],
    min_input_size: int,
    published_weights: Mapping[str, PretrainedWeights] | None = None,
    fixed_size_top: bool = True,
    weights_loader: Callable[[keras.Model, str], None] | None = None,
    checkpoint_keys: Callable[[keras.Model], CheckpointMap] | None = None,
    num_classes: int = 1000,
    input_shape: Any = None,
    include_top: bool = True,
    pooling: str | None = None,
    weights: Any = None,
    classifier_activation: Any = "softmax",
    name: str | None = None,
    fit_input: str | None = None,
    include_preprocessing: bool | str = False,
) -> keras.Model:
    """Build a functional model from a family's `features` and `top` functions.

    Args:
        model_name: the model's name when `name` is None (the registered name, or
            e.g. `"resnet26"` for an unregistered variant).
        features: maps the (adapted) input tensor to the last feature map.
        top: maps `(features, num_classes, classifier_activation)` to the output
            tensor, or to a dict of named outputs (for auxiliary heads).
        default_input_shape: the input shape used when `input_shape=None`.
        min_input_size: the smallest height/width the network accepts.
        published_weights: the published weights `weights=` may name (`{}` or None
            when there are none).
        fixed_size_top: whether the classifier needs a fixed spatial size (a
            flattening top does; a global-pooling top does not).
        weights_loader: `(model, path)` loads a weight file, published or given by
            path, into the built model; `None`: `model.load_weights` (Keras' formats).
        checkpoint_keys: `(model) -> CheckpointMap`, the family's map from the built
            model's layers to torchvision's checkpoint keys; with it `weights=` also
            takes `.pth`, `.pt` and `.safetensors` files (`keras_cnns.weights`), with
            any `num_classes` and `include_top=False`, and the published name
            `"torchvision"` where the registry entry has it. `None`: the family loads
            none.
        Other arguments: the common arguments (`registry.COMMON_ARGS_DOC`).

    Published weights load with any `num_classes`: the file goes into the published
    network (the same options, the published classifier) and its layers are copied
    over, the classifier and any auxiliary head left fresh where their shape differs
    (one log line names them).
    """
    if keras.config.image_data_format() != "channels_last":
        raise ValueError(
            "keras_cnns builds channels_last models; keras.config.image_data_format() is "
            f"{keras.config.image_data_format()!r}. Call "
            "keras.config.set_image_data_format('channels_last')."
        )
    default_shape = tuple(default_input_shape)
    min_size = int(min_input_size)

    check_bool("include_top", include_top)
    check_choice("pooling", pooling, POOLING_CHOICES)
    if include_top and pooling is not None:
        raise ValueError(
            f"`pooling={pooling!r}` is only used with include_top=False; with "
            "include_top=True the classifier decides. Pass include_top=False or pooling=None."
        )
    check_choice("fit_input", fit_input, FIT_INPUT_CHOICES)
    if include_top:
        check_int("num_classes", num_classes, minimum=1)
    check_activation("classifier_activation", classifier_activation)
    if name is not None and not isinstance(name, str):
        raise TypeError(f"`name` must be a string or None; received {name!r}.")

    pretrained = _check_weights(
        weights, dict(published_weights or {}), model_name, checkpoints=checkpoint_keys is not None
    )
    shape = _check_input_shape(
        input_shape, default_shape, allow_none=not (include_top and fixed_size_top)
    )
    if isinstance(pretrained, PretrainedWeights):
        if shape[-1] != pretrained.input_shape[-1]:
            raise ValueError(
                f"`weights={weights!r}` were trained on {pretrained.input_shape[-1]}-channel "
                f"inputs; `input_shape` {shape!r} has {shape[-1]} channels."
            )
        same_top = include_top and num_classes == pretrained.num_classes
        if same_top and fixed_size_top and shape != tuple(pretrained.input_shape):
            raise ValueError(
                f"`weights={weights!r}` with their {pretrained.num_classes}-class "
                f"classifier need input_shape {tuple(pretrained.input_shape)}; received "
                f"{shape!r}. Use include_top=False, or another num_classes (the fully "
                "connected layers whose shapes differ then start fresh), for other sizes."
            )

    preprocessing = _check_preprocessing(
        include_preprocessing, weights, dict(published_weights or {}), model_name, shape
    )

    def assemble(shape, num_classes, include_top, name):
        inputs = keras.Input(shape=shape, name="input")
        x = inputs
        if preprocessing is not None:
            x = WeightsPreprocessing(**preprocessing.layer_config(), name="preprocessing")(x)
        x = _fit_input(x, shape, min_size, fit_input)
        x = features(x)
        if include_top:
            outputs = top(x, num_classes, classifier_activation)
        else:
            outputs = global_pool(x, pooling)
        return keras.Model(inputs, outputs, name=name)

    model = assemble(shape, num_classes, include_top, name or model_name)
    if pretrained is None:
        return model
    if isinstance(pretrained, PretrainedWeights):

        def published_network() -> keras.Model:
            # The network the published file holds: this model's options with the
            # published classifier (at the published size where the top needs one: a
            # flattening top at another size keeps the layers whose shapes differ fresh).
            size = tuple(pretrained.input_shape) if fixed_size_top else shape
            return assemble(size, pretrained.num_classes, True, model.name)

        full = include_top and num_classes == pretrained.num_classes
        _load_published(
            model, weights, pretrained, full, include_top, published_network,
            weights_loader, checkpoint_keys,
        )
    else:
        _load_file(
            model, weights, pretrained, weights_loader, checkpoint_keys,
            reference=lambda classes: assemble(shape, classes, True, model.name),
            num_classes=num_classes if include_top else None,
        )
    return model


def _check_preprocessing(
    include_preprocessing: Any,
    weights: Any,
    published: Mapping[str, PretrainedWeights],
    model_name: str,
    shape: tuple,
) -> PixelPreprocessing | None:
    """What `include_preprocessing` puts in front of the network (None: nothing)."""
    if include_preprocessing is False:
        return None
    if include_preprocessing is True:
        if weights is None:
            raise ValueError(
                "`include_preprocessing=True` takes the preprocessing of `weights`, and "
                "weights=None has none. Pass weights (a published name or a file), or a "
                "mode: include_preprocessing='caffe' | 'tf' | 'torch'."
            )
        found = preprocessing_of(weights, published, model_name)
    elif isinstance(include_preprocessing, str):
        check_choice("include_preprocessing", include_preprocessing, PREPROCESSING_MODES)
        found = PixelPreprocessing(include_preprocessing)
    else:
        raise TypeError(
            "`include_preprocessing` must be True, False or a mode ('caffe', 'tf', "
            f"'torch'); received {include_preprocessing!r}."
        )
    if found.mode != "tf" and shape[-1] != 3:
        raise ValueError(
            f"`include_preprocessing`: {found.describe()!r} preprocessing takes RGB "
            f"images (3 channels); `input_shape` {tuple(shape)!r} has {shape[-1]}. Build "
            "the model for RGB input and convert grey images to RGB."
        )
    return found


def _fit_input(inputs, shape, min_size: int, fit_input: str | None):
    height, width = shape[0], shape[1]
    small = [d for d in (height, width) if d is not None and d < min_size]
    if not small:
        return inputs
    if fit_input is None:
        raise InputTooSmallError(
            f"`input_shape` {tuple(shape)!r} is too small: this network needs at least "
            f"{min_size}x{min_size}. Pass a larger input_shape, or fit_input='pad' / "
            "'resize' to pad or resize inside the model.",
            min_size,
        )
    if height is None or width is None:
        raise ValueError("`fit_input` needs a fixed height and width in `input_shape`.")
    new_h, new_w = max(height, min_size), max(width, min_size)
    if fit_input == "resize":
        return keras.layers.Resizing(new_h, new_w, name="fit_input_resize")(inputs)
    pad_h, pad_w = new_h - height, new_w - width
    padding = ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2))
    return keras.layers.ZeroPadding2D(padding, name="fit_input_pad")(inputs)


def fetch_weights(weights: Any, pretrained: PretrainedWeights, include_top: bool) -> str:
    """The local path of a published Keras weight file (with or without the
    classifier), downloaded and hash-checked by `keras.utils.get_file` (cached after the
    first time; see `keras_cnns.weights.download`)."""
    if (pretrained.top_url if include_top else pretrained.notop_url) is None:
        raise ValueError(
            f"`weights={weights!r}` are published only with the classifier; "
            "use include_top=True."
        )
    return download.fetch(pretrained, include_top)


def _load_published(
    model: keras.Model,
    weights: str,
    pretrained: PretrainedWeights,
    full: bool,
    include_top: bool,
    published_network: Callable[[], keras.Model],
    loader,
    checkpoint_keys,
) -> None:
    """Load the published weights `weights` into `model`.

    `full`: the model is the published network (its classifier included), which loads
    the file as it is. Otherwise (another `num_classes`, or no top where no file without
    the classifier is published) the file goes into `published_network()` first, whose
    layers are then copied by name: the classifier and any auxiliary head stay fresh
    where their shape differs, named in one log line (`keras_cnns.weights.copy_layers`).
    keras.applications' files without the classifier load directly with
    include_top=False.
    """
    if pretrained.is_checkpoint:
        if checkpoint_keys is None:
            raise ValueError(
                f"`weights={weights!r}` are a PyTorch checkpoint, which {model.name!r} "
                "cannot load (no map from its layers to torchvision's checkpoint keys)."
            )
        target = model if full else published_network()
        source = download.load_published_checkpoint(
            target, pretrained, checkpoint_keys, weights_name=weights
        )
    elif full or (not include_top and pretrained.notop_url is not None):
        _load_keras_file(model, weights, fetch_weights(weights, pretrained, include_top), loader)
        return
    else:
        target = published_network()
        source = fetch_weights(weights, pretrained, True)
        _load_keras_file(target, weights, source, loader)
    if target is not model:
        copy_layers(model, target, source=source)


def _load_file(
    model: keras.Model,
    weights: Any,
    path: str,
    loader,
    checkpoint_keys,
    *,
    reference: Callable[[int], keras.Model],
    num_classes: int | None,
) -> None:
    """Load a weights file given by path.

    A Keras file saved with another number of classes (or with the top, into a model
    without it) goes into `reference(its classes)`, the same network with the file's
    classifier, whose layers are then copied: the classifier and any auxiliary head
    stay fresh where their shape differs (one log line), as for published weights.
    """
    if is_checkpoint(path):
        # PyTorch / safetensors state dicts: one generic transfer for every family, which
        # raises its own errors (naming the file, the layer and both shapes).
        if checkpoint_keys is None:
            raise ValueError(
                f"`weights={weights!r}`: {model.name!r} cannot load "
                f"{'/'.join(CHECKPOINT_SUFFIXES)} checkpoints (no map from its layers to "
                "torchvision's checkpoint keys yet). Accepted here: None, a published "
                "name, or a Keras weights file (.weights.h5, .h5)."
            )
        load_checkpoint(model, path, checkpoint_keys(model))
        return
    probe = model if num_classes is not None else reference(1)
    classes = classes_in_keras_file(probe, path)
    if classes is None or classes == num_classes:
        _load_keras_file(model, weights, path, loader)
        return
    target = reference(classes)
    _load_keras_file(target, weights, path, loader)
    copy_layers(model, target, source=path)


def _snake_case(name: str) -> str:
    # How Keras names a layer's entry in a `.weights.h5` file (by its class, not its name).
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", name))
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _entry_names(model: keras.Model) -> dict[str, keras.layers.Layer]:
    """The names Keras gives `model`'s layers in a `.weights.h5` file (by class,
    numbered in layer order), for the layers that hold weights."""
    seen: dict[str, int] = {}
    names = {}
    for layer in model.layers:
        base = _snake_case(type(layer).__name__)
        count = seen.get(base, 0)
        seen[base] = count + 1
        if layer.weights:
            names[base + (f"_{count}" if count else "")] = layer
    return names


def check_keras_file_layers(model: keras.Model, path: str, weights: Any) -> None:
    """Refuse a Keras 3 `.weights.h5` that holds weighted layers `model` does not have
    (Keras itself skips them silently: a VGG file with batch norms would load into a
    VGG without). Other formats are left to Keras."""
    try:
        with _open_weights_h5(path) as file:
            if "layers" not in file:
                return
            stored = [
                name for name, group in file["layers"].items()
                if "vars" in group and len(group["vars"])
            ]
    except OSError:
        return
    extra = [name for name in stored if name not in _entry_names(model)]
    if extra:
        raise ValueError(
            f"`weights={weights!r}`: the file does not fit this model: it holds layers "
            f"this model has no counterpart for (first: {extra[0]!r}; {len(extra)} in all). "
            "It was saved from a network built with other family options (e.g. "
            "batch_norm) or from another architecture."
        )


def classes_in_keras_file(model: keras.Model, path: str) -> int | None:
    """The number of classes of the classifier in the Keras weights file `path`, saved
    from a model like `model` (built with its top): the last dimension of the kernel of
    the model's last weighted layer (its classifier) as the file stores it. None: the
    file has no such entry (saved without the top) or is not HDF5."""
    head = next((layer for layer in reversed(model.layers) if layer.weights), None)
    if head is None:
        return None
    try:
        with _open_weights_h5(path) as file:
            if "layers" in file:  # Keras 3: entries named by class, numbered in layer order
                key = next(k for k, layer in _entry_names(model).items() if layer is head)
                entry = file.get(f"layers/{key}/vars/0")
            else:  # Keras 2's legacy h5 (keras.applications): groups named after layers
                group = file.get(head.name)
                entry = None if group is None else _first_kernel(group)
            shape = None if entry is None else entry.shape
    except OSError:
        return None
    return None if not shape or len(shape) < 2 else int(shape[-1])


def _open_weights_h5(path: str) -> h5py.File:
    """The HDF5 weights of a `.weights.h5`/`.h5` file, or of a `.keras` archive (its
    `model.weights.h5` member, read into memory). OSError when it is neither."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            if "model.weights.h5" not in archive.namelist():
                raise OSError(f"{path}: a zip archive without model.weights.h5")
            return h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
    return h5py.File(path, "r")


def _first_kernel(group):
    found = []
    group.visititems(
        lambda _, item: found.append(item)
        if isinstance(item, h5py.Dataset) and len(item.shape) >= 2 else None
    )
    return found[0] if found else None


def _load_keras_file(model: keras.Model, weights: Any, path: str, loader) -> None:
    """A Keras weights file (`.weights.h5`, legacy `.h5`) into the model it was saved
    from: `model.load_weights`, or the family's loader."""
    check_keras_file_layers(model, path, weights)
    # Keras warns of the parts it could not match before it fails on a shape: when the
    # load fails, our error says what does not fit and those warnings are noise; when it
    # succeeds, they are passed on.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if loader is None:
                model.load_weights(path)
            else:
                loader(model, path)
        except (ValueError, KeyError) as err:
            raise ValueError(
                f"`weights={weights!r}`: the file does not fit this model (layers or shapes "
                f"differ: check num_classes, input_shape channels and family options): {err}"
            ) from err
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
