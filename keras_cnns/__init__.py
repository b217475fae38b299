"""keras_cnns: the classic convolutional networks, LeNet-5 to DenseNet, for Keras 3.

Every registered model is available as `keras_cnns.<name>(...)`, e.g.
`keras_cnns.vgg19(num_classes=10, input_shape=(32, 32, 3))`, and by name through
`keras_cnns.get_model("vgg19", ...)`; `keras_cnns.list_models()` lists them.
"""

from keras_cnns import layers  # noqa: F401  (registers the serializable layers)
from keras_cnns import schedules  # noqa: F401  (registers the recipe schedule)
from keras_cnns.models import get_model, get_spec, list_families, list_models
from keras_cnns.models.registry import _REGISTRY
from keras_cnns.models.vgg import vgg

__version__ = "0.1.0"

# One attribute per registered builder: keras_cnns.vgg19, keras_cnns.lenet5, ...
globals().update({name: spec.builder for name, spec in _REGISTRY.items()})

__all__ = ["get_model", "get_spec", "list_families", "list_models", "train", "vgg", *_REGISTRY]


def __getattr__(name: str):
    # Training pulls in tf.data, the data sets and matplotlib: import it on first use.
    if name == "train":
        from keras_cnns.training import train

        return train
    raise AttributeError(f"module 'keras_cnns' has no attribute {name!r}")
