"""`import torchvision` for its model definitions only, beside the CPU torch wheel.

Why: torchvision 0.28.0 is the release made for torch 2.13.0, but its compiled operators
(`torchvision/_C.so`: NMS, RoI align, ...) do not load beside the `torch==2.13.0` CPU wheel
this project installs, and `import torchvision` then fails in `_meta_registrations.py`,
whose `@torch.library.register_fake("torchvision::nms")` raises
`RuntimeError: operator torchvision::nms does not exist`. The model definitions
(`torchvision.models.vgg11`, `resnet50`, `DenseNet`, ...) are plain `nn.Module` code that
needs none of those operators, so during the import, and only then, `register_fake`
skips the fake (meta) kernels of `torchvision::` operators that do not exist. Detection
ops (`torchvision.ops.nms`, ...) stay unusable; the benchmarks never call them.
"""

from __future__ import annotations


def import_torchvision():
    """The `torchvision` module, imported with the shim described above."""
    import sys

    if "torchvision" in sys.modules:
        return sys.modules["torchvision"]
    import torch.library

    original = torch.library.register_fake

    def register_fake(op, func=None, /, *args, **kwargs):
        def register(fn):
            try:
                return original(op, fn, *args, **kwargs)
            except RuntimeError as err:
                if (isinstance(op, str) and op.startswith("torchvision::")
                        and "does not exist" in str(err)):
                    return fn  # an operator of torchvision/_C.so, which did not load
                raise

        return register if func is None else register(func)

    torch.library.register_fake = register_fake
    try:
        import torchvision
    finally:
        torch.library.register_fake = original
    return torchvision
