"""The TF Serving REST client. TF Serving's model server cannot be installed here (no
binary, no Docker), so the client talks to `keras_cnns.serving.DevServer`, a local
stand-in that answers TF Serving's documented REST calls by running the exported
SavedModel with TensorFlow. Everything else (HTTP, JSON, the export) is real."""

import re
import signal
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_cnns
from keras_cnns import export
from keras_cnns.serving import Client, DevServer, ServingError

CLASS_NAMES = ["zero", "one", "two", "three"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = keras_cnns.lenet5(num_classes=4, input_shape=(28, 28, 1), fit_input="pad", variant="modern")
    root = tmp_path_factory.mktemp("saved_models")
    export.saved_model(model, root / "lenet5", class_names=CLASS_NAMES)
    export.saved_model(model, root / "lenet5", class_names=CLASS_NAMES, top_k=2)  # version 2
    with DevServer(root) as server:
        yield model, server


def _expected(model, images):
    return model.predict(images.astype("float32") / 255.0, verbose=0)


def test_predict_in_columnar_and_row_formats(served, rng):
    model, server = served
    client = Client(server.url, "lenet5")
    images = rng.integers(0, 256, size=(3, 28, 28, 1), dtype=np.uint8)
    columnar = client.predict(images)
    rows = client.predict(images, request_format="instances")
    expected = _expected(model, images)
    for answer in (columnar, rows):
        np.testing.assert_allclose(answer["probabilities"], expected, rtol=0, atol=1e-5)
        assert answer["classes"].shape == (3, 2)  # version 2 (the latest) has top_k=2
        np.testing.assert_array_equal(answer["classes"][:, 0], expected.argmax(1))
        np.testing.assert_array_equal(answer["class_names"], np.asarray(CLASS_NAMES)[answer["classes"]])
    single = client.predict(images[0])
    np.testing.assert_allclose(single["probabilities"], expected[:1], rtol=0, atol=1e-5)


def test_a_pinned_version_and_other_sizes(served, rng):
    model, server = served
    client = Client(server.url, "lenet5", version=1)
    assert client.model_url.endswith("/v1/models/lenet5/versions/1")
    images = rng.integers(0, 256, size=(2, 56, 56, 1), dtype=np.uint8)
    answer = client.predict(images)
    assert answer["classes"].shape == (2, 4)  # version 1: top_k=5, capped at 4 classes
    resized = tf.image.resize(images.astype("float32"), (28, 28), antialias=True).numpy()
    np.testing.assert_allclose(answer["probabilities"], _expected(model, resized), rtol=0, atol=1e-5)


def test_encoded_images_travel_as_b64(served, rng):
    _, server = served
    client = Client(server.url, "lenet5")
    images = rng.integers(0, 256, size=(2, 28, 28, 1), dtype=np.uint8)
    encoded = [tf.io.encode_png(image).numpy() for image in images]
    np.testing.assert_allclose(
        client.predict_encoded(encoded)["probabilities"], client.predict(images)["probabilities"],
        rtol=0, atol=1e-6,
    )


def test_status_and_metadata(served):
    _, server = served
    client = Client(server.url, "lenet5")
    status = client.status()["model_version_status"]
    assert [s["version"] for s in status] == ["2", "1"] and status[0]["state"] == "AVAILABLE"
    signatures = client.metadata()["metadata"]["signature_def"]["signature_def"]
    assert set(signatures) == set(export.SIGNATURES)
    images = signatures["serving_default"]["inputs"]["images"]
    assert images["dtype"] == "DT_UINT8"
    assert [int(d["size"]) for d in images["tensor_shape"]["dim"]] == [-1, -1, -1, 1]


def test_errors_carry_the_servers_message(served):
    _, server = served
    client = Client(server.url, "lenet5")
    with pytest.raises(TypeError, match="`images` must be uint8"):
        client.predict(np.zeros((1, 28, 28, 1), np.float32))
    with pytest.raises(ValueError, match=r"\[N, height, width, 1\].*received shape \(1, 28, 28, 3\)"):
        client.predict(np.zeros((1, 28, 28, 3), np.uint8))
    # What the server itself says when a request is wrong, relayed verbatim:
    with pytest.raises(ServingError, match="expects uint8 values") as caught:
        client.predict_raw({"images": [[[[0.5]] * 28] * 28]}, request_format="inputs")
    assert caught.value.status == 400
    with pytest.raises(ServingError, match="Servable not found for request: Latest\\(resnet50\\)") as caught:
        Client(server.url, "resnet50").status()
    assert caught.value.status == 404
    with pytest.raises(ServingError, match="Specific\\(lenet5, 9\\)"):
        Client(server.url, "lenet5", version=9).predict(np.zeros((1, 28, 28, 1), np.uint8))
    with pytest.raises(ServingError, match="signature name: \"nope\" not found"):
        client.predict_raw([[0]], signature_name="nope")


def test_timeouts_and_unreachable_servers():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts connections, never answers
    port = silent.getsockname()[1]
    try:
        client = Client(f"http://127.0.0.1:{port}", "lenet5", timeout=0.5)
        with pytest.raises(ServingError, match=r"No answer from http://127.0.0.1:\d+/v1/models/lenet5 within 0.5 s"):
            client.status()
    finally:
        silent.close()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    with pytest.raises(ServingError, match="Cannot reach TF Serving"):
        Client(f"http://127.0.0.1:{port}", "lenet5", timeout=2).status()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(url="localhost:8501", model_name="m"), "`url` must start with http"),
        (dict(url="http://h:1", model_name=""), "`model_name` must be a non-empty name"),
        (dict(url="http://h:1", model_name="m", version=0), "`version` must be a positive integer"),
        (dict(url="http://h:1", model_name="m", timeout=0), "`timeout` must be a positive number"),
    ],
)
def test_client_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Client(**kwargs)


def test_dev_server_needs_exported_models(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such folder"):
        DevServer(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="No exported model under"):
        DevServer(tmp_path)


def test_keras_cnns_serve_command_answers_tf_servings_rest_calls(served, rng):
    """`keras-cnns serve ROOT --port 0` as a user runs it: a process that prints its URL
    and answers predict calls until Ctrl-C (SIGINT), then exits 0."""
    model, server = served
    command = [sys.executable, "-m", "keras_cnns.cli", "serve", str(server.root), "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        match = re.fullmatch(r"serving lenet5 at (http://127\.0\.0\.1:\d+) \(Ctrl-C stops\)\n", line)
        assert match, (line, process.stderr.read() if process.poll() is not None else "")
        images = rng.integers(0, 256, size=(2, 28, 28, 1), dtype=np.uint8)
        answer = Client(match.group(1), "lenet5", timeout=60).predict(images)
        np.testing.assert_allclose(answer["probabilities"], _expected(model, images), rtol=0, atol=1e-5)
    finally:
        process.send_signal(signal.SIGINT)
        returncode = process.wait(timeout=60)
    assert returncode == 0, process.stderr.read()[-2000:]
