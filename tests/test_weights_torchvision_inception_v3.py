"""torchvision's Inception v3 loaded into `inception_v3(layout="torchvision")`: the same
logits and auxiliary logits as torchvision on random weights and random batch-norm
statistics, torchvision's parameter count, fresh heads for another num_classes, the
backbone alone (include_top=False), the published name "torchvision", and the refusals
of the other layout's weights. Offline: the checkpoints are written here from
torchvision's model definition (the `torchvision` fixture of conftest.py).

torchvision's reference is built with `transform_input=False`: `transform_input` is part
of the published weights' preprocessing, not of the network.

Sizes: the auxiliary head keeps torchvision's 5x5 convolution, which needs the 17x17
mixed7 grid of a 299x299 input (torchvision's aux head fails on anything smaller), so
the whole network is compared once at 299x299 on two images; the backbone alone is
compared at 75x75, its smallest input, where every average-pooling window of the
modules but the centre ones reaches over the border (count_include_pad matters most).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil

import numpy as np
import pytest

import keras_cnns
from keras_cnns.layers import InceptionBlock
from keras_cnns.layers.inception import PaddedAveragePooling2D
from keras_cnns.models import registry
from keras_cnns.models.common import InputTooSmallError
from keras_cnns.models.inception import torchvision_keys
from keras_cnns.weights.download import sha256
from conftest import count
from torch_reference import assert_close, randomize_batch_norms, save_state

SIZE = 299  # the smallest input of torchvision's auxiliary head
SMALL = 75  # the smallest input of the network without it
TORCHVISION_PARAMS = 27_161_264  # Inception_V3_Weights.IMAGENET1K_V1.meta["num_params"]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread(torchvision):
    """torch on one thread (see tests/test_weights_torchvision_families.py: torch's and
    TensorFlow's thread pools fight over two shared cores)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------- helpers
def _images(size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(2, size, size, 3)).astype("float32")


def _nchw(images: np.ndarray):
    import torch

    return torch.from_numpy(images.transpose(0, 3, 1, 2).copy())






@pytest.fixture(scope="module")
def reference(torchvision, tmp_path_factory):
    """torchvision's inception_v3 (aux head, transform_input=False) with random values,
    saved as .pth and .safetensors; its logits and aux logits at 299x299 and its pooled
    features at 75x75, on the same random images as ours get (NCHW there, NHWC here)."""
    import torch

    with torch.device("meta"):  # skips torchvision's truncated-normal initialization
        model = torchvision.models.inception_v3(
            weights=None, aux_logits=True, init_weights=False, transform_input=False
        )
    model = model.to_empty(device="cpu")
    torch.manual_seed(7)
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if isinstance(module, torch.nn.Linear):
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
    randomize_batch_norms(model, generator)
    model.eval()
    state = model.state_dict()
    assert all(torch.isfinite(t).all() for t in state.values())

    taps = {}
    hooks = [
        model.Mixed_6e.register_forward_hook(lambda m, i, out: taps.__setitem__("mixed_6e", out)),
        model.avgpool.register_forward_hook(lambda m, i, out: taps.__setitem__("pooled", out)),
    ]
    images, small = _images(SIZE), _images(SMALL, seed=1)
    with torch.no_grad():
        logits = model(_nchw(images)).numpy()
        # Eval mode returns the logits alone: the aux head on the hooked Mixed_6e output.
        aux = model.AuxLogits(taps["mixed_6e"]).numpy()
        model(_nchw(small))
        pooled = taps["pooled"].flatten(1).numpy()
    for hook in hooks:
        hook.remove()

    folder = tmp_path_factory.mktemp("inception_v3")
    return dict(
        pth=save_state(state, folder / "inception_v3.pth"),
        safetensors=save_state(state, folder / "inception_v3.safetensors"),
        state={k: v.numpy() for k, v in state.items()},
        images=images, logits=logits, aux=aux, small=small, pooled=pooled,
        trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
    )


@pytest.fixture(scope="module")
def ours(reference):
    """Ours with the aux head, from the .pth file."""
    return keras_cnns.inception_v3(
        layout="torchvision", aux_logits=True, weights=reference["pth"],
        classifier_activation=None,
    )


# ---------------------------------------------------------------------- the whole network
def test_same_logits_and_aux_logits_as_torchvision(ours, reference):
    outputs = ours(reference["images"], training=False)
    assert list(outputs) == ["logits", "aux"]
    assert_close(outputs["logits"], reference["logits"], "logits")
    assert_close(outputs["aux"], reference["aux"], "aux")


def test_torchvisions_parameter_count(ours, reference):
    assert count(ours.trainable_weights) == reference["trainable"] == TORCHVISION_PARAMS


def test_torchvisions_layers(ours):
    # BasicConv2d: no bias, batch norm with a scale, eps 0.001; the modules' average
    # pooling counts the padding; the aux head keeps its 5x5 convolution; dropout 0.5.
    block = ours.get_layer("mixed0")
    assert block.bn_scale and block.bn_epsilon == 1e-3 and block.use_bias is None
    assert block.branches[3][0]["count_include_pad"] is True
    pools = [sub[0] for name in ("mixed0", "mixed4", "mixed9")
             for _p, op, sub in ours.get_layer(name).iter_ops() if op["op"] == "pool"]
    assert len(pools) == 3 and all(type(p) is PaddedAveragePooling2D for p in pools)
    assert ours.get_layer("aux_conv2").kernel_size == (5, 5)
    assert ours.get_layer("aux_conv2_bn").scale and ours.get_layer("conv_1a_3x3_bn").scale
    assert ours.get_layer("avg_pool_dropout").rate == 0.5
    # The keras layout is unchanged: no scale, Keras' pooling, no dropout.
    keras_layout = keras_cnns.inception_v3(include_top=False, input_shape=(SMALL, SMALL, 3))
    mixed0 = keras_layout.get_layer("mixed0")
    assert not mixed0.bn_scale and "count_include_pad" not in mixed0.branches[3][0]


def test_safetensors_without_the_aux_head(reference):
    # The checkpoint's AuxLogits tensors go unused when the model has no aux head.
    model = keras_cnns.inception_v3(
        layout="torchvision", weights=reference["safetensors"], classifier_activation=None
    )
    assert model.output_names == ["predictions"]
    assert_close(model(reference["images"], training=False), reference["logits"], "safetensors")


def test_nested_layers_hold_the_checkpoint(ours, reference):
    # A convolution inside a block (a concat's sub-branch) and a batch norm of the aux
    # head, compared directly with the checkpoint.
    state = reference["state"]
    keys = torchvision_keys(ours)
    assert keys.layers["mixed9/branch2_2a_1_conv"] == "Mixed_7b.branch3x3_2a.conv"
    conv = next(sub[0] for path, op, sub in ours.get_layer("mixed9").iter_ops()
                if sub and sub[0].name == "branch2_2a_1_conv")
    np.testing.assert_array_equal(
        conv.kernel.numpy(), state["Mixed_7b.branch3x3_2a.conv.weight"].transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(
        ours.get_layer("aux_conv1_bn").moving_variance.numpy(), state["AuxLogits.conv0.bn.running_var"]
    )


# ---------------------------------------------------------------------- heads and backbone
def test_any_num_classes_gets_fresh_heads(reference, caplog):
    with caplog.at_level(logging.WARNING, logger="keras_cnns"):
        model = keras_cnns.inception_v3(
            layout="torchvision", aux_logits=True, num_classes=10, weights=reference["pth"]
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "keras_cnns"]
    assert len(lines) == 1, lines
    assert "logits (checkpoint (2048, 1000), model (2048, 10))" in lines[0]
    assert "aux (checkpoint (768, 1000), model (768, 10))" in lines[0]
    for name, width in (("logits", 2048), ("aux", 768)):
        head = model.get_layer(name)
        assert head.kernel.shape == (width, 10)
        np.testing.assert_array_equal(head.bias.numpy(), np.zeros(10))
    state = reference["state"]
    np.testing.assert_array_equal(
        model.get_layer("aux_conv2").kernel.numpy(),
        state["AuxLogits.conv1.conv.weight"].transpose(2, 3, 1, 0),
    )
    np.testing.assert_array_equal(
        model.get_layer("conv_4a_3x3_bn").gamma.numpy(), state["Conv2d_4a_3x3.bn.weight"]
    )


def test_include_top_false_gives_torchvisions_pooled_features(reference):
    model = keras_cnns.inception_v3(
        layout="torchvision", include_top=False, pooling="avg",
        input_shape=(SMALL, SMALL, 3), weights=reference["pth"],
    )
    assert_close(model(reference["small"], training=False), reference["pooled"], "backbone 75x75")


def test_published_torchvision_name(reference, monkeypatch, tmp_path):
    # weights="torchvision" through the published route, offline: the file sits in the
    # cache under torchvision's name, the entry carries its sha256 prefix. Without the
    # top, at 75x75: the checkpoint goes into the published network (1000 classes) and
    # its layers are copied over.
    spec = registry.get_spec("inception_v3")
    entry = spec.weights["torchvision"]
    assert entry.top_url.endswith("inception_v3_google-0cc3c7bd.pth")
    assert (entry.input_shape, entry.preprocessing, entry.transform_input) == ((299, 299, 3), "torch", True)
    folder = tmp_path / entry.cache_subdir
    folder.mkdir(parents=True)
    shutil.copy(reference["pth"], folder / entry.file_name())
    local = dataclasses.replace(
        entry, top_hash=sha256(reference["pth"])[:8], cache_dir=str(tmp_path)
    )
    monkeypatch.setitem(
        registry._REGISTRY, "inception_v3",
        dataclasses.replace(spec, weights={**spec.weights, "torchvision": local}),
    )
    model = keras_cnns.inception_v3(
        layout="torchvision", weights="torchvision", include_top=False, pooling="avg",
        input_shape=(SMALL, SMALL, 3),
    )
    assert_close(model(reference["small"], training=False), reference["pooled"], "published")


# ---------------------------------------------------------------------- refusals
def test_each_layout_refuses_the_others_weights(tmp_path):
    path = str(tmp_path / "inception_v3.pth")
    open(path, "wb").close()  # refused before the file is read
    with pytest.raises(ValueError, match=r"`weights='imagenet'` are keras.applications' weights, "
                       r"for layout='keras'.*Pass inception_v3\(layout='keras', weights='imagenet'\)"):
        keras_cnns.inception_v3(layout="torchvision", weights="imagenet")
    with pytest.raises(ValueError, match=r"`weights='torchvision'` is torchvision's checkpoint.*"
                       r"received layout='keras'. Pass inception_v3\(layout='torchvision'"):
        keras_cnns.inception_v3(weights="torchvision")
    with pytest.raises(ValueError, match=r"is a PyTorch checkpoint.*layout='torchvision'") as err:
        keras_cnns.inception_v3(weights=path)
    assert path in str(err.value)
    with pytest.raises(ValueError, match=r"Invalid `layout`: 'tf'. Accepted values: 'keras', 'torchvision'"):
        keras_cnns.inception_v3(layout="tf")


def test_torchvisions_aux_head_needs_299(tmp_path):
    with pytest.raises(InputTooSmallError, match=r"\(298, 298, 3\) is too small for torchvision's "
                       r"auxiliary classifier.*at least 299x299. Pass aux_logits=False") as err:
        keras_cnns.inception_v3(layout="torchvision", aux_logits=True, input_shape=(298, 298, 3))
    assert err.value.min_size == 299
    # fit_input pads up to 299 inside the model instead.
    model = keras_cnns.inception_v3(
        layout="torchvision", aux_logits=True, input_shape=(150, 150, 3), fit_input="pad",
        num_classes=3,
    )
    assert model.get_layer("aux_pool").input.shape[1:3] == (17, 17)


# ---------------------------------------------------------------------- the pooling
def _include_pad_reference(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Average pooling over Keras/TF "same" zero padding, divided by the full window
    (numpy, NHWC)."""
    n, h, w, c = x.shape
    out_h, out_w = -(-h // stride), -(-w // stride)
    pad_h = max((out_h - 1) * stride + size - h, 0)
    pad_w = max((out_w - 1) * stride + size - w, 0)
    padded = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
    out = np.zeros((n, out_h, out_w, c), dtype=np.float64)
    for i in range(out_h):
        for j in range(out_w):
            window = padded[:, i * stride:i * stride + size, j * stride:j * stride + size]
            out[:, i, j] = window.sum(axis=(1, 2)) / (size * size)
    return out


def test_count_include_pad_pooling_matches_torch_and_numpy(rng):
    import torch.nn.functional as F

    x = rng.normal(size=(2, 7, 9, 5)).astype("float32")
    block = InceptionBlock([[{"op": "pool", "type": "avg", "size": 3, "count_include_pad": True}]])
    ours = np.asarray(block(x))
    theirs = F.avg_pool2d(_nchw(x), 3, stride=1, padding=1).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours, _include_pad_reference(x, 3, 1), rtol=0, atol=1e-6)
    # Keras' "same" pooling agrees inside and differs on the border.
    keras_same = np.asarray(InceptionBlock([[{"op": "pool", "type": "avg", "size": 3}]])(x))
    np.testing.assert_allclose(ours[:, 1:-1, 1:-1], keras_same[:, 1:-1, 1:-1], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours[:, 0, 0], keras_same[:, 0, 0] * 4 / 9, rtol=0, atol=1e-6)
    # A strided window over an even size: TF's uneven "same" split.
    layer = PaddedAveragePooling2D(3, strides=2)
    np.testing.assert_allclose(
        np.asarray(layer(x)), _include_pad_reference(x, 3, 2), rtol=0, atol=1e-6
    )
    assert layer.compute_output_shape(x.shape) == (2, 4, 5, 5)
