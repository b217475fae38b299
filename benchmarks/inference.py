"""Inference latency and size of LeNet-5 and ResNet-20 as Keras, SavedModel and TFLite
(float32, float16, int8) under LiteRT.

    python -m benchmarks.inference [--quick]

For each model (random weights: latency does not depend on them; 10 classes):

* `keras`: the `.keras` file; latency of `model.predict_on_batch` (Keras' compiled
  predict function);
* `saved_model`: `model.export(..., format="tf_saved_model")` loaded back with
  `tf.saved_model.load`, latency of its `serve` function (what TF Serving runs);
* `tflite_float32`, `tflite_float16` (weights stored in float16), `tflite_int8` (full
  integer quantization of weights and activations, calibrated on 64 random inputs, float
  input and output): converted from the SavedModel with `tf.lite.TFLiteConverter`, run by
  `ai_edge_litert.interpreter.Interpreter` with `common.THREADS` threads.

Latency is the median wall time of one call at batch 1 and at batch 32 (input already in
memory), after warm-up calls; the formats are measured in turn within each round, over
several rounds. Size is the bytes on disk (the SavedModel folder in total). The max
absolute difference of each format's batch-32 output from Keras' output is reported as a
check that every format runs the same network.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import common

MODELS = {"lenet5": (32, 1), "resnet20": (32, 3)}
FORMATS = ("keras", "saved_model", "tflite_float32", "tflite_float16", "tflite_int8")
BATCHES = (1, 32)


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _convert(saved_model: Path, kind: str, sample_shape, out: Path) -> Path:
    import numpy as np
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if kind == "tflite_float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif kind == "tflite_int8":
        rng = np.random.default_rng(0)

        def representative():
            for _ in range(64):
                yield [rng.uniform(0, 1, size=(1, *sample_shape)).astype("float32")]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    path = out / f"{kind}.tflite"
    path.write_bytes(converter.convert())
    return path


class _LiteRT:
    """One interpreter per batch size (resized input), invoked like a function."""

    def __init__(self, path: Path, shape):
        from ai_edge_litert.interpreter import Interpreter

        self.runners = {}
        for batch in BATCHES:
            interpreter = Interpreter(model_path=str(path), num_threads=common.THREADS)
            index = interpreter.get_input_details()[0]["index"]
            interpreter.resize_tensor_input(index, [batch, *shape])
            interpreter.allocate_tensors()
            self.runners[batch] = (interpreter, index, interpreter.get_output_details()[0]["index"])

    def __call__(self, x):
        interpreter, index, output = self.runners[x.shape[0]]
        interpreter.set_tensor(index, x)
        interpreter.invoke()
        return interpreter.get_tensor(output)


def measure(model_name: str, rounds: int, calls: int, warmup: int, log) -> dict:
    import keras
    import numpy as np
    import tensorflow as tf

    import keras_cnns

    common.pin_threads_in_process("tensorflow")
    size, channels = MODELS[model_name]
    shape = (size, size, channels)
    keras.utils.set_random_seed(0)
    model = keras_cnns.get_model(model_name, num_classes=10, input_shape=shape)
    rng = np.random.default_rng(1)
    inputs = {b: rng.uniform(0, 1, size=(b, *shape)).astype("float32") for b in BATCHES}

    work = Path(tempfile.mkdtemp(prefix="bench-inference-"))
    paths, runners = {}, {}
    paths["keras"] = work / f"{model_name}.keras"
    model.save(paths["keras"])
    runners["keras"] = lambda x: model.predict_on_batch(x)
    paths["saved_model"] = work / "saved_model"
    model.export(str(paths["saved_model"]), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(paths["saved_model"]))
    runners["saved_model"] = lambda x: loaded.serve(tf.constant(x)).numpy()
    for kind in FORMATS[2:]:
        paths[kind] = _convert(paths["saved_model"], kind, shape, work)
        runners[kind] = _LiteRT(paths[kind], shape)

    reference = np.asarray(runners["keras"](inputs[32]))
    latencies = {(kind, b): [] for kind in FORMATS for b in BATCHES}
    for kind in FORMATS:
        for b in BATCHES:
            for _ in range(warmup):
                runners[kind](inputs[b])
    load_before = common.load()
    for index in range(rounds):
        for kind in FORMATS if index % 2 == 0 else FORMATS[::-1]:
            for b in BATCHES:
                for _ in range(calls):
                    start = time.perf_counter()
                    runners[kind](inputs[b])
                    latencies[(kind, b)].append(time.perf_counter() - start)
    rows = {}
    for kind in FORMATS:
        out = np.asarray(runners[kind](inputs[32]))
        rows[kind] = {
            "size_bytes": _size(paths[kind]),
            "latency_ms": {str(b): 1e3 * common.median(latencies[(kind, b)]) for b in BATCHES},
            "images_per_s_batch32": 32 / common.median(latencies[(kind, 32)]),
            "max_abs_diff_vs_keras": float(np.max(np.abs(out - reference))),
            "top1_agreement_vs_keras": float(np.mean(out.argmax(-1) == reference.argmax(-1))),
        }
        log(f"  {model_name} {kind}: {rows[kind]['latency_ms']} ms, {rows[kind]['size_bytes']:,} B")
    shutil.rmtree(work, ignore_errors=True)
    return {"model": model_name, "input": list(shape), "parameters": int(model.count_params()),
            "formats": rows, "rounds": rounds, "calls_per_round": calls,
            "load_before": load_before, "load_after": common.load()}


def run(quick: bool = False, log=None) -> dict:
    log = log or common.log
    models = ["lenet5"] if quick else list(MODELS)
    rounds, calls, warmup = (1, 5, 2) if quick else (3, 30, 5)
    return {name: measure(name, rounds, calls, warmup, log) for name in models}


def main(argv=None) -> int:
    return common.script_main(__doc__, run, argv)


if __name__ == "__main__":
    sys.exit(main())
