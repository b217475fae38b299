"""TFRecord shards in ImageNet's layout: `tfrecord:` data sets, `write_tfrecords`,
`keras-cnns data convert`, and the round trip folder -> shards -> training examples."""

import hashlib
import json

import numpy as np
import pytest
import tensorflow as tf

from keras_cnns.cli import main
from keras_cnns.data import DatasetNotFoundError, build_pipeline, load, write_tfrecords
from photos import photo_folder


def _examples(split):
    """The split's examples as a sorted list of (pixel hash, shape, label)."""
    return sorted(
        (hashlib.md5(image.tobytes()).hexdigest(), image.shape, int(label))
        for image, label in split.dataset.as_numpy_iterator()
    )


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return photo_folder(tmp_path_factory.mktemp("photos"), per_class=10)


def test_a_folder_round_trips_through_shards_to_the_same_examples(photos, tmp_path, capsys):
    shards = tmp_path / "shards"
    assert main(["data", "convert", f"folder:{photos}", str(shards), "--shards", "3"]) == 0
    assert "train on them with: keras-cnns train MODEL --dataset tfrecord:" in capsys.readouterr().out
    manifest = json.loads((shards / "tfrecords.json").read_text())
    assert manifest["splits"]["train"]["files"] == [f"train-0000{i}-of-00003" for i in range(3)]
    assert manifest["class_names"] == ["class0", "class1"] and manifest["image_shape"] == [None, None, 3]
    for split in ("train", "validation", "test"):
        folder = load(f"folder:{photos}", split, test_fraction=0.1)
        records = load(f"tfrecord:{shards}", split)
        assert records.num_examples == folder.num_examples and records.image_shape == (None, None, 3)
        # The files' JPEG bytes are copied: the same pixels, not a re-encoding.
        assert _examples(records) == _examples(folder)
    assert sum(manifest["splits"]["train"]["counts"]) == 16
    # What training reads: every example once per epoch, cropped to the model's input.
    train = load(f"tfrecord:{shards}", "train")
    ds = build_pipeline(train, input_shape=(64, 64, 3), batch_size=5, training=True,
                        augmentation="random_resized_crop", seed=0, epochs=(0, 2))
    labels = np.concatenate([y.numpy() for _, y in ds])
    folder_labels = sorted(int(y) for _, y in load(f"folder:{photos}", "train", test_fraction=0.1).dataset)
    assert sorted(labels[:16].tolist()) == folder_labels == sorted(labels[16:].tolist())


def _imagenet_style(root, shards=4, per_shard=3, with_validation=True):
    """Shards as TensorFlow's ImageNet scripts write them: labels from 1, class texts,
    JPEGs of different sizes, no manifest."""
    rng = np.random.default_rng(0)
    names = {1: "tench", 2: "goldfish", 3: "shark"}

    def write(path, count, offset):
        with tf.io.TFRecordWriter(str(path)) as writer:
            for i in range(count):
                label = 1 + (offset + i) % 3
                image = rng.integers(0, 256, (20 + i, 30 - i, 3), dtype=np.uint8)
                feature = {
                    "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(
                        value=[tf.io.encode_jpeg(image).numpy()])),
                    "image/class/label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                    "image/class/text": tf.train.Feature(bytes_list=tf.train.BytesList(
                        value=[names[label].encode()])),
                    "image/format": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"JPEG"])),
                }
                writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())

    root.mkdir()
    for i in range(shards):
        write(root / f"train-{i:05d}-of-{shards:05d}", per_shard, i)
    if with_validation:
        write(root / "validation-00000-of-00001", 4, 0)
    return root


def test_imagenet_style_shards_are_counted_and_labelled_from_one(tmp_path):
    root = _imagenet_style(tmp_path / "imagenet")
    train = load(f"tfrecord:{root}", "train", first_label=1, test_fraction=0.25)
    assert train.class_names == ["tench", "goldfish", "shark"]
    assert train.image_shape == (None, None, 3) and train.num_examples == 9
    assert "1 of the 4 train shards were carved out for test" in train.carving
    labels = [int(y) for _, y in train.dataset]
    assert min(labels) == 0 and max(labels) == 2
    test = load(f"tfrecord:{root}", "test", first_label=1, test_fraction=0.25)
    assert test.num_examples == 3 and set(test.files.files).isdisjoint(train.files.files)
    validation = load(f"tfrecord:{root}", "validation", first_label=1)
    assert validation.num_examples == 4 and validation.carving == ""
    # Read as 0-based, label 0 has no text: a fourth class named "0".
    zero_based = load(f"tfrecord:{root}/{{split}}-*", "validation")
    assert zero_based.class_names == ["0", "tench", "goldfish", "shark"]
    # A limit reads the fewest shards that hold it.
    limited = load(f"tfrecord:{root}", "train", first_label=1, limit=4)
    assert limited.num_examples == 4 and len(list(limited.dataset)) == 4


def test_tfrecord_errors_name_the_argument_and_what_would_do(tmp_path):
    root = _imagenet_style(tmp_path / "small", shards=1, with_validation=False)
    with pytest.raises(ValueError, match="carved by whole shards"):
        load(f"tfrecord:{root}", "train", test_fraction=0.1)
    with pytest.raises(ValueError, match="has no test shards and `test_fraction`=0"):
        load(f"tfrecord:{root}", "test")
    with pytest.raises(DatasetNotFoundError, match="No TFRecord shards"):
        load(f"tfrecord:{tmp_path}/nothing-*", "train")
    with pytest.raises(ValueError, match="Invalid `first_label`: 2"):
        load(f"tfrecord:{root}", "train", first_label=2, validation_fraction=0)
    split = load(f"tfrecord:{root}", "train", validation_fraction=0)
    with pytest.raises(ValueError, match="1 file\\(s\\) cannot be split among 2 workers"):
        split.shard(0, 2)
    with pytest.raises(ValueError, match="`shards`=4 is more than the 3 examples"):
        write_tfrecords(split, tmp_path / "out", shards=4)
    with pytest.raises(TypeError, match="`split` must be a DataSplit"):
        write_tfrecords([1, 2], tmp_path / "out", shards=1)


def test_arrays_are_written_as_png_losslessly(tmp_path):
    fashion = load("fashion_mnist", "test", limit=40)
    write_tfrecords(fashion, tmp_path, shards=2)
    back = load(f"tfrecord:{tmp_path}", "test")
    assert back.image_shape == (28, 28, 1) and back.class_names == fashion.class_names
    assert _examples(back) == _examples(fashion)
