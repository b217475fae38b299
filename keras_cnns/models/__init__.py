"""Model families. Importing a family module registers its builders."""

from keras_cnns.models import alexnet, lenet, vgg  # noqa: F401  (registration)
from keras_cnns.models.registry import get_model, get_spec, list_families, list_models

__all__ = ["get_model", "get_spec", "list_families", "list_models"]
