import keras
import numpy as np
import pytest

import keras_cnns
from keras_cnns.layers import InceptionBlock
from conftest import count

# Ioffe & Szegedy 2015, Figure 5, typed in independently of the package: module, output
# channels, #1x1, #3x3 reduce, #3x3, double #3x3 reduce, double #3x3, pool, stride.
# The pool projection is not copied from the table's "pool + proj" column: it is derived
# below from the output column (the column prints 128 for 4c and 4d, which would give
# 608 channels, not the 576 the table lists; TF-Slim uses 96).
FIGURE_5 = [
    ("3a", 256, 64, 64, 64, 64, 96, "avg", 1),
    ("3b", 320, 64, 64, 96, 64, 96, "avg", 1),
    ("3c", 576, 0, 128, 160, 64, 96, "max", 2),
    ("4a", 576, 224, 64, 96, 96, 128, "avg", 1),
    ("4b", 576, 192, 96, 128, 96, 128, "avg", 1),
    ("4c", 576, 160, 128, 160, 128, 160, "avg", 1),
    ("4d", 576, 96, 128, 192, 160, 192, "avg", 1),
    ("4e", 1024, 0, 128, 192, 192, 256, "max", 2),
    ("5a", 1024, 352, 192, 320, 160, 224, "avg", 1),
    ("5b", 1024, 352, 192, 320, 192, 224, "max", 1),
]
STEM = [(7, 3, 64), (1, 64, 64), (3, 64, 192)]  # conv 7x7/2; conv 3x3 (reduce 64, 192)


def module_convs(row, cin):
    """(kernel, in, out) of the convolutions of one row, and the row's pool projection."""
    _name, out, n1, r3, n3, rd, nd, _pool, stride = row
    proj = out - n1 - n3 - nd if stride == 1 else 0  # stride 2: "pass through"
    convs = [(1, cin, n1), (1, cin, r3), (3, r3, n3), (1, cin, rd), (3, rd, nd), (3, nd, nd)]
    if proj:
        convs.append((1, cin, proj))
    return [c for c in convs if c[2]], proj


def bn_conv_count(convs, per_channel=4):
    # No conv bias; batch norm: gamma, beta (trainable) + moving mean, variance.
    return sum(k * k * cin * cout + per_channel * cout for k, cin, cout in convs)


@pytest.fixture(scope="module")
def model():
    return keras_cnns.inception_v2()


def test_counts_match_figure_5(model):
    cin, total, trainable = 192, bn_conv_count(STEM), bn_conv_count(STEM, 2)
    for row in FIGURE_5:
        convs, proj = module_convs(row, cin)
        block = model.get_layer(f"inception_{row[0]}")
        assert block.count_params() == bn_conv_count(convs), row[0]
        assert block.output.shape[-1] == row[1]
        if proj:
            assert block.branches[-1][-1]["filters"] == proj
        else:  # stride 2: the pooled input passes through
            assert row[1] == row[4] + row[6] + cin
        total += bn_conv_count(convs)
        trainable += bn_conv_count(convs, 2)
        cin = row[1]
    total += 1024 * 1000 + 1000
    trainable += 1024 * 1000 + 1000
    assert model.count_params() == total == 11_214_888
    assert count(model.trainable_weights) == trainable
    assert [model.get_layer(f"inception_{m}").branches[3][1]["filters"] for m in ("4c", "4d")] == [96, 96]


def test_bn_after_every_convolution_and_no_5x5(model):
    convs = bns = 0
    for layer in model.layers:
        if isinstance(layer, InceptionBlock):
            assert layer.batch_norm and layer.bn_scale
            for _path, op, sub in layer.iter_ops():
                if op["op"] == "conv":
                    conv, bn = sub
                    assert conv.use_bias is False and isinstance(bn, keras.layers.BatchNormalization)
                    assert conv.kernel_size in ((1, 1), (3, 3))
                    convs, bns = convs + 1, bns + 1
        elif isinstance(layer, keras.layers.Conv2D):
            assert layer.use_bias is False
            assert isinstance(model.get_layer(f"{layer.name}_bn"), keras.layers.BatchNormalization)
    assert convs == bns == sum(len(module_convs(row, 1)[0]) for row in FIGURE_5)


def test_grid_sizes_and_reductions(model):
    sizes = {
        "conv1_7x7_s2": 112, "pool1_3x3_s2": 56, "pool2_3x3_s2": 28, "inception_3b": 28,
        "inception_3c": 14, "inception_4d": 14, "inception_4e": 7, "inception_5b": 7,
    }
    for name, size in sizes.items():
        assert model.get_layer(name).output.shape[1] == size, name
    pools = [op for op in (b[0] for b in model.get_layer("inception_5b").branches) if op["op"] == "pool"]
    assert pools[0]["type"] == "max"
    assert model.get_layer("inception_3c").branches[-1] == [
        {"op": "pool", "type": "max", "size": [3, 3], "strides": [2, 2], "padding": "same"}
    ]


def test_trains_a_step_and_pools(rng):
    model = keras_cnns.inception_v2(num_classes=3, input_shape=(32, 32, 3), dropout=0.2)
    assert model.get_layer("avg_pool_dropout").rate == 0.2
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    x = rng.uniform(size=(2, 32, 32, 3)).astype("float32")
    assert np.isfinite(model.train_on_batch(x, np.array([0, 2])))
    features = keras_cnns.inception_v2(include_top=False, pooling="max", input_shape=(64, 64, 3))
    assert features.output_shape == (None, 1024)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(input_shape=(31, 31, 3)), r"at least 32x32"),
        (dict(dropout=1.5), r"`dropout`"),
        (dict(aux_logits=True), r"aux_logits"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        keras_cnns.inception_v2(**kwargs)
