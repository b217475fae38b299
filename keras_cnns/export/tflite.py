"""TFLite / LiteRT exports and a small LiteRT runner.

`tflite(model, path, quantization=...)` converts with TensorFlow's TFLite converter using
only TFLite's built-in operators (no Flex / select-TF ops, so the file runs with the
plain LiteRT runtime on a phone):

* `None` — float32 weights and arithmetic;
* `"float16"` — weights stored as float16 (half the size), computed in float32;
* `"dynamic"` — dynamic-range: int8 weights, activations quantized on the fly;
* `"int8"` — full-integer: weights and activations int8, calibrated on
  `representative_data` (a few hundred training images); the input and output can stay
  float32 or be `"uint8"` / `"int8"` (`io_dtype`) for integer-only accelerators.

With `preprocessing` the file takes pixels (float32 in [0, 255], or uint8 with
`io_dtype="uint8"`) at the model's input size and normalizes inside; without, it takes
what the Keras model takes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable

import keras
import numpy as np
import tensorflow as tf

from keras_cnns.export.logs import tensorflow_logging
from keras_cnns.export.preprocessing import Preprocessing
from keras_cnns.export.source import inference_model

QUANTIZATIONS = (None, "float16", "dynamic", "int8")
IO_DTYPES = ("float32", "uint8", "int8")


def _representative_dataset(data: Any, input_shape) -> Callable[[], Iterable[list[np.ndarray]]]:
    """The converter's calibration generator from an array, a tf.data.Dataset or a callable."""
    if callable(data) and not isinstance(data, tf.data.Dataset):
        return data
    if isinstance(data, tf.data.Dataset):
        def from_dataset():
            for element in data:
                images = element[0] if isinstance(element, (tuple, list)) else element
                images = np.asarray(images, dtype=np.float32)
                for image in images.reshape(-1, *input_shape):
                    yield [image[np.newaxis]]
        return from_dataset
    array = np.asarray(data, dtype=np.float32)
    if array.ndim != 4 or tuple(array.shape[1:]) != tuple(input_shape):
        raise ValueError(
            f"`representative_data` must be images of shape [N, {', '.join(map(str, input_shape))}] "
            f"(what the exported model takes); received shape {array.shape}."
        )
    if len(array) == 0:
        raise ValueError("`representative_data` is empty; give a few hundred training images.")

    def from_array():
        for image in array:
            yield [image[np.newaxis]]
    return from_array


def tflite(
    model: keras.Model,
    path: str | os.PathLike,
    *,
    quantization: str | None = None,
    representative_data: Any = None,
    io_dtype: str = "float32",
    preprocessing: Preprocessing | None = None,
    class_names: list[str] | None = None,
    overwrite: bool = False,
    verbose: bool = False,
) -> Path:
    """Convert `model` to a `.tflite` file (see the module docstring for the options).

    Args:
        model: a Keras model (auxiliary heads are dropped; inference mode), or a SavedModel
            version folder written by `saved_model` (its `serve_preprocessed` network).
        path: the `.tflite` file to write.
        quantization: None, `"float16"`, `"dynamic"` or `"int8"`.
        representative_data: for `"int8"` (required): images as the exported file takes
            them (an array `[N, H, W, C]`, a tf.data.Dataset of images or of
            `(images, labels)`, or a generator function yielding `[array]` lists).
        io_dtype: the input/output type of an `"int8"` model: `"float32"`, `"uint8"` or `"int8"`.
        preprocessing: put this preprocessing inside, so that the file takes pixels.
        class_names: written beside the file as `<name>.labels.txt`, one per line.
        overwrite: replace an existing file (otherwise FileExistsError).
        verbose: let TensorFlow's INFO log lines through ("Assets written to: ...").

    Returns:
        The path written.
    """
    saved_dir = None
    if isinstance(model, (str, os.PathLike)) and (Path(model) / "saved_model.pb").is_file():
        saved_dir = Path(model)
    else:
        model = inference_model(model)
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"Unknown `quantization`: {quantization!r}. Accepted: None (float32), 'float16', "
            "'dynamic' (dynamic-range int8 weights) or 'int8' (full-integer, needs representative_data)."
        )
    if io_dtype not in IO_DTYPES:
        raise ValueError(f"Unknown `io_dtype`: {io_dtype!r}. Accepted: {', '.join(map(repr, IO_DTYPES))}.")
    if io_dtype != "float32" and quantization != "int8":
        raise ValueError(
            f"`io_dtype`={io_dtype!r} needs quantization='int8' (integer inputs and outputs "
            "exist only in full-integer models); received quantization={quantization!r}."
        )
    if quantization == "int8" and representative_data is None:
        raise ValueError(
            "quantization='int8' needs `representative_data`: a few hundred training images "
            "to calibrate the activation ranges (see keras_cnns.export.representative_images)."
        )
    if preprocessing is not None and not isinstance(preprocessing, Preprocessing):
        raise TypeError(
            f"`preprocessing` must be a keras_cnns.export.Preprocessing or None; received "
            f"{type(preprocessing).__name__}."
        )
    path = Path(path)
    if path.suffix != ".tflite":
        raise ValueError(f"`path` must end in .tflite; received {str(path)!r}.")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{str(path)!r} exists; pass overwrite=True to replace it.")

    if saved_dir is not None:
        # A version written by `saved_model`: its bare network, `serve_preprocessed`
        # (preprocessing is for the exported SavedModel's uint8 signatures only).
        if preprocessing is not None:
            raise ValueError(
                "`preprocessing` applies to Keras models; a SavedModel version is converted "
                "from its `serve_preprocessed` signature as it is."
            )
        input_shape = _signature_input_shape(saved_dir, "serve_preprocessed")
        with tensorflow_logging(verbose):
            converter = _saved_model_converter(saved_dir, "serve_preprocessed")
            flatbuffer = _convert(converter, quantization, representative_data, input_shape, io_dtype)
        return _write(flatbuffer, path, class_names)

    input_shape = tuple(model.input_shape[1:])
    if None in input_shape:
        raise ValueError(
            f"TFLite needs a fixed input size; the model {model.name!r} takes {input_shape}. "
            "Build it with an input_shape of (height, width, channels)."
        )

    def serve(inputs):
        if preprocessing is not None:
            inputs = preprocessing.normalize(inputs)
        return {"probabilities": model(inputs, training=False)}

    # Keras' own route to TFLite: an ExportArchive SavedModel, then the converter on it
    # (the converter then sees TF variables it can freeze into constants).
    # The endpoint tracks the model's variables; tracking the model object too would make
    # the save trace the whole network once more for Keras' own serving signature.
    archive = keras.export.ExportArchive()
    archive.add_endpoint(
        "serving_default", serve, [tf.TensorSpec([None, *input_shape], tf.float32, name="inputs")]
    )
    with tempfile.TemporaryDirectory(prefix="keras_cnns_tflite_") as saved, tensorflow_logging(verbose):
        archive.write_out(saved, verbose=False)
        converter = _saved_model_converter(saved, "serving_default")
        flatbuffer = _convert(converter, quantization, representative_data, input_shape, io_dtype)

    return _write(flatbuffer, path, class_names)


def _saved_model_converter(saved_dir: str | os.PathLike, signature: str):
    """The TFLite converter of one signature of a SavedModel on disk.

    What `tf.lite.TFLiteConverter.from_saved_model` returns for a SavedModel directory,
    without what it does first: restore the whole SavedModel in Python
    (`tf.saved_model.load`) only to check that the signature exists, a restore that
    `convert()` then repeats for its debug information (measured on a busy machine: 18 s
    of ResNet-1202's 112-s conversion, 1.5 s of DenseNet-121's 7 s). A version's
    signature is checked from its proto instead (`_signature_input_shape`)."""
    from tensorflow.lite.python.lite import TFLiteSavedModelConverterV2

    return TFLiteSavedModelConverterV2(str(saved_dir), {tf.saved_model.SERVING}, [signature])


def _signature_input_shape(saved_dir: Path, signature: str) -> tuple[int, ...]:
    """The per-image input shape of a SavedModel signature, read from `saved_model.pb`.

    Parsing the proto is cheap; `tf.saved_model.load` would restore the whole graph and
    its variables (over 20 s for ResNet-1202) only to read one shape."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((saved_dir / "saved_model.pb").read_bytes())
    signatures = proto.meta_graphs[0].signature_def
    if signature not in signatures:
        raise ValueError(
            f"{str(saved_dir)!r} has no {signature!r} signature (it has {sorted(signatures)}); "
            "convert a version written by keras_cnns.export.saved_model."
        )
    dims = signatures[signature].inputs["inputs"].tensor_shape.dim
    return tuple(int(d.size) for d in dims[1:])


def _write(flatbuffer: bytes, path: Path, class_names) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_bytes(flatbuffer)
    os.replace(staging, path)
    if class_names is not None:
        path.with_suffix(".labels.txt").write_text("".join(f"{name}\n" for name in class_names))
    return path


def _convert(converter, quantization, representative_data, input_shape, io_dtype) -> bytes:
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative_dataset(representative_data, input_shape)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = getattr(tf, io_dtype)
        converter.inference_output_type = getattr(tf, io_dtype)
    return converter.convert()


class LiteRTModel:
    """A `.tflite` file run by the LiteRT interpreter (`ai-edge-litert`).

    `predict` takes float inputs as the Keras model (or, for files with preprocessing,
    pixels) and returns float32 scores; integer inputs and outputs of full-integer models
    are quantized and dequantized with the file's own scales.
    """

    def __init__(self, path: str | os.PathLike, num_threads: int | None = None):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"No such .tflite file: {str(self.path)!r}.")
        self.interpreter = Interpreter(model_path=str(self.path), num_threads=num_threads)
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self._batch = None
        labels = self.path.with_suffix(".labels.txt")
        self.class_names = labels.read_text().splitlines() if labels.is_file() else None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """(height, width, channels) the file takes."""
        return tuple(int(d) for d in self._input["shape"][1:])

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self._input["dtype"])

    @property
    def output_dtype(self) -> np.dtype:
        return np.dtype(self._output["dtype"])

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size

    def _resize(self, batch: int) -> None:
        if batch != self._batch:
            self.interpreter.resize_tensor_input(self._input["index"], [batch, *self.input_shape])
            self.interpreter.allocate_tensors()
            self._input = self.interpreter.get_input_details()[0]
            self._output = self.interpreter.get_output_details()[0]
            self._batch = batch

    def predict(self, inputs: np.ndarray, batch_size: int = 32) -> np.ndarray:
        """Scores `[N, classes]` (float32) for `inputs` `[N, H, W, C]`."""
        inputs = np.asarray(inputs)
        if inputs.ndim != 4 or tuple(inputs.shape[1:]) != self.input_shape:
            raise ValueError(
                f"`inputs` must have shape [N, {', '.join(map(str, self.input_shape))}] for "
                f"{self.path.name}; received {inputs.shape}."
            )
        outputs = []
        for start in range(0, len(inputs), batch_size):
            chunk = inputs[start:start + batch_size]
            self._resize(len(chunk))
            self.interpreter.set_tensor(self._input["index"], self._quantize(chunk))
            self.interpreter.invoke()
            outputs.append(self._dequantize(self.interpreter.get_tensor(self._output["index"])))
        return np.concatenate(outputs)

    def _quantize(self, x: np.ndarray) -> np.ndarray:
        dtype = self.input_dtype
        if not np.issubdtype(dtype, np.integer):
            return x.astype(dtype)
        scale, zero_point = self._input["quantization"]
        info = np.iinfo(dtype)
        return np.clip(np.round(x.astype(np.float32) / scale + zero_point), info.min, info.max).astype(dtype)

    def _dequantize(self, y: np.ndarray) -> np.ndarray:
        if not np.issubdtype(y.dtype, np.integer):
            return y.astype(np.float32)
        scale, zero_point = self._output["quantization"]
        return (y.astype(np.float32) - zero_point) * scale
