"""keras_cnns: the classic convolutional networks, LeNet-5 to DenseNet, for Keras 3.

Every registered model is available as `keras_cnns.<name>(...)`, e.g.
`keras_cnns.vgg19(num_classes=10, input_shape=(32, 32, 3))`, and by name through
`keras_cnns.get_model("vgg19", ...)`; `keras_cnns.list_models()` lists them.
"""

from keras_cnns.runtime import apply_onednn_default
from keras_cnns.version import __version__

apply_onednn_default()  # before TensorFlow is imported (below, through Keras)

from keras_cnns.console import startup_banners_filtered  # noqa: E402

with startup_banners_filtered():  # TensorFlow's import banners (KERAS_CNNS_VERBOSE=1 shows them)
    import keras  # noqa: E402,F401

from keras_cnns import layers  # noqa: E402,F401  (registers the serializable layers)
from keras_cnns import schedules  # noqa: E402,F401  (registers the recipe schedule)
from keras_cnns import optimizers  # noqa: E402,F401  (registers the fused SGD)
from keras_cnns.models import get_model, get_spec, list_families, list_models  # noqa: E402
from keras_cnns.models.registry import _REGISTRY  # noqa: E402
from keras_cnns.models.preprocessing import preprocess_input  # noqa: E402
from keras_cnns.models.densenet import densenet_cifar  # noqa: E402
from keras_cnns.models.resnet import resnet_cifar  # noqa: E402
from keras_cnns.models.vgg import vgg  # noqa: E402

# One attribute per registered builder: keras_cnns.vgg19, keras_cnns.lenet5, ...
globals().update({name: spec.builder for name, spec in _REGISTRY.items()})

__all__ = [
    "get_model", "get_spec", "list_families", "list_models", "preprocess_input", "train", "tune",
    "evaluate", "decode_predictions", "vgg",
    "resnet_cifar", "densenet_cifar", "analysis", "export", "serving", *_REGISTRY,
]

# Imported on first use: each pulls in more (tf.data and matplotlib, KerasTuner, the
# TFLite converter) than building a model needs.
_LAZY_MODULES = ("analysis", "evaluation", "export", "serving", "tuning", "training")


def __getattr__(name: str):
    # Training pulls in tf.data, the data sets and matplotlib: import it on first use.
    import importlib

    if name == "train":
        return importlib.import_module("keras_cnns.training").train
    if name == "tune":
        return importlib.import_module("keras_cnns.tuning").tune
    if name in ("evaluate", "decode_predictions"):
        # Evaluation reads data sets (tf.data) and draws with matplotlib.
        return getattr(importlib.import_module("keras_cnns.evaluation"), name)
    if name in _LAZY_MODULES:
        return importlib.import_module(f"keras_cnns.{name}")
    raise AttributeError(f"module 'keras_cnns' has no attribute {name!r}")
