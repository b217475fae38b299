"""Fine-tuning (`train(weights=..., freeze_epochs=N)`) on real Fashion-MNIST: the phases
(head alone, then every layer), batch norms in inference mode while frozen, the learning
rate of each phase, resumption across the change of phase (a crash in each phase, and a
SIGKILL as in test_resume.py), grey images into an RGB torchvision checkpoint with its
preprocessing inside the model and its export, the multi-worker loop, bad arguments, and
the measured gain over training from scratch (`benchmarks/finetune.py`), whose committed
figures the README quotes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_cnns
from keras_cnns.export import Preprocessing, export_run
from keras_cnns.keras_internals import sublayers
from keras_cnns.training import finetune, train
from keras_cnns.training.recipes import get_recipe

ROOT = Path(__file__).resolve().parents[1]
# No augmentation: its draws restart with each phase's pipeline, so a resumed run would
# differ from an uninterrupted one (see build_pipeline's `epochs`).
COMMON = dict(seed=3, verbose=0, validation_fraction=0.0, recipe_overrides={"augmentation": []})
LENET = dict(model_options={"variant": "modern"}, batch_size=32, limit=1000, epochs=4, freeze_epochs=2, **COMMON)


def _values(model):
    return {v.path: keras.ops.convert_to_numpy(v).copy() for v in model.weights}


@pytest.fixture(scope="module")
def lenet_weights(tmp_path_factory):
    """Random LeNet-5 (modern) weights for Fashion-MNIST's 28x28 grey images."""
    keras.utils.set_random_seed(1)
    model = keras_cnns.lenet5(variant="modern", num_classes=10, input_shape=(28, 28, 1), fit_input="pad")
    path = tmp_path_factory.mktemp("weights") / "lenet5.weights.h5"
    model.save_weights(path)
    return path


@pytest.fixture(scope="module")
def resnet20_weights(tmp_path_factory):
    """ResNet-20 weights with random batch-norm statistics (not Keras' 0 and 1, so that a
    reset would show), and their values by variable path."""
    keras.utils.set_random_seed(2)
    model = keras_cnns.resnet20(num_classes=10, input_shape=(28, 28, 1))
    rng = np.random.default_rng(2)
    for layer in sublayers(model, recursive=True):  # nested blocks' batch norms too
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.moving_mean.assign(rng.normal(0, 0.1, layer.moving_mean.shape))
            layer.moving_variance.assign(rng.uniform(0.5, 1.5, layer.moving_variance.shape))
    path = tmp_path_factory.mktemp("weights") / "resnet20.weights.h5"
    model.save_weights(path)
    return path, _values(model)


class Recorder(keras.callbacks.Callback):
    """Every epoch: the trainable variables and learning rate at its start, all values at
    its end; the values at the start of training."""

    def __init__(self):
        super().__init__()
        self.trainable, self.rates, self.after, self.start = {}, {}, {}, None

    def on_train_begin(self, logs=None):
        self.start = self.start or _values(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        self.trainable[epoch] = {v.path for v in self.model.trainable_variables}
        self.rates[epoch] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_epoch_end(self, epoch, logs=None):
        self.after[epoch] = _values(self.model)


def _is_bn_statistic(path):
    return path.endswith(("moving_mean", "moving_variance"))


# ------------------------------------------------------------------ phases
@pytest.mark.parametrize("freeze_batch_norm", [False, True])
def test_head_phase_then_every_layer(resnet20_weights, tmp_path, freeze_batch_norm):
    path, pretrained = resnet20_weights
    recorder = Recorder()
    overrides = {"augmentation": [], "freeze_batch_norm": freeze_batch_norm}
    result = train("resnet20", "fashion_mnist", weights=path, freeze_epochs=1, epochs=2, batch_size=32,
                   limit=64, run_dir=tmp_path / "run", callbacks=[recorder],
                   **{**COMMON, "recipe_overrides": overrides})
    head = {"predictions/kernel", "predictions/bias"}
    # The classifier starts fresh (its shape is the same as the file's: 10 classes).
    assert not np.array_equal(recorder.start["predictions/kernel"], pretrained["predictions/kernel"])
    # Phase 1: only the head trains; the backbone, batch-norm statistics included, keeps
    # the weights' values (Keras 3: a frozen BatchNormalization runs in inference mode).
    assert recorder.trainable[0] == head
    after_head = recorder.after[0]
    assert all(np.array_equal(after_head[p], pretrained[p]) for p in pretrained if p not in head)
    assert not np.array_equal(after_head["predictions/kernel"], recorder.start["predictions/kernel"])
    # Phase 2: every layer (the batch norms frozen with the finetune recipe's default).
    convs = {p for p in pretrained if p.endswith("kernel")}
    gammas = {p for p in pretrained if p.endswith("gamma")}
    assert convs <= recorder.trainable[1]
    assert (gammas <= recorder.trainable[1]) is not freeze_batch_norm
    after_full = recorder.after[1]
    assert not np.array_equal(after_full["conv1_conv/kernel"], pretrained["conv1_conv/kernel"])
    statistics = [p for p in pretrained if _is_bn_statistic(p)]
    unchanged = [np.array_equal(after_full[p], pretrained[p]) for p in statistics]
    assert all(unchanged) if freeze_batch_norm else not any(unchanged)
    # The learning rate of each phase: the finetune recipe's head rate, then its lower rate.
    recipe = get_recipe("resnet20", "finetune")
    assert recorder.rates == pytest.approx({0: recipe.head_learning_rate, 1: recipe.learning_rate})
    assert [r["learning_rate"] for r in result.history] == pytest.approx([0.01, 0.001])
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["weights"] == str(path) and config["freeze_epochs"] == 1
    # Our own weights file: its preprocessing is unknown, the recipe's normalization stays.
    assert config["preprocessing"] is None and config["recipe"]["normalization"] == "standardize"
    assert config["recipe"]["name"] == "resnet_cifar/finetune"
    backup = json.loads((result.run_dir / "backup" / "training_metadata.json").read_text())
    assert backup == {"epoch": 2, "batch": 0, "phase": "full"}


def test_freeze_epochs_equal_to_epochs_trains_the_head_alone(lenet_weights, tmp_path):
    recorder = Recorder()
    result = train("lenet5", "fashion_mnist", weights=lenet_weights, callbacks=[recorder],
                   run_dir=tmp_path / "run", **{**LENET, "epochs": 2, "freeze_epochs": 2, "limit": 128})
    assert recorder.trainable[0] == recorder.trainable[1] == {
        "f6/kernel", "f6/bias", "predictions/kernel", "predictions/bias"}
    assert [r["learning_rate"] for r in result.history] == pytest.approx([0.01, 0.01])
    pretrained = keras_cnns.lenet5(variant="modern", num_classes=10, input_shape=(28, 28, 1), fit_input="pad")
    pretrained.load_weights(lenet_weights)
    np.testing.assert_array_equal(result.model.get_layer("c5").kernel.numpy(),
                                  pretrained.get_layer("c5").kernel.numpy())


def test_head_layers_of_each_family():
    def head(model):
        return finetune.head_layer_names(model)

    assert head(keras_cnns.vgg11(num_classes=3, input_shape=(32, 32, 3))) == [
        "flatten", "fc1", "fc1_dropout", "fc2", "fc2_dropout", "predictions"]
    assert head(keras_cnns.resnet20(num_classes=3)) == ["predictions"]
    aux = head(keras_cnns.googlenet(num_classes=3, aux_logits=True, input_shape=(96, 96, 3)))
    assert {"logits", "aux1", "aux2", "aux1_conv", "aux2_fc"} <= set(aux)
    assert not any(name.startswith(("inception", "conv")) for name in aux)


def test_phase_plan():
    recipe = get_recipe("resnet20", "finetune", epochs=5)
    phases = finetune.plan_phases(recipe, 2)
    assert [(p.layers, p.start, p.end, p.learning_rate) for p in phases] == [
        ("head", 0, 2, 0.01), ("full", 2, 5, 0.001)]
    assert finetune.remaining_phases(phases, 3) == phases[1:]
    assert finetune.remaining_phases(phases, 5) == phases[1:]  # complete: compile for evaluation
    assert [p.layers for p in finetune.plan_phases(recipe, 0)] == ["full"]
    assert [p.layers for p in finetune.plan_phases(recipe, 5)] == ["head"]
    # Each phase spreads the recipe's schedule over its own epochs.
    assert phases[1].recipe(recipe).epochs == 3 and phases[1].recipe(recipe).learning_rate == 0.001


def test_finetune_recipes_say_where_their_rates_come_from():
    for model in ("lenet5", "alexnet", "vgg16", "googlenet", "inception_v3", "resnet20", "resnet50",
                  "densenet121"):
        recipe = get_recipe(model, "finetune")
        assert recipe.name.endswith("/finetune") and recipe.freeze_batch_norm
        assert recipe.head_learning_rate > recipe.learning_rate and recipe.lr_boundaries == ()
        assert "Fine-tuning:" in recipe.source
    assert "Caffe" in get_recipe("vgg16", "finetune").source
    assert "transfer-learning guide" in get_recipe("inception_v3", "finetune").source


# ------------------------------------------------------------------ resume
class _Crash(Exception):
    pass


class CrashAt(keras.callbacks.Callback):
    """Raise in the middle of `epoch` (0-based): the run stops as a killed one would.
    LeNet-5 trains blocks of 16 steps per call ("auto"): the first block to begin at
    batch 3 or later, the second one of the epoch's two."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch, self.current = epoch, None

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if self.current == self.epoch and batch >= 3:
            raise _Crash(f"crash in epoch {self.epoch}")


@pytest.fixture(scope="module")
def uninterrupted(lenet_weights, tmp_path_factory):
    return train("lenet5", "fashion_mnist", weights=lenet_weights,
                 run_dir=tmp_path_factory.mktemp("runs") / "reference", **LENET)


def _assert_same_run(run_dir, reference):
    resumed = train(resume=run_dir, verbose=0)
    for a, b in zip(resumed.model.get_weights(), reference.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]
    assert [r["learning_rate"] for r in resumed.history] == pytest.approx([0.01, 0.01, 1e-4, 1e-4])
    return resumed


@pytest.mark.parametrize("crash_epoch,backed_up", [(1, "head"), (2, "head"), (3, "full")])
def test_resume_across_the_change_of_phase(lenet_weights, uninterrupted, tmp_path, crash_epoch, backed_up):
    """Killed in phase 1: resumes frozen; at the first batch of phase 2 (the backup is
    phase 1's): unfrozen with a new optimizer; in phase 2: unfrozen with its optimizer's
    state. Each ends on the weights of the uninterrupted run."""
    run_dir = tmp_path / "run"
    with pytest.raises(_Crash):
        train("lenet5", "fashion_mnist", weights=lenet_weights, run_dir=run_dir,
              callbacks=[CrashAt(crash_epoch)], **LENET)
    backup = json.loads((run_dir / "backup" / "training_metadata.json").read_text())
    assert (backup["epoch"], backup["phase"]) == (crash_epoch, backed_up)
    _assert_same_run(run_dir, uninterrupted)


def test_sigkilled_run_resumes_in_phase_two(lenet_weights, uninterrupted, tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "keras_cnns.cli", "train", "lenet5", "--run-dir", str(run_dir),
               "--weights", str(lenet_weights), "--freeze-epochs", "2", "--epochs", "4",
               "--batch-size", "32", "--limit", "1000", "--seed", "3", "--verbose", "0",
               "--validation-fraction", "0", "--option", "variant=modern", "--set", "augmentation=[]"]
    # The thread count of this process (conftest.py), whose reference run the resumed one
    # must match bit for bit: another count sums the gradients in another order.
    env = {"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin",
           "TF_NUM_INTRAOP_THREADS": os.environ["TF_NUM_INTRAOP_THREADS"]}
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    metadata = run_dir / "backup" / "training_metadata.json"
    deadline = time.time() + 300
    while not (metadata.exists() and json.loads(metadata.read_text() or "{}").get("epoch", 0) >= 3):
        assert process.poll() is None, process.stderr.read().decode()[-3000:]
        assert time.time() < deadline, "no backup of epoch 3 appeared"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    backup = json.loads(metadata.read_text())
    if backup["epoch"] == 4:
        pytest.skip("the run finished its last epoch before the kill landed")
    assert backup == {"epoch": 3, "batch": 0, "phase": "full"}
    assert not (run_dir / "metrics.json").exists()
    _assert_same_run(run_dir, uninterrupted)


# -------------------------------------------------- grey images, RGB weights, export
@pytest.fixture(scope="module")
def resnet18_run(torchvision, tmp_path_factory):
    import torch

    from torch_reference import random_torchvision

    root = tmp_path_factory.mktemp("resnet18")
    state = random_torchvision(torchvision, "resnet18", seed=4).state_dict()
    path = root / "resnet18.pth"
    torch.save(state, path)
    result = train("resnet18", "fashion_mnist", weights=path, freeze_epochs=1, epochs=1, batch_size=16,
                   limit=32, run_dir=root / "run", **COMMON)
    return result, {k: v.numpy() for k, v in state.items()}, root


def test_grey_images_into_rgb_torchvision_weights(resnet18_run):
    result, state, _ = resnet18_run
    model = result.model
    assert model.input_shape == (None, 28, 28, 3)  # RGB weights: grey repeated to RGB
    assert model.get_layer("preprocessing").get_config()["mode"] == "torch"
    config = json.loads((result.run_dir / "config.json").read_text())
    assert config["preprocessing"] == {"mode": "torch", "transform_input": False}
    assert config["recipe"]["normalization"] == "none"  # pixels in [0, 255] into the model
    assert config["input_shape"] == [28, 28, 1] and config["fit_input"] == "pad"
    # The frozen backbone is still the checkpoint's (random batch-norm statistics included).
    np.testing.assert_array_equal(model.get_layer("conv1_conv").kernel.numpy(),
                                  state["conv1.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(model.get_layer("conv5_block2_2_bn").moving_variance.numpy(),
                                  state["layer4.1.bn2.running_var"])
    assert model.get_layer("predictions").kernel.shape == (512, 10)
    # No accuracy check: random checkpoint weights and two steps on 32 images (what is
    # checked is the plumbing; fine-tuning's gain is test_finetuning_beats_training_from_scratch).


def test_export_of_a_fine_tuned_run_takes_uint8_pixels(resnet18_run, rng):
    result, _, root = resnet18_run
    config = json.loads((result.run_dir / "config.json").read_text())
    assert Preprocessing.from_run_config(config).normalization == "none"
    written = export_run(result.run_dir, formats=["saved_model"], output_dir=root / "saved_models")
    served = tf.saved_model.load(str(written["saved_model"]))
    pixels = rng.integers(0, 256, size=(4, 28, 28, 3), dtype=np.uint8)
    answer = served.signatures["serving_default"](images=tf.constant(pixels))["probabilities"].numpy()
    best = keras.saving.load_model(result.run_dir / "checkpoints" / "best.keras")
    expected = best.predict(pixels.astype("float32"), verbose=0)  # the preprocessing is inside
    np.testing.assert_allclose(answer, expected, rtol=0, atol=1e-5)


# ------------------------------------------------------------------ multi-worker
def test_multiworker_loop_trains_the_same_phases(lenet_weights, tmp_path):
    from test_distributed import _free_ports, _start

    ports = _free_ports(2)
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "keras_cnns.cli", "train", "lenet5", "--strategy", "multiworker",
               "--run-dir", str(run_dir), "--weights", str(lenet_weights), "--freeze-epochs", "1",
               "--epochs", "2", "--batch-size", "64", "--limit", "256", "--seed", "5", "--verbose", "2",
               "--option", "variant=modern"]
    logs = [open(tmp_path / f"worker{i}.log", "w") for i in range(2)]
    workers = [_start(command, ports, i, logs[i]) for i in range(2)]
    codes = [w.wait(timeout=600) for w in workers]
    assert codes == [0, 0], [(tmp_path / f"worker{i}.log").read_text()[-3000:] for i in range(2)]
    chief = keras.saving.load_model(run_dir / "checkpoints" / "last.keras")
    other = keras.saving.load_model(run_dir / "workers" / "worker-1" / "checkpoints" / "last.keras")
    for a, b in zip(chief.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    history = (run_dir / "history.csv").read_text().strip().splitlines()
    column = history[0].split(",").index("learning_rate")
    assert [float(row.split(",")[column]) for row in history[1:]] == pytest.approx([0.01, 1e-4])
    pretrained = keras_cnns.lenet5(variant="modern", num_classes=10, input_shape=(28, 28, 1), fit_input="pad")
    pretrained.load_weights(lenet_weights)
    assert not np.array_equal(chief.get_layer("c1").kernel.numpy(), pretrained.get_layer("c1").kernel.numpy())


# ------------------------------------------------------------------ bad arguments
@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(freeze_epochs=1), ValueError, r"`freeze_epochs=1` needs `weights`"),
        (dict(freeze_epochs=0), ValueError, r"`freeze_epochs=0` needs `weights`"),
        (dict(weights="W", freeze_epochs=-1), ValueError, r"`freeze_epochs` must be an integer >= 0; received -1"),
        (dict(weights="W", freeze_epochs="2"), TypeError, r"`freeze_epochs` must be an integer; received '2'"),
        (dict(weights="W", freeze_epochs=1.0), TypeError, r"`freeze_epochs` must be an integer"),
        (dict(weights="W", freeze_epochs=True), TypeError, r"`freeze_epochs` must be an integer"),
        (dict(weights="W", freeze_epochs=5, epochs=3), ValueError,
         r"`freeze_epochs`=5 is more than the run's `epochs`=3\. Accepted: 0 \.\. 3"),
        (dict(weights="no/such.weights.h5"), ValueError,
         r"Invalid `weights`: 'no/such.weights.h5' is neither a published weights name nor an existing file"),
        (dict(model="resnet18", weights="torchvision", recipe_overrides={"normalization": "scale"}), ValueError,
         r"`normalization`='scale' conflicts with `weights`.*Accepted with these weights: 'none'"),
    ],
)
def test_bad_arguments_fail_before_any_data_is_read(kwargs, error, match, lenet_weights, tmp_path):
    if kwargs.get("weights") == "W":
        kwargs["weights"] = lenet_weights
    model = kwargs.pop("model", "lenet5")
    with pytest.raises(error, match=match):
        train(model, "no_such_dataset", runs_dir=tmp_path, **kwargs)


def test_rgb_weights_into_a_grey_model_fail_clearly(tmp_path):
    """A Keras file of RGB weights (its channels are not known before loading) into a run on
    grey images: the error names the file, the shapes and the run's input."""
    rgb = keras_cnns.lenet5(variant="modern", num_classes=10, input_shape=(28, 28, 3), fit_input="pad")
    path = tmp_path / "rgb.weights.h5"
    rgb.save_weights(path)
    with pytest.raises(ValueError, match=r"(?s)^The run builds 'lenet5' for 'fashion_mnist' with input \(28, 28, 1\) "
                                         r"\(the images have 1 channel\(s\)\) and 10 classes, and `weights`=.*"
                                         r"rgb\.weights\.h5' do not fit it:.*input_shape channels.*\(5, 5, 3, 6\)"):
        train("lenet5", "fashion_mnist", weights=path, limit=32, runs_dir=tmp_path,
              model_options={"variant": "modern"}, verbose=0)


# ------------------------------------------------------------------ measured
def test_finetuning_beats_training_from_scratch(tmp_path):
    """Pretrained on classes 0-4, fine-tuned on a few images of classes 5-9: better on
    held-out test images than the same steps from scratch (benchmarks/finetune.py)."""
    from benchmarks import finetune as bench

    row = bench.measure(tmp_path, bench.TEST_SEED)
    print(json.dumps(row))
    settings = bench.SETTINGS
    per_epoch = -(-len(settings["target_classes"]) * settings["finetune_images_per_class"] // settings["batch_size"])
    assert row["steps"] == settings["epochs"] * per_epoch and row["test_images"] == 1000
    assert row["margin"] >= bench.BOUND, row


def test_readme_quotes_the_committed_results():
    from benchmarks import finetune as bench

    results = json.loads(bench.RESULTS.read_text())
    assert results["settings"] == bench.SETTINGS and results["bound"] == bench.BOUND
    assert len(results["seeds"]) >= 5
    assert all(row["margin"] >= results["bound"] for row in results["seeds"])
    assert results["summary"] == bench.summarize(results["seeds"])["summary"]
    readme = (ROOT / "README.md").read_text()
    assert bench.readme_table(results) in readme, "README's fine-tuning table differs from results/finetune.json"
