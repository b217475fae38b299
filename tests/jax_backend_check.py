"""Build registered models at a small input under the current Keras backend and take one SGD
step, compiled with XLA; print a JSON report line for each. Run by test_every_model.py in
a process with KERAS_BACKEND=jax and XLA_FLAGS=ONE_STEP_XLA_FLAGS (conftest.py):

    jax_backend_check.py NAME|FAMILY   # one model, or every model of a family
    jax_backend_check.py --serve       # a model's name per line on stdin, a report line each

As for the PyTorch check, the test runs one `--serve` process per test worker (importing
Keras under JAX costs 3 to 4 s a process, a third of the check of the small models); it
exits after a model that left it holding more than RESTART_ABOVE_MB (the XLA compile of
DenseNet-264's step peaks near 3.7 GB), or IDLE_EXIT_S seconds without a model."""

import contextlib
import json
import sys
import time

import keras
import numpy as np

import keras_cnns
from check_server import memory_mb, serve
from conftest import small_input_shape

RESTART_ABOVE_MB = 1500
IDLE_EXIT_S = 300


@contextlib.contextmanager
def initializers_drawing_on_the_host(rng: np.random.Generator):
    """Keras' random initializers (normal, uniform, truncated normal: every kernel's) draw
    with NumPy while the model is built, with the same distributions. Under JAX each new
    weight shape compiles its own random-number program: DenseNet-169 compiled 219 small
    programs, and its build took 11.3 s; 4.7 s drawing on the host (2026-12-07). Where
    the values come from does not matter to a one-step check; the layers still create and
    initialize their weights through Keras as they do on any backend."""
    from keras.src.backend.jax import random as backend_random

    def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        return (rng.standard_normal(shape) * stddev + mean).astype(dtype or keras.config.floatx())

    def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
        return rng.uniform(minval, maxval, shape).astype(dtype or keras.config.floatx())

    def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
        sample = rng.standard_normal(shape)
        outside = np.abs(sample) > 2.0  # JAX's bounds: two standard deviations
        while outside.any():
            sample[outside] = rng.standard_normal(int(outside.sum()))
            outside = np.abs(sample) > 2.0
        return (sample * stddev + mean).astype(dtype or keras.config.floatx())

    drawn_on_device = backend_random.normal, backend_random.uniform, backend_random.truncated_normal
    backend_random.normal, backend_random.uniform, backend_random.truncated_normal = (
        normal, uniform, truncated_normal)
    try:
        yield
    finally:
        backend_random.normal, backend_random.uniform, backend_random.truncated_normal = drawn_on_device


def check(name: str) -> dict:
    start = time.perf_counter()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    shape = small_input_shape(name)
    with initializers_drawing_on_the_host(rng):
        model = keras_cnns.get_model(name, num_classes=3, input_shape=shape)
    # One step, compiled with XLA. Op by op, JAX compiles every primitive for each new
    # shape, which made the step cost more than XLA's compile of the whole graph for
    # every model (GoogLeNet 38 s op by op against 15 s, DenseNet-121 192 s against
    # 53 s). ONE_STEP_XLA_FLAGS make the compile cheaper: the step runs once, so its
    # compile time is what counts.
    model.compile(
        optimizer=keras.optimizers.SGD(0.01), loss="sparse_categorical_crossentropy", jit_compile=True
    )
    x = rng.uniform(0, 1, size=(2, *shape)).astype("float32")
    y = np.array([0, 2])
    before = [np.array(w) for w in model.trainable_weights]
    loss = model.train_on_batch(x, y)
    after = [np.array(w) for w in model.trainable_weights]
    return {
        "backend": keras.backend.backend(),
        "name": name,
        "loss": float(np.asarray(loss).ravel()[0]),
        "changed": any(not np.array_equal(b, a) for b, a in zip(before, after)),
        "seconds": round(time.perf_counter() - start, 2),
        "peak_memory_mb": memory_mb("VmHWM"),
    }


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve(check, restart_above_mb=RESTART_ABOVE_MB, idle_exit_s=IDLE_EXIT_S)
    else:
        wanted = sys.argv[1]
        families = keras_cnns.list_families()
        for name in keras_cnns.list_models(wanted) if wanted in families else [wanted]:
            print(json.dumps(check(name)), flush=True)
            keras.backend.clear_session()
