"""`keras_cnns.evaluate`: a trained run, a saved model or pretrained weights, measured on
a split of a data set.

    result = keras_cnns.evaluate("runs/lenet5-fashion_mnist-20250101-120000")
    result = keras_cnns.evaluate("resnet18", "imagenet2012", weights="torchvision", split="validation")
    print(result.top1, result.top_k, result.plot_path)

What is evaluated is resolved as `keras-cnns export` resolves it
(`keras_cnns.export.source.load_source`), except for registered model names, which are
evaluated with pretrained `weights` and their own classifier. See
`keras_cnns.evaluation.transform` for how the images become inputs in each case.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_cnns.data import DataSplit, load
from keras_cnns.data.crops import resize_size
from keras_cnns.data.sources import SPLITS
from keras_cnns.evaluation import metrics
from keras_cnns.evaluation.report import EvaluationResult, plot_confusion_matrix, write_json
from keras_cnns.evaluation.transform import Transform, pretrained_transform, trained_transform
from keras_cnns.export.preprocessing import Preprocessing
from keras_cnns.export.source import ExportSource, inference_model, load_source
from keras_cnns.layers.preprocessing import WeightsPreprocessing
from keras_cnns.models import get_model, get_spec
from keras_cnns.weights.transfer import fresh_layers_recorded
from keras_cnns.models.preprocessing import weights_preprocessing
from keras_cnns.validation import check_choice, check_image_shape, check_int, check_positive_int

#: Where evaluations of sources other than runs go by default (a run's go to <run>/evaluation).
DEFAULT_OUTPUT_DIR = "evaluations"


@dataclasses.dataclass
class _Subject:
    """What is evaluated: the model, how images become its inputs, and what it knows."""

    model: keras.Model
    name: str
    transform: Transform | None  # None until the data is known (pretrained weights)
    class_names: list[str] | None  # the classes a run recorded
    details: dict
    dataset: str | None = None
    data_dir: str | None = None
    run_dir: Path | None = None
    load_args: dict = dataclasses.field(default_factory=dict)


def evaluate(
    source: Any,
    dataset: str | None = None,
    *,
    weights: Any = None,
    top_k: int = 5,
    split: str = "test",
    batch_size: int = 64,
    limit: int | None = None,
    data_dir: str | os.PathLike | None = None,
    output_dir: str | os.PathLike | None = None,
    input_shape: Sequence[int] | None = None,
    checkpoint: str = "best",
    preprocessing: Preprocessing | None = None,
) -> EvaluationResult:
    """Evaluate a model on one split of a data set: top-1 and top-k accuracy, per-class
    accuracy, the confusion matrix (written as a PNG, with a JSON of the figures).

    Args:
        source: a run folder of `keras_cnns.train` (its `checkpoint`, classes and
            preprocessing), a `.keras` file, a keras.Model, or a registered model name
            with pretrained `weights` (its own classifier, the standard transform of
            `keras_cnns.evaluation.transform`).
        dataset: a `keras_cnns.data.load` name; default for a run: its own data set.
        weights: for a model name only: a published name (`"torchvision"`,
            `"imagenet"`) or a weights file whose classifier has the data set's classes.
        top_k: the k of top-k accuracy, from 1 to the number of classes.
        split: `"train"`, `"validation"` or `"test"` (a run's validation split is the
            one it held out: its `validation_fraction` and `seed`; a test split carved from
            a folder, its `test_fraction`).
        batch_size: images per prediction batch.
        limit: evaluate only the first `limit` images of the split.
        data_dir: where to look for the data first (default for a run: its own).
        output_dir: where the PNG and the JSON go; default `<run>/evaluation` for a
            run, else `evaluations/<name>`. Files: `<dataset>-<split>.png` / `.json`.
        input_shape: for a model name: the `(H, W, C)` it is built at (default: the
            weights' own input shape).
        checkpoint: a run's `"best"` (best validation accuracy) or `"last"` checkpoint.
        preprocessing: for a `.keras` file or a keras.Model: how pixels become inputs
            (default: pixels / 255, or pixels in [0, 255] for a model that holds its
            weights' preprocessing).

    Raises:
        ValueError / TypeError: a bad argument (named, with what is accepted), or a model
            whose classes are not the data set's (both counts named).
    """
    top_k = check_int("top_k", top_k)
    check_choice("split", split, SPLITS)
    batch_size = check_positive_int("batch_size", batch_size)
    limit = check_positive_int("limit", limit, allow_none=True)
    weights = os.fspath(weights) if isinstance(weights, os.PathLike) else weights
    subject = _resolve(source, weights, input_shape, checkpoint, preprocessing)
    data = _load_data(subject, dataset, split, data_dir, limit)
    _check_top_k(top_k, data.num_classes)
    if subject.transform is None:
        _build_pretrained(subject, source, weights, input_shape, data)
    _check_classes(subject, data)
    labels, best = _predict(subject, data, batch_size, top_k)
    return _report(subject, data, labels, best, top_k, output_dir)


def _load_data(subject: _Subject, dataset, split: str, data_dir, limit) -> DataSplit:
    """The split to evaluate on (a run's own data set and folder by default)."""
    if dataset is None:
        dataset = subject.dataset
        if dataset is None:
            raise ValueError(
                f"`dataset` is needed to evaluate {subject.name!r} (only a run folder knows its "
                "own): a keras_cnns.data.load name such as 'fashion_mnist', 'cifar10', "
                "'imagenet2012' or 'folder:/path/to/images'."
            )
    return load(
        dataset, split, data_dir=data_dir if data_dir is not None else subject.data_dir,
        limit=limit, **subject.load_args,
    )


# ------------------------------------------------------------------- the source
def _resolve(source, weights, input_shape, checkpoint, preprocessing) -> _Subject:
    """The model a run, a file or a keras.Model holds, or (for a model name) the checks
    that come before building it."""
    if _is_model_name(source):
        spec = get_spec(source)  # unknown names fail here, with suggestions
        if weights is None:
            published = ", ".join(repr(n) for n in spec.weights) or "none published"
            raise ValueError(
                f"`weights` is needed to evaluate the model name {source!r} (an untrained "
                f"network has nothing to measure): a published name ({published}) or a "
                "weights file (.pth, .safetensors, .weights.h5). Or evaluate a run folder "
                "or a .keras file."
            )
        if preprocessing is not None:
            raise ValueError(
                "`preprocessing` is for .keras files and keras.Model sources; pretrained "
                f"`weights={weights!r}` are evaluated with their own (the standard transform)."
            )
        return _Subject(None, source, None, None, {"source": source, "model": source})
    for name, value in (("weights", weights), ("input_shape", input_shape)):
        if value is not None:
            raise ValueError(
                f"`{name}`={value!r} applies to a registered model name; {_describe(source)} "
                "carries its own model and weights."
            )
    exported = load_source(source, checkpoint=checkpoint, preprocessing=preprocessing)
    run_dir = _run_dir(source)
    if preprocessing is None and run_dir is None and _holds_weights_preprocessing(exported.model):
        exported = dataclasses.replace(exported, preprocessing=Preprocessing("none"))
    return _subject_of(exported, source, run_dir, checkpoint)


def _is_model_name(source: Any) -> bool:
    """Whether `source` names a registered model; a path that does not exist (other than
    a .keras file, which `load_source` reports) is a FileNotFoundError."""
    if not isinstance(source, (str, os.PathLike)):
        return False
    path = Path(source)
    if path.exists() or path.suffix == ".keras":
        return False
    if not isinstance(source, str) or "/" in source or os.sep in source:
        raise FileNotFoundError(
            f"`source` {str(source)!r} does not exist. Accepted: a run folder (with config.json), "
            "a .keras file, a keras.Model or a registered model name with `weights`."
        )
    return True


def _describe(source: Any) -> str:
    if isinstance(source, keras.Model):
        return f"the keras.Model {source.name!r}"
    return f"{str(source)!r} ({'a run folder' if _run_dir(source) else 'a saved model'})"


def _run_dir(source: Any) -> Path | None:
    from keras_cnns.training.train import CONFIG_FILE

    if isinstance(source, (str, os.PathLike)) and (Path(source) / CONFIG_FILE).is_file():
        return Path(source)
    return None


def _holds_weights_preprocessing(model: keras.Model) -> bool:
    return any(isinstance(layer, WeightsPreprocessing) for layer in model.layers)


def _subject_of(exported: ExportSource, source: Any, run_dir: Path | None, checkpoint: str) -> _Subject:
    """A run's or a saved model's `_Subject` (its transform is its own preprocessing)."""
    from keras_cnns.training.train import read_run_config

    model = exported.model
    prep = exported.preprocessing
    details = {
        "source": source.name if isinstance(source, keras.Model) else str(source),
        "model": exported.name,
        "preprocessing": f"{prep.normalization} (fitted to the input as in training)",
    }
    subject = _Subject(
        model, exported.name, trained_transform(model.input_shape[1:], prep), None, details,
        dataset=exported.dataset, data_dir=exported.data_dir, run_dir=run_dir,
    )
    if run_dir is not None:
        config = read_run_config(run_dir)
        subject.class_names = list(exported.class_names)
        subject.load_args = dict(
            validation_fraction=config.get("validation_fraction", 0.1), seed=config.get("seed") or 0,
            test_fraction=config.get("test_fraction", 0.0), exclude=config.get("skipped_files", ()),
            first_label=config.get("first_label"),
        )
        details["checkpoint"] = checkpoint
    return subject


# ----------------------------------------------------------- pretrained weights
def _build_pretrained(subject: _Subject, name: str, weights: Any, input_shape, data: DataSplit) -> None:
    """Build the model `name` with its pretrained `weights` and their own classifier for
    `data`, and its standard transform, into `subject`."""
    spec = get_spec(name)
    entry = spec.weights.get(weights) if isinstance(weights, str) else None
    if entry is not None:
        num_classes = entry.num_classes
        if num_classes != data.num_classes:
            raise ValueError(
                f"`weights={weights!r}` of {name!r} classify {num_classes} classes (their own "
                f"classifier); the data set {data.name!r} has {data.num_classes}. Evaluate "
                f"them on a data set of their {num_classes} classes, or fine-tune a run "
                f"(keras_cnns.train) and evaluate the run."
            )
        default_shape = tuple(entry.input_shape)
    else:
        num_classes, default_shape = data.num_classes, tuple(spec.default_input_shape)
    shape = default_shape if input_shape is None else check_image_shape("input_shape", input_shape)
    found = weights_preprocessing(name, weights)  # unknown preprocessing fails before the build
    model = _build_with_classifier(name, weights, num_classes, shape)
    subject.model = inference_model(model)
    subject.transform = pretrained_transform(shape, found)
    size = resize_size(min(shape[:2]))
    subject.details.update(
        weights=str(weights),
        preprocessing=f"shorter side resized to {size}, centre crop {shape[0]}x{shape[1]}, "
        f"{found.describe()}",
    )
    subject.name = f"{name}-{_slug(Path(str(weights)).stem)}"


def _build_with_classifier(name: str, weights: Any, num_classes: int, shape) -> keras.Model:
    """`get_model(name, weights=...)` whose classifier must come from the weights: a
    classifier left fresh (other class count in the file) is an error, not a model."""
    with fresh_layers_recorded() as fresh:
        try:
            model = get_model(name, num_classes=num_classes, input_shape=shape, weights=weights)
        except ValueError as err:
            raise ValueError(
                f"{err} (evaluate built {name!r} with num_classes={num_classes}, the data "
                f"set's classes, and input_shape={shape})"
            ) from err
    if fresh:
        layer, theirs, ours = fresh[0]
        raise ValueError(
            f"`weights={weights!r}` do not hold a classifier of the data set's {num_classes} "
            f"classes: their {layer!r} has shape {theirs}, a {num_classes}-class one {ours}. "
            "Evaluate weights whose classifier was trained on this data set's classes."
        )
    return model


# ------------------------------------------------------------------------ checks
def _check_classes(subject: _Subject, data: DataSplit) -> None:
    outputs = int(subject.model.output_shape[-1])
    if outputs != data.num_classes:
        raise ValueError(
            f"The model {subject.name!r} has {outputs} classes but the data set {data.name!r} "
            f"has {data.num_classes}; evaluate it on a data set with its {outputs} classes."
        )
    recorded = subject.class_names
    if recorded is not None and list(recorded) != list(data.class_names):
        raise ValueError(
            f"The run {subject.name!r} was trained on the classes {recorded[:5]}... but the "
            f"data set {data.name!r} has {data.class_names[:5]}... ({len(recorded)} and "
            f"{data.num_classes} classes): evaluate it on the data set it was trained for."
        )


def _check_top_k(top_k: int, num_classes: int) -> None:
    if not 1 <= top_k <= num_classes:
        raise ValueError(
            f"`top_k` must be an integer in [1, {num_classes}] (the data set's number of "
            f"classes); received {top_k}."
        )


# -------------------------------------------------------------------- prediction
def _predict(subject: _Subject, data: DataSplit, batch_size: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every image's label and `k` best classes (`[N]`, `[N, k]`)."""
    transform = subject.transform
    ds = data.dataset
    if None in tuple(data.image_shape)[:2]:  # images of different sizes: one at a time
        ds = ds.map(lambda x, y: (transform(x), y), num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(batch_size)
    else:
        ds = ds.batch(batch_size).map(lambda x, y: (transform(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    labels, best = [], []
    for images, batch_labels in ds.prefetch(tf.data.AUTOTUNE):
        scores = keras.ops.convert_to_numpy(subject.model.predict_on_batch(images))
        best.append(metrics.top_classes(scores, k))
        labels.append(batch_labels.numpy())
    if not labels:
        raise ValueError(f"The {data.split!r} split of {data.name!r} holds no image to evaluate.")
    return np.concatenate(labels).astype(np.int64), np.concatenate(best)


# ------------------------------------------------------------------------ report
def _report(subject, data: DataSplit, labels, best, k: int, output_dir) -> EvaluationResult:
    """The figures, written as a PNG and a JSON."""
    matrix = metrics.confusion_matrix(labels, best[:, 0], data.num_classes)
    folder = Path(output_dir) if output_dir is not None else (
        subject.run_dir / "evaluation" if subject.run_dir is not None
        else Path(DEFAULT_OUTPUT_DIR) / _slug(subject.name)
    )
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{_slug(data.name)}-{data.split}"
    result = EvaluationResult(
        top1=metrics.top_k_accuracy(labels, best, 1),
        top_k=metrics.top_k_accuracy(labels, best, k),
        k=k,
        per_class_accuracy=metrics.per_class_accuracy(matrix, data.class_names),
        confusion_matrix=matrix,
        num_images=len(labels),
        class_names=list(data.class_names),
        labels=labels,
        top_k_predictions=best,
        plot_path=folder / f"{stem}.png",
        json_path=folder / f"{stem}.json",
        details={**subject.details, "dataset": data.name, "split": data.split},
    )
    title = f"{subject.name} on {data.name} ({data.split}): top-1 {result.top1:.4f}"
    plot_confusion_matrix(matrix, data.class_names, result.plot_path, title=title)
    write_json(result)
    return result


def _slug(text: str) -> str:
    """A file-name-safe form of `text` (`folder:/data/flowers` -> `folder_data_flowers`)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_.") or "model"
