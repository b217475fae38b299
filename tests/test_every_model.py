"""Checks every registered model goes through: build at its minimum size, save/load in
safe mode and export (SavedModel, TFLite), the declared minimum input size, and one
training step under JAX."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_cnns
from test_batch_norm import assert_fused_batch_norm
from conftest import small_input_shape

MODELS = keras_cnns.list_models()


@pytest.mark.parametrize("name", MODELS)
def test_saves_loads_and_exports(name, tmp_path, rng):
    """Every model (LRN, the C3 table, inception concatenations, dense blocks, stochastic
    depth...) round-trips through a `.keras` file in safe mode, exports to a TF Serving
    SavedModel and converts to TFLite with built-in operators only (no Flex ops); all
    three give the Keras model's outputs. One build per model serves the three checks
    (building the deepest models is a large part of their cost), and the TFLite file is
    converted from the SavedModel just written, so each model is traced and saved once."""
    from keras_cnns import export

    shape = small_input_shape(name)
    model = keras_cnns.get_model(name, num_classes=7, input_shape=shape)
    x = rng.uniform(0, 1, size=(2, *shape)).astype("float32")
    # Called eagerly, not through predict(): tracing the deepest models takes minutes,
    # and the export below traces each model once anyway.
    expected = keras.ops.convert_to_numpy(model(x, training=False))

    path = tmp_path / f"{name}.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert [layer.name for layer in restored.layers] == [layer.name for layer in model.layers]
    assert restored.count_params() == model.count_params()
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored(x, training=False)), expected, rtol=0, atol=1e-6
    )
    del restored

    version_dir = export.saved_model(model, tmp_path / name)
    served = tf.saved_model.load(str(version_dir)).signatures["serve_preprocessed"]
    np.testing.assert_allclose(served(inputs=tf.constant(x))["probabilities"].numpy(), expected, rtol=0, atol=1e-5)
    runner = export.LiteRTModel(export.tflite(version_dir, tmp_path / f"{name}.tflite"))
    assert runner.input_shape == shape
    np.testing.assert_allclose(runner.predict(x), expected, rtol=0, atol=1e-4)


# The networks whose every convolution and pooling is "same"-padded: no input is too small
# for them (each layer's map is ceil(input / its stride) >= 1). Their declared minimum is,
# as keras.applications', their total stride: the largest input whose last map is 1x1.
SAME_PADDED = {"googlenet", "inception_v2", *keras_cnns.list_models("resnet")}


@pytest.mark.parametrize("name", MODELS)
def test_declared_minimum_input_size_is_exact(name):
    """Measured on the network itself, not on the builder's check: the model is built
    once with an undefined height and width (so that no size check applies) and without
    its top, run on a zero batch at the declared minimum, and traced symbolically (shapes
    only) one pixel below it, where a "valid"-padded window no longer fits: a shape
    error or an empty map. (The builder's refusal of that size is in
    test_builder_errors.py.)"""
    height, width, channels = small_input_shape(name)
    assert height == width == keras_cnns.get_spec(name).min_input_size
    model = keras_cnns.get_model(name, include_top=False, input_shape=(None, None, channels))
    assert_fused_batch_norm(model, name, {})  # README: fused batch norm in every BN model
    output = model(np.zeros((1, height, width, channels), "float32"), training=False)
    assert output.shape[1] >= 1 and output.shape[2] >= 1, output.shape

    def last_map(h, w):
        return tuple(model(keras.Input((h, w, channels))).shape[1:3])

    if name in SAME_PADDED:
        assert tuple(output.shape[1:3]) == (1, 1)
        assert last_map(height + 1, width) == (2, 1)  # the total stride is `height`
        assert last_map(height - 1, width) == (1, 1)  # and smaller inputs still run
        return
    try:
        below = last_map(height - 1, width)
    except ValueError as err:
        assert re.search(r"zero or negative|too small for its window", str(err)), err
    else:
        assert below[0] == 0, below


@pytest.mark.parametrize("name", MODELS)
def test_default_input_shape_builds(name):
    spec = keras_cnns.get_spec(name)
    model = spec.builder(include_top=False)
    assert model.input_shape[1:] == spec.default_input_shape
    assert model.name == name


@pytest.mark.parametrize("name", MODELS)
def test_every_model_trains_one_step_under_jax(name):
    """Runs tests/jax_backend_check.py in a fresh process with KERAS_BACKEND=jax, one
    model per process so that the deep DenseNets spread over the test workers and none
    holds the memory of the others."""
    script = Path(__file__).with_name("jax_backend_check.py")
    # A one-step check: XLA's LLVM optimizations would cost more compile time than they save.
    xla_flags = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu", XLA_FLAGS=xla_flags)
    result = subprocess.run(
        [sys.executable, str(script), name], env=env, capture_output=True, text=True, timeout=2400
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"
    assert list(report["models"]) == [name]
    outcome = report["models"][name]
    assert np.isfinite(outcome["loss"]), name
    assert outcome["changed"], f"{name}: a training step left the weights unchanged"
