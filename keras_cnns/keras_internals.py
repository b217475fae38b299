"""Every use of private Keras code in keras_cnns, in one module.

Keras has no public API for the few things below; they are wrapped here so that the rest
of the package uses public Keras only, and so that a Keras upgrade that changes them breaks
one module, whose test (tests/test_keras_internals.py) says what moved:

* `DataLayer` — the base of Keras' own augmentation layers: runs inside a model on any
  backend and inside a `tf.data` pipeline whatever the backend (it switches its
  `self.backend` ops to TensorFlow in a `tf.data` graph). The augmentation layers of
  `keras_cnns.data.augment` build on it.
* `intercept_symbolic_calls(handler)` — sees every layer and operation called on symbolic
  tensors (Keras routes those calls through `Layer.symbolic_call` and
  `Operation.symbolic_call`), the hook of `keras_cnns.analysis.profile`'s tracer.
* `sublayers`, `input_layer_names`, `graph_state` / `restore_graph_state` — the structure
  of a model the tracer walks, and the graph nodes a trace adds and takes away again.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterator

import keras

try:  # Keras >= 3.11
    from keras.src.layers.preprocessing.data_layer import DataLayer as _KerasDataLayer
except ImportError:  # pragma: no cover - older Keras 3
    from keras.src.layers.preprocessing.tf_data_layer import TFDataLayer as _KerasDataLayer

__all__ = [
    "DataLayer",
    "graph_state",
    "input_layer_names",
    "intercept_symbolic_calls",
    "restore_graph_state",
    "sublayers",
]


# ------------------------------------------------------------------- data layers
class DataLayer(_KerasDataLayer):
    """Keras' data-layer base (see the module docstring) for image layers that cast their
    input themselves and draw random numbers.

    Subclasses write `call` with `self.backend` ops (`self.backend.numpy`,
    `self.backend.random`, `self.backend.image`, ...), set `self.seed` and
    `self.generator` (a `keras.random.SeedGenerator`) in `__init__`, and pass
    `self.seed_generator()` as the `seed` of their random draws.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # `call` casts the input itself (to the compute dtype, with the backend that runs
        # the layer); Layer.__call__ must not convert it first with the global backend.
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True

    def seed_generator(self):
        """The seed generator of the backend running this call (TensorFlow in a
        `tf.data` pipeline, else Keras' backend)."""
        return self._get_seed_generator(self.backend._backend)


# ------------------------------------------------------- symbolic-call interception
#: handler(op, args, kwargs, original) -> outputs; `original(op, *args, **kwargs)` is
#: Keras' own symbolic call (shape inference, and a graph node for operations).
Handler = Callable[[Any, tuple, dict, Callable], Any]

_LOCK = threading.Lock()
_LOCAL = threading.local()  # .handlers: this thread's active handlers, innermost last
_PATCH = {"count": 0}  # active interceptions in all threads
_ORIGINALS: dict[str, Callable] = {}  # Keras' own functions, kept while patched


def _targets() -> dict[str, type]:
    return {"layer": keras.layers.Layer, "operation": keras.Operation}


def _original(kind: str) -> Callable:
    function = _targets()[kind].__dict__.get("symbolic_call")
    if not callable(function):
        raise RuntimeError(
            f"keras {keras.__version__}: {_targets()[kind].__qualname__}.symbolic_call is gone; "
            "keras_cnns.keras_internals.intercept_symbolic_calls (profile's tracer) must be "
            "adapted to this Keras version."
        )
    return function


def _dispatch(kind: str, op, args, kwargs):
    original = _ORIGINALS[kind]
    handlers = getattr(_LOCAL, "handlers", None)
    if not handlers:  # another thread's trace: this call is not traced
        return original(op, *args, **kwargs)
    return handlers[-1](op, args, kwargs, original)


def _layer_symbolic_call(self, *args, **kwargs):
    return _dispatch("layer", self, args, kwargs)


def _operation_symbolic_call(self, *args, **kwargs):
    return _dispatch("operation", self, args, kwargs)


_REPLACEMENTS = {"layer": _layer_symbolic_call, "operation": _operation_symbolic_call}


@contextlib.contextmanager
def intercept_symbolic_calls(handler: Handler) -> Iterator[None]:
    """Route every layer and operation call on symbolic tensors in this thread to
    `handler(op, args, kwargs, original)` while the context is open.

    `Layer.symbolic_call` and `Operation.symbolic_call` are replaced only while at least
    one interception is open (in any thread) and put back when the last one closes, also
    when the traced code raises. Nested interceptions in one thread go to the innermost
    handler; calls in other threads go to Keras' own functions.
    """
    with _LOCK:
        if _PATCH["count"] == 0:
            originals = {kind: _original(kind) for kind in _REPLACEMENTS}
            _ORIGINALS.update(originals)
            for kind, replacement in _REPLACEMENTS.items():
                setattr(_targets()[kind], "symbolic_call", replacement)
        _PATCH["count"] += 1
    handlers = _LOCAL.__dict__.setdefault("handlers", [])
    handlers.append(handler)
    try:
        yield
    finally:
        # This handler's entry (the innermost one unless a generator closed out of order).
        index = max(i for i, h in enumerate(handlers) if h is handler)
        del handlers[index]
        with _LOCK:
            _PATCH["count"] -= 1
            if _PATCH["count"] == 0:
                for kind in _REPLACEMENTS:
                    setattr(_targets()[kind], "symbolic_call", _ORIGINALS[kind])


def symbolic_calls_patched() -> bool:
    """Whether an interception is open (`Layer.symbolic_call` is replaced)."""
    return keras.layers.Layer.__dict__.get("symbolic_call") is _layer_symbolic_call


# ------------------------------------------------------------- model structure
def sublayers(layer: keras.layers.Layer, recursive: bool = False) -> list:
    """The layers a layer holds (a model's layers, a block's convolutions), without itself;
    with `recursive`, their sublayers too."""
    return list(layer._flatten_layers(include_self=False, recursive=recursive))


def input_layer_names(model: keras.Model) -> list[str]:
    """The names of a functional or Sequential model's input layers, in input order."""
    return [tensor._keras_history.operation.name for tensor in model.inputs]


def graph_state(model: keras.Model) -> list:
    """How many graph nodes each operation of `model` (nested ones included) has: calling
    layers on symbolic tensors adds nodes, which `restore_graph_state` removes again."""
    operations = {id(model): model}
    stack = [model]
    while stack:
        op = stack.pop()
        children = list(getattr(op, "operations", []) or [])
        if isinstance(op, keras.layers.Layer):
            children += sublayers(op)
        for child in children:
            if id(child) not in operations:
                operations[id(child)] = child
                stack.append(child)
    return [(op, len(op._inbound_nodes), len(op._outbound_nodes)) for op in operations.values()]


def restore_graph_state(saved: list) -> None:
    """Drop the graph nodes added since `graph_state` was taken."""
    for op, inbound, outbound in saved:
        del op._inbound_nodes[inbound:]
        del op._outbound_nodes[outbound:]
