"""keras_cnns: the classic convolutional networks, LeNet-5 to DenseNet, for Keras 3.

Every registered model is available as `keras_cnns.<name>(...)`, e.g.
`keras_cnns.vgg19(num_classes=10, input_shape=(32, 32, 3))`, and by name through
`keras_cnns.get_model("vgg19", ...)`; `keras_cnns.list_models()` lists them.
"""

import os

# oneDNN made training about 2x faster on this project's x86-64 CPUs (LeNet-5 2.09x,
# ResNet-20 2.17x; benchmarks/results/pipeline_throughput.md). TensorFlow 2.21 turns it
# on by default on Linux x86-64, older versions and other builds may not: ask for it
# unless the user chose. Only effective when TensorFlow is not imported yet.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from keras_cnns import layers  # noqa: E402,F401  (registers the serializable layers)
from keras_cnns import schedules  # noqa: E402,F401  (registers the recipe schedule)
from keras_cnns import optimizers  # noqa: E402,F401  (registers the fused SGD)
from keras_cnns.models import get_model, get_spec, list_families, list_models  # noqa: E402
from keras_cnns.models.registry import _REGISTRY  # noqa: E402
from keras_cnns.models.densenet import densenet_cifar  # noqa: E402
from keras_cnns.models.resnet import resnet_cifar  # noqa: E402
from keras_cnns.models.vgg import vgg  # noqa: E402

__version__ = "0.1.0"

# One attribute per registered builder: keras_cnns.vgg19, keras_cnns.lenet5, ...
globals().update({name: spec.builder for name, spec in _REGISTRY.items()})

__all__ = [
    "get_model", "get_spec", "list_families", "list_models", "train", "tune", "vgg",
    "resnet_cifar", "densenet_cifar", "analysis", "export", "serving", *_REGISTRY,
]

# Imported on first use: each pulls in more (tf.data and matplotlib, KerasTuner, the
# TFLite converter) than building a model needs.
_LAZY_MODULES = ("analysis", "export", "serving", "tuning", "training")


def __getattr__(name: str):
    # Training pulls in tf.data, the data sets and matplotlib: import it on first use.
    import importlib

    if name == "train":
        return importlib.import_module("keras_cnns.training").train
    if name == "tune":
        return importlib.import_module("keras_cnns.tuning").tune
    if name in _LAZY_MODULES:
        return importlib.import_module(f"keras_cnns.{name}")
    raise AttributeError(f"module 'keras_cnns' has no attribute {name!r}")
