"""Folders of images of different sizes: each image read at its own size, shuffled by file
each epoch, cropped from its original (random-resized crops in training, the evaluation's
resize-and-centre-crop otherwise); folders of one size keep the in-memory path."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from keras_cnns.data import build_pipeline, load
from keras_cnns.data.crops import center_crop, resize_shorter_side, resize_size
from photos import coordinate_image, photo_folder

#: Originals of three shapes: 3:1 landscape, 1:3 portrait, square.
SHAPES = {"landscape": (120, 360), "portrait": (360, 120), "square": (200, 200)}


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return photo_folder(tmp_path_factory.mktemp("photos"), per_class=8)


@pytest.fixture(scope="module")
def coordinates(tmp_path_factory):
    """Coordinate-coded originals (`photos.coordinate_image`), one class per shape, JPEG."""
    root = tmp_path_factory.mktemp("coordinates")
    for name, (h, w) in SHAPES.items():
        (root / name).mkdir()
        for i in range(6):
            Image.fromarray(coordinate_image(h, w)).save(root / name / f"{i}.jpg", quality=95)
    return root


def crop_extent(images: np.ndarray, original: tuple[int, int]) -> np.ndarray:
    """For coordinate-coded crops `[N, S, S, 3]` (pixel values): the height and width of
    the part of the original each shows, in the original's pixels (flips included)."""
    h, w = original
    size = images.shape[1]
    # The first and last rows/columns hold pixel centres half a pixel inside the crop.
    span = size / (size - 1)
    width = np.abs(images[:, :, -1, 0].mean(1) - images[:, :, 0, 0].mean(1)) / 255 * (w - 1) * span
    height = np.abs(images[:, -1, :, 1].mean(1) - images[:, 0, :, 1].mean(1)) / 255 * (h - 1) * span
    return np.stack([height, width], 1)


def _batches(split, **kwargs):
    ds = build_pipeline(split, input_shape=(96, 96, 3), batch_size=8, normalization="none", **kwargs)
    return [(x.numpy(), y.numpy()) for x, y in ds]


def test_a_folder_of_mixed_sizes_is_read_at_each_images_own_size(photos, tmp_path):
    split = load(f"folder:{photos}", "train", validation_fraction=0)
    assert split.image_shape == (None, None, 3) and split.files is not None
    assert "differ in size" in split.carving and split.num_examples == 16
    sizes = {image.shape[:2] for image, _ in split.dataset.as_numpy_iterator()}
    assert sizes == {(180, 320), (320, 180), (240, 240), (200, 300)}
    # One size: kept as it is, decoded once and held in memory (the fast path).
    same = photo_folder(tmp_path / "same", per_class=3, sizes=((64, 48),))
    fixed = load(f"folder:{same}", "train", validation_fraction=0)
    assert fixed.image_shape == (64, 48, 3)
    from keras_cnns.data.pipeline import should_cache

    assert should_cache(fixed) and not should_cache(split)


def test_evaluation_shows_the_centre_crop_of_the_resized_original(photos):
    split = load(f"folder:{photos}", "train", validation_fraction=0)
    batches = _batches(split, training=False)
    images = np.concatenate([x for x, _ in batches])
    labels = np.concatenate([y for _, y in batches])
    originals = list(split.dataset.as_numpy_iterator())
    np.testing.assert_array_equal(labels, [label for _, label in originals])  # in file order
    for got, (image, _) in zip(images, originals):
        # The evaluation transform: the shorter side resized to 110, the centre 96x96.
        expected = center_crop(resize_shorter_side(tf.cast(image, tf.float32), resize_size(96)), 96, 96)
        np.testing.assert_allclose(got, expected.numpy(), atol=1e-3)


def test_training_shuffles_the_files_each_epoch_seeded_and_resumable(photos):
    split = load(f"folder:{photos}", "train", validation_fraction=0)
    # The random-resized crop alone: the flip is a Keras layer whose generator restarts.
    kwargs = dict(training=True, augmentation="random_resized_crop", seed=7)
    three = _batches(split, epochs=(0, 3), **kwargs)
    per_epoch = [three[i * 2:(i + 1) * 2] for i in range(3)]
    orders = [np.concatenate([y for _, y in epoch]) for epoch in per_epoch]
    for order in orders:  # every file once per epoch
        assert sorted(order.tolist()) == [0] * 8 + [1] * 8
    assert not np.array_equal(orders[0], orders[1])
    resumed = _batches(split, epochs=(1, 3), **kwargs)
    for (a, la), (b, lb) in zip(three[2:], resumed):
        np.testing.assert_array_equal(la, lb)
        np.testing.assert_array_equal(a, b)  # the same crops: seeded by epoch and position


def test_random_resized_crops_keep_the_originals_aspect_ratio(coordinates):
    """The crops' aspect ratios, measured in the originals' pixels, lie in Inception's
    [3/4, 4/3] whatever the original's shape. A pipeline that resized every image to
    one size before cropping would stretch the 3:1 and 1:3 originals' crops 3x."""
    split = load(f"folder:{coordinates}", "train", validation_fraction=0)
    assert split.image_shape == (None, None, 3)
    ds = build_pipeline(split, input_shape=(224, 224, 3), batch_size=6, training=True,
                        augmentation=("random_resized_crop", "flip"), normalization="none",
                        seed=1, epochs=(0, 8))
    aspects = {name: [] for name in SHAPES}
    areas = {name: [] for name in SHAPES}
    for images, labels in ds:
        images, labels = images.numpy(), labels.numpy()
        for name in SHAPES:
            chosen = images[labels == split.class_names.index(name)]
            if len(chosen):
                extent = crop_extent(chosen, SHAPES[name])
                aspects[name] += list(extent[:, 1] / extent[:, 0])
                areas[name] += list(extent.prod(1) / np.prod(SHAPES[name]))
    statistics = {}
    for name in SHAPES:
        log_aspect = np.log(aspects[name])
        assert len(log_aspect) == 48
        # Each box's aspect is drawn in [3/4, 4/3]; its sides are rounded to pixels.
        assert log_aspect.min() > np.log(3 / 4) - 0.08 and log_aspect.max() < np.log(4 / 3) + 0.08, name
        assert 0.05 < min(areas[name]) and max(areas[name]) < 1.02
        statistics[name] = (float(np.median(log_aspect)), float(np.std(log_aspect)))
    # The originals' log aspect ratios are -1.1, 0 and 1.1; the crops' are spread about
    # 0 for all three alike (log-uniform over [3/4, 4/3] has a standard deviation 0.17).
    for median, spread in statistics.values():
        assert abs(median) < 0.15 and 0.05 < spread < 0.25, statistics


def test_googlenet_trains_at_224_from_the_command_line_on_mixed_size_photographs(photos, tmp_path):
    run_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "keras_cnns.cli", "train", "googlenet", "--dataset", f"folder:{photos}",
         "--epochs", "1", "--batch-size", "4", "--seed", "0", "--run-dir", str(run_dir), "--verbose", "2"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "the images differ in size: each is read at its own size" in result.stdout
    config = json.loads((run_dir / "config.json").read_text())
    assert config["input_shape"] == [224, 224, 3] and config["image_fit"] == "centre_crop"
    assert "random_resized_crop" in config["recipe"]["augmentation"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["epochs"] == 1
    history = (run_dir / "history.csv").read_text().splitlines()
    assert len(history) == 2 and np.isfinite(float(history[1].split(",")[1]))
    # The run is evaluated on its carved test images, each centre-cropped from its original.
    import keras_cnns

    result = keras_cnns.evaluate(run_dir, top_k=1)
    assert result.num_images == 2 and result.details["split"] == "test"
    assert result.top1 == pytest.approx(metrics["test_accuracy"])


def test_exports_of_mixed_size_runs_centre_crop_what_clients_send(photos):
    from keras_cnns.export.preprocessing import Preprocessing

    image = next(iter(load(f"folder:{photos}", "train", validation_fraction=0).dataset))[0]
    crop = Preprocessing("none", image_fit="centre_crop")(image[None], (96, 96, 3))
    expected = center_crop(resize_shorter_side(tf.cast(image, tf.float32), resize_size(96)), 96, 96)
    np.testing.assert_allclose(crop[0].numpy(), expected.numpy(), atol=1e-3)
    config = {"recipe": {"normalization": "none"}, "dataset": "folder:/x", "input_shape": [96, 96, 3]}
    assert Preprocessing.from_run_config(config).image_fit == "fit"  # runs from before
    assert Preprocessing.from_run_config({**config, "image_fit": "centre_crop"}).image_fit == "centre_crop"
    with pytest.raises(ValueError, match="Invalid `image_fit`: 'stretch'"):
        Preprocessing(image_fit="stretch")


def test_image_size_is_checked():
    from keras_cnns.validation import check_image_size

    assert check_image_size("image_size", 224) == (224, 224)
    assert check_image_size("image_size", (224, 192)) == (224, 192)
    for bad in (0, (224,), "224", True, (224, -1)):
        with pytest.raises(ValueError, match="`image_size` must be None, a positive integer"):
            check_image_size("image_size", bad)
