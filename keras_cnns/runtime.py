"""Process-wide settings the package applies: the one environment default it sets.

`import keras_cnns` calls `apply_onednn_default()` once, before TensorFlow is imported.
Nothing else in the package changes the environment at import time.
"""

from __future__ import annotations

import os

ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"


def apply_onednn_default() -> bool:
    """Ask TensorFlow for oneDNN's kernels unless the user chose (`TF_ENABLE_ONEDNN_OPTS`).

    oneDNN made training about 2x faster on this project's x86-64 CPUs (LeNet-5 2.09x,
    ResNet-20 2.17x; benchmarks/RESULTS.md). TensorFlow 2.21 turns it on by default on
    Linux x86-64; older versions and other builds may not. It only takes effect when
    TensorFlow is not imported yet. Returns whether the default was applied (False when
    the user had set the variable).
    """
    if ONEDNN_VARIABLE in os.environ:
        return False
    os.environ[ONEDNN_VARIABLE] = "1"
    return True
