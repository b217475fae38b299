"""Keras weight files by path with any `num_classes`: a `.weights.h5` saved from a model
with one classifier loads into the same network with another (or without its top); the
layers whose shape differs start fresh, named in one log line, and every other layer
holds the file's values."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import keras_cnns
from keras_cnns.models.common import classes_in_keras_file

CASES = {
    "lenet5": {},  # its classifier is a Euclidean RBF layer, not a Dense one
    "resnet20": {},
    "vgg11": {"input_shape": (32, 32, 3)},  # a flattening top
    "googlenet": {"aux_logits": True, "input_shape": (72, 72, 3)},  # three classifiers
}


def _weighted(model):
    return [layer for layer in model.layers if layer.weights]


def _assert_same(layer_a, layer_b):
    for a, b in zip(layer_a.weights, layer_b.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.fixture(scope="module", params=sorted(CASES))
def saved(request, tmp_path_factory):
    name = request.param
    model = keras_cnns.get_model(name, num_classes=7, **CASES[name])
    path = tmp_path_factory.mktemp(name) / f"{name}.weights.h5"
    model.save_weights(path)
    return name, model, str(path)


def test_the_file_tells_its_classes(saved):
    name, model, path = saved
    assert classes_in_keras_file(model, path) == 7


def test_another_num_classes_keeps_the_backbone(saved, caplog):
    name, source, path = saved
    with caplog.at_level(logging.WARNING, logger="keras_cnns"):
        model = keras_cnns.get_model(name, num_classes=3, weights=path, **CASES[name])
    heads = [layer.name for layer in _weighted(model) if layer.weights[0].shape[-1] == 3]
    assert heads, "the classifier has the new shape"
    (line,) = [r.getMessage() for r in caplog.records if r.name == "keras_cnns"]
    assert path in line and all(f"{head} (checkpoint" in line for head in heads)
    for layer in _weighted(model):
        if layer.name not in heads:
            _assert_same(layer, source.get_layer(layer.name))


def test_without_the_top(saved):
    name, source, path = saved
    options = {k: v for k, v in CASES[name].items() if k != "aux_logits"}
    if "aux_logits" in CASES[name]:
        # The file holds the auxiliary heads, which a model without a top cannot
        # have: the options differ from the file's network, and the error says so.
        with pytest.raises(ValueError, match="the file does not fit this model"):
            keras_cnns.get_model(name, include_top=False, weights=path, **options)
        return
    model = keras_cnns.get_model(name, include_top=False, weights=path, **options)
    for layer in _weighted(model):
        _assert_same(layer, source.get_layer(layer.name))


def test_same_classes_load_as_they_are(saved):
    name, source, path = saved
    model = keras_cnns.get_model(name, num_classes=7, weights=path, **CASES[name])
    for layer in _weighted(model):
        _assert_same(layer, source.get_layer(layer.name))


def test_a_keras_archive_loads_the_same_way(tmp_path):
    """A whole-model `.keras` file (a training run's checkpoint) by path, into a model
    with another number of classes."""
    source = keras_cnns.resnet20(num_classes=10)
    path = tmp_path / "best.keras"
    source.save(path)
    assert classes_in_keras_file(source, str(path)) == 10
    model = keras_cnns.resnet20(num_classes=5, weights=str(path))
    for layer in _weighted(model)[:-1]:
        _assert_same(layer, source.get_layer(layer.name))
    assert model.get_layer("predictions").kernel.shape == (64, 5)


def test_a_file_of_other_options_is_refused(tmp_path):
    path = tmp_path / "vgg11_bn.weights.h5"
    keras_cnns.vgg11(num_classes=4, input_shape=(32, 32, 3), batch_norm=True).save_weights(path)
    with pytest.raises(ValueError, match=r"vgg11_bn\.weights\.h5.*does not fit"):
        keras_cnns.vgg11(num_classes=2, input_shape=(32, 32, 3), weights=str(path))
