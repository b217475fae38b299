"""Reusable layers: real `keras.layers.Layer` subclasses, serializable, `keras.ops` only."""

from keras_cnns.layers.lenet import (
    LENET5_C3_TABLE,
    ConnectionTableConv2D,
    EuclideanRBF,
    TrainableSubsampling,
    scaled_tanh,
)
from keras_cnns.layers.lrn import LocalResponseNormalization

__all__ = [
    "LENET5_C3_TABLE",
    "ConnectionTableConv2D",
    "EuclideanRBF",
    "LocalResponseNormalization",
    "TrainableSubsampling",
    "scaled_tanh",
]
