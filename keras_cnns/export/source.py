"""What gets exported: a trained run, a saved `.keras` file, a registered model or a
Keras model object, reduced to the inference network plus what a server must know."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np

from keras_cnns.export.preprocessing import Preprocessing
from keras_cnns.models.auxiliary import without_aux_heads
from keras_cnns.precision import model_precision, with_precision

CHECKPOINTS = ("best", "last")


@dataclasses.dataclass
class ExportSource:
    """An inference model and the facts an export writes next to it.

    Attributes:
        model: the inference network (auxiliary heads removed), one output.
        name: the model's name (TF Serving's model name, the export folder's name).
        class_names: one label per output class.
        preprocessing: how uint8 pixels become the model's input.
        dataset, data_dir: the training data (int8 calibration draws from it), if known.
    """

    model: keras.Model
    name: str
    class_names: list[str]
    preprocessing: Preprocessing
    dataset: str | None = None
    data_dir: str | None = None


def inference_model(model: Any) -> keras.Model:
    """`model` as it runs in production: auxiliary heads removed, exactly one output,
    computing in float32.

    Dropout and batch normalization run in inference mode in every export because the
    exported functions call the model with `training=False`. A model trained in mixed
    precision is exported as the same network computing in float32, with its weights
    (`keras_cnns.precision.with_precision`): the signatures take and return float32,
    TFLite's built-in operators have no bfloat16 kernels, and CPUs without bfloat16 or
    float16 arithmetic would emulate it.
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"`model` must be a keras.Model (e.g. keras_cnns.lenet5()); received "
            f"{type(model).__name__}."
        )
    model = without_aux_heads(model)
    if len(model.outputs) != 1:
        raise ValueError(
            f"`model` {model.name!r} has {len(model.outputs)} outputs; an export needs one "
            "(the class scores). Build a keras.Model on the output to serve."
        )
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[-1] is None:
        raise ValueError(
            f"`model` {model.name!r} takes inputs of shape {shape}; an export needs images "
            "(batch, height, width, channels) with a known channel count."
        )
    if model_precision(model) != "float32":
        model = with_precision(model, "float32")
    return model


def check_class_names(class_names: Sequence[str] | None, num_classes: int) -> list[str]:
    """The labels of the classes (default: "0", "1", ...), one per output unit."""
    if class_names is None:
        return [str(i) for i in range(num_classes)]
    names = [str(name) for name in class_names]
    if len(names) != num_classes:
        raise ValueError(
            f"`class_names` has {len(names)} names but the model has {num_classes} classes; "
            "give one name per class (or None for '0', '1', ...)."
        )
    return names


def load_source(
    source: Any,
    *,
    checkpoint: str = "best",
    num_classes: int = 1000,
    input_shape: tuple[int, int, int] | None = None,
    class_names: Sequence[str] | None = None,
    preprocessing: Preprocessing | None = None,
) -> ExportSource:
    """Resolve what `keras-cnns export` was given.

    Args:
        source: a run folder written by `keras_cnns.train` (its `checkpoints/<checkpoint>.keras`
            with the run's classes and preprocessing), a `.keras` file, a registered model
            name (built untrained with `num_classes` and `input_shape`), or a keras.Model.
        checkpoint: `"best"` (best validation accuracy) or `"last"`, for run folders.
        class_names, preprocessing: override what the run recorded (defaults for other
            sources: "0", "1", ... and `Preprocessing()`, pixels divided by 255).
    """
    from keras_cnns.training.train import CONFIG_FILE, read_run_config

    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"Unknown `checkpoint`: {checkpoint!r}; accepted: {', '.join(CHECKPOINTS)}.")
    if isinstance(source, keras.Model):
        model = inference_model(source)
        return ExportSource(
            model, model.name, check_class_names(class_names, model.output_shape[-1]),
            preprocessing or Preprocessing(),
        )
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(
            "`source` must be a run folder, a .keras file, a registered model name or a "
            f"keras.Model; received {type(source).__name__}."
        )
    path = Path(source)
    if (path / CONFIG_FILE).is_file():
        config = read_run_config(path)
        candidates = [path / "checkpoints" / f"{name}.keras" for name in (checkpoint, "last")]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise FileNotFoundError(
                f"The run {str(path)!r} has no checkpoint yet (looked for "
                f"{', '.join(str(c) for c in candidates)}); train it first."
            )
        model = inference_model(keras.saving.load_model(found, compile=False))
        return ExportSource(
            model,
            config["model"],
            check_class_names(class_names or config["class_names"], model.output_shape[-1]),
            preprocessing or Preprocessing.from_run_config(config),
            dataset=config["dataset"],
            data_dir=config["data_dir"],
        )
    if path.suffix == ".keras":
        if not path.is_file():
            raise FileNotFoundError(f"`source`: no such .keras file: {str(path)!r}.")
        model = inference_model(keras.saving.load_model(path, compile=False))
        return ExportSource(
            model, path.stem, check_class_names(class_names, model.output_shape[-1]),
            preprocessing or Preprocessing(),
        )
    if path.exists():
        raise ValueError(
            f"`source` {str(path)!r} is neither a run folder (no {CONFIG_FILE}) nor a .keras file."
        )
    from keras_cnns.models import get_model

    model = inference_model(get_model(str(source), num_classes=num_classes, input_shape=input_shape))
    return ExportSource(
        model, str(source), check_class_names(class_names, num_classes),
        preprocessing or Preprocessing(),
    )


def representative_images(
    dataset: str,
    input_shape: tuple[int, int, int],
    *,
    count: int = 256,
    data_dir: str | None = None,
    seed: int = 0,
) -> np.ndarray:
    """`count` training images of `dataset` as float32 pixels in [0, 255] at the model's
    `input_shape` (padded or resized like the pipeline does), drawn in a seeded random
    order: int8 calibration data for `tflite(..., quantization="int8")`."""
    from keras_cnns.data import build_pipeline, load

    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"`count` must be a positive integer; received {count!r}.")
    split = load(dataset, "train", data_dir=data_dir, validation_fraction=0.0, seed=seed)
    batches = build_pipeline(
        split, input_shape=tuple(input_shape), batch_size=min(count, 256), training=False,
        shuffle=True, seed=seed, normalization="none",
    )
    images = np.concatenate([x.numpy() for x, _ in batches.take(-(-count // 256))])
    return images[:count]
