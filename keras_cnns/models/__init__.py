"""Model families. Importing a family module registers its builders; the import order
here is the order of `list_models()` (roughly the history of the field).

`registry` is the single source of truth about models (builders and their signatures,
default inputs, minimum sizes, published weights and accuracies); `common.build_model`
applies the arguments every builder shares; each family file holds its variants as a
table and ends in the heads of `keras_cnns.layers.heads`; `auxiliary` trains and strips
the auxiliary classifiers."""

from keras_cnns.models import lenet  # noqa: F401  (registration)
from keras_cnns.models import alexnet  # noqa: F401
from keras_cnns.models import vgg  # noqa: F401
from keras_cnns.models import googlenet, inception  # noqa: F401
from keras_cnns.models import resnet  # noqa: F401
from keras_cnns.models import densenet  # noqa: F401
from keras_cnns.models.registry import get_model, get_spec, list_families, list_models

__all__ = ["get_model", "get_spec", "list_families", "list_models"]
