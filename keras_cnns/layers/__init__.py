"""Reusable layers: real `keras.layers.Layer` subclasses, serializable, `keras.ops` only,
and the functions that wire plain Keras layers into named parts of a functional graph:
`conv_unit` and the heads of `heads.py` (classifier, fully connected top, global
pooling, auxiliary classifiers), which every model family ends with."""

from keras_cnns.layers.inception import (
    BranchSpecError,
    InceptionBlock,
    PaddedAveragePooling2D,
    concat,
    conv,
    conv_unit,
    normalize_branches,
    pool,
    spec_output_size,
)
from keras_cnns.layers.lenet import (
    LENET5_C3_TABLE,
    ConnectionTableConv2D,
    EuclideanRBF,
    TrainableSubsampling,
    scaled_tanh,
)
from keras_cnns.layers.batch_norm import BatchNormalization
from keras_cnns.layers.grouped_conv import GroupedConv2D
from keras_cnns.layers.whole_input_conv import WholeInputConv2D
from keras_cnns.layers.lrn import LocalResponseNormalization
from keras_cnns.layers.stochastic_depth import StochasticDepth, linear_survival_probabilities
from keras_cnns.layers.residual import IdentityShortcut, ResidualBlock
from keras_cnns.layers.dense import DenseBlock, TransitionLayer
from keras_cnns.layers.preprocessing import WeightsPreprocessing
from keras_cnns.layers.heads import (
    CLASSIFIER,
    MAIN_OUTPUT,
    classifier,
    fully_connected,
    fully_connected_classifier,
    global_pool,
    googlenet_aux_head,
    inception_v3_aux_head,
    main_output_name,
    pooled_classifier,
    with_aux_heads,
)

__all__ = [
    "WeightsPreprocessing",
    "BatchNormalization",
    "BranchSpecError",
    "InceptionBlock",
    "PaddedAveragePooling2D",
    "LENET5_C3_TABLE",
    "ConnectionTableConv2D",
    "DenseBlock",
    "EuclideanRBF",
    "GroupedConv2D",
    "WholeInputConv2D",
    "IdentityShortcut",
    "LocalResponseNormalization",
    "ResidualBlock",
    "StochasticDepth",
    "TrainableSubsampling",
    "TransitionLayer",
    "linear_survival_probabilities",
    "scaled_tanh",
    # inception branch specifications
    "concat",
    "conv",
    "conv_unit",
    "normalize_branches",
    "pool",
    "spec_output_size",
    # heads (keras_cnns.layers.heads)
    "CLASSIFIER",
    "MAIN_OUTPUT",
    "classifier",
    "fully_connected",
    "fully_connected_classifier",
    "global_pool",
    "googlenet_aux_head",
    "inception_v3_aux_head",
    "main_output_name",
    "pooled_classifier",
    "with_aux_heads",
]
