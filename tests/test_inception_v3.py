import dataclasses
import hashlib
import logging

import h5py
import keras
import numpy as np
import pytest
from keras.src.legacy.saving import legacy_h5_format

import keras_cnns
from keras_cnns.layers import InceptionBlock
from keras_cnns.models import registry
from keras_cnns.models.auxiliary import loss_config, repeat_targets, without_aux_heads
from keras_cnns.models.inception import keras_applications_layers
from conftest import count


def randomize_batch_norm(model, rng):
    """Fresh initial batch-norm statistics are all equal; make them distinct so that a
    mis-paired layer would show in the outputs."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            values = []
            for weight in layer.weights:
                if "variance" in weight.path:
                    values.append(rng.uniform(0.5, 2.0, size=weight.shape))
                else:
                    values.append(rng.normal(0, 0.5, size=weight.shape))
            layer.set_weights([v.astype("float32") for v in values])


def transfer(ours, theirs):
    pairs = list(zip(keras_applications_layers(ours), [l for l in theirs.layers if l.weights]))
    assert len(pairs) == len([l for l in theirs.layers if l.weights])
    for mine, ka in pairs:
        # The same Keras class, or keras_cnns' fused-training subclass of it (batch norm).
        assert type(mine) is type(ka) or (
            type(mine) is keras_cnns.layers.BatchNormalization
            and type(ka) is keras.layers.BatchNormalization
        )
        assert [tuple(w.shape) for w in mine.weights] == [tuple(w.shape) for w in ka.weights]
        mine.set_weights(ka.get_weights())


@pytest.fixture(scope="module")
def ka_full():
    keras.utils.set_random_seed(1)
    reference = keras.applications.InceptionV3(weights=None)
    randomize_batch_norm(reference, np.random.default_rng(1))
    return reference


def test_equals_keras_applications(ka_full, rng):
    ours = keras_cnns.inception_v3()
    assert ours.count_params() == ka_full.count_params() == 23_851_784
    assert count(ours.trainable_weights) == 23_817_352
    transfer(ours, ka_full)
    x = rng.uniform(-1, 1, size=(2, 299, 299, 3)).astype("float32")
    diff = np.abs(ours.predict(x, verbose=0) - ka_full.predict(x, verbose=0)).max()
    assert diff <= 1e-5
    names = [layer.name for layer in ours.layers]
    assert [n for n in names if n.startswith("mixed")] == [f"mixed{i}" for i in range(11)]


def test_modules_are_inception_blocks_with_the_papers_factorizations():
    model = keras_cnns.inception_v3(include_top=False, input_shape=(75, 75, 3))
    blocks = [layer for layer in model.layers if isinstance(layer, InceptionBlock)]
    assert len(blocks) == 11
    assert all(b.batch_norm and not b.bn_scale for b in blocks)
    kernels = lambda block: [sub[0].kernel_size for _p, op, sub in block.iter_ops() if op["op"] == "conv"]
    assert (1, 7) in kernels(model.get_layer("mixed4")) and (7, 1) in kernels(model.get_layer("mixed4"))
    mixed9 = model.get_layer("mixed9").branches
    assert mixed9[1][1]["op"] == "concat"
    assert [b[0]["kernel"] for b in mixed9[1][1]["branches"]] == [[1, 3], [3, 1]]
    reduction = model.get_layer("mixed3").branches
    assert [b[-1]["strides"] for b in reduction] == [[2, 2]] * 3
    assert model.get_layer("mixed10").output.shape[1:] == (1, 1, 2048)


# ------------------------------------------------------------ weights="imagenet", offline
@pytest.fixture(scope="module")
def legacy_files(tmp_path_factory):
    """keras.applications InceptionV3 weight files (with and without top) in the
    published legacy h5 format, written from random models at 75x75."""
    folder = tmp_path_factory.mktemp("weights")
    files = {}
    for include_top, fname in (
        (True, "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"),
        (False, "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    ):
        keras.utils.set_random_seed(2)
        reference = keras.applications.InceptionV3(
            weights=None, include_top=include_top, input_shape=(75, 75, 3)
        )
        randomize_batch_norm(reference, np.random.default_rng(2))
        path = folder / fname
        with h5py.File(path, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, reference)
        files[include_top] = (path, reference)
    return files


def use_local_files(monkeypatch, legacy_files, cache):
    # The network is unavailable: the published files are replaced by local ones of the
    # same format, served from file:// origins with their own hashes; get_file is real.
    spec = registry.get_spec("inception_v3")
    top, notop = legacy_files[True][0], legacy_files[False][0]
    local = dataclasses.replace(
        spec.weights["imagenet"],
        top_url=top.as_uri(),
        top_hash=hashlib.sha256(top.read_bytes()).hexdigest(),
        notop_url=notop.as_uri(),
        notop_hash=hashlib.sha256(notop.read_bytes()).hexdigest(),
        cache_dir=str(cache),
    )
    monkeypatch.setitem(
        registry._REGISTRY, "inception_v3", dataclasses.replace(spec, weights={"imagenet": local})
    )


@pytest.mark.parametrize("include_top", [True, False])
def test_imagenet_weights_load_keras_applications_files(
    include_top, legacy_files, monkeypatch, tmp_path, rng
):
    use_local_files(monkeypatch, legacy_files, tmp_path)
    path, reference = legacy_files[include_top]
    ours = keras_cnns.inception_v3(weights="imagenet", include_top=include_top, input_shape=(75, 75, 3))
    assert (tmp_path / "models" / path.name).exists()
    x = rng.uniform(-1, 1, size=(2, 75, 75, 3)).astype("float32")
    diff = np.abs(ours.predict(x, verbose=0) - reference.predict(x, verbose=0)).max()
    assert diff <= 1e-5


def test_imagenet_weights_with_the_aux_head(legacy_files, monkeypatch, tmp_path, rng):
    use_local_files(monkeypatch, legacy_files, tmp_path)
    _path, reference = legacy_files[True]
    ours = keras_cnns.inception_v3(weights="imagenet", aux_logits=True, input_shape=(107, 107, 3))
    x = rng.uniform(-1, 1, size=(1, 107, 107, 3)).astype("float32")
    # The same weights in keras.applications' model at our input size.
    expected = keras.applications.InceptionV3(weights=None, input_shape=(107, 107, 3))
    expected.set_weights(reference.get_weights())
    np.testing.assert_allclose(
        ours.predict(x, verbose=0)["logits"], expected.predict(x, verbose=0), rtol=0, atol=1e-5
    )


def test_a_keras_applications_file_by_path_and_mismatches(legacy_files, tmp_path):
    path, reference = legacy_files[False]
    model = keras_cnns.inception_v3(weights=str(path), include_top=False, input_shape=(75, 75, 3))
    first_bn = next(l for l in reference.layers if isinstance(l, keras.layers.BatchNormalization))
    np.testing.assert_array_equal(
        model.get_layer("conv_1a_3x3_bn").moving_variance.numpy(), first_bn.moving_variance.numpy()
    )
    with pytest.raises(ValueError, match=r"holds 188 layers with weights; this model needs 189"):
        keras_cnns.inception_v3(weights=str(path), input_shape=(75, 75, 3))
    # Our own format loads through build_model as for every model.
    own = tmp_path / "ours.weights.h5"
    model.save_weights(own)
    again = keras_cnns.inception_v3(weights=str(own), include_top=False, input_shape=(75, 75, 3))
    np.testing.assert_array_equal(
        again.get_layer("mixed9").weights[0].numpy(), model.get_layer("mixed9").weights[0].numpy()
    )


def test_imagenet_published_location_and_constraints():
    weights = registry.get_spec("inception_v3").weights["imagenet"]
    assert weights.top_url.endswith("inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels.h5")
    assert weights.top_hash == "9a0d58056eeedaa3f26cb7ebd46da564"
    assert weights.notop_hash == "bcbd6486424b2319ff4ef7d526e38f63"
    assert weights.preprocessing == "tf"
    with pytest.raises(ValueError, match="3-channel"):
        keras_cnns.inception_v3(weights="imagenet", input_shape=(299, 299, 1))


def test_imagenet_weights_with_any_num_classes(legacy_files, monkeypatch, tmp_path, rng, caplog):
    # keras.applications' file with the classifier, into a 10-class model: the backbone
    # is loaded, the classifier starts fresh, one log line names it with both shapes.
    use_local_files(monkeypatch, legacy_files, tmp_path)
    path, reference = legacy_files[True]
    with caplog.at_level(logging.WARNING, logger="keras_cnns"):
        ours = keras_cnns.inception_v3(weights="imagenet", num_classes=10, input_shape=(75, 75, 3))
    lines = [r.getMessage() for r in caplog.records if r.name == "keras_cnns"]
    assert len(lines) == 1 and str(tmp_path / "models" / path.name) in lines[0], lines
    assert "predictions (checkpoint (2048, 1000), model (2048, 10))" in lines[0]
    x = rng.uniform(-1, 1, size=(2, 75, 75, 3)).astype("float32")
    pooled = keras.Model(ours.input, ours.get_layer("avg_pool").output)
    expected = keras.Model(reference.input, reference.get_layer("avg_pool").output)
    assert np.abs(pooled.predict(x, verbose=0) - expected.predict(x, verbose=0)).max() <= 1e-5
    head = ours.get_layer("predictions")
    assert head.kernel.shape == (2048, 10)
    np.testing.assert_array_equal(head.bias.numpy(), np.zeros(10))  # Keras' initialization


# ------------------------------------------------------------------------ auxiliary head
@pytest.fixture(scope="module")
def aux_model():
    keras.utils.set_random_seed(0)
    return keras_cnns.inception_v3(num_classes=4, input_shape=(107, 107, 3), aux_logits=True)


def test_aux_head_count_against_torchvision():
    model = keras_cnns.inception_v3(aux_logits=True)
    assert set(model.output) == {"logits", "aux"}
    assert model.get_layer("aux_pool").input.shape[1:] == (17, 17, 768)  # after mixed7
    assert model.get_layer("aux_conv2").kernel_size == (5, 5)
    assert isinstance(model.get_layer("aux_conv2_bn"), keras.layers.BatchNormalization)
    # torchvision's 27,161,264 counts a batch-norm scale per channel, which
    # keras.applications' (and so our) batch normalization does not have.
    bn_channels = sum(
        layer.weights[0].shape[0] for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
    ) + sum(
        sub[1].weights[0].shape[0]
        for layer in model.layers if isinstance(layer, InceptionBlock)
        for _p, op, sub in layer.iter_ops() if op["op"] == "conv"
    )
    assert count(model.trainable_weights) + bn_channels == 27_161_264


def test_two_training_steps_include_the_aux_loss(aux_model, rng):
    model = aux_model
    loss = keras.losses.SparseCategoricalCrossentropy()
    model.compile(keras.optimizers.SGD(0.01), **loss_config(model, loss, aux_weight=0.4))
    x = rng.uniform(-1, 1, size=(4, 107, 107, 3)).astype("float32")
    y = rng.integers(0, 4, size=4)
    history = model.fit(x, repeat_targets(model, y), batch_size=2, epochs=1, verbose=0)
    logs = {k: v[-1] for k, v in history.history.items()}
    assert logs["loss"] == pytest.approx(logs["logits_loss"] + 0.4 * logs["aux_loss"], rel=1e-4)
    assert logs["loss"] > logs["logits_loss"] + 0.1
    serving = without_aux_heads(model)
    assert serving.output_shape == (None, 4)
    np.testing.assert_allclose(
        serving.predict(x[:1], verbose=0), model.predict(x[:1], verbose=0)["logits"], atol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(aux_logits=True, include_top=False), ValueError, r"`aux_logits=True` needs include_top=True"),
        (dict(input_shape=(74, 74, 3)), ValueError, r"at least 75x75"),
        (dict(aux_logits=True, input_shape=(106, 106, 3)), ValueError, r"at least 107x107"),
        (dict(aux_logits=1), TypeError, r"`aux_logits` must be True or False"),
        (dict(dropout=-1), ValueError, r"`dropout`"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        keras_cnns.inception_v3(**kwargs)


def test_include_top_false_with_pooling():
    model = keras_cnns.inception_v3(include_top=False, pooling="avg", input_shape=(75, 75, 3))
    assert model.output_shape == (None, 2048)
