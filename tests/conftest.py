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


@pytest.fixture
def rng():
    return np.random.default_rng(0)
