"""Shared test set-up: quiet TensorFlow, CPU only, small inputs."""

import gc
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
# TensorFlow's oneDNN builds allocate CPU tensors from a pool of their own that never gives
# memory back: a test worker's resident memory only ever grew, to whatever the largest
# models it had run needed, and every model after them took new memory beside that
# (one worker: 7.4 GB by the end of the suite, though it held no model). The system
# allocator (glibc's malloc, which `malloc_trim` below empties) gives it back. Measured,
# tests/test_resnet.py alone: 3.75 GB left after the module with the pool, 0.89 GB
# without; 67-70 s against 64 s. ResNet-152 built, called on one 224x224 image and
# deleted, three times: 1.31 GB after the call and 1.28 GB after the deletion with the
# pool, 0.99 and 0.74 GB without. Subprocesses (the backend checks, the CLI, the
# benchmarks) inherit it. It is not slower: tests/test_train.py alone took 103 s with it,
# 118 s without; ResNet-1202's export check, alone on an idle machine, 236 s against 274 s.
os.environ.setdefault("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", "1")
# One intra-op thread per test process. The suite runs one xdist worker per core, and
# each worker's TensorFlow would otherwise size its thread pool to every core of the
# machine, beside the other worker and the JAX and PyTorch check processes: threads that
# spin and wait on each other. Measured on the deep models' export and backend checks
# (24 tests of test_every_model.py, -n 2): 233 s and 86 s of system time with the
# default, 182 s and 33 s with one thread. The whole suite showed no gain beyond the
# spread between runs (clean-clone CI with it: 2,140 s of pytest; a full run just before
# without it: 2,075 s). Inter-op parallelism stays: the two replicas of a
# MirroredStrategy step need two threads to meet in their all-reduce. The benchmarks
# set their own thread counts (benchmarks/common.py).
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from check_server import memory_mb  # noqa: E402
from keras_cnns.models import get_spec  # noqa: E402


def small_input_shape(name: str) -> tuple[int, int, int]:
    """The smallest input a registered model accepts with its default options."""
    spec = get_spec(name)
    size = spec.min_input_size
    return (size, size, spec.default_input_shape[-1])


# XLA settings for a process that compiles a training step to run it once or twice: what
# counts there is the compile time, which the optimizations cost more than they save.
# Measured on DenseNet-40's JAX check (2026-12-06, idle machine): 36 s of CPU at the
# default backend optimization level with its expensive LLVM passes off, 21 s with XLA's
# new CPU fusion emitters off too (and 1.4 GB peak memory instead of 2.0; the same
# loss to the last bit). The HLO simplification pipelines (the repeated algebraic
# simplifier and CSE) are off as well: they held most of the compile's memory. The
# algebraic simplifier's other runs stay: they turn a padding layer's negative gradient
# padding into slices, without which the CPU emitter fails on the pre-activation ResNets.
# DenseNet-264's check (2026-12-06): 132 s and 7.8 GB peak on an idle machine with those
# pipelines, 77 s and 3.7 GB without, in a full test run (DenseNet-121, idle: 1.80 ->
# 1.55 GB, its loss the same within 6e-6; the deepest DenseNets' losses move more, as
# batch norm over a batch of two 1x1 maps magnifies a different rounding).
ONE_STEP_XLA_FLAGS = (
    "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true "
    "--xla_cpu_use_fusion_emitters=false "
    "--xla_disable_hlo_passes=simplification,post_scatter_expansion_simplification,cse"
)


def jax_environment(**extra: str) -> dict[str, str]:
    """The environment of a subprocess that runs Keras on JAX's CPU backend for a step or two."""
    return dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", XLA_FLAGS=ONE_STEP_XLA_FLAGS, **extra)


def count(weights) -> int:
    """Number of scalars in a list of Keras variables."""
    return int(sum(np.prod(w.shape) for w in weights))


@pytest.fixture(autouse=True, scope="module")
def _free_what_each_module_built():
    """After each test module, Keras' global state and the models it built are released
    (the module's own fixtures are torn down first), so that an xdist worker does not
    grow with every module it runs."""
    yield
    import keras

    keras.backend.clear_session(free_memory=True)
    _collect_everything()
    _return_freed_heap_to_the_system()
    _memory.baseline = _resident_gb()


class _memory:
    #: The worker's resident memory after its last clean-up, in GB.
    baseline = 0.0
    #: Clean up after a test that left the worker this much above the baseline (GB).
    growth = 0.25


def _resident_gb() -> float:
    return memory_mb("VmRSS") / 1024


def _collect_everything() -> None:
    """A full collection, then whatever survives it out of the collector's way
    (gc.freeze): a collection after each test then scans only what was made since,
    not the half-million objects of TensorFlow, PyTorch and JAX, nor what the tests
    imported later (a full collection took 0.3-1.1 s per test late in the suite, 1,365
    worker-seconds over it; a collection of the new objects takes milliseconds)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def pytest_collection_finish(session):
    _collect_everything()
    _memory.baseline = _resident_gb()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """After each test, once pytest has let go of its fixtures' values (`item.funcargs`,
    which it clears only after the teardown hooks), the models it built are collected at
    once: Keras models hold reference cycles, which would otherwise wait for Python's
    cyclic collector, and the next test's models would take new memory beside them. When
    the worker is then `_memory.growth` GB above its last clean-up, glibc's freed heap is
    handed back too. Measured over test_vgg.py, whose tests each build two or three
    133-144-million-parameter models: the worker grew from 2.98 to 6.49 GB without
    this, and stayed at 3.10 GB with it. Module-scoped fixtures' models stay until their
    module ends (`_free_what_each_module_built`)."""
    yield
    gc.collect()
    # What outlived the test (a module fixture's model, a cache) is frozen with the rest
    # until its module ends, where `_free_what_each_module_built` collects everything.
    gc.freeze()
    if _resident_gb() > _memory.baseline + _memory.growth:
        _return_freed_heap_to_the_system()
        _memory.baseline = _resident_gb()


def _return_freed_heap_to_the_system() -> None:
    """glibc keeps freed heap pages in the process; malloc_trim hands them back (measured:
    0.25-0.5 GB after each heavy export check). Nothing to do on other C libraries."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# The longest tests (measured with --durations=0) go first: xdist hands tests out in
# collection order, and a four-minute test started last leaves one core idle while it
# runs (scripts/test.sh also uses `--dist worksteal`, so an idle worker takes queued tests).
_LONGEST_FIRST = (
    "test_every_model.py::test_saves_loads_and_exports[resnet1202]",
    "test_every_model.py::test_every_model_trains_one_step_under_jax[densenet",
    "test_benchmarks.py::",
    "test_notebooks.py::",
    "test_export.py::test_resnet20_tflite",
    "test_every_model.py::test_saves_loads_and_exports[densenet",
    "test_resume.py::test_multiworker",
    "test_every_model.py::test_every_model_trains_one_step_under_jax[",
    "test_every_model.py::test_saves_loads_and_exports[resnet",
)


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        return next((i for i, key in enumerate(_LONGEST_FIRST) if key in item.nodeid), len(_LONGEST_FIRST))

    items.sort(key=rank)  # stable: the rest keep their order


# torchvision's model definitions, for the tests that compare our models with them. Why a
# helper: torchvision 0.28.0 (the release made for torch 2.13.0) does not import beside
# torch 2.13.0's CPU wheel. Its compiled operators (torchvision/_C.so) do not load, and
# `import torchvision` then fails registering the fake kernel of `torchvision::nms`
# (`@torch.library.register_fake`: "operator torchvision::nms does not exist"). The model
# definitions need none of those operators, so the import goes through
# benchmarks/torchvision_shim.py, whose wrapper around `torch.library.register_fake`
# ignores that one failure during the import (and only then). Use this fixture, never a
# plain `import torchvision`, in tests. The test extra installs torch and torchvision.
@pytest.fixture(scope="session")
def torchvision():
    from benchmarks.torchvision_shim import import_torchvision

    return import_torchvision()
