"""torchvision checkpoints of AlexNet, the VGGs (plain and `_bn`) and the DenseNets loaded
into ours: the same outputs as torchvision on random weights and random batch-norm
statistics, the same trainable parameter counts, and errors for what cannot fit. Offline:
every checkpoint is written here from torchvision's model definitions (the `torchvision`
fixture of conftest.py).

Time: the VGGs and AlexNet need 224x224 inputs with their fully connected top (see
`test_vgg_top_needs_the_7x7_grid`), so vgg11 and vgg13_bn are compared whole, at 224x224
on two images, and the other VGGs by their convolutional part (`include_top=False`, at
32x32) and parameter counts; the classifier is the same three layers in every VGG. The
DenseNets are compared whole at 32x32, their smallest input.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

import keras_cnns
from keras_cnns.models.densenet import rename_legacy_keys
from keras_cnns.weights import read_state_dict
from conftest import count
from torch_reference import assert_close, randomize_batch_norms, save_state, trainable_count



@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread(torchvision):
    """torch on one thread while these tests run: its thread pool and TensorFlow's, both
    spinning for work on two shared cores, made the small torch runs here seconds long
    (this file took 95 s with torch's two threads, 45 s with one, on a busy 2-core
    machine)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------- helpers
def _randomize(model, seed: int):
    """Random weights, biases, batch-norm parameters and statistics, in place, eval mode.
    torchvision starts biases and batch norms at constants, which would leave their
    transfer untested, and its initialization of AlexNet shrinks the signal layer after
    layer until the logits are the last bias; He's initialization (N(0, 2 / fan_in))
    keeps the outputs' dependence on the image well above the tolerance."""
    import torch

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)) and module.bias is not None:
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
    randomize_batch_norms(model, generator)
    return model.eval()


def _torchvision_model(torchvision, arch: str, seed: int):
    """torchvision's `arch` with random values (`_randomize`), in eval mode. Built on the
    meta device and then given memory, which skips torchvision's own initialization
    (seconds for a VGG's 120M-parameter classifier) that `_randomize` replaces anyway."""
    import torch

    with torch.device("meta"):
        model = getattr(torchvision.models, arch)(weights=None)
    model = _randomize(model.to_empty(device="cpu"), seed)
    assert all(torch.isfinite(t).all() for t in model.state_dict().values())
    return model




def _run(module, images: np.ndarray) -> np.ndarray:
    """torchvision's output on NHWC `images` (given to it as NCHW), back in NHWC order
    where it is a feature map."""
    import torch

    with torch.no_grad():
        out = module(torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy()
    return out.transpose(0, 2, 3, 1) if out.ndim == 4 else out




def _images(size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(2, size, size, 3)).astype("float32")




# ---------------------------------------------------------------------- AlexNet
@pytest.fixture(scope="module")
def alexnet_checkpoint(torchvision, tmp_path_factory):
    folder = tmp_path_factory.mktemp("alexnet")
    model = _torchvision_model(torchvision, "alexnet", seed=1)
    images = _images(224)
    state = model.state_dict()
    return dict(
        pth=save_state(state, folder / "alexnet.pth"),
        safetensors=save_state(state, folder / "alexnet.safetensors"),
        images=images, logits=_run(model, images), trainable=trainable_count(model),
    )


def test_alexnet_same_logits_as_torchvision(alexnet_checkpoint):
    ref = alexnet_checkpoint
    model = keras_cnns.alexnet(
        variant="single_tower", weights=ref["safetensors"], classifier_activation=None
    )
    assert_close(model(ref["images"], training=False), ref["logits"], "alexnet")
    assert count(model.trainable_weights) == ref["trainable"] == 61_100_840


def test_alexnet_any_num_classes(alexnet_checkpoint, caplog):
    # fc6 and fc7 load (fc6's rows regrouped from NCHW to NHWC order), the classifier
    # starts fresh, and one log line says so.
    ref = alexnet_checkpoint
    with caplog.at_level(logging.WARNING, logger="keras_cnns"):
        model = keras_cnns.alexnet(variant="single_tower", weights=ref["pth"], num_classes=10)
    lines = [r.getMessage() for r in caplog.records if r.name == "keras_cnns"]
    assert len(lines) == 1 and "predictions (checkpoint (4096, 1000), model (4096, 10))" in lines[0]
    state = read_state_dict(ref["pth"])
    fc6 = state["classifier.1.weight"].reshape(4096, 256, 6, 6).transpose(2, 3, 1, 0)
    np.testing.assert_array_equal(model.get_layer("fc6").kernel.numpy(), fc6.reshape(-1, 4096))
    np.testing.assert_array_equal(model.get_layer("fc7").bias.numpy(), state["classifier.4.bias"])
    np.testing.assert_array_equal(model.get_layer("predictions").bias.numpy(), np.zeros(10))


def test_alexnet_checkpoint_needs_the_single_tower_and_6x6_grid(tmp_path):
    path = str(tmp_path / "alexnet.pth")
    open(path, "wb").close()  # refused before the file is read
    with pytest.raises(ValueError, match=r"variant='single_tower' with groups=1 and no LRN; "
                       r"received variant='paper', groups=2, lrn=True") as err:
        keras_cnns.alexnet(weights=path)
    assert path in str(err.value)
    with pytest.raises(ValueError, match=r"lrn=True"):
        keras_cnns.alexnet(variant="single_tower", lrn=True, weights=path)
    # With the top, the input must give torchvision's 6x6 grid before fc6.
    with pytest.raises(ValueError, match=r"input_shape \(63, 63, 3\) gives a 1x1 pool5"):
        keras_cnns.alexnet(variant="single_tower", weights=path, input_shape=(63, 63, 3))


# ---------------------------------------------------------------------- VGG
VGG_WHOLE = {"vgg11": "pth", "vgg13_bn": "safetensors"}
VGG_BACKBONE = ("vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg16_bn", "vgg19_bn")
VGG_TORCHVISION_COUNTS = {"vgg11": 132_863_336, "vgg13_bn": 133_053_736}


def _ours_vgg(arch: str, **kwargs):
    name, bn = (arch[:-3], True) if arch.endswith("_bn") else (arch, False)
    return getattr(keras_cnns, name)(batch_norm=bn, **kwargs)


@pytest.mark.parametrize("arch", sorted(VGG_WHOLE))
def test_vgg_same_logits_as_torchvision(torchvision, tmp_path, arch):
    images = _images(224)
    model = _torchvision_model(torchvision, arch, seed=2)
    path = save_state(model.state_dict(), tmp_path / f"{arch}.{VGG_WHOLE[arch]}")
    logits, trainable = _run(model, images), trainable_count(model)
    del model
    ours = _ours_vgg(arch, weights=path, classifier_activation=None)
    assert_close(ours(images, training=False), logits, arch)
    assert count(ours.trainable_weights) == trainable == VGG_TORCHVISION_COUNTS[arch]


@pytest.mark.parametrize("arch", VGG_BACKBONE)
def test_vgg_features_same_as_torchvision(torchvision, tmp_path, arch):
    # The checkpoint of torchvision's convolutional part alone: built on the meta device
    # (no memory, no initialization of the 120M-parameter classifier), then materialized
    # and given random values.
    import torch

    with torch.device("meta"):
        whole = getattr(torchvision.models, arch)(weights=None)
    features = _randomize(whole.features.to_empty(device="cpu"), seed=3)
    assert all(torch.isfinite(t).all() for t in features.state_dict().values())
    path = save_state(
        {f"features.{k}": v for k, v in features.state_dict().items()}, tmp_path / f"{arch}.pth"
    )
    images = _images(32)
    ours = _ours_vgg(arch, weights=path, include_top=False, input_shape=(32, 32, 3))
    assert_close(ours(images, training=False), _run(features, images), f"{arch} features")
    # The convolutional part has torchvision's parameters, and the classifier (the same
    # in every VGG, compared whole above) adds the same to both.
    assert count(ours.trainable_weights) == trainable_count(features)
    classifier = trainable_count(whole) - trainable_count(whole.features)
    assert classifier == 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000


def test_vgg_top_needs_the_7x7_grid(tmp_path):
    path = str(tmp_path / "vgg11.pth")
    open(path, "wb").close()  # refused before the file is read
    with pytest.raises(ValueError, match=r"inputs of 224 to 255 pixels a side; input_shape "
                       r"\(64, 64, 3\) gives a 2x2 block5_pool") as err:
        keras_cnns.vgg11(weights=path, input_shape=(64, 64, 3))
    assert path in str(err.value) and "include_top=False" in str(err.value)


@pytest.mark.parametrize("builder", ["vgg16_c", "vgg11_lrn"])
def test_vgg_configurations_torchvision_lacks(tmp_path, builder):
    path = str(tmp_path / "vgg.safetensors")
    open(path, "wb").close()
    with pytest.raises(ValueError, match=rf"{builder} \(configuration .*\) is not one of them"):
        getattr(keras_cnns, builder)(weights=path)


# ---------------------------------------------------------------------- DenseNet
DENSENET_SIZE = 32  # the smallest input: a 1x1 map after the last transition
# torchvision's trainable parameters (its model cards).
DENSENET_COUNTS = {
    "densenet121": 7_978_856, "densenet161": 28_681_000, "densenet169": 14_149_480,
    "densenet201": 20_013_928,
}


@pytest.fixture(scope="module")
def densenet121_checkpoint(torchvision, tmp_path_factory):
    folder = tmp_path_factory.mktemp("densenet121")
    model = _torchvision_model(torchvision, "densenet121", seed=4)
    images = _images(DENSENET_SIZE)
    state = model.state_dict()
    return dict(
        pth=save_state(state, folder / "densenet121.pth"),
        safetensors=save_state(state, folder / "densenet121.safetensors"),
        state=state, images=images, logits=_run(model, images), trainable=trainable_count(model),
    )


def test_densenet121_same_logits_as_torchvision(densenet121_checkpoint):
    ref = densenet121_checkpoint
    model = keras_cnns.densenet121(
        input_shape=(DENSENET_SIZE,) * 2 + (3,), weights=ref["safetensors"],
        classifier_activation=None,
    )
    assert_close(model(ref["images"], training=False), ref["logits"], "densenet121")
    assert count(model.trainable_weights) == ref["trainable"] == DENSENET_COUNTS["densenet121"]


def test_densenet121_memory_efficient(densenet121_checkpoint):
    # Loaded into the plain network, then copied into the DenseBlock / TransitionLayer one.
    ref = densenet121_checkpoint
    model = keras_cnns.densenet121(
        input_shape=(DENSENET_SIZE,) * 2 + (3,), weights=ref["pth"], memory_efficient=True,
        classifier_activation=None,
    )
    outputs = model(ref["images"], training=False)
    assert_close(outputs, ref["logits"], "densenet121 memory_efficient")


@pytest.mark.parametrize("arch", ["densenet161", "densenet169", "densenet201"])
def test_densenet_same_logits_as_torchvision(torchvision, tmp_path, arch):
    images = _images(DENSENET_SIZE)
    model = _torchvision_model(torchvision, arch, seed=5)
    path = save_state(model.state_dict(), tmp_path / f"{arch}.pth")
    ours = getattr(keras_cnns, arch)(
        input_shape=(DENSENET_SIZE,) * 2 + (3,), weights=path, classifier_activation=None
    )
    assert_close(ours(images, training=False), _run(model, images), arch)
    assert count(ours.trainable_weights) == trainable_count(model) == DENSENET_COUNTS[arch]


def test_densenet_legacy_keys(densenet121_checkpoint):
    # torchvision's published DenseNet files name a dense layer's modules `norm.1`,
    # `conv.1`, `norm.2`, `conv.2`; renamed, they are today's keys.
    # (Those files predate `num_batches_tracked`, which the transfer skips anyway.)
    state = {k: v for k, v in densenet121_checkpoint["state"].items()
             if not k.endswith("num_batches_tracked")}
    legacy = {}
    for key, value in state.items():
        for new, old in (("norm1.", "norm.1."), ("conv1.", "conv.1."), ("norm2.", "norm.2."),
                         ("conv2.", "conv.2.")):
            if ".denselayer" in key and f".{new}" in key:
                key = key.replace(f".{new}", f".{old}")
        legacy[key] = value
    assert "features.denseblock1.denselayer1.norm.1.weight" in legacy
    assert "features.transition1.norm.weight" in legacy and "features.norm5.weight" in legacy
    assert list(rename_legacy_keys(legacy)) == list(state)


def test_densenet_checkpoint_with_legacy_keys_loads(densenet121_checkpoint, tmp_path):
    """A file saved under the legacy names (as torchvision publishes DenseNet) loads as is."""
    checkpoint = densenet121_checkpoint
    legacy = {}
    for key, value in checkpoint["state"].items():
        if ".denselayer" in key:
            for new, old in (("norm1.", "norm.1."), ("conv1.", "conv.1."),
                             ("norm2.", "norm.2."), ("conv2.", "conv.2.")):
                key = key.replace(f".{new}", f".{old}")
        legacy[key] = value
    path = save_state(legacy, tmp_path / "densenet121-legacy.pth")
    size = checkpoint["images"].shape[1]
    ours = keras_cnns.densenet121(
        weights=path, input_shape=(size, size, 3), classifier_activation=None
    )
    assert_close(ours(checkpoint["images"], training=False), checkpoint["logits"], "legacy keys")
