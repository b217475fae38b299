"""keras_cnns.data sources: IDX files, splits, tfds (mocked, offline), folders, arrays.

Data tests read the real Fashion-MNIST of Debian's dataset-fashion-mnist package and
compare against the IDX files parsed here independently of the package's reader.
"""

import gzip
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from keras_cnns.data import (
    DatasetNotFoundError,
    DataSplit,
    build_pipeline,
    from_arrays,
    from_directory,
    load,
    read_idx,
)
from keras_cnns.data import sources

FASHION = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]


def _raw(name):
    """The IDX payload read by hand: 16-byte header for images, 8 for labels."""
    data = gzip.open(FASHION / FILES[name]).read()
    if "images" in name:
        return np.frombuffer(data, np.uint8, offset=16).reshape(-1, 28, 28)
    return np.frombuffer(data, np.uint8, offset=8)


@pytest.fixture(scope="module")
def raw():
    return {name: _raw(name) for name in FILES}


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No $KERAS_CNNS_DATA and an empty Keras home: only the folders a test adds (and
    tfds' default folder, which holds no prepared MNIST on CI)."""
    monkeypatch.delenv(sources.DATA_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path


def _arrays(split: DataSplit):
    images, labels = next(iter(split.dataset.batch(100_000)))
    return images.numpy(), labels.numpy()


# ------------------------------------------------------------------- IDX / Debian
def test_fashion_mnist_test_split_equals_the_idx_files(raw, isolated):
    data = load("fashion_mnist", "test", limit=500)
    assert data.source == str(FASHION)
    assert (data.name, data.split, data.num_examples) == ("fashion_mnist", "test", 500)
    assert data.image_shape == (28, 28, 1)
    assert data.class_names == FASHION_CLASSES
    spec = data.dataset.element_spec
    assert spec[0].dtype == tf.uint8 and spec[0].shape == (28, 28, 1)
    assert spec[1].dtype == tf.int64 and spec[1].shape == ()
    images, labels = _arrays(data)
    np.testing.assert_array_equal(images[..., 0], raw["test_images"][:500])
    np.testing.assert_array_equal(labels, raw["test_labels"][:500])


def test_validation_is_carved_from_train_by_a_seeded_permutation(raw, isolated):
    train = load("fashion_mnist", "train", validation_fraction=0.1, seed=0)
    validation = load("fashion_mnist", "validation", validation_fraction=0.1, seed=0)
    assert (train.num_examples, validation.num_examples) == (54_000, 6_000)
    # The documented rule, recomputed here: the last 10 % of default_rng(seed).permutation.
    val_index = np.sort(np.random.default_rng(0).permutation(60_000)[54_000:])
    train_index = np.setdiff1d(np.arange(60_000), val_index)
    assert len(np.intersect1d(train_index, val_index)) == 0
    for split, index in ((train, train_index), (validation, val_index)):
        images, labels = _arrays(split)
        np.testing.assert_array_equal(images[..., 0], raw["train_images"][index])
        np.testing.assert_array_equal(labels, raw["train_labels"][index])


def test_carving_is_reproducible_and_depends_on_the_seed(isolated):
    first = _arrays(load("fashion_mnist", "validation", seed=7, limit=300))[0]
    again = _arrays(load("fashion_mnist", "validation", seed=7, limit=300))[0]
    other = _arrays(load("fashion_mnist", "validation", seed=8, limit=300))[0]
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_validation_fraction_zero_keeps_all_of_train(raw, isolated):
    train = load("fashion_mnist", "train", validation_fraction=0, limit=1000)
    assert train.num_examples == 1000
    images, labels = _arrays(train)
    np.testing.assert_array_equal(images[..., 0], raw["train_images"][:1000])
    np.testing.assert_array_equal(labels, raw["train_labels"][:1000])
    assert load("fashion_mnist", "train", validation_fraction=0).num_examples == 60_000
    with pytest.raises(ValueError, match="validation_fraction"):
        load("fashion_mnist", "validation", validation_fraction=0)


def test_data_dir_with_uncompressed_files_comes_first(raw, isolated):
    folder = isolated / "mine"
    folder.mkdir()
    for name, file in FILES.items():
        if name.startswith("test"):
            # Uncompressed, with the other spelling some mirrors use (".idx3-ubyte").
            target = folder / file[:-3].replace("-idx", ".idx")
            target.write_bytes(gzip.open(FASHION / file).read())
        else:
            os.symlink(FASHION / file, folder / file)
    data = load("fashion_mnist", "test", data_dir=folder, limit=64)
    assert data.source == str(folder)
    images, labels = _arrays(data)
    np.testing.assert_array_equal(images[..., 0], raw["test_images"][:64])
    np.testing.assert_array_equal(labels, raw["test_labels"][:64])


def test_environment_variable_folder_with_a_per_set_subfolder(isolated, monkeypatch):
    root = isolated / "datasets"
    (root / "fashion-mnist").mkdir(parents=True)
    for file in FILES.values():
        os.symlink(FASHION / file, root / "fashion-mnist" / file)
    monkeypatch.setenv("KERAS_CNNS_DATA", str(root))
    data = load("Fashion-MNIST", "test", limit=8)
    assert data.source == str(root / "fashion-mnist")
    assert data.name == "fashion_mnist"


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path):
    full = gzip.open(FASHION / FILES["test_labels"]).read()
    (tmp_path / "cut").write_bytes(full[:-5])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_idx(tmp_path / "cut")
    (tmp_path / "png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "png")
    labels = read_idx(FASHION / FILES["test_labels"])
    assert labels.shape == (10_000,) and labels.dtype == np.uint8


# ------------------------------------------------------------------- bad inputs
def test_unknown_data_set_suggests_close_names(isolated):
    with pytest.raises(ValueError, match=r"Unknown data set `name`: 'fashion_mnst'.*fashion_mnist"):
        load("fashion_mnst")
    with pytest.raises(ValueError, match="Did you mean: cifar10"):
        load("cifar01")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(split="valid"), r"Invalid `split`: 'valid'. Accepted values: 'train', 'validation', 'test'"),
        (dict(validation_fraction=1.0), r"`validation_fraction` must be a number in \[0, 1\)"),
        (dict(limit=0), r"`limit` must be a positive integer \(>= 1\)"),
    ],
)
def test_bad_arguments_name_argument_value_and_accepted(isolated, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load("fashion_mnist", **kwargs)


def test_tiny_fraction_that_leaves_no_validation_example_is_refused():
    with pytest.raises(ValueError, match="leaves 0 for validation"):
        sources.validation_mask(10, 0.01, 0)


def test_neither_local_nor_downloadable_says_where_it_looked_and_how_to_get_it(isolated):
    empty = isolated / "empty"
    empty.mkdir()
    with pytest.raises(DatasetNotFoundError) as info:
        load("mnist", data_dir=empty, download=False)
    message = str(info.value)
    assert str(empty) in message and "tensorflow-datasets folder" in message
    assert "$KERAS_CNNS_DATA (not set)" in message
    assert "tfds build mnist" in message and "--data-dir" in message
    assert "download=False" in message


def test_fashion_mnist_error_points_to_the_debian_package(isolated, monkeypatch):
    monkeypatch.setattr(sources, "DEBIAN_DIRS", {"fashion_mnist": isolated / "not-installed"})
    with pytest.raises(DatasetNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load("fashion_mnist", data_dir=isolated, download=False)


def test_without_network_the_download_fails_fast_with_the_same_advice(isolated, monkeypatch):
    # A proxy on a closed local port: the network is unreachable on any machine, CI included.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    start = time.perf_counter()
    with pytest.raises(DatasetNotFoundError, match="no network") as info:
        load("mnist", data_dir=isolated / "empty")
    assert time.perf_counter() - start < 30
    assert "tfds build mnist" in str(info.value)


# --------------------------------------------------------------- tensorflow-datasets
def test_tfds_path_with_mocked_cifar10():
    with tfds.testing.mock_data(num_examples=40):
        whole = load("cifar10", "train", validation_fraction=0, download=True)
        train = load("cifar10", "train", validation_fraction=0.25, seed=3, download=True)
        validation = load("cifar10", "validation", validation_fraction=0.25, seed=3, download=True)
        test = load("cifar10", "test", download=True, limit=5)
        assert whole.source.startswith("tfds:")
        assert whole.image_shape == (32, 32, 3) and len(whole.class_names) == 10
        assert (whole.num_examples, train.num_examples, validation.num_examples) == (40, 30, 10)
        assert test.num_examples == 5 and len(list(test.dataset)) == 5
        all_images, all_labels = _arrays(whole)
        mask = sources.validation_mask(40, 0.25, 3)
        for split, keep in ((train, ~mask), (validation, mask)):
            images, labels = _arrays(split)
            assert images.dtype == np.uint8 and labels.dtype == np.int64
            np.testing.assert_array_equal(images, all_images[keep])
            np.testing.assert_array_equal(labels, all_labels[keep])
        batch = next(iter(build_pipeline(
            train, input_shape=(32, 32, 3), batch_size=8, training=True,
            augmentation="pad_crop_flip", normalization="standardize",
        )))
        assert batch[0].shape == (8, 32, 32, 3) and batch[0].dtype == tf.float32


def test_tfds_set_that_is_not_image_classification_is_refused(isolated):
    with pytest.raises(ValueError, match="not an image-classification data set"):
        load("imdb_reviews", download=False)


# --------------------------------------------------------------------- arrays
def test_from_arrays_adds_the_channel_axis_and_checks_its_inputs():
    images = np.arange(2 * 4 * 5, dtype=np.int32).reshape(2, 4, 5)
    data = from_arrays(images, [0, 2], name="toy")
    assert data.image_shape == (4, 5, 1) and data.class_names == ["0", "1", "2"]
    got, labels = _arrays(data)
    np.testing.assert_array_equal(got[..., 0], images)
    assert got.dtype == np.uint8 and labels.tolist() == [0, 2]
    with pytest.raises(ValueError, match="uint8 pixels; received dtype float32"):
        from_arrays(np.zeros((2, 4, 4), "float32"), [0, 1])
    with pytest.raises(ValueError, match=r"values in \[0, 255\]"):
        from_arrays(np.full((2, 4, 4), 300), [0, 1])
    with pytest.raises(ValueError, match="one label per image"):
        from_arrays(np.zeros((2, 4, 4), "uint8"), [0, 1, 2])
    with pytest.raises(ValueError, match="names only 2 classes"):
        from_arrays(np.zeros((2, 4, 4), "uint8"), [0, 2], class_names=["a", "b"])
    with pytest.raises(ValueError, match="Invalid `split`"):
        from_arrays(np.zeros((2, 4, 4), "uint8"), [0, 1], split="dev")


# --------------------------------------------------------------------- folders
@pytest.fixture(scope="module")
def image_folder(tmp_path_factory, raw):
    """30 real Fashion-MNIST test images as PNG files, 10 per class folder."""
    root = tmp_path_factory.mktemp("folder")
    labels = raw["test_labels"]
    kept = {}
    for cls in (0, 1, 9):
        (root / FASHION_CLASSES[cls].replace("/", "-")).mkdir()
        for k, i in enumerate(np.flatnonzero(labels == cls)[:10]):
            png = tf.io.encode_png(raw["test_images"][i][..., None]).numpy()
            name = root / FASHION_CLASSES[cls].replace("/", "-") / f"{k:02d}.png"
            name.write_bytes(png)
            kept[name.name, cls] = raw["test_images"][i]
    return root, kept


def test_from_directory_reads_pixels_and_carves_validation(image_folder):
    root, kept = image_folder
    train = load(f"folder:{root}", "train", validation_fraction=0.2, seed=1)
    validation = load(f"folder:{root}", "validation", validation_fraction=0.2, seed=1)
    assert train.class_names == ["Ankle boot", "T-shirt-top", "Trouser"]
    assert (train.num_examples, validation.num_examples) == (24, 6)
    assert train.image_shape == (28, 28, 3)  # color_mode="rgb" repeats the grey channel
    everything = from_directory(root, validation_fraction=0, color_mode="grayscale")
    assert everything.image_shape == (28, 28, 1) and everything.num_examples == 30
    all_images, all_labels = _arrays(everything)
    # Keras lists files class by class, in sorted order: compare with the PNG sources.
    expected = [kept[f"{k:02d}.png", cls] for cls in (9, 0, 1) for k in range(10)]
    np.testing.assert_array_equal(all_images[..., 0], np.stack(expected))
    mask = sources.validation_mask(30, 0.2, 1)
    images, labels = _arrays(validation)
    np.testing.assert_array_equal(images[..., 0], all_images[mask][..., 0])
    np.testing.assert_array_equal(images[..., 1], images[..., 0])
    np.testing.assert_array_equal(labels, all_labels[mask])


def test_from_directory_uses_split_subfolders(image_folder, tmp_path):
    root, _ = image_folder
    shutil.copytree(root, tmp_path / "train")
    shutil.copytree(root / "Trouser", tmp_path / "test" / "Trouser")
    test = from_directory(tmp_path, split="test", image_size=(14, 14))
    assert test.num_examples == 10 and test.image_shape == (14, 14, 3)
    assert test.class_names == ["Trouser"]
    train = from_directory(tmp_path, split="train", validation_fraction=0.1)
    assert train.num_examples == 27
    shutil.copytree(root / "Trouser", tmp_path / "val" / "Trouser")
    assert from_directory(tmp_path, split="train").num_examples == 30
    validation = from_directory(tmp_path, split="validation")
    assert validation.num_examples == 10 and validation.source == str(tmp_path / "val")
    with pytest.raises(ValueError, match=r"Unknown `split`: 'test'.*pass test_fraction > 0"):
        from_directory(root, split="test")
    with pytest.raises(DatasetNotFoundError, match="is not a folder"):
        from_directory(tmp_path / "missing")


def test_a_folder_without_test_gets_a_carved_test_split_in_no_other_split(image_folder):
    """30 images, no test/ nor validation/ folder: test is 0.2 of them (6), validation 0.25
    of the other 24 (6), train the remaining 18; each image in exactly one split, the same
    images again for the same seed, and each split says how it was made."""
    root, _ = image_folder
    everything = _arrays(from_directory(root, validation_fraction=0, color_mode="grayscale"))[0]
    splits = {name: from_directory(root, split=name, validation_fraction=0.25, test_fraction=0.2,
                                   seed=3, color_mode="grayscale")
              for name in ("train", "validation", "test")}
    assert {n: d.num_examples for n, d in splits.items()} == {"train": 18, "validation": 6, "test": 6}
    found = {n: _arrays(d)[0] for n, d in splits.items()}
    owner = []
    for image in everything:
        owner.append([n for n, images in found.items() if any(np.array_equal(image, x) for x in images)])
    assert all(len(names) == 1 for names in owner), owner
    test_rows = np.flatnonzero([names == ["test"] for names in owner])
    np.testing.assert_array_equal(test_rows, np.flatnonzero(sources.carved_test_mask(30, 0.2, 3)))
    again = from_directory(root, split="test", test_fraction=0.2, seed=3, color_mode="grayscale")
    np.testing.assert_array_equal(_arrays(again)[0], found["test"])
    assert "has no test/ folder: 6 of its 30 images were carved out for test" in splits["test"].carving
    assert "6 of the 24 remaining images were carved out for validation" in splits["train"].carving
    assert splits["train"].carving.endswith("this train split holds 18")
    with pytest.raises(ValueError, match=r"`test_fraction`=0.01 of 30 training examples leaves 0 for test"):
        from_directory(root, split="test", test_fraction=0.01)
    with pytest.raises(ValueError, match=r"`test_fraction`"):
        load(f"folder:{root}", "test", test_fraction=1.0)


def test_excluded_files_are_never_read(image_folder, tmp_path):
    """`exclude` leaves files out before decoding: an unreadable file among them does not
    stop the split, which holds the others in Keras' order."""
    root, kept = image_folder
    folder = tmp_path / "photos"
    shutil.copytree(root, folder)
    broken = folder / "Ankle boot" / "00-broken.png"  # sorts first: also the size probe
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    first = folder / "Trouser" / "03.png"
    data = from_directory(folder, validation_fraction=0, color_mode="grayscale", exclude=[broken, str(first)])
    assert data.num_examples == 29 and data.image_shape == (28, 28, 1)
    images, labels = _arrays(data)
    expected = [kept[f"{k:02d}.png", cls] for cls in (9, 0, 1) for k in range(10) if (cls, k) != (1, 3)]
    np.testing.assert_array_equal(images[..., 0], np.stack(expected))
    assert data.carving.startswith(f"2 files of {folder} left out")
    with pytest.raises(tf.errors.InvalidArgumentError):
        _arrays(from_directory(folder, validation_fraction=0, image_size=(28, 28)))
