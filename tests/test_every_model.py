"""Checks every registered model goes through: build at its minimum size, save/load in
safe mode and export (SavedModel, TFLite), the same outputs and one training step under
PyTorch, the declared minimum input size, and one training step under JAX."""

import gc
import json
import os
import re
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_cnns
from test_batch_norm import assert_fused_batch_norm
from test_mixed_precision import check_mixed_precision
from check_server import CheckProcess
from conftest import jax_environment, small_input_shape
from keras_cnns.layers.heads import CLASSIFIER

MODELS = keras_cnns.list_models()
HERE = Path(__file__).parent


# The PyTorch backend's classifier inputs and logits may differ from TensorFlow's by this
# fraction of their largest |value|. Both compute in float32 (unit roundoff 6e-8), but
# their convolution kernels (oneDNN, PyTorch's) sum in different orders, and the rounding
# differences add up over the layers: measured over all the models (three runs, each
# with new random weights, and six more weight draws of the deep ResNets), at most 5.1e-6
# (ResNet-152 v2's logits; the deep pre-activation ResNets come highest, LeNet-5 at most
# 9e-8). The test now seeds its weights, but the tolerance stays 4x the largest of those
# draws, so that a change of seed or of initializer does not fail it. A wrong model
# fails it: the first convolution's kernel 0.1 % off moves the logits by 1e-3 of their
# scale in every model but LeNet-5 (5e-5 to 1.1e-4: its scaled tanh and Euclidean RBF
# absorb part of it), which torch_backend_check.py measures for each model.
TORCH_TOLERANCE = 2e-5


def vary_unit_weights(model, rng) -> None:
    """Give the weights that start at one (batch-norm gamma and moving variance, LeNet-5's
    subsampling coefficients) random values in [0.9, 1.1], so that batch normalization in
    inference mode is not the identity: a backend that ignored the moving statistics or
    gamma would not give TensorFlow's outputs, and the exports fold non-trivial
    statistics. The weights that start at zero (biases, beta, moving mean) stay there:
    random offsets would bury the signal of the input in the plain networks, whose
    activations shrink layer after layer at Glorot initialization (VGG-19's logits are
    about 1e-4 of its input), and the comparison would no longer see an error in the
    first layers (see torch_backend_check.py's perturbation)."""
    weights = model.get_weights()
    for i, w in enumerate(weights):
        if w.dtype == np.float32 and w.size and np.all(w == 1):
            weights[i] = rng.uniform(0.9, 1.1, size=w.shape).astype("float32")
    model.set_weights(weights)


def outputs_and_tf_side_for_torch(model, x, folder: Path) -> np.ndarray:
    """The model's outputs for `x` in inference mode; also writes `{name}.npz` in `folder`
    for tests/torch_backend_check.py: `x`, the classifier's input (`features`) and the
    `logits` (the classifier before its softmax). One eager call computes both, through a
    view of the same graph with a second output (no more than `model(x)` costs)."""
    classifier = model.get_layer(CLASSIFIER)
    view = keras.Model(model.input, [model.outputs[0], classifier.input])
    outputs, features = (keras.ops.convert_to_numpy(t) for t in view(x, training=False))
    if isinstance(classifier, keras.layers.Dense):
        kernel, bias = (keras.ops.convert_to_numpy(w).astype("float64") for w in classifier.weights)
        logits = features.astype("float64") @ kernel + bias
    else:  # LeNet-5's `predictions` is only the activation of its RBF layer's outputs
        logits = features
    np.savez(folder / f"{model.name}.npz", x=x, features=features, logits=logits)
    return outputs


@pytest.fixture(scope="session")
def torch_backend():
    """tests/torch_backend_check.py --serve with KERAS_BACKEND=torch, for this test worker."""
    backend = CheckProcess(HERE / "torch_backend_check.py", dict(os.environ, KERAS_BACKEND="torch"))
    backend.start()  # its imports run while the first model is built
    yield backend
    backend.stop()


@pytest.fixture(scope="session")
def jax_backend():
    """tests/jax_backend_check.py --serve with KERAS_BACKEND=jax, for this test worker."""
    backend = CheckProcess(HERE / "jax_backend_check.py", jax_environment())
    yield backend
    backend.stop()


def check_torch_report(name: str, report: dict) -> None:
    print(json.dumps(report))  # differences, seconds and memory (shown with -s or -rP)
    assert report["name"] == name
    assert "error" not in report, report.get("error")
    assert report["backend"] == "torch"
    for output in ("features", "logits"):
        difference, scale = report[output]["difference"], report[output]["scale"]
        assert scale > 0, (name, output)
        assert difference <= TORCH_TOLERANCE * scale, (name, output, difference, scale)
    # The tolerance tells a wrong model: the first convolution's kernel 0.1 % off fails it.
    perturbed = report["perturbed"]["logits_difference"]
    assert perturbed > TORCH_TOLERANCE * report["logits"]["scale"], (name, report["perturbed"])
    assert np.isfinite(report["loss"]), name
    assert report["changed"], f"{name}: a training step under PyTorch left the weights unchanged"


@pytest.mark.parametrize("name", MODELS)
def test_saves_loads_and_exports(name, tmp_path, rng, torch_backend):
    """Every model (LRN, the C3 table, inception concatenations, dense blocks, stochastic
    depth...) round-trips through a `.keras` file in safe mode, exports to a TF Serving
    SavedModel and converts to TFLite with built-in operators only (no Flex ops); all
    three give the Keras model's outputs. The file, loaded as mixed_bfloat16, then
    trains a step in bfloat16 and one in float16 with loss scaling, float32 weights and
    outputs in both (`test_mixed_precision.check_mixed_precision`). One build per model
    (and the load) serves these checks
    (building the deepest models is a large part of their cost), and the TFLite file is
    converted from the SavedModel just written, so each model is traced and saved once.

    The same build serves the PyTorch backend's check (tests/torch_backend_check.py,
    handed to the test worker's PyTorch process as soon as the `.keras` file is written,
    and run beside the exports): built under PyTorch with `classifier_activation=None`
    and given this model's weights (the `.keras` file's), it gives the classifier inputs
    and the logits that TensorFlow gives, within TORCH_TOLERANCE of their largest |value|,
    and takes a training step. Logits, not probabilities: with 7 classes and random
    weights the softmax outputs are all near 1/7, and would hide an error."""
    shape = small_input_shape(name)
    # Seeded: the same weights in every run. With unseeded draws, ResNet-152's PyTorch
    # training step once gave a NaN loss (its inference-mode logits reached 2.4e6).
    keras.utils.set_random_seed(0)
    model = keras_cnns.get_model(name, num_classes=7, input_shape=shape)
    x = rng.uniform(0, 1, size=(2, *shape)).astype("float32")
    vary_unit_weights(model, rng)
    # Called eagerly, not through predict(): tracing the deepest models takes minutes,
    # and the export below traces each model once anyway.
    expected = outputs_and_tf_side_for_torch(model, x, tmp_path)

    path = tmp_path / f"{name}.keras"
    model.save(path)
    torch_backend.submit(name, tmp_path)  # it runs beside the exports
    try:
        check_exports(model, name, path, x, expected, tmp_path)
        report = torch_backend.report()
    except BaseException:
        torch_backend.stop()  # its report would be read by the next model's test
        raise
    check_torch_report(name, report)


def check_exports(model, name: str, path: Path, x, expected, tmp_path: Path) -> None:
    """test_saves_loads_and_exports' checks of the `.keras` file at `path` (loaded in
    safe mode, in float32 and both mixed precisions: `check_mixed_precision`), the
    SavedModel and the TFLite file."""
    from keras_cnns import export

    shape = small_input_shape(name)
    x4 = np.concatenate([x, np.random.default_rng(1).uniform(0, 1, x.shape).astype("float32")])
    check_mixed_precision(model, path, x, x4, expected)

    version_dir = export.saved_model(model, tmp_path / name)
    served = tf.saved_model.load(str(version_dir)).signatures["serve_preprocessed"]
    np.testing.assert_allclose(served(inputs=tf.constant(x))["probabilities"].numpy(), expected, rtol=0, atol=1e-5)
    del served  # the loaded SavedModel, before the converter loads it once more
    gc.collect()
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
    """The builder's defaults give the registered input shape and name. The weights are
    left uninitialized (Keras defers them in a stateless scope): only the structure is
    checked, and initializing them took about a third of the builds' time."""
    spec = keras_cnns.get_spec(name)
    with keras.StatelessScope():
        model = spec.builder(include_top=False)
    assert model.input_shape[1:] == spec.default_input_shape
    assert model.name == name


@pytest.mark.parametrize("name", MODELS)
def test_every_model_trains_one_step_under_jax(name, jax_backend):
    """tests/jax_backend_check.py builds the model under JAX and takes one SGD step,
    compiled with XLA, in the test worker's JAX process (which leaves after the models
    whose compile left it holding much memory, the deep DenseNets, so that none holds the
    memory of the others)."""
    report = jax_backend.check(name)
    print(json.dumps(report))  # seconds and memory (shown with -s or -rP)
    assert "error" not in report, report.get("error")
    assert report["backend"] == "jax"
    assert report["name"] == name
    assert np.isfinite(report["loss"]), name
    assert report["changed"], f"{name}: a training step left the weights unchanged"
