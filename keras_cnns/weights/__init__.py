"""Weights from elsewhere: checkpoint files and their transfer into our models.

- `formats`: a `.pth`, `.pt` or `.safetensors` checkpoint read into a state dict of numpy
  arrays (`read_state_dict`); Keras' own files (`.weights.h5`, legacy `.h5`) are loaded
  by `keras_cnns.models.common.build_model` as before.
- `transfer`: the generic copy of a torchvision-style state dict into a Keras model,
  following a family's `CheckpointMap` (layouts, partial loads, errors), and the copy of
  a published file's network into a model with another classifier (`copy_layers`).
- `published`: what a published name stands for (`PretrainedWeights`: URL, hash,
  preprocessing), and torchvision's files (`TORCHVISION_URLS`, `torchvision_weights`).
- `download`: downloads into Keras' cache, hash checks, the converted-checkpoint cache
  and the `KERAS_CNNS_WEIGHTS_MIRROR` override.

Every builder's `weights=` takes such a file by path; the family file owns the map from
its layer names to the checkpoint's keys (`keras_cnns.models.resnet.torchvision_keys`).
"""

from keras_cnns.weights.formats import (
    CHECKPOINT_SUFFIXES,
    TORCH_EXTRA,
    is_checkpoint,
    read_state_dict,
)
from keras_cnns.weights.published import (
    KERAS_TOP1_SOURCE,
    PREPROCESSING,
    TORCHVISION_URLS,
    PretrainedWeights,
    torchvision_weights,
)
from keras_cnns.weights.transfer import (
    CheckpointMap,
    copy_layers,
    load_checkpoint,
    load_state_dict,
    log_fresh_layers,
)

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "TORCH_EXTRA",
    "KERAS_TOP1_SOURCE",
    "PREPROCESSING",
    "TORCHVISION_URLS",
    "CheckpointMap",
    "PretrainedWeights",
    "copy_layers",
    "is_checkpoint",
    "load_checkpoint",
    "load_state_dict",
    "log_fresh_layers",
    "read_state_dict",
    "torchvision_weights",
]
