"""Where does a keras_cnns training step spend its time? TensorFlow's profiler, summed by op.

    python -m benchmarks.profile_ops resnet20 --size 32 --batch 128 --steps 5

Traces `--steps` training steps (`train_on_batch` on a resident batch, after warm-up) with
`tf.profiler.experimental`, reads the XPlane it writes (no TensorBoard plugin needed) and
sums the duration of the TensorFlow ops executed on the host threads by op type
(`Conv2DBackpropFilter`, `_MklFusedBatchNormV3`, ...). Durations overlap when two threads
run ops at once, so the shares are of the summed op time, not of the wall time. Prints a
table; `--json` prints JSON (the harness, `benchmarks.run`, uses it for RESULTS.md).
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import common


def profile(model_name: str, size: int, channels: int, batch: int, steps: int, options=None,
            jit_compile=None) -> dict:
    import numpy as np

    import keras_cnns  # noqa: F401  (oneDNN default before TensorFlow loads)
    import keras
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    common.pin_threads_in_process("tensorflow")
    keras.utils.set_random_seed(0)
    model = keras_cnns.get_model(model_name, num_classes=10, input_shape=(size, size, channels),
                                 **(options or {}))
    extra = {} if jit_compile is None else {"jit_compile": jit_compile}
    model.compile(optimizer=keras_cnns.optimizers.SGD(0.01, momentum=0.9),
                  loss="sparse_categorical_crossentropy", **extra)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(0, 1, (batch, size, size, channels)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, (batch,)))
    for _ in range(3):
        model.train_on_batch(x, y)
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        start = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        wall = time.perf_counter() - start
        tf.profiler.experimental.stop()
        path = next(Path(logdir).rglob("*.xplane.pb"))
        space = xplane_pb2.XSpace()
        space.ParseFromString(path.read_bytes())

    totals = collections.Counter()
    counts = collections.Counter()
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            if "TraceMe" in line.name or "python" in line.name.lower():
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "")
                # Executor op events are "name:Type"; keep ops, not the function frames.
                if ":" not in name or name.startswith("__inference") or "#" in name:
                    continue
                op_type = name.rsplit(":", 1)[1]
                if not re.fullmatch(r"_?[A-Z][A-Za-z0-9_]*", op_type):
                    continue
                totals[op_type] += event.duration_ps / 1e12
                counts[op_type] += 1
    summed = sum(totals.values())
    return {
        "model": model_name, "batch": batch, "steps": steps,
        "wall_per_step_s": wall / steps,
        "op_seconds_per_step": summed / steps,
        "ops": [
            {"op": op, "seconds_per_step": t / steps, "share": t / summed if summed else 0.0,
             "calls_per_step": counts[op] / steps}
            for op, t in totals.most_common()
        ],
    }


def group(ops: list[dict]) -> dict:
    """Op types gathered into the kinds of work a reader cares about."""
    kinds = collections.Counter()
    for entry in ops:
        op = entry["op"].lstrip("_").replace("Mkl", "").replace("Native", "")
        if op == "Process":
            continue  # the executor's frame around each op: counting it would count twice
        if op in ("Start", "ExecuteAsyncOnStream"):
            kind = "XLA-compiled clusters"
        elif "Conv" in op or "MatMul" in op or "BiasAdd" in op:
            kind = "convolution / matmul (incl. backprop)"
        elif "BatchNorm" in op or op in ("Mean", "SquaredDifference", "Rsqrt", "Sum"):
            kind = "batch norm (incl. moments, backprop)"
        elif "Pool" in op:
            kind = "pooling"
        elif op.startswith("Relu") or op in ("Tanh", "TanhGrad", "Softmax", "Sigmoid"):
            kind = "activations"
        elif op.startswith("Resource") or op.startswith("Assign") or op in ("ReadVariableOp",):
            kind = "optimizer / variable updates"
        elif op in ("ConcatV2", "Slice", "StridedSlice", "StridedSliceGrad", "Pad", "Transpose", "Reshape", "Identity", "Cast"):
            kind = "data movement (concat, slice, pad, cast, transpose)"
        else:
            kind = "element-wise and other"
        kinds[kind] += entry["seconds_per_step"]
    return dict(kinds.most_common())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--option", action="append", default=[], help="key=value (JSON value)")
    parser.add_argument("--jit-compile", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    options = {}
    for item in args.option:
        key, value = item.split("=", 1)
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    result = profile(args.model, args.size, args.channels, args.batch, args.steps, options,
                     True if args.jit_compile else None)
    result["groups"] = group(result["ops"])
    if args.json:
        common.print_result(result)
        return 0
    print(f"{args.model}: {result['wall_per_step_s'] * 1e3:.1f} ms per step (wall), "
          f"{result['op_seconds_per_step'] * 1e3:.1f} ms of op time per step")
    for kind, seconds in result["groups"].items():
        print(f"  {kind:55s} {seconds * 1e3:8.2f} ms")
    for entry in result["ops"][:25]:
        print(f"    {entry['op']:40s} {entry['seconds_per_step'] * 1e3:8.2f} ms "
              f"{entry['share'] * 100:5.1f} %  x{entry['calls_per_step']:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
