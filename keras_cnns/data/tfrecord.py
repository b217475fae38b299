"""TFRecord shards in ImageNet's usual layout: reading them as a data set, writing any split.

Each record is a `tf.train.Example` with `image/encoded` (JPEG, PNG, ... bytes),
`image/class/label` (int64) and optionally `image/class/text` (the class name), as the
ImageNet shards `train-00000-of-01024` ... made by TensorFlow's Inception and TPU scripts
(whose labels start at 1, 0 being "background": `first_label=1`).

    split = keras_cnns.data.load("tfrecord:/data/imagenet", "train", first_label=1)
    keras_cnns.data.write_tfrecords(load("folder:/photos", "train"), "/data/photos", shards=64)

`write_tfrecords` also writes `tfrecords.json` beside the shards (`MANIFEST`): the
examples in each shard, the class names and the image shape, so that reading them back
needs no pass over the records. Shards without it (ImageNet's) are read once at load, the
labels and class names only, to count their examples.
"""

from __future__ import annotations

import functools
import glob
import json
import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import tensorflow as tf

from keras_cnns.data.files import FileSource, image_decoder
from keras_cnns.data.splits import (
    DatasetNotFoundError,
    DataSplit,
    carved_test_mask,
    check_split,
    validation_mask,
)
from keras_cnns.validation import check_choice, check_positive_int

#: The manifest `write_tfrecords` writes beside its shards.
MANIFEST = "tfrecords.json"
ENCODED, LABEL, TEXT = "image/encoded", "image/class/label", "image/class/text"
#: File name prefixes of each split's shards in a folder (`<prefix>-00000-of-00064`).
SPLIT_PREFIXES = {"train": ("train",), "validation": ("validation", "val"), "test": ("test",)}


def _features():
    return {
        ENCODED: tf.io.FixedLenFeature([], tf.string),
        LABEL: tf.io.FixedLenFeature([], tf.int64),
        TEXT: tf.io.FixedLenFeature([], tf.string, default_value=""),
    }


def record_parser(first_label: int = 0):
    """A function from a serialized record to `(encoded image, label)`, the label counted
    from 0 (`image/class/label - first_label`)."""

    def parse(record):
        features = tf.io.parse_single_example(
            record, {ENCODED: _features()[ENCODED], LABEL: _features()[LABEL]}
        )
        return features[ENCODED], features[LABEL] - first_label

    return parse


@functools.lru_cache(maxsize=64)
def _count(files: tuple[str, ...]) -> tuple[tuple[int, ...], dict[int, str]]:
    """The records in each file, and the class text of each label seen (shards without a
    manifest)."""
    counts, texts = [], {}
    parse = {LABEL: _features()[LABEL], TEXT: _features()[TEXT]}
    for path in files:
        count = 0
        for batch in tf.data.TFRecordDataset(path).batch(1024):
            parsed = tf.io.parse_example(batch, parse)
            labels, text = parsed[LABEL].numpy(), parsed[TEXT].numpy()
            for label in np.unique(labels):
                if int(label) not in texts:
                    texts[int(label)] = text[np.argmax(labels == label)].decode()
            count += len(labels)
        counts.append(count)
    return tuple(counts), texts


def _split_files(pattern: str, split: str) -> list[str]:
    if "{split}" in pattern:
        return sorted(glob.glob(pattern.format(split=split)))
    if os.path.isdir(pattern):
        for prefix in SPLIT_PREFIXES[split]:
            files = sorted(glob.glob(os.path.join(glob.escape(pattern), f"{prefix}-*")))
            files = [f for f in files if not f.endswith(".json")]
            if files:
                return files
        return []
    return sorted(glob.glob(pattern)) if split == "train" else []


def _manifest(files: Sequence[str]) -> dict | None:
    folders = {os.path.dirname(os.path.abspath(f)) for f in files}
    if len(folders) != 1:
        return None
    path = Path(folders.pop()) / MANIFEST
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text())
    counts = {}
    for entry in manifest["splits"].values():
        counts.update(zip(entry["files"], entry["counts"]))
    if not all(os.path.basename(f) in counts for f in files):
        return None
    manifest["counts"] = [counts[os.path.basename(f)] for f in files]
    return manifest


def from_tfrecords(
    pattern: str | os.PathLike,
    *,
    split: str = "train",
    first_label: int | None = None,
    channels: int | None = None,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
    limit: int | None = None,
):
    """A `DataSplit` over TFRecord shards (module docstring for the record layout).

    Args:
        pattern: a folder holding `train-*`, `validation-*` (or `val-*`) and `test-*`
            shards; a glob with `{split}` in it (`/data/in/{split}-*-of-*`); or a glob of
            train shards alone.
        split: `"train"`, `"validation"` or `"test"`. A split without shards of its own is
            carved from the train shards by whole shards (test first, `test_fraction` of
            them; then validation, `validation_fraction` of the rest; drawn as
            `carved_test_mask` and `validation_mask` draw examples), so that each worker of
            a multi-worker run can still read whole files.
        first_label: the `image/class/label` of the first class: 0, or 1 for ImageNet
            shards whose label 0 is "background"; None: the manifest's, else 0.
        channels: decode to this many channels (1, 3 or 4); default: the manifest's,
            else 3.
        validation_fraction, test_fraction, seed: the carving of missing splits (above).
        limit: keep only the first `limit` examples, read from the fewest shards that
            hold them.
    """
    check_split(split)
    if first_label is not None:
        check_choice("first_label", first_label, (0, 1))
    if channels is not None:
        check_choice("channels", channels, (1, 3, 4))
    pattern = os.fspath(Path(os.fspath(pattern)).expanduser())
    train_files = _split_files(pattern, "train")
    files, carving = _split_files(pattern, split), []
    if not files:
        if not train_files:
            raise DatasetNotFoundError(
                f"No TFRecord shards for split {split!r} or 'train' match {pattern!r}. "
                "Accepted: a folder of train-*/validation-*/test-* shards, a glob with "
                "{split} in it, or a glob of train shards."
            )
        files = train_files
    if files is train_files or split == "train":
        files, carving = _carve_shards(
            pattern, train_files, split, validation_fraction, test_fraction, seed,
            carved_test_mask, validation_mask,
        )
    manifest = _manifest(files)
    if first_label is None:
        first_label = manifest.get("first_label", 0) if manifest else 0
    if manifest is not None:
        counts = manifest["counts"]
        class_names = list(manifest["class_names"])
        shape = manifest["image_shape"]
        stored_channels = shape[-1]
    else:
        counts, texts = _count(tuple(files))
        if not texts:
            raise DatasetNotFoundError(f"The shards of {pattern!r} for {split!r} hold no records.")
        num_classes = max(texts) + 1 - first_label
        class_names = [texts.get(i + first_label) or str(i) for i in range(num_classes)]
        shape, stored_channels = [None, None, 3], 3
    channels = channels or stored_channels
    size = tuple(shape[:2]) if shape[0] is not None and channels == stored_channels else None
    source = FileSource(
        files=tuple(files), counts=tuple(int(c) for c in counts), labels=None,
        decode=image_decoder(channels, size), parse=record_parser(first_label),
    )
    if limit is not None:
        limit = check_positive_int("limit", limit)
        kept = int(np.searchsorted(np.cumsum(source.counts), limit) + 1)
        source = source.subset(range(min(kept, len(files))))
    count = source.num_examples if limit is None else min(limit, source.num_examples)
    dataset = source.examples()
    if limit is not None and count < source.num_examples:
        dataset = dataset.take(count)
        carving.append(f"the first {count:,} examples are kept (limit)")
    return DataSplit(
        dataset=dataset,
        class_names=class_names,
        num_examples=count,
        image_shape=(*(size or (None, None)), channels),
        name=f"tfrecord:{pattern}",
        split=split,
        source=pattern,
        carving="; ".join(carving),
        files=source if count == source.num_examples else None,
    )


def _carve_shards(pattern, train_files, split, validation_fraction, test_fraction, seed,
                  test_mask, validation_mask) -> tuple[list[str], list[str]]:
    """The shards of `split` among the train shards when the split has none of its own."""
    files, carving = list(train_files), []
    has = {name: bool(_split_files(pattern, name)) for name in ("validation", "test")}
    if not has["test"] and test_fraction > 0:
        mask = _shard_mask(test_mask, len(files), test_fraction, seed, "test")
        carving.append(f"{int(mask.sum())} of the {len(files)} train shards were carved out "
                       f"for test (test_fraction {test_fraction:g}, seed {seed})")
        if split == "test":
            return [f for f, m in zip(files, mask) if m], carving
        files = [f for f, m in zip(files, mask) if not m]
    elif split == "test":
        raise ValueError(
            f"Unknown `split`: 'test' for {pattern!r}: it has no test shards and "
            "`test_fraction`=0 carves none. Pass test_fraction > 0 to carve test shards."
        )
    if not has["validation"] and split != "test":
        if validation_fraction == 0:
            if split == "validation":
                raise ValueError(
                    f"{pattern!r} has no validation shards and `validation_fraction`=0 carves "
                    "none. Pass validation_fraction > 0 or use split='test'."
                )
        else:
            mask = _shard_mask(validation_mask, len(files), validation_fraction, seed, "validation")
            carving.append(f"{int(mask.sum())} of the {len(files)} remaining shards were carved "
                           f"out for validation (validation_fraction {validation_fraction:g}, seed {seed})")
            files = [f for f, m in zip(files, mask) if m == (split == "validation")]
    if carving:
        carving.append(f"this {split} split reads {len(files)} shard(s)")
    return files, carving


def _shard_mask(draw, shards: int, fraction: float, seed: int, split: str) -> np.ndarray:
    try:
        return draw(shards, fraction, seed)
    except ValueError:
        raise ValueError(
            f"`{split}_fraction`={fraction} of {shards} TFRecord shard(s) leaves no whole shard "
            f"for {split} or none for training: splits are carved by whole shards. Write more "
            f"shards, or {split} shards of their own ({split}-*)."
        ) from None


def _example(encoded: bytes, label: int, text: str) -> bytes:
    feature = {
        ENCODED: tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded])),
        LABEL: tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
        TEXT: tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()])),
    }
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_tfrecords(
    split, out_dir: str | os.PathLike, *, shards: int, first_label: int = 0, seed: int = 0,
) -> list[Path]:
    """Write `split` (any `DataSplit`) as `shards` TFRecord files in `out_dir`, named
    `<split>-00000-of-<shards>`, and record them in `out_dir/tfrecords.json`.

    The examples are shuffled once (`numpy.random.default_rng(seed)`) and written in
    contiguous runs, so that every shard holds every class. Images read from files keep
    their encoded bytes (JPEG stays JPEG); other images are written as PNG, losslessly.
    Returns the shard paths.
    """
    if not isinstance(split, DataSplit):
        raise TypeError(f"`split` must be a DataSplit (from keras_cnns.data.load); received {split!r}.")
    shards = check_positive_int("shards", shards)
    first_label = check_choice("first_label", first_label, (0, 1))
    if shards > split.num_examples:
        raise ValueError(
            f"`shards`={shards} is more than the {split.num_examples} examples of the "
            f"{split.split!r} split; use at most {split.num_examples}."
        )
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    order = np.random.default_rng(seed).permutation(split.num_examples)
    bounds = [math.floor(i * split.num_examples / shards) for i in range(shards + 1)]
    records = _encoded_examples(split)
    names, counts = [], []
    for index in range(shards):
        name = f"{split.split}-{index:05d}-of-{shards:05d}"
        chosen = order[bounds[index]:bounds[index + 1]]
        with tf.io.TFRecordWriter(str(out / name)) as writer:
            for i in chosen:
                encoded, label = records[int(i)]
                writer.write(_example(encoded, label + first_label, split.class_names[label]))
        names.append(name)
        counts.append(len(chosen))
    _update_manifest(out, split, names, counts, first_label)
    return [out / name for name in names]


def _encoded_examples(split) -> list[tuple[bytes, int]]:
    files = split.files
    if files is not None and files.one_per_file:
        return [(Path(path).read_bytes(), int(label)) for path, label in zip(files.files, files.labels)]
    examples = []
    for image, label in split.dataset.as_numpy_iterator():
        examples.append((tf.io.encode_png(image).numpy(), int(label)))
    return examples


def _update_manifest(out: Path, split, names: list[str], counts: list[int], first_label: int) -> None:
    path = out / MANIFEST
    manifest = json.loads(path.read_text()) if path.is_file() else {"splits": {}}
    if manifest.get("class_names", split.class_names) != split.class_names:
        raise ValueError(
            f"{out} already holds shards of a data set with other classes "
            f"({manifest['class_names'][:5]}...); write to an empty folder."
        )
    for old in manifest["splits"].get(split.split, {}).get("files", []):
        if old not in names and (out / old).is_file():
            (out / old).unlink()  # a split written again with another shard count
    manifest.update(
        class_names=list(split.class_names), image_shape=list(split.image_shape),
        first_label=first_label, source=split.name,
    )
    manifest["splits"][split.split] = {"files": names, "counts": counts}
    path.write_text(json.dumps(manifest, indent=2))

