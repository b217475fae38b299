"""torchvision reference models with random values, for the checkpoint-conversion tests.

torchvision starts batch norms at constants (weight 1, bias 0, mean 0, variance 1), which
would leave their transfer untested: every reference model gets random ones.
"""

from __future__ import annotations


def randomize_batch_norms(model, generator) -> None:
    """Random batch-norm scales, offsets and running statistics, in place."""
    import torch

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                shape = module.running_mean.shape
                module.weight.copy_(torch.rand(shape, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(shape, generator=generator) * 0.1)
                module.running_mean.copy_(torch.randn(shape, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(shape, generator=generator) + 0.5)
                module.num_batches_tracked.zero_()


def random_torchvision(torchvision, arch: str, seed: int):
    """torchvision's `arch` with its own random initialization and random batch norms,
    in eval mode."""
    import torch

    torch.manual_seed(seed)
    model = getattr(torchvision.models, arch)(weights=None)
    randomize_batch_norms(model, torch.Generator().manual_seed(seed))
    return model.eval()


def assert_resnet18_backbone_with_fresh_head(model, state, num_classes: int) -> None:
    """`model` (our resnet18) holds `state`'s backbone (checked on the first convolution and
    the last batch norm) and a fresh `num_classes` classifier (Keras' zero bias)."""
    import numpy as np

    np.testing.assert_array_equal(
        model.get_layer("conv1_conv").kernel.numpy(), state["conv1.weight"].transpose(2, 3, 1, 0)
    )
    np.testing.assert_array_equal(
        model.get_layer("conv5_block2_2_bn").moving_variance.numpy(),
        state["layer4.1.bn2.running_var"],
    )
    head = model.get_layer("predictions")
    assert head.kernel.shape == (512, num_classes)
    np.testing.assert_array_equal(head.bias.numpy(), np.zeros(num_classes))


# ------------------------------------------------------- shared by the checkpoint tests
RTOL = 1e-4  # of the scale of torchvision's outputs


def save_state(state: dict, path) -> str:
    """`state` as a `.pth` (torch.save) or `.safetensors` file, by `path`'s suffix."""
    import torch

    if str(path).endswith(".safetensors"):
        import safetensors.torch

        safetensors.torch.save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return str(path)


def trainable_count(module) -> int:
    """torch's count of a module's trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def assert_close(ours, theirs, what: str) -> None:
    """Our output equals torchvision's to `RTOL` of its scale, on two images whose outputs
    differ (so the comparison depends on the inputs, not only on the biases)."""
    import numpy as np

    ours = np.asarray(ours)
    assert ours.shape == theirs.shape, (what, ours.shape, theirs.shape)
    diff, scale = float(np.max(np.abs(ours - theirs))), float(np.max(np.abs(theirs)))
    assert float(np.max(np.abs(theirs[0] - theirs[1]))) > 0.01 * scale, what
    assert diff <= RTOL * scale, (what, diff, scale)
    print(f"{what}: max abs diff {diff:.3g} (scale {scale:.3g})")
