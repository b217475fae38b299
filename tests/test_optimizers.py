"""keras_cnns.optimizers.SGD: Keras' SGD with one fused momentum kernel on TensorFlow.

The fused update must give Keras' results exactly (up to float rounding) in every case
the recipes use: momentum, Nesterov, a learning-rate schedule, gradient clipping, and
per replica under MirroredStrategy; and it must round-trip through a saved model.
"""

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from keras_cnns import optimizers
from keras_cnns.schedules import RecipeSchedule


def _small_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    return keras.Model(inputs, outputs)


def _train(optimizer, steps=4):
    model = _small_model()
    model.compile(optimizer, "sparse_categorical_crossentropy")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(16, 8, 8, 2)).astype("float32")
    y = rng.integers(0, 3, size=16)
    for _ in range(steps):
        model.train_on_batch(x, y)
    return model


@pytest.mark.parametrize(
    "options",
    [
        dict(learning_rate=0.1, momentum=0.9),
        dict(learning_rate=0.05, momentum=0.9, nesterov=True),
        dict(learning_rate=RecipeSchedule(0.1, boundaries=[2], multipliers=[1.0, 0.1]),
             momentum=0.9, clipnorm=0.5),
        dict(learning_rate=0.1, momentum=0.0),
    ],
    ids=["momentum", "nesterov", "schedule-clipnorm", "no-momentum"],
)
def test_same_weights_and_momenta_as_keras_sgd(options):
    theirs = _train(keras.optimizers.SGD(**options))
    ours = _train(optimizers.SGD(**options))
    moved = False
    for a, b, start in zip(ours.get_weights(), theirs.get_weights(), _small_model().get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        moved |= not np.allclose(a, start)
    assert moved, "training did not change the weights: the comparison would prove nothing"
    for a, b in zip(ours.optimizer.variables, theirs.optimizer.variables):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_is_a_keras_sgd_with_the_same_config_and_survives_a_saved_model(tmp_path):
    optimizer = optimizers.SGD(0.1, momentum=0.9, nesterov=True)
    assert isinstance(optimizer, keras.optimizers.SGD)
    reference = keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True).get_config()
    assert {k: v for k, v in optimizer.get_config().items() if k != "name"} == {
        k: v for k, v in reference.items() if k != "name"
    }
    model = _train(optimizer, steps=2)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is optimizers.SGD
    assert loaded.optimizer.nesterov and loaded.optimizer.momentum == 0.9
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


MIRRORED = textwrap.dedent(
    """
    import os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np
    from keras_cnns import optimizers

    def run(make_optimizer, strategy):
        with strategy.scope():
            keras.utils.set_random_seed(0)
            model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="relu"),
                                      keras.layers.Dense(3)])
            model.compile(make_optimizer(), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        rng = np.random.default_rng(2)
        x = rng.normal(size=(32, 6)).astype("float32")
        y = rng.integers(0, 3, size=32)
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        return model.get_weights()

    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    ours = run(lambda: optimizers.SGD(0.1, momentum=0.9), mirrored)
    theirs = run(lambda: keras.optimizers.SGD(0.1, momentum=0.9), mirrored)
    single = run(lambda: optimizers.SGD(0.1, momentum=0.9), tf.distribute.get_strategy())
    print("max_diff_keras", max(float(np.abs(a - b).max()) for a, b in zip(ours, theirs)))
    print("max_diff_single", max(float(np.abs(a - b).max()) for a, b in zip(ours, single)))
    """
)


def test_fused_update_under_mirrored_strategy_matches_keras_and_one_replica():
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = dict(line.split() for line in result.stdout.splitlines() if line.startswith("max_"))
    assert float(figures["max_diff_keras"]) < 1e-6
    assert float(figures["max_diff_single"]) < 1e-5
