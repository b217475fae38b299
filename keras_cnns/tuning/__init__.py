"""Hyperparameter search with KerasTuner: a hypermodel per family and `tune()`.

>>> result = keras_cnns.tune("lenet", "fashion_mnist", max_trials=5, epochs=2, limit=10_000)
>>> result.best_hyperparameters

The hypermodels (`LeNetHyperModel`, ..., `DenseNetHyperModel`) are ordinary
`keras_tuner.HyperModel`s that also work with a tuner of your own; `tune` adds the data
pipeline, the search folder's results, resumption, mirrored and distributed searches.
"""

import importlib

# name -> submodule. Loaded on first use, so that `keras-cnns` commands other than
# `tune` do not import KerasTuner.
_EXPORTS = {
    **dict.fromkeys(
        ["HYPERMODELS", "OBJECTIVE", "AlexNetHyperModel", "CNNHyperModel", "DenseNetHyperModel",
         "GoogLeNetHyperModel", "InceptionHyperModel", "LeNetHyperModel", "MainOutputMetrics",
         "ResNetHyperModel", "VGGHyperModel", "get_hypermodel_class"],
        "hypermodels",
    ),
    **dict.fromkeys(
        ["TUNERS", "OracleUnreachableError", "TuneResult", "make_tuner", "read_results", "tune"],
        "search",
    ),
    **dict.fromkeys(["Knob", "SearchSpace"], "space"),
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"keras_cnns.tuning.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'keras_cnns.tuning' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "HYPERMODELS",
    "OBJECTIVE",
    "TUNERS",
    "AlexNetHyperModel",
    "CNNHyperModel",
    "DenseNetHyperModel",
    "GoogLeNetHyperModel",
    "InceptionHyperModel",
    "Knob",
    "LeNetHyperModel",
    "MainOutputMetrics",
    "OracleUnreachableError",
    "ResNetHyperModel",
    "SearchSpace",
    "TuneResult",
    "VGGHyperModel",
    "get_hypermodel_class",
    "make_tuner",
    "read_results",
    "tune",
]
