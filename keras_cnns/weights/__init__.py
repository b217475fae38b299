"""Weights from elsewhere: checkpoint files and their transfer into our models.

- `formats`: a `.pth`, `.pt` or `.safetensors` checkpoint read into a state dict of numpy
  arrays (`read_state_dict`); Keras' own files (`.weights.h5`, legacy `.h5`) are loaded
  by `keras_cnns.models.common.build_model` as before.
- `transfer`: the generic copy of a torchvision-style state dict into a Keras model,
  following a family's `CheckpointMap` (layouts, partial loads, errors).

Every builder's `weights=` takes such a file by path; the family file owns the map from
its layer names to the checkpoint's keys (`keras_cnns.models.resnet.torchvision_keys`).
"""

from keras_cnns.weights.formats import (
    CHECKPOINT_SUFFIXES,
    TORCH_EXTRA,
    is_checkpoint,
    read_state_dict,
)
from keras_cnns.weights.transfer import CheckpointMap, load_checkpoint, load_state_dict

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "TORCH_EXTRA",
    "CheckpointMap",
    "is_checkpoint",
    "load_checkpoint",
    "load_state_dict",
    "read_state_dict",
]
