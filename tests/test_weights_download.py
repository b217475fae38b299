"""Published weights by name: `weights="torchvision"` downloaded, hash-checked, converted
once and loaded from the converted cache; any `num_classes`; unknown names; the
published entries themselves.

Offline: a random torchvision ResNet-18 `state_dict` is saved under the published file
name (`resnet18-f37072fd.pth`) and served by an HTTP server on 127.0.0.1. The published
URL is pointed at it through `KERAS_CNNS_WEIGHTS_MIRROR` (the documented mirror override:
a base URL that replaces the folder of every published URL), and `KERAS_HOME` at a
temporary folder, so that Keras' cache is this test's own. A random file cannot carry
torchvision's hash: where a load must succeed, the registry entry is given the served
file's own sha256 prefix; the refusal test keeps the published entry (prefix f37072fd).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import http.server
import logging
import socket
import sys
import threading

import numpy as np
import pytest

import keras_cnns
from keras_cnns.models import registry
from keras_cnns.weights import TORCHVISION_URLS, read_state_dict
from keras_cnns.weights.download import MIRROR_ENV
from torch_reference import assert_resnet18_backbone_with_fresh_head, random_torchvision

SIZE = 64
FILE = TORCHVISION_URLS["resnet18"].rsplit("/", 1)[-1]  # resnet18-f37072fd.pth
CONVERTED = "resnet18-f37072fd.weights.h5"


class _Server:
    """A static file server on 127.0.0.1 in a thread, recording the paths requested;
    stopped (and its port closed) by `stop()` or on leaving a `with` block."""

    def __init__(self, folder):
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            timeout = 30  # a stuck connection is dropped, never waited on forever

            def do_GET(self):
                requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):  # quiet
                pass

        handler = functools.partial(Handler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/models"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs=dict(poll_interval=0.1), daemon=True)
        self.thread.start()

    def stop(self):
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join(timeout=10)
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


@pytest.fixture(scope="module")
def served(torchvision, tmp_path_factory):
    """The served folder (`models/resnet18-f37072fd.pth`, random weights), the file's own
    sha256 prefix, test images (NHWC) and torchvision's logits on them."""
    import torch

    root = tmp_path_factory.mktemp("served")
    (root / "models").mkdir()
    path = root / "models" / FILE
    model = random_torchvision(torchvision, "resnet18", seed=3)
    torch.save(model.state_dict(), path)
    images = np.random.default_rng(0).normal(size=(2, SIZE, SIZE, 3)).astype("float32")
    with torch.no_grad():
        logits = model(torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy()
    prefix = hashlib.sha256(path.read_bytes()).hexdigest()[:8]
    assert prefix != "f37072fd"
    return dict(root=root, path=path, prefix=prefix, images=images, logits=logits)


def _environment(patch, home, server_url):
    """Keras' cache in `home`, the published URLs under `server_url`, no proxy."""
    patch.setenv("KERAS_HOME", str(home))
    patch.setenv(MIRROR_ENV, server_url)
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        patch.delenv(name, raising=False)
    patch.setenv("no_proxy", "127.0.0.1,localhost")
    patch.setenv("NO_PROXY", "127.0.0.1,localhost")


def _expect_served_hash(patch, served):
    """The registry entry expects the served random file's sha256 prefix."""
    spec = registry.get_spec("resnet18")
    entry = dataclasses.replace(spec.weights["torchvision"], top_hash=served["prefix"])
    patch.setitem(
        registry._REGISTRY, "resnet18", dataclasses.replace(spec, weights={**spec.weights, "torchvision": entry})
    )


def _resnet18(**kwargs):
    return keras_cnns.resnet18(input_shape=(SIZE, SIZE, 3), classifier_activation=None, **kwargs)


@pytest.fixture(scope="module", autouse=True)
def _bounded_sockets():
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(30)  # a download from a broken server fails instead of hanging
    yield
    socket.setdefaulttimeout(previous)


@pytest.fixture(scope="module")
def first_load(served, tmp_path_factory):
    """`resnet18(weights="torchvision")` into an empty cache, from the local server,
    which is stopped afterwards."""
    home = tmp_path_factory.mktemp("keras_home")
    with pytest.MonkeyPatch.context() as patch, _Server(served["root"]) as server:
        _environment(patch, home, server.url)
        _expect_served_hash(patch, served)
        model = _resnet18(weights="torchvision")
        requests = list(server.requests)
    outputs = np.asarray(model(served["images"], training=False))
    return dict(home=home, outputs=outputs, requests=requests, url=server.url)


def test_first_load_downloads_converts_and_equals_a_checkpoint_load(first_load, served):
    assert first_load["requests"] == [f"/models/{FILE}"]
    folder = first_load["home"] / "models" / "torchvision"
    assert sorted(p.name for p in folder.iterdir()) == sorted([CONVERTED, FILE])
    assert (folder / FILE).read_bytes() == served["path"].read_bytes()
    direct = _resnet18(weights=str(served["path"]))
    np.testing.assert_array_equal(first_load["outputs"], np.asarray(direct(served["images"], training=False)))
    scale = np.abs(served["logits"]).max()
    assert scale > 1.0 and np.abs(first_load["outputs"] - served["logits"]).max() <= 1e-4 * scale


def test_second_load_needs_neither_the_network_nor_torch(first_load, served, monkeypatch):
    # The server is stopped (its port closed) and `import torch` raises ImportError.
    _environment(monkeypatch, first_load["home"], first_load["url"])
    _expect_served_hash(monkeypatch, served)
    monkeypatch.setitem(sys.modules, "torch", None)
    again = _resnet18(weights="torchvision")
    np.testing.assert_array_equal(np.asarray(again(served["images"], training=False)), first_load["outputs"])
    # The backbone alone, from the same cache: the classifier of the full model on its
    # pooled features gives the full model's logits.
    backbone = _resnet18(weights="torchvision", include_top=False, pooling="avg")
    head = again.get_layer("predictions")
    pooled = np.asarray(backbone(served["images"], training=False))
    logits = pooled @ head.kernel.numpy() + head.bias.numpy()
    scale = np.abs(first_load["outputs"]).max()
    assert np.abs(logits - first_load["outputs"]).max() <= 1e-4 * scale


def test_wrong_hash_is_refused_and_deleted(served, tmp_path, monkeypatch):
    # The published entry, unchanged: the served file's sha256 does not start with f37072fd.
    with _Server(served["root"]) as server:
        _environment(monkeypatch, tmp_path, server.url)
        with pytest.raises(ValueError) as err:
            _resnet18(weights="torchvision")
        assert server.requests == [f"/models/{FILE}"]
    path = tmp_path / "models" / "torchvision" / FILE
    message = str(err.value)
    assert str(path) in message and "'f37072fd'" in message and f"{served['prefix']!r}" in message
    assert "was deleted" in message and "Load again" in message and TORCHVISION_URLS["resnet18"] in message
    assert not path.exists() and not (path.parent / CONVERTED).exists()


def test_first_load_without_torch_names_the_extra_before_downloading(served, tmp_path, monkeypatch):
    with _Server(served["root"]) as server:
        _environment(monkeypatch, tmp_path, server.url)
        monkeypatch.setitem(sys.modules, "torch", None)
        with pytest.raises(ImportError, match=r'needs torch: pip install "keras_cnns\[torch\]"'):
            _resnet18(weights="torchvision")
        assert server.requests == []


def test_any_num_classes_starts_a_fresh_head(served, tmp_path, monkeypatch, caplog):
    with _Server(served["root"]) as server:
        _environment(monkeypatch, tmp_path, server.url)
        _expect_served_hash(monkeypatch, served)
        with caplog.at_level(logging.WARNING, logger="keras_cnns"):
            model = _resnet18(weights="torchvision", num_classes=10)
        assert server.requests == [f"/models/{FILE}"]
    lines = [r.getMessage() for r in caplog.records if r.name == "keras_cnns"]
    assert len(lines) == 1 and FILE in lines[0], lines
    assert "predictions (checkpoint (512, 1000), model (512, 10))" in lines[0]
    assert_resnet18_backbone_with_fresh_head(model, read_state_dict(served["path"]), 10)
    # The converted cache holds the published network (1000 classes); a second load of
    # another num_classes reads it, and logs the same line naming it.
    assert (tmp_path / "models" / "torchvision" / CONVERTED).exists()
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="keras_cnns"):
        again = _resnet18(weights="torchvision", num_classes=7)
    lines = [r.getMessage() for r in caplog.records if r.name == "keras_cnns"]
    assert len(lines) == 1 and CONVERTED in lines[0] and "model (512, 7)" in lines[0]
    np.testing.assert_array_equal(
        again.get_layer("conv1_conv").kernel.numpy(), model.get_layer("conv1_conv").kernel.numpy()
    )


def test_unknown_weights_name_lists_the_accepted_ones():
    with pytest.raises(ValueError) as err:
        keras_cnns.resnet18(weights="torchvison")
    message = str(err.value)
    assert "'torchvison'" in message and "Accepted for 'resnet18'" in message
    assert "a published name ('torchvision')" in message and ".pth" in message
    # A name other models publish: they are named.
    with pytest.raises(ValueError, match=r"a published name \('torchvision'\).*'imagenet' weights are "
                       r"published for: .*resnet50"):
        keras_cnns.resnet18(weights="imagenet")
    with pytest.raises(ValueError, match=r"Accepted for 'resnet50_v2': None, a published name "
                       r"\('imagenet'\).*'torchvision' weights are published for: .*resnet18, resnet34"):
        keras_cnns.resnet50_v2(weights="torchvision")


def test_torchvision_weights_need_torchvisions_layout():
    with pytest.raises(ValueError, match=r"torchvision's checkpoint: it loads into torchvision's ResNet, "
                       r"layout='v1\.5' with shortcut='B'; received layout='keras'"):
        keras_cnns.resnet50(weights="torchvision", layout="keras")


# ------------------------------------------------------------------ the published entries
def test_torchvision_entries_are_torchvisions_own_table(torchvision):
    for name, url in TORCHVISION_URLS.items():
        assert torchvision.models.get_model_weights(name).IMAGENET1K_V1.url == url, name
    for name in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152"):
        entry = registry.get_spec(name).weights["torchvision"]
        assert entry.top_url == TORCHVISION_URLS[name] and entry.is_checkpoint
        assert entry.top_url.endswith(f"-{entry.top_hash}.pth") and len(entry.top_hash) == 8
        assert (entry.preprocessing, entry.cache_subdir, entry.num_classes) == ("torch", "models/torchvision", 1000)


# keras.applications' `mode` for each of its files; "torch" for every torchvision file.
KERAS_APPLICATIONS_PREPROCESSING = {
    "vgg16": "caffe", "vgg19": "caffe", "resnet50": "caffe", "resnet101": "caffe", "resnet152": "caffe",
    "resnet50_v2": "tf", "resnet101_v2": "tf", "resnet152_v2": "tf", "inception_v3": "tf",
    "densenet121": "torch", "densenet169": "torch", "densenet201": "torch",
}


def test_every_published_entry_names_its_preprocessing():
    found = {}
    for name in keras_cnns.list_models():
        for weights, entry in keras_cnns.get_spec(name).weights.items():
            found[name, weights] = entry.preprocessing
    expected = {(name, "imagenet"): mode for name, mode in KERAS_APPLICATIONS_PREPROCESSING.items()}
    expected.update({key: "torch" for key in found if key[1] == "torchvision"})
    assert found == expected
