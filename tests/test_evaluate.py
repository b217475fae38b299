"""`keras_cnns.evaluate`, `keras-cnns evaluate` and `keras_cnns.decode_predictions`.

Real Fashion-MNIST (Debian's IDX files), few images: a LeNet-5 run trained for one epoch
is evaluated by its folder and checked against an independent `model.predict` on the
training pipeline's batches; a ResNet-18 from a torchvision checkpoint (random values, a
10-class classifier) is evaluated with the standard transform of pretrained weights and
checked against that transform written out by hand. ImageNet's class index is served by
a local HTTP server on 127.0.0.1, which stands in for the internet (this machine is
offline); a closed local port stands for no network at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import socket
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_cnns
from keras_cnns.cli import main
from keras_cnns.data import build_pipeline, load
from keras_cnns.evaluation import imagenet
from torch_reference import random_torchvision

PNG = b"\x89PNG\r\n\x1a\n"
SIZE = 64  # ResNet-18's input here: shorter side resized to 73, centre crop 64


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A LeNet-5 run on 256 Fashion-MNIST images, one epoch."""
    folder = tmp_path_factory.mktemp("runs") / "lenet5"
    keras_cnns.train("lenet5", "fashion_mnist", epochs=1, limit=256, seed=1, verbose=0, run_dir=folder)
    return folder


def _is_png(path) -> bool:
    return path.is_file() and path.read_bytes()[:8] == PNG


# ---------------------------------------------------------------------------- runs
def test_a_run_equals_an_independent_predict_on_its_pipeline(run_dir):
    result = keras_cnns.evaluate(str(run_dir), limit=300, top_k=3, batch_size=128)

    config = json.loads((run_dir / "config.json").read_text())
    model = keras.saving.load_model(run_dir / "checkpoints" / "best.keras", compile=False)
    data = load("fashion_mnist", "test", limit=300)
    batches = build_pipeline(
        data, input_shape=tuple(config["input_shape"]), batch_size=50, training=False,
        normalization=config["recipe"]["normalization"],
    )
    scores = model.predict(batches.map(lambda x, y: x), verbose=0)
    labels = np.concatenate([y.numpy() for _, y in batches])
    predicted = scores.argmax(axis=1)

    assert result.num_images == 300 and result.k == 3
    np.testing.assert_array_equal(result.labels, labels)
    assert result.top1 == pytest.approx(np.mean(predicted == labels), abs=1e-12)
    expected = np.zeros((10, 10), int)
    np.add.at(expected, (labels, predicted), 1)
    np.testing.assert_array_equal(result.confusion_matrix, expected)
    top3 = np.argsort(-scores, axis=1, kind="stable")[:, :3]
    assert result.top_k == pytest.approx(np.mean(np.any(top3 == labels[:, None], axis=1)), abs=1e-12)
    assert result.top_k >= result.top1 and 0 < result.top_k <= 1

    matrix = result.confusion_matrix
    for i, name in enumerate(data.class_names):
        assert result.per_class_accuracy[name] == pytest.approx(matrix[i, i] / matrix[i].sum())
    assert sum(matrix[i, i] for i in range(10)) == round(result.top1 * 300)


def test_a_run_writes_its_png_and_json_into_its_folder(run_dir):
    result = keras_cnns.evaluate(run_dir, "fashion_mnist", limit=40, top_k=2)
    folder = run_dir / "evaluation"
    assert result.plot_path == folder / "fashion_mnist-test.png" and _is_png(result.plot_path)
    assert result.json_path == folder / "fashion_mnist-test.json"
    figures = json.loads(result.json_path.read_text())
    assert figures["top1"] == result.top1 and figures["top_k"] == result.top_k and figures["k"] == 2
    assert figures["confusion_matrix"] == result.confusion_matrix.tolist()
    assert figures["num_images"] == 40 and figures["model"] == "lenet5"
    assert figures["per_class_accuracy"] == result.per_class_accuracy
    assert figures["split"] == "test" and figures["checkpoint"] == "best"


def test_a_runs_validation_split_is_the_one_it_held_out(run_dir):
    # The run was trained with seed=1: its validation images are carved with that seed.
    result = keras_cnns.evaluate(run_dir, split="validation", limit=40, output_dir=run_dir / "val")
    held_out = load("fashion_mnist", "validation", seed=1, limit=40)
    other = load("fashion_mnist", "validation", seed=0, limit=40)
    np.testing.assert_array_equal(result.labels, [int(y) for _, y in held_out.dataset])
    assert not np.array_equal(result.labels, [int(y) for _, y in other.dataset])
    assert result.details["split"] == "validation"


def test_a_run_evaluated_on_other_classes_is_refused(run_dir, tmp_path):
    copy = tmp_path / "renamed"
    shutil.copytree(run_dir, copy)
    config = json.loads((copy / "config.json").read_text())
    config["class_names"] = [f"digit {i}" for i in range(10)]
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"trained on the classes \['digit 0'.*has \['T-shirt/top'"):
        keras_cnns.evaluate(copy, limit=10)


def test_a_keras_file_with_other_class_count_is_refused(tmp_path):
    inputs = keras.Input((28, 28, 1))
    model = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)), name="tiny")
    model.save(tmp_path / "tiny.keras")
    with pytest.raises(ValueError, match="`dataset` is needed to evaluate 'tiny'"):
        keras_cnns.evaluate(tmp_path / "tiny.keras")
    with pytest.raises(ValueError, match="'tiny' has 3 classes but the data set 'fashion_mnist' has 10"):
        keras_cnns.evaluate(tmp_path / "tiny.keras", "fashion_mnist", limit=10, output_dir=tmp_path)


def test_a_keras_file_holding_its_preprocessing_gets_plain_pixels(tmp_path):
    keras.utils.set_random_seed(0)
    model = keras_cnns.lenet5(
        num_classes=10, input_shape=(28, 28, 1), fit_input="pad", include_preprocessing="tf",
        variant="modern", classifier_activation=None,
    )
    model.save(tmp_path / "lenet.keras")
    result = keras_cnns.evaluate(tmp_path / "lenet.keras", "fashion_mnist", limit=16, top_k=10,
                                 output_dir=tmp_path)
    assert result.details["preprocessing"].startswith("none")
    images = np.stack([x.numpy() for x, _ in load("fashion_mnist", "test", limit=16).dataset])
    pixels = images.astype("float32")
    assert _ranked_by(model.predict(pixels, verbose=0), result.top_k_predictions)
    assert not _ranked_by(model.predict(pixels / 255, verbose=0), result.top_k_predictions)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(top_k=0), ValueError, r"`top_k` must be an integer in \[1, 10\].*received 0"),
        (dict(top_k=2.0), TypeError, r"`top_k` must be an integer; received 2.0"),
        (dict(top_k=11), ValueError, r"`top_k` must be an integer in \[1, 10\].*received 11"),
        (dict(split="dev"), ValueError, r"Invalid `split`: 'dev'. Accepted values: 'train'"),
        (dict(weights="torchvision"), ValueError, r"`weights`='torchvision' applies to a registered model name"),
        (dict(batch_size=0), ValueError, r"`batch_size` must be a positive integer"),
    ],
)
def test_bad_arguments_for_a_run(run_dir, kwargs, error, match):
    with pytest.raises(error, match=match):
        keras_cnns.evaluate(run_dir, limit=10, **kwargs)


def test_bad_sources():
    with pytest.raises(ValueError, match=r"`weights` is needed to evaluate the model name 'resnet18'.*'torchvision'"):
        keras_cnns.evaluate("resnet18", "fashion_mnist")
    with pytest.raises(ValueError, match="Did you mean: resnet18"):
        keras_cnns.evaluate("resnet19", "fashion_mnist", weights="torchvision")
    with pytest.raises(FileNotFoundError, match="'runs/nothing-here' does not exist"):
        keras_cnns.evaluate("runs/nothing-here", "fashion_mnist")
    with pytest.raises(FileNotFoundError, match="'resnet18' does not exist"):
        keras_cnns.evaluate(Path("resnet18"), "fashion_mnist")  # a path, not a model name
    # Published ImageNet weights keep their 1000-class classifier: refused before any download.
    with pytest.raises(ValueError, match=r"classify 1000 classes.*'fashion_mnist' has 10"):
        keras_cnns.evaluate("resnet18", "fashion_mnist", weights="torchvision", limit=10)


def test_cli_prints_the_figures_and_the_png(run_dir, tmp_path, capsys):
    code = main(["evaluate", str(run_dir), "--limit", "50", "--top-k", "2", "--output", str(tmp_path)])
    assert code == 0
    out = capsys.readouterr().out
    figures = json.loads((tmp_path / "fashion_mnist-test.json").read_text())
    assert f"top-1 accuracy: {figures['top1']:.4f}" in out
    assert f"top-2 accuracy: {figures['top_k']:.4f}" in out
    assert "lenet5 on fashion_mnist (test, 50 images)" in out
    row, share = figures["confusion_matrix"][9], figures["per_class_accuracy"]["Ankle boot"]
    assert re.search(rf"\nAnkle boot +{sum(row)} +{row[9]} +{share:.4f}\n", out)
    assert re.search(rf"\nall +50 +{round(figures['top1'] * 50)} +{figures['top1']:.4f}\n", out)
    assert f"confusion matrix: {tmp_path / 'fashion_mnist-test.png'}" in out
    assert _is_png(tmp_path / "fashion_mnist-test.png")


def test_cli_reports_errors(capsys):
    assert main(["evaluate", "resnet18", "--dataset", "fashion_mnist"]) == 2
    assert "keras-cnns evaluate: error: `weights` is needed" in capsys.readouterr().err


# -------------------------------------------------------------- pretrained weights
@pytest.fixture(scope="module")
def checkpoints(torchvision, tmp_path_factory):
    """torchvision ResNet-18s with random values saved as .pth: one with a 10-class
    classifier (Fashion-MNIST's), one with ImageNet's 1000."""
    import torch

    folder = tmp_path_factory.mktemp("checkpoints")
    model = random_torchvision(torchvision, "resnet18", seed=5)
    torch.save(model.state_dict(), folder / "resnet18-imagenet.pth")
    torch.manual_seed(1)
    model.fc = torch.nn.Linear(512, 10)
    torch.save(model.state_dict(), folder / "resnet18-fashion.pth")
    return folder


def _by_hand(images: np.ndarray, resize: int, top: int, normalize: bool = True) -> np.ndarray:
    """Grey 28x28 -> resized to `resize`, cropped at (`top`, `top`), RGB, torch's scaling."""
    x = tf.image.resize(images.astype("float32"), (resize, resize), "bilinear").numpy()
    x = np.repeat(x[:, top: top + SIZE, top: top + SIZE], 3, axis=-1)
    if not normalize:
        return x / 255
    return (x / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])


def _ranked_by(scores: np.ndarray, ranking: np.ndarray) -> bool:
    """Whether `ranking` (each row's classes, best first) orders `scores` (to 1e-4)."""
    ordered = np.take_along_axis(scores, ranking, axis=1)
    return bool(np.diff(ordered, axis=1).max() <= 1e-4)


def test_pretrained_weights_use_the_standard_transform(checkpoints, tmp_path):
    path = checkpoints / "resnet18-fashion.pth"
    result = keras_cnns.evaluate(
        "resnet18", "fashion_mnist", weights=str(path), input_shape=(SIZE, SIZE, 3), limit=32,
        top_k=10, output_dir=tmp_path,
    )
    assert result.details["preprocessing"] == "shorter side resized to 73, centre crop 64x64, torch"
    assert _is_png(tmp_path / "fashion_mnist-test.png") and result.num_images == 32

    # The same network, logits on images transformed by hand: 73 = round(64 * 256 / 224),
    # offset int(round((73 - 64) / 2)) = 4, grey repeated to RGB, torch's mean and std.
    logits_model = keras_cnns.resnet18(
        num_classes=10, input_shape=(SIZE, SIZE, 3), weights=str(path), classifier_activation=None
    )
    images = np.stack([x.numpy() for x, _ in load("fashion_mnist", "test", limit=32).dataset])
    ranking = result.top_k_predictions  # every image's 10 classes, best first

    def logits(*args):
        return logits_model.predict(_by_hand(images, *args), verbose=0)

    assert _ranked_by(logits(73, 4), ranking)
    # The ranking tells these apart: a crop one pixel off, no resize, no normalization.
    assert not _ranked_by(logits(73, 5), ranking)
    assert not _ranked_by(logits(64, 0), ranking)
    assert not _ranked_by(logits(73, 4, False), ranking)


def test_a_checkpoint_for_other_classes_is_refused(checkpoints, tmp_path):
    with pytest.raises(ValueError, match=(
        r"resnet18-imagenet.pth'` do not hold a classifier of the data set's 10 classes: .*"
        r"their 'predictions' has shape \(512, 1000\), a 10-class one \(512, 10\)"
    )):
        keras_cnns.evaluate(
            "resnet18", "fashion_mnist", weights=checkpoints / "resnet18-imagenet.pth",
            input_shape=(SIZE, SIZE, 3), limit=8, output_dir=tmp_path,
        )


def test_standard_transform_of_a_wide_image():
    from keras_cnns.evaluation import pretrained_transform
    from keras_cnns.weights.preprocessing import PixelPreprocessing

    # 40x100: the shorter side to 73, the longer to int(73 * 100 / 40) = 182, then the
    # centre 64x64 at (4, 59): torchvision's int(round(4.5)) = 4, int(round(59)) = 59.
    image = np.random.default_rng(0).integers(0, 256, (40, 100, 3)).astype("uint8")
    transform = pretrained_transform((SIZE, SIZE, 3), PixelPreprocessing("tf"))
    out = transform(tf.constant(image)).numpy()
    resized = tf.image.resize(image.astype("float32"), (73, 182), "bilinear").numpy()
    np.testing.assert_allclose(out, resized[4:68, 59:123] / 127.5 - 1, atol=1e-5)
    # Images of unknown size (a data set of mixed sizes, mapped one image at a time).
    dynamic = tf.function(transform, input_signature=[tf.TensorSpec([None, None, 3], tf.uint8)])
    np.testing.assert_allclose(dynamic(tf.constant(image)).numpy(), out, atol=1e-6)
    # Shrinking is antialiased: a 400x1000 image to 73x182.
    large = np.repeat(np.repeat(image, 10, axis=0), 10, axis=1)
    shrunk = tf.image.resize(large.astype("float32"), (73, 182), "bilinear", antialias=True).numpy()
    np.testing.assert_allclose(dynamic(tf.constant(large)).numpy(), shrunk[4:68, 59:123] / 127.5 - 1, atol=1e-5)


# ------------------------------------------------------------- decode_predictions
@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    """Keras' cache in `tmp_path`, no proxy for 127.0.0.1, the class index read anew."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    imagenet._class_index.cache_clear()
    yield tmp_path
    imagenet._class_index.cache_clear()


def _scores(rows: int = 2) -> np.ndarray:
    return np.random.default_rng(3).random((rows, 1000)).astype("float32")


def test_decode_predictions_offline_falls_back_to_indices(keras_home, monkeypatch, caplog):
    with socket.socket() as probe:  # a port nobody listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(imagenet, "CLASS_INDEX_URL", f"http://127.0.0.1:{port}/imagenet_class_index.json")
    scores = _scores()
    with caplog.at_level(logging.WARNING, logger="keras_cnns"):
        decoded = keras_cnns.decode_predictions(scores, top=3)
        again = keras_cnns.decode_predictions(scores[:1], top=1)
    best = np.argsort(-scores[1])[:3]
    assert decoded[1] == [(str(i), f"class {i}", pytest.approx(float(scores[1, i]))) for i in best]
    assert again[0][0][0] == decoded[0][0][0]
    warnings = [r.getMessage() for r in caplog.records if r.name == "keras_cnns"]
    assert len(warnings) == 1 and f"127.0.0.1:{port}" in warnings[0] and "class indices" in warnings[0]


def test_decode_predictions_fetches_once_then_reads_the_cache(keras_home, tmp_path_factory, monkeypatch):
    from test_weights_download import _Server

    # The served file stands in for the internet's copy: same format, fake names.
    root = tmp_path_factory.mktemp("served")
    (root / "models").mkdir()
    index = {str(i): [f"n{i:08d}", f"fake_class_{i}"] for i in range(1000)}
    content = json.dumps(index).encode()
    (root / "models" / "imagenet_class_index.json").write_bytes(content)
    monkeypatch.setattr(imagenet, "CLASS_INDEX_HASH", hashlib.md5(content).hexdigest())
    scores = _scores()
    with _Server(root) as server:
        monkeypatch.setattr(imagenet, "CLASS_INDEX_URL", f"{server.url}/imagenet_class_index.json")
        decoded = keras_cnns.decode_predictions(scores, top=5)
        assert server.requests == ["/models/imagenet_class_index.json"]
    best = int(np.argmax(scores[0]))
    assert decoded[0][0] == (f"n{best:08d}", f"fake_class_{best}", pytest.approx(float(scores[0, best])))
    assert [len(row) for row in decoded] == [5, 5]
    assert (keras_home / "models" / "imagenet_class_index.json").read_bytes() == content

    imagenet._class_index.cache_clear()  # the server is gone: the cached file answers
    assert keras_cnns.decode_predictions(scores, top=5) == decoded


def test_decode_predictions_checks_its_arguments():
    with pytest.raises(ValueError, match=r"shape \(N, 1000\).*received shape \(2, 10\)"):
        keras_cnns.decode_predictions(np.zeros((2, 10)))
    with pytest.raises(ValueError, match=r"received shape \(1000,\)"):
        keras_cnns.decode_predictions(np.zeros(1000))
    with pytest.raises(ValueError, match=r"`top` must be an integer in \[1, 1000\]; received 0"):
        keras_cnns.decode_predictions(np.zeros((1, 1000)), top=0)
