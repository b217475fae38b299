"""torchvision's GoogLeNet checkpoints loaded into `googlenet(batch_norm=True,
layout="torchvision")`: the same logits and auxiliary outputs as torchvision on random
weights and random batch-norm statistics, the same trainable parameter counts, any
`num_classes`, `include_top=False`, the published name, and errors for the layouts that
cannot load them. Offline: every checkpoint is written here from torchvision's model
definition (the `torchvision` fixture of conftest.py), built with
`transform_input=False` (its `transform_input` belongs to the weights' preprocessing,
not to our network).

Size: 57x57, odd, so that torchvision's ceil-mode max poolings meet odd maps (29 before
pool1, 7 before pool3, 3 before pool4) as well as even ones (14 before pool2), and the
auxiliary heads' adaptive 4x4 pooling reads a 3x3 grid (their windows overlap). Every
model is built once per module (five builds).
"""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest

import keras_cnns
from keras_cnns.models import registry
from keras_cnns.weights import download, read_state_dict
from conftest import count
from torch_reference import assert_close, randomize_batch_norms, save_state, trainable_count

SIZE = 57
SHAPE = (SIZE, SIZE, 3)
TORCHVISION = dict(batch_norm=True, layout="torchvision")
# torchvision's trainable parameters (num_classes=1000).
COUNT_WITH_AUX, COUNT_WITHOUT_AUX = 13_004_888, 6_624_904


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread(torchvision):
    """torch on one thread while these tests run (its thread pool and TensorFlow's
    compete for the machine's two cores; see test_weights_torchvision_families.py)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------- helpers
def _to_nchw(images: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def _numpy(tensor) -> np.ndarray:
    """A torch output as numpy, feature maps back in NHWC order."""
    out = tensor.detach().numpy()
    return out.transpose(0, 2, 3, 1) if out.ndim == 4 else out








# ---------------------------------------------------------------------- the reference
@pytest.fixture(scope="module")
def reference(torchvision, tmp_path_factory):
    """torchvision's GoogLeNet (aux heads, no transform_input) with random values, its
    checkpoint in both formats, and its outputs on two random images: the logits, both
    auxiliary outputs (torchvision computes those only in training mode: here its
    `aux1`/`aux2` modules run in eval mode, dropout off, on the outputs of inception 4a
    and 4d caught by forward hooks) and the last feature map (inception 5b)."""
    import torch

    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    # On the meta device, then given memory: torchvision's initialization is skipped
    # (the random values below replace it).
    with torch.device("meta"):
        model = torchvision.models.googlenet(
            weights=None, aux_logits=True, transform_input=False, init_weights=False
        )
    model = model.to_empty(device="cpu")
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                # He's initialization keeps the outputs' dependence on the image well
                # above the tolerance; torchvision's (std 0.01) would shrink it.
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
    randomize_batch_norms(model, generator)
    model.eval()
    state = model.state_dict()
    assert all(torch.isfinite(t).all() for t in state.values())

    images = np.random.default_rng(0).normal(size=(2, *SHAPE)).astype("float32")
    caught = {}
    hooks = [
        getattr(model, name).register_forward_hook(
            lambda _module, _inputs, output, name=name: caught.__setitem__(name, output)
        )
        for name in ("inception4a", "inception4d", "inception5b")
    ]
    with torch.no_grad():
        logits = model(_to_nchw(images))
        aux1 = model.aux1(caught["inception4a"])
        aux2 = model.aux2(caught["inception4d"])
    for hook in hooks:
        hook.remove()
    # The published weights' route from pixels: ImageNet normalization, then torchvision's
    # transform_input inside its model (as IMAGENET1K_V1 builds it).
    pixels = np.random.default_rng(1).integers(0, 256, size=(2, *SHAPE)).astype("uint8")
    normalized = (pixels / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    model.transform_input = True
    with torch.no_grad():
        pixel_logits = model(_to_nchw(normalized.astype("float32")))
    model.transform_input = False
    assert not model.training and not model.aux1.training  # dropout off
    folder = tmp_path_factory.mktemp("googlenet")
    return dict(
        pth=save_state(state, folder / "googlenet.pth"),
        safetensors=save_state(state, folder / "googlenet.safetensors"),
        images=images,
        logits=_numpy(logits), aux1=_numpy(aux1), aux2=_numpy(aux2),
        features=_numpy(caught["inception5b"]),
        pixels=pixels, pixel_logits=_numpy(pixel_logits),
        trainable=trainable_count(model),
        trainable_without_aux=trainable_count(model) - trainable_count(model.aux1) - trainable_count(model.aux2),
    )


@pytest.fixture(scope="module")
def aux_model(reference):
    return keras_cnns.googlenet(
        **TORCHVISION, aux_logits=True, input_shape=SHAPE, weights=reference["pth"],
        classifier_activation=None,
    )


# ---------------------------------------------------------------------- the same network
def test_same_logits_and_aux_outputs_as_torchvision(reference, aux_model):
    outputs = aux_model(reference["images"], training=False)
    assert set(outputs) == {"logits", "aux1", "aux2"}
    for name in ("logits", "aux1", "aux2"):
        assert_close(outputs[name], reference[name], name)
    assert count(aux_model.trainable_weights) == reference["trainable"] == COUNT_WITH_AUX


def test_safetensors_without_aux_heads(reference):
    # The checkpoint's aux1/aux2 tensors go unused by a model without auxiliary heads.
    model = keras_cnns.googlenet(
        **TORCHVISION, input_shape=SHAPE, weights=reference["safetensors"],
        classifier_activation=None,
    )
    assert_close(model(reference["images"], training=False), reference["logits"], "no aux")
    assert count(model.trainable_weights) == reference["trainable_without_aux"] == COUNT_WITHOUT_AUX
    assert model.get_layer("avg_pool_dropout").rate == 0.2  # torchvision's dropout
    assert model.get_layer("inception_3a_5x5").kernel_size == (3, 3)  # torchvision's quirk


def test_include_top_false(reference):
    model = keras_cnns.googlenet(
        **TORCHVISION, include_top=False, input_shape=SHAPE, weights=reference["pth"]
    )
    assert model.output_shape == (None, 2, 2, 1024)
    assert_close(model(reference["images"], training=False), reference["features"], "features")


def test_another_num_classes_gets_fresh_heads(reference, caplog):
    with caplog.at_level(logging.WARNING, logger="keras_cnns"):
        model = keras_cnns.googlenet(
            **TORCHVISION, aux_logits=True, input_shape=SHAPE, num_classes=10,
            weights=reference["pth"],
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "keras_cnns"]
    assert len(lines) == 1, lines
    assert all(f"{name} (checkpoint (1024, 1000), model (1024, 10))" in lines[0]
               for name in ("logits", "aux1", "aux2"))
    state = read_state_dict(reference["pth"])
    np.testing.assert_array_equal(
        model.get_layer("conv1_7x7_s2").kernel.numpy(), state["conv1.conv.weight"].transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(
        model.get_layer("inception_5b_pool_proj_bn").moving_variance.numpy(),
        state["inception5b.branch4.1.bn.running_var"],
    )
    # fc1's columns regrouped from PyTorch's (C, H, W) flattening to Keras' (H, W, C).
    fc1 = state["aux2.fc1.weight"].reshape(1024, 128, 4, 4).transpose(2, 3, 1, 0)
    np.testing.assert_array_equal(model.get_layer("aux2_fc").kernel.numpy(), fc1.reshape(2048, 1024))
    for name in ("logits", "aux1", "aux2"):
        head = model.get_layer(name)
        assert head.kernel.shape == (1024, 10)
        np.testing.assert_array_equal(head.bias.numpy(), np.zeros(10))
    outputs = model(reference["images"], training=False)
    assert {name: tuple(out.shape) for name, out in outputs.items()} == {
        "logits": (2, 10), "aux1": (2, 10), "aux2": (2, 10)
    }


def test_published_name(reference, monkeypatch, tmp_path):
    """`weights="torchvision"` goes through the registry's entry and the converted cache;
    the download is replaced by the random checkpoint (offline)."""
    entry = registry.get_spec("googlenet").weights["torchvision"]
    assert entry.file_name() == "googlenet-1378be20.pth" and entry.num_classes == 1000
    assert (entry.preprocessing, entry.transform_input) == ("torch", True)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(download, "fetch_checkpoint", lambda _entry: reference["pth"])
    model = keras_cnns.googlenet(
        **TORCHVISION, input_shape=SHAPE, weights="torchvision", classifier_activation=None
    )
    assert_close(model(reference["images"], training=False), reference["logits"], "published")
    assert os.path.isfile(download.converted_path(entry))
    # The same image gives the same outputs in both: uint8 pixels into ours with the
    # weights' preprocessing inside ("torch", then transform_input), normalized pixels
    # into torchvision's model with transform_input=True.
    with_pixels = keras_cnns.googlenet(
        **TORCHVISION, input_shape=SHAPE, weights="torchvision", classifier_activation=None,
        include_preprocessing=True,
    )
    assert with_pixels.get_layer("preprocessing").get_config()["transform_input"] is True
    assert_close(with_pixels.predict(reference["pixels"], verbose=0), reference["pixel_logits"], "pixels")


# ---------------------------------------------------------------------- refusals
@pytest.mark.parametrize("batch_norm", [False, True])
@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_paper_layout_refuses_torchvision_checkpoints(tmp_path, batch_norm, suffix):
    path = str(tmp_path / f"googlenet{suffix}")
    open(path, "wb").close()  # refused before the file is read
    with pytest.raises(ValueError, match=(
        rf"a PyTorch checkpoint: it loads into torchvision's GoogLeNet, batch_norm=True with "
        rf"layout='torchvision'.*received batch_norm={batch_norm}, layout='paper'\. Pass "
        r"googlenet\(batch_norm=True, layout='torchvision', weights=\.\.\.\)")) as err:
        keras_cnns.googlenet(batch_norm=batch_norm, weights=path)
    assert path in str(err.value)


def test_paper_layout_refuses_the_published_name():
    with pytest.raises(ValueError, match=(
        r"`weights='torchvision'` is torchvision's checkpoint.*received batch_norm=True, "
        r"layout='paper'\. Pass googlenet\(batch_norm=True, layout='torchvision'")):
        keras_cnns.googlenet(batch_norm=True, weights="torchvision")


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(layout="torchvision"), r"`layout='torchvision'` needs batch_norm=True.*received "
         r"batch_norm=False\. Pass googlenet\(batch_norm=True, layout='torchvision'\)"),
        (dict(layout="torchvision", weights="torchvision"), r"needs batch_norm=True"),
        (dict(batch_norm=True, layout="caffe"), r"Invalid `layout`: 'caffe'\. Accepted values: "
         r"'paper', 'torchvision'"),
    ],
)
def test_bad_layouts(kwargs, match):
    with pytest.raises(ValueError, match=match):
        keras_cnns.googlenet(**kwargs)
