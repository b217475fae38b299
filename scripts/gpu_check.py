"""A ready-to-run check of keras_cnns on one NVIDIA GPU, with Keras on JAX.

Written for a machine with one NVIDIA GPU, JAX with CUDA and PyTorch with CUDA, and no
TensorFlow: Keras runs on the JAX backend (`KERAS_BACKEND=jax`, set here when it is not
set). IT HAS NEVER RUN ON A GPU YET: only its `--cpu` path has run (tests/test_gpu_check.py).

What it checks, one representative model per family (resnet50, vgg16, densenet121, lenet5,
alexnet, googlenet, inception_v3: those compared with PyTorch first, so that a run cut
short by `--time-limit` still has them) unless `--models` names others:

1. training, in each of float32, mixed_bfloat16 and mixed_float16 (the global dtype policy
   set before the model is built; under mixed_float16 the optimizer is wrapped in a
   `LossScaleOptimizer`): SGD with momentum 0.9 at `--size` x `--size` x 3 (224; LeNet-5 at
   its own 32x32x1), a warm-up step that compiles, then `--steps` steps timed in one
   `model.fit` over the same device-resident batch. It reports images per second, the loss
   (finite; the mean over the timed steps) and the output dtype (float32 in every policy);
2. PyTorch: torchvision's ResNet-50, VGG-16 and DenseNet-121 trained the same way (same
   batch and size, SGD momentum 0.9, cross-entropy, channels_last; float32, or autocast to
   bfloat16, or to float16 with a GradScaler, beside each Keras policy) in a child process
   that runs before any Keras row (the two frameworks bring their own CUDA libraries,
   cuDNN included, which need not agree in one process; and each has the GPU to itself
   while it is timed); the ratio of Keras' images per second to PyTorch's;
3. CPU against GPU: the float32 model just trained, with the same weights, in inference
   mode on the GPU and on JAX's CPU device; the largest |difference| relative to the
   largest |output| must stay under `--tolerance` (1e-3). This comparison runs with JAX's
   matmul precision at "highest": by default XLA computes float32 convolutions and matrix
   products on Ampere and newer GPUs in TF32 (a 10-bit mantissa, a relative rounding of
   2**-11 per product), which through a deep network can alone move the outputs by about
   the tolerance; at "highest" the GPU computes in true float32, so a difference left over
   is a bug. The training rows keep JAX's default (TF32: what users
   get), and so does PyTorch (TF32 allowed for its convolutions and matrix products).

At the end it prints the device names and one markdown table with every row, and writes
the same as JSON with `--json PATH` (also after each row, marked "complete": false, so a
run that is killed leaves what it had). The exit status is 1 when any row fails (a
non-finite loss, an output dtype other than float32, a CPU/GPU difference beyond the
tolerance, an exception, which is recorded in its row while the other rows go on, or a row
not started because `--time-limit` had passed), 2 for bad arguments.

On the GPU machine, from the repository root (which need not be installed: the script puts
it on sys.path); meant to finish within 10 minutes, it starts no row after 480 s
(`--time-limit`) and reports the rows left as not run:

    KERAS_BACKEND=jax python scripts/gpu_check.py --json gpu_check.json

If it runs out of time, split it: `--precisions float32 mixed_bfloat16`, then
`--precisions mixed_float16`. Each row's build and compile seconds (table and JSON) say
where the time went; the progress lines on stderr say which row runs.

Anywhere, on the CPU (JAX's CPU backend and PyTorch on the CPU; small defaults: size 32,
raised to AlexNet's and Inception v3's smallest inputs, 67 and 75; batch 4; 1 timed step;
lenet5 and resnet50 unless `--models` names others). There the CPU-vs-GPU comparison
compares the jit-compiled prediction with an eager `model(x, training=False)` instead,
both on the CPU, and the timings only show that the code runs:

    python scripts/gpu_check.py --cpu
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # keras_cnns and benchmarks, installed or not

#: One model per family (names of keras_cnns.list_models()); those PyTorch is compared
#: with first. The table lists the rows in `FAMILY_ORDER`.
MODELS = ("resnet50", "vgg16", "densenet121", "lenet5", "alexnet", "googlenet", "inception_v3")
FAMILY_ORDER = ("lenet5", "alexnet", "vgg16", "googlenet", "inception_v3", "resnet50", "densenet121")
#: The models compared with torchvision's, which has the same architectures.
TORCH_MODELS = ("resnet50", "vgg16", "densenet121")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")  # keras_cnns.precision.PRECISIONS
CPU_DEFAULT_MODELS = ("lenet5", "resnet50")
#: LeNet-5 always trains at its own input.
LENET5_SHAPE = (32, 32, 1)
NUM_CLASSES = 1000
LEARNING_RATE = 0.01
MOMENTUM = 0.9
#: Images of the CPU-vs-device comparison (the CPU computes them at full size).
COMPARE_BATCH = 2
#: Rows start only while the run is younger than this (GPU default; seconds).
GPU_TIME_LIMIT_S = 480
TORCH_TIMEOUT_S = 300
SEED = 0

Row = dict[str, Any]


# ------------------------------------------------------------------------- arguments
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line, checked before anything heavy is imported. The defaults left
    unset by argparse depend on `--cpu` (GPU: size 224, batch 64, 20 steps, every model,
    a time limit of 480 s; CPU: size 32, batch 4, 1 step, lenet5 and resnet50, none)."""
    parser = argparse.ArgumentParser(
        description="Train and time keras_cnns models on one GPU (Keras on JAX) against "
        "PyTorch, and compare their outputs with the CPU's. Never run on a GPU yet.")
    parser.add_argument("--cpu", action="store_true",
                        help="run the same checks on the CPU (JAX and PyTorch), with small defaults")
    parser.add_argument("--models", nargs="+", choices=MODELS, metavar="NAME",
                        help=f"models to check, from: {', '.join(MODELS)} (default: all; "
                        f"with --cpu: {' '.join(CPU_DEFAULT_MODELS)})")
    parser.add_argument("--precisions", nargs="+", choices=PRECISIONS, default=list(PRECISIONS),
                        metavar="POLICY", help=f"dtype policies, from: {', '.join(PRECISIONS)} "
                        "(default: all)")
    parser.add_argument("--size", type=positive_int,
                        help="input height and width (default 224, --cpu 32; raised to a "
                        "model's smallest input; LeNet-5 always 32x32x1)")
    parser.add_argument("--batch", type=positive_int, help="batch size (default 64, --cpu 4)")
    parser.add_argument("--steps", type=positive_int,
                        help="timed steps after the warm-up step (default 20, --cpu 1)")
    parser.add_argument("--tolerance", type=positive_float, default=1e-3,
                        help="largest |difference| / largest |output| allowed between the "
                        "CPU and the device in float32 (default 1e-3)")
    parser.add_argument("--time-limit", type=non_negative_float, metavar="SECONDS",
                        help="start no row after this many seconds; the rows left are "
                        f"reported as not run (default {GPU_TIME_LIMIT_S}, --cpu none; 0: none)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    parser.add_argument("--torch-worker", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    for option in ("models", "precisions"):
        value = getattr(args, option)
        if value and len(set(value)) != len(value):
            parser.error(f"argument --{option}: a value is repeated in {' '.join(value)}")
    cpu = args.cpu
    args.models = args.models or list(CPU_DEFAULT_MODELS if cpu else MODELS)
    args.size = args.size or (32 if cpu else 224)
    args.batch = args.batch or (4 if cpu else 64)
    args.steps = args.steps or (1 if cpu else 20)
    if args.time_limit is None:
        args.time_limit = 0 if cpu else GPU_TIME_LIMIT_S
    return args


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number above 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a number of at least 0."""
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def configure_environment(cpu: bool) -> None:
    """Environment variables read when JAX and Keras are imported: Keras on JAX, JAX on
    the CPU alone with `--cpu`, and with a GPU, JAX taking GPU memory as it needs it
    rather than 75 % of it at start."""
    backend = os.environ.setdefault("KERAS_BACKEND", "jax")
    if backend != "jax":
        sys.exit(f"gpu_check.py runs Keras on JAX, but KERAS_BACKEND is {backend!r}: "
                 "unset it or set KERAS_BACKEND=jax.")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if cpu:
        os.environ["JAX_PLATFORMS"] = "cpu"
        return
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    platforms = os.environ.get("JAX_PLATFORMS", "")
    if platforms and "cpu" not in platforms.split(","):
        os.environ["JAX_PLATFORMS"] = platforms + ",cpu"  # the comparison needs the CPU too


# ------------------------------------------------------------------------- shared
def input_shape(name: str, size: int) -> tuple[int, int, int]:
    """The input a model trains on: LeNet-5's own 32x32x1; every other model
    `size` x `size` x 3, raised to the model's smallest input (AlexNet 67, Inception v3 75)."""
    if name == "lenet5":
        return LENET5_SHAPE
    from keras_cnns.models import get_spec

    side = max(size, get_spec(name).min_input_size)
    return (side, side, 3)


def shape_text(shape: Sequence[int]) -> str:
    return "x".join(map(str, shape))


def error_text(err: BaseException) -> str:
    """An exception as one short line for a table cell."""
    first = (str(err).strip().splitlines() or [""])[0]
    return f"{type(err).__name__}: {first}"[:300]


def log(message: str) -> None:
    """Progress on stderr (stdout carries the table)."""
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def images_per_second(batch: int, steps: int, seconds: float) -> float:
    return round(batch * steps / seconds, 2) if seconds > 0 else math.inf


# ------------------------------------------------------------------------- Keras on JAX
def jax_devices(cpu: bool) -> tuple[Any, Any]:
    """(the device the checks run on, JAX's CPU device). Exits with a message when no
    GPU is visible to JAX and `--cpu` was not given."""
    import jax

    cpu_device = jax.devices("cpu")[0]
    if cpu:
        return cpu_device, cpu_device
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if not gpus:
        sys.exit(f"No GPU is visible to JAX (its devices: {jax.devices()}; JAX_PLATFORMS="
                 f"{os.environ.get('JAX_PLATFORMS', '')!r}). Install JAX with CUDA "
                 "(pip install 'jax[cuda12]'), or pass --cpu to run these checks on the CPU.")
    return gpus[0], cpu_device


def build_model(name: str, shape: tuple[int, int, int], precision: str):
    """A freshly built model (random weights) under the dtype policy `precision` (Keras'
    global policy while it is built, as `keras.mixed_precision.set_global_policy` sets it;
    the layers keep it)."""
    import random

    import numpy as np

    import keras_cnns
    from keras_cnns.precision import precision_policy

    # Keras' global seed generator draws its seed from Python's `random`; not
    # keras.utils.set_random_seed, which also imports TensorFlow wherever it is installed.
    random.seed(SEED)
    np.random.seed(SEED)
    with precision_policy(precision):
        return keras_cnns.get_model(name, num_classes=NUM_CLASSES, input_shape=shape)


def make_optimizer(precision: str):
    """SGD with momentum 0.9, in a LossScaleOptimizer under mixed_float16 (whose float16
    gradients underflow without loss scaling; it skips the steps whose gradients overflow
    while it lowers its scale from 2**15, so the first steps may leave the loss as it was)."""
    import keras

    optimizer = keras.optimizers.SGD(LEARNING_RATE, momentum=MOMENTUM)
    if precision == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def commit_state(model, device) -> None:
    """Put every variable of `model`, its optimizer's and its metrics' on `device`
    explicitly. JAX compiles a function again for arguments whose placement differs: an
    array left where it was made (the initializers', the zeros of a metric's reset) is
    "uncommitted", an array a step returns is committed to its device. Without this,
    Keras' JAX trainer compiled each model's train step twice, for its first step and its
    second (measured, ResNet-50 on the CPU: 6.2 s, 3.6 s, then 0.31 s a step; with this:
    7.1 s, 0.36 s, 0.32 s). `CommitMetrics` does the same after fit resets the metrics."""
    import jax

    model.optimizer.build(model.trainable_variables)
    for variable in model.variables + model.optimizer.variables + model.metrics_variables:
        variable.assign(jax.device_put(variable.value, device))


def commit_metrics_callback(device):
    """A callback that commits the metrics' variables to `device` (see `commit_state`)
    once `fit` has reset them at the start of the epoch, before the first step."""
    import jax
    import keras

    class CommitMetrics(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            for variable in self.model.metrics_variables:
                variable.assign(jax.device_put(variable.value, device))

    return CommitMetrics()


def random_batch(batch: int, shape: Sequence[int], device) -> tuple[Any, Any]:
    """Uniform images and random labels, seeded, put on `device` once, so that the steps
    time the device's work rather than copies from the host (PyTorch's batch stays on its
    device too)."""
    import jax
    import numpy as np

    rng = np.random.default_rng(SEED)
    x = rng.uniform(0, 1, size=(batch, *shape)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, size=(batch,)).astype("int32")
    return jax.device_put(x, device), jax.device_put(y, device)


def output_dtypes(model, x) -> list[str]:
    """The dtype of each output of `model(x, training=False)`, traced by JAX (not run)."""
    import jax

    spec = jax.ShapeDtypeStruct(x.shape, x.dtype)
    outputs = jax.eval_shape(lambda images: model(images, training=False), spec)
    return [str(leaf.dtype) for leaf in jax.tree_util.tree_leaves(outputs)]


def fit_steps(model, x, y, steps: int, device) -> tuple[float, float]:
    """`steps` training steps on the batch (x, y) in one `model.fit`: (seconds, the mean
    loss). fit dispatches the steps asynchronously and keeps the weights on the device
    between them; it returns once the last loss is on the host, after the last step."""

    def batches() -> Iterator[tuple[Any, Any]]:
        while True:
            yield x, y

    start = time.perf_counter()
    history = model.fit(batches(), steps_per_epoch=steps, epochs=1, shuffle=False, verbose=0,
                        callbacks=[commit_metrics_callback(device)])
    return time.perf_counter() - start, float(history.history["loss"][-1])


def train_row(name: str, precision: str, size: int, batch: int, steps: int,
              device) -> tuple[Row, Any]:
    """Build `name` under `precision`, take a warm-up step that compiles, then time
    `steps` more: images per second, the loss, the output dtype. Returns the row and the
    trained model (None after an exception)."""
    import jax
    import keras

    shape = input_shape(name, size)
    row: Row = {"check": "train", "model": name, "precision": precision,
                "input": shape_text(shape), "batch": batch, "steps": steps}
    model = None
    try:
        keras.backend.clear_session()
        start = time.perf_counter()
        with jax.default_device(device):
            model = build_model(name, shape, precision)
            row["params"] = int(sum(math.prod(w.shape) for w in model.trainable_weights))
            model.compile(optimizer=make_optimizer(precision),
                          loss="sparse_categorical_crossentropy", jit_compile=True)
            commit_state(model, device)
            x, y = random_batch(batch, shape, device)
            row["output_dtype"] = ",".join(output_dtypes(model, x))
            row["build_s"] = round(time.perf_counter() - start, 2)
            row["compile_s"], warmup_loss = fit_steps(model, x, y, 1, device)  # compiles
            seconds, row["loss"] = fit_steps(model, x, y, steps, device)
        row["compile_s"] = round(row["compile_s"], 2)
        row["images_per_s"] = images_per_second(batch, steps, seconds)
        problems = []
        if not (math.isfinite(warmup_loss) and math.isfinite(row["loss"])):
            problems.append(f"non-finite loss: {warmup_loss} after the warm-up step, "
                            f"{row['loss']} over the timed steps")
        if set(row["output_dtype"].split(",")) != {"float32"}:
            problems.append(f"output dtype {row['output_dtype']}, expected float32")
        row["ok"] = not problems
        if problems:
            row["error"] = "; ".join(problems)
    except Exception as err:  # recorded; the other rows go on
        row.update(ok=False, error=error_text(err))
        model = None
    return row, model


def predict_on(model, x, device):
    """`model`'s inference output for `x`, compiled for and run on `device` with copies
    of the model's weights there."""
    import jax

    def infer(trainable, non_trainable, images):
        outputs, _ = model.stateless_call(trainable, non_trainable, images, training=False)
        return outputs

    state = ([v.value for v in model.trainable_variables],
             [v.value for v in model.non_trainable_variables], x)
    return jax.jit(infer)(*jax.device_put(state, device))


def compare_row(name: str, model, size: int, device, cpu_device, cpu_mode: bool,
                tolerance: float) -> Row:
    """The float32 `model`'s inference output on JAX's CPU device against the same model
    on `device` (with `--cpu`: the jit-compiled output against an eager call), at matmul
    precision "highest" (see the module docstring). `model` is the float32 row's trained
    model, or None to build one (float32 not among the precisions, or its row failed)."""
    import jax
    import keras
    import numpy as np

    shape = input_shape(name, size)
    row: Row = {"check": "cpu_vs_eager" if cpu_mode else "cpu_vs_gpu", "model": name,
                "precision": "float32", "input": shape_text(shape), "batch": COMPARE_BATCH,
                "tolerance": tolerance}
    try:
        if model is None:
            keras.backend.clear_session()
            with jax.default_device(device):  # where the initializers are compiled already
                model = build_model(name, shape, "float32")
        x = np.random.default_rng(SEED + 1).uniform(0, 1, (COMPARE_BATCH, *shape)).astype("float32")
        with jax.default_matmul_precision("highest"):
            reference = predict_on(model, x, cpu_device)
            if cpu_mode:
                with jax.default_device(cpu_device):
                    other = model(x, training=False)
                row["note"] = "--cpu: jit-compiled vs eager, both on the CPU"
            else:
                other = predict_on(model, x, device)
        reference = [np.asarray(a, "float64") for a in jax.tree_util.tree_leaves(reference)]
        other = [np.asarray(a, "float64") for a in jax.tree_util.tree_leaves(other)]
        scale = max(float(np.max(np.abs(a))) for a in reference)
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(reference, other))
        row["max_abs_output"] = scale
        row["rel_diff"] = diff / scale if scale else diff
        row["ok"] = math.isfinite(row["rel_diff"]) and row["rel_diff"] <= tolerance
        if not row["ok"]:
            row["error"] = f"relative difference {row['rel_diff']:.3g} > tolerance {tolerance:g}"
    except Exception as err:
        row.update(ok=False, error=error_text(err))
    return row


def not_run(row: Row, limit: float) -> Row:
    """A row not started because the run had passed its time limit."""
    return {**row, "ok": False, "error": f"not run: --time-limit {limit:g} s had passed"}


def check_model(name: str, args: argparse.Namespace, device, cpu_device,
                out_of_time: Callable[[], bool], record: Callable[[Row], None]) -> None:
    """One model's rows, each passed to `record`: training under each policy and, right
    after float32's (whose trained model it compares), the CPU comparison. Keras' state
    is cleared after each training row."""
    import keras

    def compare(model) -> None:
        if out_of_time():
            record(not_run({"check": "cpu_vs_eager" if args.cpu else "cpu_vs_gpu", "model": name,
                            "precision": "float32"}, args.time_limit))
            return
        log(f"compare {name}")
        record(compare_row(name, model, args.size, device, cpu_device, args.cpu, args.tolerance))

    for precision in args.precisions:
        model = None
        if out_of_time():
            record(not_run({"check": "train", "model": name, "precision": precision}, args.time_limit))
        else:
            log(f"train {name} {precision}")
            row, model = train_row(name, precision, args.size, args.batch, args.steps, device)
            record(row)
        if precision == "float32":
            compare(model)
        model = None
        keras.backend.clear_session()
        gc.collect()
    if "float32" not in args.precisions:
        compare(None)
        keras.backend.clear_session()
        gc.collect()


# ------------------------------------------------------------------------- PyTorch
def torch_jobs(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The (model, precision, size) runs of PyTorch: the models torchvision also has."""
    return [{"model": name, "precision": precision, "size": input_shape(name, args.size)[0]}
            for name in args.models if name in TORCH_MODELS for precision in args.precisions]


def run_torch_worker(args: argparse.Namespace) -> tuple[list[Row], str]:
    """Run the PyTorch timings in a child process of this script (`--torch-worker`),
    before any Keras row: the child's rows and device name. A job without a result (the
    child failed or timed out) gets an error row. (Beside the Keras rows instead, in
    --cpu mode on a 2-core machine, the two slowed each other down: 46 s became 80 s.)"""
    jobs = torch_jobs(args)
    if not jobs:
        return [], ""
    spec = {"jobs": jobs, "batch": args.batch, "steps": args.steps, "cpu": args.cpu}
    command = [sys.executable, str(Path(__file__).resolve()), "--torch-worker", json.dumps(spec)]
    log(f"PyTorch: {len(jobs)} runs in a child process")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TORCH_TIMEOUT_S)
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        failure = None if done.returncode == 0 else (
            f"PyTorch worker exited {done.returncode}: {done.stderr.strip()[-300:]}")
    except subprocess.TimeoutExpired as err:
        lines = [json.loads(line) for line in (err.stdout or b"").decode().splitlines()
                 if line.startswith("{")]
        failure = f"PyTorch worker timed out after {TORCH_TIMEOUT_S} s"
    device = next((line["device"] for line in lines if "device" in line), "")
    rows = [line for line in lines if line.get("check") == "torch"]
    finished = {(row["model"], row["precision"]) for row in rows}
    rows += [{"check": "torch", "model": job["model"], "precision": job["precision"],
              "ok": False, "error": failure or "no result from the PyTorch worker"}
             for job in jobs if (job["model"], job["precision"]) not in finished]
    return rows, device


def torch_worker(spec_json: str) -> None:
    """The child process: time each job of the spec, one JSON line each on stdout."""
    import torch

    spec = json.loads(spec_json)
    device = torch.device("cpu" if spec["cpu"] or not torch.cuda.is_available() else "cuda")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        # JAX's default precision computes float32 convolutions and matrix products in
        # TF32 on GPUs that have it: PyTorch does the same here, like with like.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        name = torch.cuda.get_device_name()
    else:
        name = f"cpu ({torch.get_num_threads()} threads)"
    print(json.dumps({"device": name, "torch": torch.__version__}), flush=True)
    for job in spec["jobs"]:
        print(json.dumps(torch_row(job, spec["batch"], spec["steps"], device)), flush=True)
        if device.type == "cuda":
            torch.cuda.empty_cache()


def torch_row(job: dict[str, Any], batch: int, steps: int, device) -> Row:
    """torchvision's model of `job`, trained for a warm-up step and `steps` timed steps."""
    import torch

    row: Row = {"check": "torch", "model": job["model"], "precision": job["precision"],
                "input": shape_text((job["size"], job["size"], 3)), "batch": batch, "steps": steps}
    try:
        step, row["torch_params"] = torch_train_step(job["model"], job["precision"], job["size"],
                                                     batch, device)
        sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
        warmup_loss = float(step())  # cuDNN's algorithm search, the allocator's first blocks
        sync()
        start = time.perf_counter()
        losses = [step() for _ in range(steps)]
        sync()
        seconds = time.perf_counter() - start
        row["torch_images_per_s"] = images_per_second(batch, steps, seconds)
        row["torch_loss"] = float(torch.stack(losses).float().mean())
        row["ok"] = math.isfinite(warmup_loss) and math.isfinite(row["torch_loss"])
        if not row["ok"]:
            row["error"] = f"non-finite PyTorch loss: {warmup_loss}, {row['torch_loss']}"
    except Exception as err:
        row.update(ok=False, error=error_text(err))
    return row


def torch_train_step(name: str, precision: str, size: int, batch: int,
                     device) -> tuple[Callable[[], Any], int]:
    """(a function taking one SGD step of torchvision's `name` on a fixed random batch
    and returning the loss, without waiting for the device; the model's trainable
    parameters). channels_last; autocast and a GradScaler as `precision` asks."""
    import torch
    import torch.nn.functional as F

    from benchmarks.torchvision_shim import import_torchvision

    torchvision = import_torchvision()
    torch.manual_seed(SEED)
    model = getattr(torchvision.models, name)(num_classes=NUM_CLASSES)
    model = model.to(device, memory_format=torch.channels_last).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM)
    autocast_dtype = {"mixed_bfloat16": torch.bfloat16, "mixed_float16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "mixed_float16")
    x = torch.rand(batch, 3, size, size, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, NUM_CLASSES, (batch,), device=device)

    def autocast():
        if autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=autocast_dtype)

    def step() -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = F.cross_entropy(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return loss.detach()

    return step, sum(p.numel() for p in model.parameters() if p.requires_grad)


def add_ratios(torch_rows: list[Row], train_rows: list[Row]) -> None:
    """Each PyTorch row gets the Keras row's images per second and the ratio keras/torch,
    and a note where the two models' trainable parameters differ."""
    keras_rows = {(r["model"], r["precision"]): r for r in train_rows}
    for row in torch_rows:
        keras_row = keras_rows.get((row["model"], row["precision"]), {})
        speed, params = keras_row.get("images_per_s"), keras_row.get("params")
        row["images_per_s"] = speed
        if speed and row.get("torch_images_per_s"):
            row["keras_over_torch"] = round(speed / row["torch_images_per_s"], 3)
        if params and row.get("torch_params") and params != row["torch_params"]:
            row["note"] = f"trainable parameters: keras {params:,}, torch {row['torch_params']:,}"


# ------------------------------------------------------------------------- report
COLUMNS = (
    ("check", "check"), ("model", "model"), ("precision", "precision"), ("input", "input"),
    ("batch", "batch"), ("images_per_s", "keras img/s"), ("loss", "loss"),
    ("output_dtype", "output dtype"), ("torch_images_per_s", "torch img/s"),
    ("keras_over_torch", "keras/torch"), ("rel_diff", "max rel diff"), ("tolerance", "tol"),
    ("build_s", "build s"), ("compile_s", "compile s"), ("ok", "status"), ("note", "note / error"),
)
CHECK_ORDER = ("train", "torch", "cpu_vs_gpu", "cpu_vs_eager")


def row_order(row: Row) -> tuple[int, int, int]:
    """The table's order: by check, then family, then precision."""
    return (CHECK_ORDER.index(row["check"]), FAMILY_ORDER.index(row["model"]),
            PRECISIONS.index(row["precision"]))


def cell(key: str, row: Row) -> str:
    """One cell of the table."""
    if key == "ok":
        return "ok" if row.get("ok") else "FAIL"
    if key == "note":
        return "; ".join(t for t in (row.get("error"), row.get("note")) if t).replace("|", "/")
    value = row.get(key)
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3g}" if key in ("rel_diff", "tolerance", "loss") else f"{value:,.1f}"
    return str(value)


def markdown_table(rows: list[Row]) -> str:
    """Every row in one markdown table."""
    lines = ["| " + " | ".join(title for _, title in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell(key, row) for key, _ in COLUMNS) + " |" for row in rows]
    return "\n".join(lines)


def report(result: dict[str, Any]) -> str:
    """The devices, the settings, the table and a last line, as printed at the end."""
    devices, rows = result["devices"], result["rows"]
    failed = sum(not row.get("ok") for row in rows)
    return "\n".join([
        f"JAX device: {devices['jax']}; PyTorch device: {devices['torch'] or '-'}",
        "Settings: " + ", ".join(f"{k}={v}" for k, v in result["settings"].items()),
        "",
        markdown_table(rows),
        "",
        f"{len(rows) - failed} of {len(rows)} rows passed in {result['seconds']:.0f} s"
        + (f"; {failed} FAILED" if failed else ""),
    ])


def write_json(path: Path | None, result: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")


# ------------------------------------------------------------------------- main
def run_checks(args: argparse.Namespace) -> dict[str, Any]:
    """Every row: PyTorch's first (a child process, see `run_torch_worker`), then each
    model's training under each policy and its CPU comparison. The JSON file is written
    after each row."""
    start = time.perf_counter()
    device, cpu_device = jax_devices(args.cpu)  # first: without a GPU, this exits
    import jax
    import keras

    result: dict[str, Any] = {
        "devices": {"jax": f"{device.device_kind} ({device.platform})", "torch": ""},
        "settings": {"mode": "cpu" if args.cpu else "gpu", "models": " ".join(args.models),
                     "precisions": " ".join(args.precisions), "size": args.size,
                     "batch": args.batch, "steps": args.steps, "tolerance": args.tolerance,
                     "time_limit_s": args.time_limit, "jax": jax.__version__,
                     "keras": keras.__version__},
        "rows": [], "seconds": 0.0, "complete": False, "passed": False,
    }

    def record(row: Row) -> None:
        result["rows"].append(row)
        result["seconds"] = round(time.perf_counter() - start, 1)
        status = "ok" if row.get("ok") else f"FAIL ({row.get('error')})"
        log(f"{row['check']} {row['model']} {row['precision']}: {status}")
        write_json(args.json, result)

    def out_of_time() -> bool:
        return bool(args.time_limit) and time.perf_counter() - start > args.time_limit

    torch_rows, result["devices"]["torch"] = run_torch_worker(args)
    for row in torch_rows:
        record(row)
    for name in args.models:
        check_model(name, args, device, cpu_device, out_of_time, record)
    add_ratios(torch_rows, [row for row in result["rows"] if row["check"] == "train"])
    result["rows"].sort(key=row_order)
    result["seconds"] = round(time.perf_counter() - start, 1)
    result["complete"] = True
    result["passed"] = all(row.get("ok") for row in result["rows"])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.torch_worker:
        torch_worker(args.torch_worker)
        return 0
    configure_environment(args.cpu)
    result = run_checks(args)
    print(report(result), flush=True)
    write_json(args.json, result)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
