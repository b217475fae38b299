"""Checks every registered model goes through: build at its minimum size, save/load in
safe mode and export (SavedModel, TFLite), the declared minimum input size, and one
training step under JAX."""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_cnns
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


@pytest.mark.parametrize("name", MODELS)
def test_declared_minimum_input_size_is_exact(name):
    height, width, channels = small_input_shape(name)
    model = keras_cnns.get_model(name, include_top=False, input_shape=(height, width, channels))
    assert all(d >= 1 for d in model.output_shape[1:3])
    with pytest.raises(ValueError, match=rf"at least {height}x{height}"):
        keras_cnns.get_model(name, input_shape=(height - 1, width, channels))


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
