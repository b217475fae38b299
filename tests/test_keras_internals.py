"""keras_cnns.keras_internals, the one module that uses private Keras: these tests fail
loudly, with what moved, when a Keras upgrade breaks what it relies on (the attributes
below, the symbolic-call hook of profile's tracer, the data-layer base of augment)."""

import threading

import keras
import numpy as np
import pytest

from keras_cnns.analysis import profile, receptive_field
from keras_cnns.keras_internals import (
    DataLayer,
    graph_state,
    input_layer_names,
    intercept_symbolic_calls,
    restore_graph_state,
    sublayers,
    symbolic_calls_patched,
)

ORIGINAL_LAYER_CALL = keras.layers.Layer.__dict__["symbolic_call"]
ORIGINAL_OPERATION_CALL = keras.Operation.__dict__["symbolic_call"]


def _assert_unpatched():
    assert keras.layers.Layer.__dict__["symbolic_call"] is ORIGINAL_LAYER_CALL
    assert keras.Operation.__dict__["symbolic_call"] is ORIGINAL_OPERATION_CALL
    assert not symbolic_calls_patched()


def _small_model():
    inputs = keras.Input((8, 8, 3), name="pixels")
    x = keras.layers.Conv2D(4, 3, padding="same", name="block1_conv")(inputs)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", name="block1_dw")(x)
    x = keras.layers.SeparableConv2D(6, 3, padding="same", name="block2_sep")(x)
    x = keras.layers.Conv2DTranspose(2, 2, strides=2, name="block2_up")(x)
    x = keras.layers.MaxPooling2D(2, name="block3_pool")(x)
    x = keras.layers.AveragePooling2D(2, name="block3_avg")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    outputs = keras.layers.Dense(5, name="predictions")(x)
    return keras.Model(inputs, outputs, name="small")


def test_the_private_keras_it_relies_on_exists():
    # The hook: Keras routes calls on symbolic tensors through these two functions.
    assert callable(ORIGINAL_LAYER_CALL), "keras.layers.Layer.symbolic_call is gone"
    assert callable(ORIGINAL_OPERATION_CALL), "keras.Operation.symbolic_call is gone"
    # The model structure profile walks and the graph nodes it takes away again.
    model = _small_model()
    layer = model.get_layer("block1_conv")
    assert isinstance(layer._inbound_nodes, list) and isinstance(layer._outbound_nodes, list)
    assert [sub.name for sub in model._flatten_layers(include_self=False, recursive=False)][:2] == [
        "pixels", "block1_conv"
    ]
    assert model.inputs[0]._keras_history.operation.name == "pixels"
    # The data-layer base of keras_cnns.data.augment.
    data_layer = DataLayer()
    assert hasattr(data_layer, "backend") and hasattr(data_layer.backend, "_backend")
    assert callable(getattr(data_layer, "_get_seed_generator", None))
    assert data_layer._convert_input_args is False
    assert data_layer._allow_non_tensor_positional_args is True


def test_a_trace_of_a_small_known_model_gives_its_multiply_adds():
    _assert_unpatched()
    report = profile(_small_model())
    macs = {row.name: row.macs for row in report.layers}
    assert macs == {
        "pixels": 0,
        "block1_conv": 8 * 8 * (3 * 3 * 3 * 4),  # output positions x kernel weights
        "block1_dw": 4 * 4 * (3 * 3 * 4),
        "block2_sep": 4 * 4 * (3 * 3 * 4 + 4 * 6),  # depthwise + pointwise
        "block2_up": 4 * 4 * (2 * 2 * 2 * 6),  # transposed: input positions x kernel
        "block3_pool": 0,
        "block3_avg": 0,
        "flatten": 0,
        "predictions": 2 * 2 * 2 * 5,
    }
    assert report.macs == sum(macs.values())
    # r_out = r_in + (k - 1) * j_in, j_out = j_in * s; the transposed convolution first
    # divides the stride: conv 3 (j 1), depthwise 5 (j 2), separable 9, transposed
    # (j 2 / 2 = 1) 10, max pool 11 (j 2), average pool 13 (j 4).
    assert receptive_field(_small_model()) == (13, 4)
    _assert_unpatched()


@pytest.mark.filterwarnings("ignore:.*unbuilt state:UserWarning")
def test_interception_is_undone_after_errors_and_nested_use():
    seen = []

    def record(op, args, kwargs, original):
        seen.append(op.name)
        return original(op, *args, **kwargs)

    with pytest.raises(RuntimeError, match="boom"):
        with intercept_symbolic_calls(record):
            assert symbolic_calls_patched()
            keras.layers.Dense(2, name="inside")(keras.Input((3,)))
            raise RuntimeError("boom")
    assert seen == ["inside"]
    _assert_unpatched()

    outer, inner = [], []

    def recorder(calls):
        def handler(op, args, kwargs, original):
            calls.append(op.name)
            return original(op, *args, **kwargs)
        return handler

    with intercept_symbolic_calls(recorder(outer)):
        keras.layers.Dense(2, name="first")(keras.Input((3,)))
        with intercept_symbolic_calls(recorder(inner)):
            keras.layers.Dense(2, name="second")(keras.Input((3,)))
        keras.layers.Dense(2, name="third")(keras.Input((3,)))
        assert symbolic_calls_patched()
    assert outer == ["first", "third"] and inner == ["second"]
    _assert_unpatched()

    # A failing trace inside profile leaves nothing patched either.
    class Broken(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            raise ValueError("cannot trace")

    with pytest.raises(ValueError, match="cannot trace"):
        profile(Broken(), input_shape=(4,))
    _assert_unpatched()


def test_concurrent_traces_see_only_their_own_thread():
    started, release = threading.Event(), threading.Event()
    calls = {"traced": [], "other": None}

    def trace():
        def handler(op, args, kwargs, original):
            calls["traced"].append(op.name)
            return original(op, *args, **kwargs)

        with intercept_symbolic_calls(handler):
            keras.layers.Dense(2, name="traced")(keras.Input((3,)))
            started.set()
            release.wait(30)

    thread = threading.Thread(target=trace)
    thread.start()
    try:
        assert started.wait(30)
        assert symbolic_calls_patched()
        # Meanwhile this thread builds a model and profiles one of its own.
        assert keras.layers.Dense(2, name="untraced")(keras.Input((3,))).shape == (None, 2)
        calls["other"] = profile(_small_model()).macs
    finally:
        release.set()
        thread.join(30)
    assert calls["traced"] == ["traced"]
    assert calls["other"] == profile(_small_model()).macs > 0
    _assert_unpatched()


def test_structure_helpers_and_graph_state():
    model = _small_model()
    assert input_layer_names(model) == ["pixels"]
    names = [layer.name for layer in sublayers(model)]
    assert names[0] == "pixels" and names[-1] == "predictions"
    saved = graph_state(model)
    model(keras.Input((8, 8, 3)))  # a call on symbolic tensors adds graph nodes
    assert graph_state(model) != saved
    restore_graph_state(saved)
    assert [(op, i, o) for op, i, o in graph_state(model)] == saved
    assert model.predict(np.zeros((1, 8, 8, 3), "float32"), verbose=0).shape == (1, 5)

