"""keras_cnns.data.build_pipeline on real Fashion-MNIST: shapes, fitting, channels,
normalization, augmentation only in training, shuffling, caching rules, bad inputs."""

import gzip

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_cnns
from keras_cnns.data import (
    DATASET_STATISTICS,
    DataSplit,
    build_pipeline,
    from_arrays,
    load,
    pipeline,
)

FASHION = "/usr/share/datasets/fashion-mnist/"


@pytest.fixture(scope="module")
def test_split():
    return load("fashion_mnist", "test", limit=256)


@pytest.fixture(scope="module")
def raw_test_images():
    data = gzip.open(FASHION + "t10k-images-idx3-ubyte.gz").read()
    return np.frombuffer(data, np.uint8, offset=16).reshape(-1, 28, 28)[:256]


def _collect(ds):
    images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(images), np.concatenate(labels)


def test_inference_batches_pad_28_to_32_and_scale(test_split, raw_test_images):
    ds = build_pipeline(test_split, input_shape=(32, 32, 1), batch_size=100, training=False)
    assert ds.element_spec[0].shape.as_list() == [None, 32, 32, 1]
    assert ds.element_spec[0].dtype == tf.float32 and ds.element_spec[1].dtype == tf.int64
    images, labels = _collect(ds)
    assert images.shape == (256, 32, 32, 1) and [len(b[1]) for b in ds] == [100, 100, 56]
    # 32 <= 1.25 * 28: zero padding, 2 pixels each side, pixels untouched and /255.
    np.testing.assert_allclose(images[:, 2:30, 2:30, 0], raw_test_images / 255.0, atol=1e-7)
    border = images.copy()
    border[:, 2:30, 2:30] = 0
    assert not border.any()


def test_much_larger_inputs_are_resized_not_padded(test_split, raw_test_images):
    ds = build_pipeline(
        test_split, input_shape=(64, 64, 1), batch_size=64, training=False, normalization="none"
    )
    images = next(iter(ds))[0].numpy()
    expected = tf.image.resize(
        raw_test_images[:64, ..., None].astype("float32"), (64, 64), method="bilinear"
    ).numpy()
    np.testing.assert_allclose(images, expected, atol=1e-3)
    smaller = build_pipeline(
        test_split, input_shape=(14, 14, 1), batch_size=8, training=False, normalization="none"
    )
    shrunk = tf.image.resize(
        raw_test_images[:8, ..., None].astype("float32"), (14, 14), antialias=True
    ).numpy()
    np.testing.assert_allclose(next(iter(smaller))[0].numpy(), shrunk, atol=1e-3)


def test_grey_to_rgb_and_rgb_to_grey(test_split, raw_test_images):
    rgb = next(iter(build_pipeline(
        test_split, input_shape=(28, 28, 3), batch_size=16, training=False, normalization="none"
    )))[0].numpy()
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], raw_test_images[:16].astype("float32"))
    colour = np.random.default_rng(0).integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    grey = next(iter(build_pipeline(
        from_arrays(colour, np.arange(6)), input_shape=(8, 8, 1), batch_size=6,
        training=False, normalization="none",
    )))[0].numpy()
    np.testing.assert_allclose(
        grey, tf.image.rgb_to_grayscale(colour.astype("float32")).numpy(), atol=1e-4
    )
    rgba = np.random.default_rng(1).integers(0, 256, (2, 4, 4, 4), dtype=np.uint8)
    dropped = next(iter(build_pipeline(
        from_arrays(rgba, [0, 1]), input_shape=(4, 4, 3), batch_size=2, training=False,
        normalization="none",
    )))[0].numpy()
    np.testing.assert_array_equal(dropped, rgba[..., :3])


def test_known_statistics_match_the_real_fashion_mnist_train_pixels():
    data = gzip.open(FASHION + "train-images-idx3-ubyte.gz").read()
    pixels = np.frombuffer(data, np.uint8, offset=16) / 255.0
    mean, std = DATASET_STATISTICS["fashion_mnist"]
    assert abs(pixels.mean() - mean[0]) < 1e-4 and abs(pixels.std() - std[0]) < 1e-4


def test_standardize_uses_the_set_constants_or_each_image(test_split, raw_test_images):
    known = next(iter(build_pipeline(
        test_split, input_shape=(28, 28, 3), batch_size=32, training=False,
        normalization="standardize",
    )))[0].numpy()
    (mean,), (std,) = DATASET_STATISTICS["fashion_mnist"]
    expected = (raw_test_images[:32] / 255.0 - mean) / std
    for c in range(3):
        np.testing.assert_allclose(known[..., c], expected, atol=1e-5)
    unknown = from_arrays(raw_test_images[:32], np.zeros(32, int), name="my_set")
    each = next(iter(build_pipeline(
        unknown, input_shape=(28, 28, 1), batch_size=32, training=False,
        normalization="standardize",
    )))[0].numpy()
    np.testing.assert_allclose(each.mean(axis=(1, 2, 3)), 0.0, atol=1e-4)
    np.testing.assert_allclose(each.std(axis=(1, 2, 3)), 1.0, atol=1e-3)


def test_augmentation_only_in_training_and_inference_is_deterministic(test_split):
    kwargs = dict(input_shape=(28, 28, 1), batch_size=64)
    plain = _collect(build_pipeline(test_split, training=False, **kwargs))
    again = _collect(build_pipeline(test_split, training=False, **kwargs))
    ignored = _collect(build_pipeline(
        test_split, training=False, augmentation=["pad_crop_flip", "random_erasing"], **kwargs
    ))
    for other in (again, ignored):
        np.testing.assert_array_equal(plain[0], other[0])
        np.testing.assert_array_equal(plain[1], other[1])
    augmented = _collect(build_pipeline(
        test_split, training=True, shuffle=False, augmentation="pad_crop_flip", seed=0, **kwargs
    ))
    np.testing.assert_array_equal(augmented[1], plain[1])
    assert augmented[0].shape == plain[0].shape
    changed = np.any(augmented[0] != plain[0], axis=(1, 2, 3))
    assert 0.8 < changed.mean() <= 1.0  # unchanged only when shift 0 and no flip (1/162)


def test_training_shuffles_each_epoch_and_a_seed_reproduces_it(test_split):
    ds = build_pipeline(test_split, input_shape=(28, 28, 1), batch_size=256, training=True, seed=5)
    first, second = (next(iter(ds))[1].numpy() for _ in range(2))
    plain = next(iter(build_pipeline(
        test_split, input_shape=(28, 28, 1), batch_size=256, training=False)))[1].numpy()
    assert sorted(first) == sorted(plain) == sorted(second)
    assert not np.array_equal(first, plain) and not np.array_equal(first, second)
    rebuilt = build_pipeline(
        test_split, input_shape=(28, 28, 1), batch_size=256, training=True, seed=5)
    np.testing.assert_array_equal(next(iter(rebuilt))[1].numpy(), first)


def test_every_augmentation_keeps_shapes_and_a_seed_reproduces_the_batches():
    colour = load("fashion_mnist", "train", limit=64)

    def run():
        ds = build_pipeline(
            colour, input_shape=(32, 32, 3), batch_size=32, training=True, seed=11,
            augmentation=list(pipeline.AUGMENTATIONS), normalization="standardize",
        )
        return _collect(ds)

    first, second = run(), run()
    assert first[0].shape == (64, 32, 32, 3) and np.isfinite(first[0]).all()
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_random_erasing_erases_about_half_the_images(test_split):
    kwargs = dict(input_shape=(28, 28, 1), batch_size=256, normalization="none")
    plain = next(iter(build_pipeline(test_split, training=False, **kwargs)))[0].numpy()
    erased = next(iter(build_pipeline(
        test_split, training=True, shuffle=False, augmentation="random_erasing", seed=1, **kwargs
    )))[0].numpy()
    changed = np.any(erased != plain, axis=(1, 2, 3)).mean()
    assert 0.35 < changed < 0.65
    none = next(iter(build_pipeline(
        test_split, training=True, shuffle=False, augmentation="random_erasing",
        augmentation_strength=0.0, **kwargs,
    )))[0].numpy()
    np.testing.assert_array_equal(none, plain)


def test_drop_remainder_and_variable_size_images():
    data = from_arrays(np.zeros((100, 8, 8), np.uint8), np.zeros(100, int))
    kept = build_pipeline(data, input_shape=(8, 8, 1), batch_size=32, training=False)
    dropped = build_pipeline(
        data, input_shape=(8, 8, 1), batch_size=32, training=False, drop_remainder=True
    )
    assert [int(b[1].shape[0]) for b in kept] == [32, 32, 32, 4]
    assert [int(b[1].shape[0]) for b in dropped] == [32, 32, 32]

    sizes = [(20, 30), (40, 10), (16, 16)]
    mixed = tf.data.Dataset.from_generator(
        lambda: ((np.full((*s, 3), 200, np.uint8), np.int64(i)) for i, s in enumerate(sizes)),
        output_signature=(
            tf.TensorSpec((None, None, 3), tf.uint8), tf.TensorSpec((), tf.int64)),
    )
    split = DataSplit(mixed, ["a", "b", "c"], 3, (None, None, 3), "mixed", "train")
    images, labels = next(iter(build_pipeline(
        split, input_shape=(16, 16, 3), batch_size=3, training=True, shuffle=False,
        augmentation="flip", normalization="scale",
    )))
    assert images.shape == (3, 16, 16, 3) and labels.numpy().tolist() == [0, 1, 2]
    np.testing.assert_allclose(images.numpy(), 200 / 255, atol=1e-5)
    with pytest.raises(ValueError, match="differ in size"):
        build_pipeline(split, input_shape=(None, None, 3), batch_size=3, training=False)


def test_cache_rule_follows_the_byte_budget(test_split, monkeypatch):
    assert pipeline.should_cache(test_split)  # 256 * 784 bytes
    monkeypatch.setattr(pipeline, "CACHE_LIMIT_BYTES", 256 * 784 - 1)
    assert not pipeline.should_cache(test_split)
    unknown = DataSplit(test_split.dataset, [], 256, (None, None, 1), "x", "train")
    assert not pipeline.should_cache(unknown)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(batch_size=0), ValueError, r"`batch_size` must be a positive integer; received 0"),
        (dict(batch_size=-3), ValueError, r"`batch_size`.*-3"),
        (dict(batch_size=True), ValueError, r"`batch_size`.*True"),
        (dict(augmentation="mixup"), ValueError,
         r"Unknown `augmentation`: 'mixup'. Accepted: 'random_resized_crop', 'pad_crop_flip'"),
        (dict(augmentation=["flip", "cutout"]), ValueError, r"'cutout'"),
        (dict(normalization="zscore"), ValueError,
         r"Unknown `normalization`: 'zscore'. Accepted: 'scale', 'standardize', 'none'"),
        (dict(input_shape=(28, 28)), ValueError,
         r"`input_shape` must be \(height, width, channels\)"),
        (dict(input_shape=(28, 28, 2)), ValueError,
         r"`input_shape` asks for 2 channel\(s\) but the images have 1.*Accepted.*\[1, 3\]"),
        (dict(input_shape=(28, 28, 1), augmentation="pca_color"), ValueError,
         r"'pca_color' needs RGB inputs"),
        (dict(augmentation_strength=-1), ValueError,
         r"`augmentation_strength` must be a number >= 0"),
    ],
)
def test_bad_arguments_are_named(test_split, kwargs, error, match):
    arguments = {**dict(input_shape=(28, 28, 3), batch_size=8, training=True), **kwargs}
    with pytest.raises(error, match=match):
        build_pipeline(test_split, **arguments)


def test_one_epoch_per_iteration_gives_the_epochs_in_order(test_split):
    common = dict(input_shape=(28, 28, 1), batch_size=96, training=True, seed=3)
    small = test_split  # 256 images: batches of 96, 96 and 64
    concatenated = build_pipeline(small, epochs=(1, 4), **common)
    per_iteration = build_pipeline(small, epochs=(1, 4), epoch_per_iteration=True, **common)
    batches = -(-small.num_examples // 96)
    assert int(per_iteration.cardinality()) == batches
    stream = np.concatenate([labels.numpy() for _, labels in concatenated])
    epochs = [np.concatenate([labels.numpy() for _, labels in per_iteration]) for _ in range(3)]
    # Each iteration is the next epoch: the concatenated layout's batches, split at the epochs.
    np.testing.assert_array_equal(np.concatenate(epochs), stream)
    assert all(len(e) == small.num_examples for e in epochs)
    assert not np.array_equal(epochs[0], epochs[1])
    # A resumed run's dataset (epochs 2..3) starts where the full one had its second epoch.
    resumed = build_pipeline(small, epochs=(2, 4), epoch_per_iteration=True, **common)
    np.testing.assert_array_equal(np.concatenate([labels.numpy() for _, labels in resumed]), epochs[1])
    # Iterators made and dropped unread (Keras makes one at each epoch's end) skip nothing.
    rebuilt = build_pipeline(small, epochs=(1, 4), epoch_per_iteration=True, **common)
    for _ in range(3):
        iter(rebuilt)
    np.testing.assert_array_equal(np.concatenate([labels.numpy() for _, labels in rebuilt]), epochs[0])


def test_blocks_of_steps_stop_at_each_epochs_end(test_split):
    """`model.fit` with 16 steps per call over epochs of 6 batches: 6 steps per epoch,
    no batch of the next epoch (the concatenated layout would spill into it)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  steps_per_execution=16)
    ds = build_pipeline(test_split, input_shape=(28, 28, 1), batch_size=48, training=True, seed=0,
                        epochs=(0, 3), epoch_per_iteration=True)
    steps = -(-test_split.num_examples // 48)
    model.fit(ds, epochs=3, verbose=0, shuffle=False)
    assert int(model.optimizer.iterations) == 3 * steps


def test_epoch_per_iteration_needs_epochs(test_split):
    with pytest.raises(ValueError, match=r"`epoch_per_iteration=True` needs `epochs=\(first, end\)`"):
        build_pipeline(test_split, input_shape=(28, 28, 1), batch_size=8, training=True, epoch_per_iteration=True)
    with pytest.raises(TypeError, match="`epoch_per_iteration` must be True or False"):
        build_pipeline(test_split, input_shape=(28, 28, 1), batch_size=8, training=True, epochs=(0, 1),
                       epoch_per_iteration="yes")


def test_data_in_memory_is_read_without_autotuning(test_split):
    cached = build_pipeline(test_split, input_shape=(28, 28, 1), batch_size=8, training=True, cache=True)
    streamed = build_pipeline(test_split, input_shape=(28, 28, 1), batch_size=8, training=True, cache=False)
    assert cached.options().autotune.enabled is False
    assert streamed.options().autotune.enabled is not False


def test_a_plain_tf_dataset_is_not_a_split(test_split):
    with pytest.raises(TypeError, match="`data` must be a DataSplit"):
        build_pipeline(test_split.dataset, input_shape=(28, 28, 1), batch_size=8, training=True)


def test_lenet5_trains_on_the_pipeline(test_split):
    keras.utils.set_random_seed(0)
    model = keras_cnns.lenet5(input_shape=(28, 28, 1), fit_input="pad", num_classes=10)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    ds = build_pipeline(test_split, input_shape=(28, 28, 1), batch_size=64, training=True, seed=0)
    # The pipeline shuffles; Keras 3.15 warns when fit's default shuffle=True meets a Dataset.
    history = model.fit(ds, epochs=2, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert np.isfinite(losses).all() and losses[1] < losses[0]
