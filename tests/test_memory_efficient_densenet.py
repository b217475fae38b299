"""The memory-efficient DenseNet (Pleiss et al. 2017) computes what the plain one does:
same parameters, outputs, gradients and batch-norm statistics; it survives saving and runs
under JAX. (Its memory and time are measured by `python -m benchmarks.memory`.)"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_cnns
from keras_cnns.layers import DenseBlock
from keras_cnns.models.densenet import densenet_cifar
from conftest import jax_environment

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def twins():
    keras.utils.set_random_seed(1)
    plain = keras_cnns.densenet_bc100(num_classes=10, input_shape=(8, 8, 3))
    efficient = keras_cnns.densenet_bc100(num_classes=10, input_shape=(8, 8, 3), memory_efficient=True)
    efficient.set_weights(plain.get_weights())
    return plain, efficient


@pytest.fixture
def batch(rng):
    x = rng.uniform(0, 1, size=(4, 8, 8, 3)).astype("float32")
    y = np.array([0, 3, 7, 9])
    return x, y


def test_same_parameters(twins):
    plain, efficient = twins
    assert efficient.count_params() == plain.count_params()
    assert [w.shape for w in efficient.weights] == [w.shape for w in plain.weights]
    blocks = [layer for layer in efficient.layers if isinstance(layer, DenseBlock)]
    assert [b.name for b in blocks] == ["conv2", "conv3", "conv4"]
    assert all(b.memory_efficient and b.num_layers == 16 for b in blocks)
    assert not any(isinstance(layer, DenseBlock) for layer in plain.layers)


@pytest.mark.parametrize("training", [False, True])
def test_same_outputs(twins, batch, training):
    plain, efficient = twins
    x, _ = batch
    np.testing.assert_allclose(
        efficient(x, training=training), plain(x, training=training), rtol=0, atol=1e-5
    )


def test_same_gradients(twins, batch):
    plain, efficient = twins
    x, y = batch
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    def gradients(model):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        return loss, tape.gradient(loss, model.trainable_weights)

    loss_plain, grads_plain = gradients(plain)
    loss_efficient, grads_efficient = gradients(efficient)
    assert abs(float(loss_plain) - float(loss_efficient)) <= 1e-5
    assert len(grads_plain) == len(grads_efficient) == len(plain.trainable_weights)
    for g_plain, g_efficient in zip(grads_plain, grads_efficient):
        assert g_efficient is not None
        np.testing.assert_allclose(g_efficient, g_plain, rtol=0, atol=1e-5)
    assert max(float(tf.reduce_max(tf.abs(g))) for g in grads_plain) > 1e-3  # not all ~0


def test_one_training_step_updates_everything_alike(batch):
    # A compiled step (tf.function) with momentum SGD; batch-norm moving statistics must be
    # updated once per step, not again when the backward pass recomputes the forward.
    x, y = batch
    keras.utils.set_random_seed(2)
    plain = densenet_cifar(10, 6, bottleneck=True, compression=0.5, num_classes=10, input_shape=(8, 8, 3))
    efficient = densenet_cifar(
        10, 6, bottleneck=True, compression=0.5, num_classes=10, input_shape=(8, 8, 3), memory_efficient=True
    )
    efficient.set_weights(plain.get_weights())
    for model in (plain, efficient):
        model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy")
        for _ in range(2):
            model.train_on_batch(x, y)
    for w_plain, w_efficient in zip(plain.weights, efficient.weights):
        np.testing.assert_allclose(w_efficient, w_plain, rtol=0, atol=1e-5, err_msg=w_plain.path)
    moved = plain.get_layer("conv2_block1_0_bn").moving_mean
    assert np.abs(np.asarray(moved)).max() > 0  # the statistics did move


def test_memory_efficient_survives_safe_mode_saving(tmp_path, batch):
    model = densenet_cifar(10, 4, bottleneck=True, compression=0.5, memory_efficient=True, num_classes=3)
    x, _ = batch
    x = np.pad(x, ((0, 0), (12, 12), (12, 12), (0, 0)))
    path = tmp_path / "efficient.keras"
    model.save(path)
    restored = keras.saving.load_model(path, safe_mode=True)
    assert restored.get_layer("conv2").memory_efficient
    np.testing.assert_allclose(np.asarray(restored(x, training=False)), np.asarray(model(x, training=False)), atol=1e-6)


JAX_SCRIPT = textwrap.dedent(
    """
    import json
    import keras
    import numpy as np
    import keras_cnns
    from keras_cnns.models.densenet import densenet_cifar
    from keras_cnns.models.resnet import resnet_cifar

    rng = np.random.default_rng(0)
    x = rng.uniform(size=(4, 8, 8, 3)).astype("float32")
    y = np.array([0, 1, 2, 1])
    report = {"backend": keras.backend.backend()}
    models = []
    for efficient in (False, True):
        keras.utils.set_random_seed(0)
        models.append(densenet_cifar(
            10, 6, bottleneck=True, compression=0.5, num_classes=3, input_shape=(8, 8, 3),
            memory_efficient=efficient, dropout=0.0))
    models[1].set_weights(models[0].get_weights())
    for model in models:
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        model.train_on_batch(x, y)
    report["densenet_max_weight_diff"] = max(
        float(np.abs(np.asarray(a) - np.asarray(b)).max())
        for a, b in zip(models[0].weights, models[1].weights))

    resnet = resnet_cifar(8, num_classes=3, input_shape=(8, 8, 3), stochastic_depth=0.5)
    resnet.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    report["resnet_loss"] = float(np.asarray(resnet.train_on_batch(x, y)).ravel()[0])
    outs = [np.asarray(resnet(x, training=True)) for _ in range(6)]
    report["resnet_training_varies"] = any(np.abs(outs[0] - o).max() > 1e-6 for o in outs[1:])
    a, b = (np.asarray(resnet(x, training=False)) for _ in range(2))
    report["resnet_inference_deterministic"] = bool(np.array_equal(a, b))
    print(json.dumps(report))
    """
)


def test_memory_efficient_densenet_and_stochastic_depth_under_jax():
    env = jax_environment()
    result = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["backend"] == "jax"
    assert report["densenet_max_weight_diff"] <= 1e-5
    assert np.isfinite(report["resnet_loss"])
    assert report["resnet_training_varies"] and report["resnet_inference_deterministic"]


def operation_counts(model, x, y) -> dict[str, int]:
    """How many of each TensorFlow operation a traced training step (loss and gradients)
    of `model` holds, nested functions included."""
    loss_fn = keras.losses.SparseCategoricalCrossentropy()

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        return tape.gradient(loss, model.trainable_weights)

    graph = step.get_concrete_function(tf.constant(x), tf.constant(y)).graph.as_graph_def()
    nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.op] = counts.get(node.op, 0) + 1
    return counts


# The same two networks (same seed, same batch) in a process of its own that keeps
# TensorFlow's allocator statistics: the test workers use the system allocator, which
# keeps none (conftest.py).
MEASURED_STEPS = 5
STEP_MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, statistics, sys
    import keras, numpy as np, tensorflow as tf
    from benchmarks.memory import step_memory
    from keras_cnns.models.densenet import densenet_cifar
    bottleneck, depth, steps = sys.argv[1] == "True", int(sys.argv[2]), int(sys.argv[3])
    rng = np.random.default_rng(0)
    x = tf.constant(rng.uniform(0, 1, size=(8, 32, 32, 3)).astype("float32"))
    y = tf.constant(np.arange(8) % 10)
    peaks = []
    for efficient in (False, True):
        keras.utils.set_random_seed(3)
        model = densenet_cifar(
            depth, 12, bottleneck=bottleneck, compression=0.5 if bottleneck else 1.0,
            num_classes=10, input_shape=(32, 32, 3), memory_efficient=efficient)
        step = step_memory(model, x, y, steps=steps, warmup=1)
        peaks.append(statistics.median(step["step_peaks_mb"]))
    print(json.dumps(peaks))
    """
)


def peak_step_memory_mb(bottleneck: bool, depth: int) -> list[float]:
    """TensorFlow's allocator peak during a compiled training step above what was in use
    before it (`benchmarks.memory.step_memory`), plain and memory-efficient: the median
    over MEASURED_STEPS steps (the plain step's peak repeats to 0.1 MB; the efficient
    one's varies with the executor's order of the recomputations, 17-24 MB for the
    DenseNet-22's 18.8 MB median)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ONEDNN_USE_SYSTEM_ALLOCATOR"}
    result = subprocess.run(
        [sys.executable, "-c", STEP_MEMORY_SCRIPT, str(bottleneck), str(depth), str(MEASURED_STEPS)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


# (bottleneck, depth, least peak step memory ratio plain /
# memory-efficient at batch 8 of 32x32, medians over steps; measured 73.2 / 42.2 MB and
# 55.1 / 18.8 MB, within 3 % from run to run, also with both cores otherwise busy; with
# the recomputation merged back into the forward pass by TensorFlow's graph optimizer,
# 72.5 / 73.2 MB and 54.5 / 55.1 MB). The ratio grows with the block's depth
# (`python -m benchmarks.memory`).
SMALL_DENSENETS = [(True, 40, 1.5), (False, 22, 2.5)]


@pytest.mark.parametrize("bottleneck, depth, memory_ratio", SMALL_DENSENETS)
def test_backward_pass_recomputes_the_first_half_of_each_dense_layer(bottleneck, depth, memory_ratio):
    """A traced training step holds one more concatenation-BN-ReLU-convolution per dense
    layer than the plain network's (the recomputation), and that recomputation really
    replaces stored activations: the peak memory of a compiled step is measured. (Were
    TensorFlow's graph optimizer to merge the recomputation with the forward pass, the
    step would hold the plain network's memory.)"""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(8, 32, 32, 3)).astype("float32")
    y = np.arange(8) % 10
    models = []
    for efficient in (False, True):
        keras.utils.set_random_seed(3)
        models.append(densenet_cifar(
            depth, 12, bottleneck=bottleneck, compression=0.5 if bottleneck else 1.0,
            num_classes=10, input_shape=(32, 32, 3), memory_efficient=efficient))
    plain_ops, efficient_ops = (operation_counts(model, x, y) for model in models)
    dense_layers = sum(layer.num_layers for layer in models[1].layers if isinstance(layer, DenseBlock))
    assert dense_layers == 18  # three blocks of (depth - 4) / 6 or / 3 layers
    for op in ("Conv2D", "FusedBatchNormV3"):
        assert efficient_ops[op] == plain_ops[op] + dense_layers, op
    for op in ("Conv2DBackpropInput", "Conv2DBackpropFilter", "FusedBatchNormGradV3"):
        assert efficient_ops[op] == plain_ops[op], op

    plain_mb, efficient_mb = peak_step_memory_mb(bottleneck, depth)
    assert efficient_mb > 0 and plain_mb >= memory_ratio * efficient_mb, (plain_mb, efficient_mb)
