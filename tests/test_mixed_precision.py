"""Mixed precision (`keras_cnns.precision`): every model under both mixed policies, the
loss-scaled fused SGD, `train(precision=...)` and `--precision`, and float32 exports."""

import json
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_cnns
from conftest import small_input_shape
from keras_cnns import export
from keras_cnns.precision import (
    PRECISIONS,
    load_model,
    model_precision,
    precision_policy,
    set_precision,
    with_precision,
)

COMPUTE = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}


def assert_mixed(model: keras.Model, precision: str) -> None:
    """Float32 variables and outputs; the other layers compute in `precision`."""
    assert model_precision(model) == precision
    assert {v.dtype for v in model.weights} == {"float32"}
    outputs = keras.tree.flatten(model.outputs)
    assert outputs and all(t.dtype == "float32" for t in outputs), [t.dtype for t in outputs]
    computing = {layer.compute_dtype for layer in model.layers if layer.weights}
    assert COMPUTE[precision] in computing


def train_one_step(model: keras.Model, optimizer, x, y, attempts: int = 1, changed_share: float = 0.5) -> float:
    """One eager step (cheaper than tracing a train function for one call); returns the
    loss after asserting that the optimizer applied the update to the weights. With a
    `LossScaleOptimizer`, up to `attempts` tries: a try whose scaled gradients are not
    finite must leave the weights as they were and halve the scale, as loss scaling does."""
    before = [np.array(v) for v in model.trainable_variables]
    for _ in range(attempts):
        with tf.GradientTape() as tape:
            outputs = keras.tree.flatten(model(x, training=True))
            loss = sum(tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, o)) for o in outputs)
            scaled = optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, model.trainable_variables)
        scale = float(getattr(optimizer, "dynamic_scale", 1.0))
        optimizer.apply(gradients, model.trainable_variables)
        if int(optimizer.iterations) == 1:
            break
        assert float(optimizer.dynamic_scale) == scale / 2
        assert all(np.array_equal(b, np.array(v)) for b, v in zip(before, model.trainable_variables))
    assert int(optimizer.iterations) == 1, f"no step applied in {attempts} tries (non-finite gradients)"
    changed = sum(not np.array_equal(b, np.array(v)) for b, v in zip(before, model.trainable_variables))
    assert changed >= max(1, int(changed_share * len(before))), (changed, len(before))
    assert np.isfinite(float(loss))
    return float(loss)


def strip_dtypes(config):
    """A model's configuration without its dtype policies (to compare two precisions)."""
    if isinstance(config, dict):
        return {k: strip_dtypes(v) for k, v in config.items() if k != "dtype"}
    if isinstance(config, (list, tuple)):
        return [strip_dtypes(v) for v in config]
    return config


def check_mixed_precision(model: keras.Model, path, x, x4, expected) -> None:
    """test_every_model.py's check of each model's `.keras` file (`model`, float32, saved
    at `path`) in mixed precision, without building it more than once: loaded in safe
    mode as mixed_bfloat16 (a build under that policy: float32 weights and outputs, the
    same configuration but for the policies, every weight as saved); switched in place
    to float32, it gives the saved model's outputs (`expected`, for `x`); switched to
    mixed_float16, it trains one step with loss scaling and the fused SGD on `x4` (four
    images: on two of the smallest size, the gradients through batch norms of two values
    leave float16's range in the deepest networks), then one in bfloat16 on `x`."""
    restored = load_model(path, "mixed_bfloat16")
    assert_mixed(restored, "mixed_bfloat16")
    assert strip_dtypes(restored.get_config()) == strip_dtypes(model.get_config())
    for saved, loaded in zip(model.get_weights(), restored.get_weights(), strict=True):
        np.testing.assert_array_equal(saved, loaded)
    mixed = keras.ops.convert_to_numpy(restored(x, training=False))
    assert mixed.dtype == np.float32 and np.abs(mixed - expected).max() < 0.1 * np.abs(expected).max() + 1e-3
    set_precision(restored, "float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(restored(x, training=False)), expected, rtol=0, atol=1e-6
    )
    set_precision(restored, "mixed_float16")
    assert_mixed(restored, "mixed_float16")
    # First scale 1: Keras' default (2**15) overflows float16 on these few tiny images,
    # and each try that overflows costs a step. Where even scale 1 overflows (batch
    # norms over four values amplify the gradients), dynamic scaling halves it until
    # the step fits, as it would in a run. Keras' default scale is used in
    # test_train_runs_in_mixed_float16 (no step skipped there).
    sgd = keras_cnns.optimizers.SGD(0.01, momentum=0.9)
    train_one_step(restored, keras.optimizers.LossScaleOptimizer(sgd, initial_scale=1.0), x4,
                   np.array([1, 5, 0, 3]), attempts=8, changed_share=0.25)
    # (A quarter: at scale 1 the smallest gradients of the deepest networks underflow
    # float16, which is what larger scales are for; ResNet-1202 updates a third of its
    # variables.)
    # bfloat16 second: a step on two tiny images can move the weights far enough that
    # float16 activations overflow, which bfloat16's float32 range absorbs.
    set_precision(restored, "mixed_bfloat16")
    train_one_step(restored, keras_cnns.optimizers.SGD(0.01, momentum=0.9), x, np.array([1, 5]))


def test_a_fresh_build_under_each_mixed_policy_matches_the_switched_model(rng):
    """What check_mixed_precision switches in place is what a build under the policy
    gives: the same policies on every layer (blocks' inner layers included) and the
    same outputs, for models with custom blocks (residual, inception, dense)."""
    from keras_cnns.keras_internals import sublayers

    for name in ("resnet20", "inception_v3", "densenet40", "lenet5"):
        shape = small_input_shape(name)
        x = rng.uniform(0, 1, (2, *shape)).astype("float32")
        keras.utils.set_random_seed(0)
        switched = keras_cnns.get_model(name, num_classes=7, input_shape=shape)
        for precision in ("mixed_float16", "mixed_bfloat16"):
            with precision_policy(precision):
                built = keras_cnns.get_model(name, num_classes=7, input_shape=shape)
            built.set_weights(switched.get_weights())
            set_precision(switched, precision)
            policies = [[layer.dtype_policy.name for layer in sublayers(m, recursive=True)
                         if not isinstance(layer, keras.layers.InputLayer)] for m in (built, switched)]
            assert policies[0] == policies[1], name
            np.testing.assert_array_equal(built(x, training=False), switched(x, training=False))


def test_loss_scaling_wraps_the_fused_sgd():
    """Under mixed_float16 `compile` wraps keras_cnns' SGD in Keras' LossScaleOptimizer;
    a step with it gives the weights a step with Keras' own SGD gives; a non-finite
    gradient is skipped and halves the scale."""
    with precision_policy("mixed_float16"):
        model = keras_cnns.lenet5(num_classes=10, variant="modern")
    model.compile(optimizer=keras_cnns.optimizers.SGD(0.05, momentum=0.9),
                  loss="sparse_categorical_crossentropy")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert type(model.optimizer.inner_optimizer) is keras_cnns.optimizers.SGD

    variables = model.trainable_variables
    start = [np.array(v) for v in variables]
    gradients = [np.random.default_rng(i).normal(size=v.shape).astype("float32") for i, v in enumerate(variables)]
    results = []
    for inner in (keras_cnns.optimizers.SGD, keras.optimizers.SGD):
        for v, value in zip(variables, start):
            v.assign(value)
        optimizer = keras.optimizers.LossScaleOptimizer(inner(0.05, momentum=0.9), initial_scale=1024.0)
        optimizer.build(variables)
        for _ in range(2):  # the second step uses the momentum of the first
            optimizer.apply([g * 1024.0 for g in gradients], variables)  # scaled gradients
        results.append([np.array(v) for v in variables])
        assert int(optimizer.iterations) == 2
    for fused, reference in zip(*results):
        np.testing.assert_allclose(fused, reference, rtol=1e-6, atol=1e-7)
    moved = max(np.abs(r - s).max() for r, s in zip(results[0], start))
    assert moved > 0.1  # -1.9 * lr * g: the unscaled gradient, not the scaled one

    before = [np.array(v) for v in variables]
    optimizer.apply([g * np.inf for g in gradients], variables)
    assert float(optimizer.dynamic_scale) == 512.0
    for b, v in zip(before, variables):
        np.testing.assert_array_equal(b, np.array(v))


def test_policy_scope_restores_and_checks(tmp_path):
    with pytest.raises(RuntimeError):
        with precision_policy("mixed_bfloat16"):
            assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
            raise RuntimeError("inside")
    assert keras.mixed_precision.global_policy().name == "float32"
    with pytest.raises(ValueError, match=r"Invalid `precision`: 'float8'.*'mixed_bfloat16'"):
        with precision_policy("float8"):
            pass
    with pytest.raises(ValueError, match="`precision`.*'mixed_float16'"):
        keras_cnns.train("lenet5", precision="half", runs_dir=tmp_path)
    with pytest.raises(ValueError, match="`path` must be a `.keras` model file"):
        load_model(tmp_path / "weights.h5", "float32")
    assert PRECISIONS == ("float32", "mixed_bfloat16", "mixed_float16")


def test_cli_takes_precision(capsys):
    from keras_cnns.cli import build_parser

    args = build_parser().parse_args(["train", "lenet5", "--precision", "mixed_bfloat16"])
    assert args.precision == "mixed_bfloat16"
    assert build_parser().parse_args(["train", "lenet5"]).precision == "float32"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "lenet5", "--precision", "float8"])
    assert "invalid choice: 'float8'" in capsys.readouterr().err


def test_cli_takes_steps_per_execution(capsys):
    from keras_cnns.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["train", "lenet5"]).steps_per_execution == "auto"
    assert parser.parse_args(["train", "lenet5", "--steps-per-execution", "8"]).steps_per_execution == 8
    for bad in ("0", "many"):
        with pytest.raises(SystemExit):
            parser.parse_args(["train", "lenet5", "--steps-per-execution", bad])
        assert f"expected 'auto' or a positive integer, got '{bad}'" in capsys.readouterr().err


def test_with_precision_keeps_weights_and_float32_heads():
    """A float32 GoogLeNet with auxiliary heads becomes mixed with every head in float32,
    and back; the weights stay the same and the float32 copy gives the same outputs."""
    model = keras_cnns.googlenet(num_classes=5, input_shape=(96, 96, 3), aux_logits=True)
    mixed = with_precision(model, "mixed_bfloat16")
    assert_mixed(mixed, "mixed_bfloat16")
    assert sorted(mixed.output) == ["aux1", "aux2", "logits"]
    back = with_precision(mixed, "float32")
    assert {layer.compute_dtype for layer in back.layers} == {"float32"}
    x = np.random.default_rng(0).uniform(0, 1, (2, 96, 96, 3)).astype("float32")
    for key in ("logits", "aux1"):
        np.testing.assert_allclose(back(x)[key], model(x)[key], rtol=0, atol=1e-6)
        assert np.abs(mixed(x)[key] - model(x)[key]).max() < 0.05


def test_mixed_model_exports_with_float32_signatures(tmp_path, rng):
    """The SavedModel and the TFLite file of a mixed-precision model take and return
    float32 and compute in float32 (TFLite has no bfloat16 kernels): they give the
    outputs of the model's float32 copy."""
    with precision_policy("mixed_bfloat16"):
        model = keras_cnns.resnet20(num_classes=10, input_shape=(16, 16, 3))
    x = rng.uniform(0, 1, (3, 16, 16, 3)).astype("float32")
    expected = with_precision(model, "float32")(x).numpy()
    version = export.saved_model(model, tmp_path / "resnet20")
    served = tf.saved_model.load(str(version)).signatures["serve_preprocessed"]
    (spec,) = served.structured_input_signature[1].values()
    assert spec.dtype == tf.float32 and served.structured_outputs["probabilities"].dtype == tf.float32
    np.testing.assert_allclose(served(inputs=tf.constant(x))["probabilities"].numpy(), expected, atol=1e-6)
    assert np.abs(model(x).numpy() - expected).max() > 0  # the model itself computes in bfloat16
    runner = export.LiteRTModel(export.tflite(version, tmp_path / "resnet20.tflite"))
    assert runner.input_dtype == np.float32 and runner.output_dtype == np.float32
    np.testing.assert_allclose(runner.predict(x), expected, atol=1e-5)


@pytest.fixture(scope="module")
def float16_run(tmp_path_factory):
    """ResNet-20 (SGD with momentum: the fused update) trained for one short epoch under
    mixed_float16 on real Fashion-MNIST images."""
    return keras_cnns.train(
        "resnet20", "fashion_mnist", precision="mixed_float16", epochs=1, batch_size=32, limit=96,
        validation_fraction=0.0, seed=1, verbose=0, runs_dir=tmp_path_factory.mktemp("runs"),
    )


def test_train_runs_in_mixed_float16(float16_run):
    assert keras.mixed_precision.global_policy().name == "float32"  # restored after the run
    config = json.loads((float16_run.run_dir / "config.json").read_text())
    assert config["precision"] == "mixed_float16"
    model = float16_run.model
    assert_mixed(model, "mixed_float16")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert type(model.optimizer.inner_optimizer) is keras_cnns.optimizers.SGD
    assert int(model.optimizer.iterations) == 3  # 96 images, batch 32: no step skipped
    assert np.isfinite(float16_run.metrics["test_loss"])
    # The checkpoint holds the run's policy; it loads as float32 for export.
    checkpoint = float16_run.run_dir / "checkpoints" / "last.keras"
    with zipfile.ZipFile(checkpoint) as archive:
        assert '"mixed_float16"' in archive.read("config.json").decode()
    float32 = load_model(checkpoint, "float32")
    assert model_precision(float32) == "float32"
    for a, b in zip(float32.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
