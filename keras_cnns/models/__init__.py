"""Model families. Importing a family module registers its builders; the import order
here is the order of `list_models()` (roughly the history of the field)."""

from keras_cnns.models import lenet  # noqa: F401  (registration)
from keras_cnns.models import alexnet  # noqa: F401
from keras_cnns.models import vgg  # noqa: F401
from keras_cnns.models import googlenet, inception  # noqa: F401
from keras_cnns.models import resnet  # noqa: F401
from keras_cnns.models import densenet  # noqa: F401
from keras_cnns.models.registry import get_model, get_spec, list_families, list_models

__all__ = ["get_model", "get_spec", "list_families", "list_models"]
