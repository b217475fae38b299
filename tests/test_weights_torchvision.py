"""torchvision checkpoints (`.pth`, `.safetensors`) loaded into our ResNets: the same
logits as torchvision on random weights and random batch-norm statistics, any
`num_classes`, `include_top=False`, and the errors for files that do not fit. Offline:
every checkpoint is written here from torchvision's model definitions (the `torchvision`
fixture of conftest.py)."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import keras_cnns
from keras_cnns.weights import read_state_dict
from conftest import count
from torch_reference import assert_resnet18_backbone_with_fresh_head, random_torchvision

SIZE = 64
ARCHS = ("resnet18", "resnet50")


@pytest.fixture(scope="module")
def checkpoints(torchvision, tmp_path_factory):
    """arch -> the .pth and .safetensors files of one random torchvision model, images
    (NHWC), torchvision's logits and pooled features on them, and its parameter count."""
    import safetensors.torch
    import torch

    folder = tmp_path_factory.mktemp("checkpoints")
    images = np.random.default_rng(0).normal(size=(2, SIZE, SIZE, 3)).astype("float32")
    found = {}
    for seed, arch in enumerate(ARCHS):
        model = random_torchvision(torchvision, arch, seed)
        pth, safe = folder / f"{arch}.pth", folder / f"{arch}.safetensors"
        state = model.state_dict()
        torch.save(state, pth)
        safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, safe)
        with torch.no_grad():
            nchw = torch.from_numpy(images.transpose(0, 3, 1, 2))
            logits = model(nchw).numpy()
            backbone = torch.nn.Sequential(*list(model.children())[:-1])
            features = backbone(nchw).flatten(1).numpy()
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        found[arch] = dict(pth=pth, safetensors=safe, images=images, logits=logits,
                           features=features, trainable=trainable)
    return found


def _build(arch: str, **kwargs):
    kwargs.setdefault("input_shape", (SIZE, SIZE, 3))
    return getattr(keras_cnns, arch)(**kwargs)


def _max_diff(ours, theirs) -> tuple[float, float]:
    return float(np.max(np.abs(np.asarray(ours) - theirs))), float(np.max(np.abs(theirs)))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_same_logits_as_torchvision(checkpoints, arch, fmt):
    ref = checkpoints[arch]
    model = _build(arch, weights=str(ref[fmt]), classifier_activation=None)
    diff, scale = _max_diff(model(ref["images"], training=False), ref["logits"])
    assert scale > 1.0  # random weights and statistics give logits far from zero
    assert diff <= 1e-4 * scale, (arch, fmt, diff, scale)
    if arch == "resnet18" and fmt == "pth":
        assert count(model.trainable_weights) == 11_689_512 == ref["trainable"]


def test_any_num_classes_keeps_the_backbone(checkpoints, caplog):
    ref = checkpoints["resnet18"]
    with caplog.at_level(logging.WARNING, logger="keras_cnns"):
        model = _build("resnet18", weights=str(ref["pth"]), num_classes=10)
    lines = [r.getMessage() for r in caplog.records if r.name == "keras_cnns"]
    assert len(lines) == 1 and "predictions" in lines[0] and str(ref["pth"]) in lines[0]
    assert "predictions (checkpoint (512, 1000), model (512, 10))" in lines[0]  # Keras layout
    # The fresh head: Keras' initialization (zero bias), nothing of the checkpoint's.
    assert_resnet18_backbone_with_fresh_head(model, read_state_dict(ref["pth"]), 10)


def test_include_top_false_loads_the_backbone(checkpoints, caplog):
    ref = checkpoints["resnet18"]
    with caplog.at_level(logging.WARNING, logger="keras_cnns"):
        model = _build("resnet18", weights=str(ref["safetensors"]), include_top=False, pooling="avg")
    assert not [r for r in caplog.records if r.name == "keras_cnns"]
    diff, scale = _max_diff(model(ref["images"], training=False), ref["features"])
    assert diff <= 1e-4 * scale, (diff, scale)


def test_checkpoint_of_another_architecture(checkpoints):
    resnet50 = str(checkpoints["resnet50"]["pth"])
    # Bottleneck 1x1 kernels where the basic block has 3x3 ones.
    with pytest.raises(ValueError) as err:
        _build("resnet18", weights=resnet50)
    message = str(err.value)
    assert resnet50 in message and "conv2_block1_1_conv" in message
    assert "(64, 64, 1, 1)" in message and "(64, 64, 3, 3)" in message
    # A checkpoint with fewer blocks: resnet18's into resnet34.
    resnet18 = str(checkpoints["resnet18"]["safetensors"])
    with pytest.raises(ValueError, match=r"has no tensor 'layer1\.2\.conv1\.weight' for layer "
                       r"'conv2_block3_1_conv', which needs shape \(64, 64, 3, 3\)") as err:
        _build("resnet34", weights=resnet18, include_top=False)
    assert resnet18 in str(err.value)


def test_checkpoint_with_more_layers_than_the_model(checkpoints, tmp_path):
    # resnet18's tensors plus a block of a deeper network: the extra tensors are refused.
    state = read_state_dict(checkpoints["resnet18"]["safetensors"])
    state["layer1.2.conv1.weight"] = np.zeros((64, 64, 3, 3), "float32")
    import safetensors.numpy

    path = str(tmp_path / "extra.safetensors")
    safetensors.numpy.save_file(state, path)
    with pytest.raises(ValueError, match=r"holds 'layer1\.2\.conv1\.weight' \(shape \(64, 64, 3, 3\)\)"
                       r", which no layer of 'resnet18' takes") as err:
        _build("resnet18", weights=path, include_top=False)
    assert path in str(err.value)


@pytest.mark.parametrize("fmt", ["pth", "safetensors"])
def test_truncated_file(checkpoints, tmp_path, fmt):
    source = checkpoints["resnet18"][fmt]
    path = tmp_path / f"truncated.{fmt}"
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt") as err:
        read_state_dict(path)
    assert str(path) in str(err.value)
    if fmt == "pth":  # the same error through a builder
        with pytest.raises(ValueError, match="truncated or corrupt"):
            _build("resnet18", weights=str(path), include_top=False)


def test_rgb_weights_into_a_grey_input(checkpoints):
    path = str(checkpoints["resnet18"]["pth"])
    with pytest.raises(ValueError) as err:
        _build("resnet18", weights=path, input_shape=(SIZE, SIZE, 1))
    message = str(err.value)
    assert path in message and "3-channel inputs" in message and "1-channel inputs" in message
    assert "input_shape=(height, width, 3)" in message and "channel conversion" in message


def test_missing_torch_names_the_extra(checkpoints, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "keras_cnns\[torch\]"'):
        _build("resnet18", weights=str(checkpoints["resnet18"]["pth"]), include_top=False)


def test_layouts_torchvision_does_not_have(checkpoints):
    path = str(checkpoints["resnet50"]["pth"])
    with pytest.raises(ValueError, match=r"layout='v1\.5' with shortcut='B'"):
        keras_cnns.resnet50(layout="keras", weights=path)
    with pytest.raises(ValueError, match=r"received layout='v1\.5', shortcut='A'"):
        keras_cnns.resnet18(shortcut="A", weights=path)


def test_family_without_a_checkpoint_map(checkpoints):
    with pytest.raises(ValueError, match=r"'lenet5' cannot load .*\.safetensors checkpoints"):
        keras_cnns.lenet5(weights=str(checkpoints["resnet18"]["safetensors"]))


def test_safetensors_need_no_torch(checkpoints):
    # A fresh interpreter: importing keras_cnns, building a model and loading a
    # .safetensors checkpoint never import torch.
    script = textwrap.dedent(f"""
        import sys
        import keras_cnns
        keras_cnns.resnet18(input_shape=(32, 32, 3))
        assert "torch" not in sys.modules, "building imported torch"
        keras_cnns.resnet18(input_shape=(32, 32, 3), weights={str(checkpoints["resnet18"]["safetensors"])!r})
        assert "torch" not in sys.modules, "loading .safetensors imported torch"
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_linear_after_a_flattened_feature_map(torchvision):
    # AlexNet's and VGG's first fully connected layer reads a flattened feature map:
    # PyTorch flattens it in (C, H, W) order, Keras in (H, W, C) order.
    import keras
    import torch

    from keras_cnns.weights import CheckpointMap, load_state_dict

    torch.manual_seed(0)
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 5)
    ).eval()
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.Flatten(name="flatten")(x)
    ours = keras.Model(inputs, keras.layers.Dense(5, name="fc")(x))
    state = {k: v.numpy() for k, v in theirs.state_dict().items()}
    load_state_dict(ours, state, CheckpointMap({"conv": "0", "fc": "3"}, flattened={"fc": "flatten"}))
    images = np.random.default_rng(1).normal(size=(2, 8, 8, 3)).astype("float32")
    with torch.no_grad():
        expected = theirs(torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy()
    np.testing.assert_allclose(ours(images).numpy(), expected, atol=1e-5)
