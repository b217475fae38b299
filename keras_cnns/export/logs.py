"""TensorFlow's Python log lines during an export.

Saving a SavedModel logs `INFO:tensorflow:Assets written to: ...` (twice per save) through
TensorFlow's Python logger (`logging.getLogger("tensorflow")`, absl's when absl logging is
set up), which shows wherever that logger lets INFO through (absl apps, notebooks that
configured logging). The export functions hold those lines back unless the caller asks for
`verbose=True`; warnings and errors always pass.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Iterator

_LOGGER = "tensorflow"
_LOCK = threading.Lock()
_STATE = {"count": 0, "level": logging.NOTSET}


@contextlib.contextmanager
def tensorflow_logging(verbose: bool = False) -> Iterator[None]:
    """Inside the context, TensorFlow's Python logger passes warnings and errors only,
    unless `verbose`. Its level is put back when the last such context closes (contexts
    may nest or overlap across threads)."""
    if verbose:
        yield
        return
    logger = logging.getLogger(_LOGGER)
    with _LOCK:
        if _STATE["count"] == 0:
            _STATE["level"] = logger.level
            if logger.getEffectiveLevel() < logging.WARNING:
                logger.setLevel(logging.WARNING)
        _STATE["count"] += 1
    try:
        yield
    finally:
        with _LOCK:
            _STATE["count"] -= 1
            if _STATE["count"] == 0:
                logger.setLevel(_STATE["level"])
