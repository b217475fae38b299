"""Shared test set-up: quiet TensorFlow, CPU only, small inputs."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from keras_cnns.models import get_spec  # noqa: E402


def small_input_shape(name: str) -> tuple[int, int, int]:
    """The smallest input a registered model accepts with its default options."""
    spec = get_spec(name)
    size = spec.min_input_size
    return (size, size, spec.default_input_shape[-1])


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
    _return_freed_heap_to_the_system()


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
