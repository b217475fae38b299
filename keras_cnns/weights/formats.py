"""Checkpoint files read into a plain state dict: `{key: numpy array}`.

- `.pth` / `.pt`: a PyTorch `state_dict` saved by `torch.save` (torchvision's files), read
  with `torch.load(path, map_location="cpu", weights_only=True)`, which unpickles tensors
  and containers only, never code. torch is an optional extra (`keras_cnns[torch]`) and is
  imported here, on first use only.
- `.safetensors`: read with the `safetensors` package's numpy API, no torch needed.

Keras' own weight files (`.weights.h5`, keras.applications' legacy `.h5`) are not state
dicts: `build_model` loads them as it always has (`model.load_weights` or the family's
loader).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

TORCH_SUFFIXES = (".pth", ".pt")
SAFETENSORS_SUFFIXES = (".safetensors",)
CHECKPOINT_SUFFIXES = TORCH_SUFFIXES + SAFETENSORS_SUFFIXES

TORCH_EXTRA = 'pip install "keras_cnns[torch]"'

# Wrappers some training scripts put around the state dict (`{"state_dict": ...}`).
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")


def is_checkpoint(path: Any) -> bool:
    """Whether `path` names a state-dict checkpoint (`.pth`, `.pt`, `.safetensors`) by
    its suffix, rather than a Keras weights file."""
    if isinstance(path, os.PathLike):
        path = os.fspath(path)
    return isinstance(path, str) and path.lower().endswith(CHECKPOINT_SUFFIXES)


def read_state_dict(path: Any) -> dict[str, np.ndarray]:
    """The tensors of a `.pth`, `.pt` or `.safetensors` checkpoint, as numpy arrays by
    key (floating-point tensors as float32), in the file's order.

    Raises:
        ImportError: a `.pth`/`.pt` file without torch installed (the message names the
            `keras_cnns[torch]` extra, and `.safetensors` as the torch-free format).
        ValueError: a file that is not such a checkpoint (truncated, corrupt, or holding
            something other than a dict of tensors); the message names the file.
    """
    path = os.fspath(path)
    lower = path.lower()
    if lower.endswith(SAFETENSORS_SUFFIXES):
        return _read_safetensors(path)
    if lower.endswith(TORCH_SUFFIXES):
        return _read_torch(path)
    raise ValueError(
        f"{path!r} is not a state-dict checkpoint: expected a file ending in "
        f"{', '.join(CHECKPOINT_SUFFIXES)}."
    )


def _read_safetensors(path: str) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    try:
        tensors = load_file(path)
    except Exception as err:  # safetensors' own error type (SafetensorError), OSError
        raise ValueError(
            f"Cannot read {path!r} as a .safetensors checkpoint (a JSON header and the "
            f"tensors' bytes); the file is truncated or corrupt: {err}"
        ) from err
    return {key: _float32(np.asarray(value)) for key, value in tensors.items()}


def _read_torch(path: str) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError as err:
        raise ImportError(
            f"Reading the PyTorch checkpoint {path!r} needs torch, which is not installed: "
            f"{TORCH_EXTRA} (or convert the file to .safetensors, which loads without "
            "torch)."
        ) from err
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # RuntimeError (zip reader), UnpicklingError, EOFError, ...
        raise ValueError(
            f"Cannot read {path!r} as a PyTorch checkpoint (a state_dict saved by "
            f"torch.save, tensors only); the file is truncated or corrupt, or holds other "
            f"objects: {err}"
        ) from err
    state = _unwrap(loaded)
    if not isinstance(state, dict) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise ValueError(
            f"{path!r} does not hold a state_dict (a dict of tensors by key, as "
            f"`torch.save(model.state_dict(), path)` writes); it holds a "
            f"{type(loaded).__name__}."
        )
    arrays = {}
    for key, tensor in state.items():
        tensor = tensor.detach().cpu()
        if tensor.is_floating_point():
            tensor = tensor.to(torch.float32)
        arrays[key] = tensor.numpy()
    return arrays


def _unwrap(loaded: Any) -> Any:
    if isinstance(loaded, dict):
        for key in _WRAPPER_KEYS:
            if key in loaded and isinstance(loaded[key], dict):
                return loaded[key]
    return loaded


def _float32(array: np.ndarray) -> np.ndarray:
    if np.issubdtype(array.dtype, np.floating) and array.dtype != np.float32:
        return array.astype(np.float32)
    return array
