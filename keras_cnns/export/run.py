"""One call for `keras-cnns export`: a run (or model) to every requested format."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from keras_cnns.export.saved_model import saved_model
from keras_cnns.export.source import load_source, representative_images
from keras_cnns.export.tflite import QUANTIZATIONS, tflite

FORMATS = ("saved_model", "tflite")


def tflite_filename(name: str, quantization: str | None) -> str:
    """`lenet5.tflite` (float32), `lenet5_float16.tflite`, `lenet5_dynamic.tflite`, ..."""
    return f"{name}.tflite" if quantization is None else f"{name}_{quantization}.tflite"


def export_run(
    source: Any,
    *,
    formats: Sequence[str] = ("saved_model",),
    output_dir: str | os.PathLike = "saved_models",
    version: int | None = None,
    quantizations: Sequence[str | None] = (None,),
    io_dtype: str = "float32",
    checkpoint: str = "best",
    dataset: str | None = None,
    data_dir: str | None = None,
    representative_count: int = 256,
    overwrite: bool = False,
    num_classes: int = 1000,
    input_shape: tuple[int, int, int] | None = None,
    verbose: bool = False,
) -> dict[str, Path]:
    """Export a trained run (or a `.keras` file, a registered model name, a keras.Model).

    Writes `<output_dir>/<name>/<version>/` (SavedModel, TF Serving layout, with
    `<output_dir>/models.config`) and `<output_dir>/<name>[_<quantization>].tflite` files
    that take pixels (the run's preprocessing is inside every export). int8 calibration
    draws `representative_count` training images of the run's data set (or `dataset`).

    Without `tensorflow-serving-api` the SavedModel is written without its TF Serving
    warm-up file (one warning; `written["saved_model"].warmup_skipped_reason` says why).
    `verbose` lets TensorFlow's INFO log lines through ("Assets written to: ...").

    Returns:
        `{"saved_model": version folder (a `SavedModelExport`), "tflite": path,
        "tflite_int8": path, ...}`.
    """
    formats = [formats] if isinstance(formats, str) else list(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"Unknown `formats`: {unknown or formats!r}; accepted: {', '.join(FORMATS)}.")
    quantizations = [None if q in (None, "none", "float32") else q for q in quantizations]
    bad = [q for q in quantizations if q not in QUANTIZATIONS]
    if bad:
        raise ValueError(
            f"Unknown quantization {bad[0]!r}; accepted: none (float32), float16, dynamic, int8."
        )
    src = load_source(source, checkpoint=checkpoint, num_classes=num_classes, input_shape=input_shape)
    calibration_set = dataset or src.dataset
    if "tflite" in formats and "int8" in quantizations and calibration_set is None:
        raise ValueError(
            "int8 quantization needs representative data: export a run folder (its data set is "
            "used) or pass `dataset` (--dataset) to draw calibration images from."
        )
    out = Path(output_dir)
    written: dict[str, Path] = {}
    if "saved_model" in formats:
        written["saved_model"] = saved_model(
            src.model, out / src.name, version=version, class_names=src.class_names,
            preprocessing=src.preprocessing, verbose=verbose,
        )
    if "tflite" in formats:
        input_shape = tuple(src.model.input_shape[1:])
        for quantization in quantizations:
            representative = None
            if quantization == "int8":
                representative = representative_images(
                    calibration_set, input_shape, count=representative_count,
                    data_dir=data_dir or src.data_dir,
                )
            key = "tflite" if quantization is None else f"tflite_{quantization}"
            written[key] = tflite(
                src.model, out / tflite_filename(src.name, quantization),
                quantization=quantization, representative_data=representative,
                io_dtype=io_dtype if quantization == "int8" else "float32",
                preprocessing=src.preprocessing, class_names=src.class_names, overwrite=overwrite,
                verbose=verbose,
            )
    return written
