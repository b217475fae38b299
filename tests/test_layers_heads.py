"""keras_cnns.layers.heads: the classifier, the fully connected top, global pooling, the
auxiliary heads, and the one naming scheme they give every family."""

import keras
import numpy as np
import pytest

import keras_cnns
from keras_cnns.layers import heads
from keras_cnns.models import auxiliary


def functional(build, shape=(8, 8, 4)):
    inputs = keras.Input(shape)
    return keras.Model(inputs, build(inputs))


def test_fully_connected_classifier_names_and_dropout():
    model = functional(
        lambda x: heads.fully_connected_classifier(
            x, 3, "softmax", [("fc1", 16), ("fc2", 8)], dropout_rate=0.5
        )
    )
    assert [layer.name for layer in model.layers[1:]] == [
        "flatten", "fc1", "fc1_dropout", "fc2", "fc2_dropout", "predictions"
    ]
    assert model.get_layer("fc1").activation is keras.activations.relu
    assert model.get_layer("fc2_dropout").rate == 0.5
    assert model.get_layer("predictions").activation is keras.activations.softmax
    # Without dropout there is no dropout layer at all.
    plain = functional(lambda x: heads.fully_connected(x, [("f6", 5)], activation="tanh"))
    assert [layer.name for layer in plain.layers[1:]] == ["flatten", "f6"]
    assert plain.output_shape == (None, 5)


def test_pooled_classifier_and_global_pool():
    model = functional(lambda x: heads.pooled_classifier(x, 7, None, dropout_rate=0.2))
    assert [layer.name for layer in model.layers[1:]] == ["avg_pool", "avg_pool_dropout", "predictions"]
    assert model.get_layer("predictions").activation is keras.activations.linear
    named = functional(lambda x: heads.pooled_classifier(x, 7, "softmax", name=heads.MAIN_OUTPUT))
    assert [layer.name for layer in named.layers[1:]] == ["avg_pool", "logits"]
    assert functional(lambda x: heads.global_pool(x, "max")).layers[-1].name == "max_pool"
    assert functional(lambda x: heads.global_pool(x, "avg")).output_shape == (None, 4)
    assert functional(lambda x: heads.global_pool(x, None)).output_shape == (None, 8, 8, 4)
    assert heads.main_output_name(True) == "logits" == auxiliary.MAIN_OUTPUT
    assert heads.main_output_name(False) == "predictions"


def test_aux_heads_are_named_after_their_output():
    v1 = functional(
        lambda x: heads.googlenet_aux_head(x, 5, "softmax", name="aux1", batch_norm=True),
        shape=(14, 14, 512),
    )
    assert [layer.name for layer in v1.layers[1:]] == [
        "aux1_pool", "aux1_conv", "aux1_conv_bn", "aux1_conv_relu", "aux1_flatten", "aux1_fc",
        "aux1_fc_dropout", "aux1",
    ]
    assert v1.get_layer("aux1_fc_dropout").rate == 0.7
    v3 = functional(
        lambda x: heads.inception_v3_aux_head(x, 5, "softmax", batch_norm=True, bn_scale=False),
        shape=(5, 5, 768),
    )
    assert v3.layers[-1].name == "aux" and v3.output_shape == (None, 5)
    assert v3.get_layer("aux_conv2").kernel_size == (1, 1)  # the pooled 1x1 grid


# A few models of every family with every kind of dropout switched on, at small sizes.
MODELS = [
    ("alexnet", dict(input_shape=(67, 67, 3))),
    ("vgg11", dict(input_shape=(32, 32, 3))),
    ("googlenet", dict(input_shape=(65, 65, 3), aux_logits=True)),
    ("inception_v2", dict(input_shape=(32, 32, 3), dropout=0.2)),
    ("inception_v3", dict(input_shape=(75, 75, 3), dropout=0.2)),
    ("densenet40", dict(dropout=0.2)),
]


@pytest.mark.parametrize("name,kwargs", MODELS, ids=[m[0] for m in MODELS])
def test_one_dropout_naming_scheme(name, kwargs):
    """Every dropout is named `<the layer (or unit) it follows>_dropout`."""
    model = keras_cnns.get_model(name, num_classes=3, **kwargs)
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert dropouts
    for layer in dropouts:
        assert layer.name.endswith("_dropout"), layer.name
        before = layer.name[: -len("_dropout")]
        previous = _previous(layer)
        assert previous == before or previous.startswith(before + "_"), (layer.name, previous)


def _previous(layer):
    node = layer._inbound_nodes[0]
    (tensor,) = node.input_tensors
    return tensor._keras_history[0].name


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("lenet5", dict(variant="modern")),
        ("alexnet", dict(input_shape=(67, 67, 3))),
        ("vgg11", dict(input_shape=(32, 32, 3))),
        ("googlenet", dict(input_shape=(32, 32, 3))),
        ("inception_v2", dict(input_shape=(32, 32, 3))),
        ("inception_v3", dict(input_shape=(75, 75, 3))),
        ("resnet18", dict(input_shape=(32, 32, 3))),
        ("resnet20", {}),
        ("densenet40", {}),
    ],
)
def test_every_family_ends_in_the_shared_classifier(name, kwargs):
    model = keras_cnns.get_model(name, num_classes=3, classifier_activation="sigmoid", **kwargs)
    last = model.layers[-1]
    assert last.name == "predictions" and isinstance(last, keras.layers.Dense)
    assert last.units == 3 and last.activation is keras.activations.sigmoid
    assert model.output_names == ["predictions"]


def test_fully_connected_tops_share_one_function(rng):
    alexnet = keras_cnns.alexnet(input_shape=(67, 67, 3), num_classes=4, dropout=0.3)
    names = [layer.name for layer in alexnet.layers]
    assert names[names.index("flatten"):] == ["flatten", "fc6", "fc6_dropout", "fc7", "fc7_dropout", "predictions"]
    assert alexnet.get_layer("fc7_dropout").rate == 0.3
    vgg = keras_cnns.vgg11(input_shape=(32, 32, 3), num_classes=4, dropout=0.0)
    names = [layer.name for layer in vgg.layers]
    assert names[names.index("flatten"):] == ["flatten", "fc1", "fc2", "predictions"]
    x = rng.uniform(size=(2, 32, 32, 3)).astype("float32")
    assert np.allclose(np.sum(vgg.predict(x, verbose=0), axis=-1), 1.0, atol=1e-5)
