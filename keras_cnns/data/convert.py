"""Any data set as TFRecord shards: `keras-cnns data convert SRC DST --shards N`."""

from __future__ import annotations

import os
from pathlib import Path

from keras_cnns.data.scan import scan
from keras_cnns.data.sources import load
from keras_cnns.data.tfrecord import write_tfrecords
from keras_cnns.validation import check_positive_int


def convert(
    source: str, out_dir: str | os.PathLike, *, shards: int, validation_fraction: float = 0.1,
    test_fraction: float = 0.1, seed: int = 0, skip_corrupt: bool = False,
    data_dir: str | os.PathLike | None = None, first_label: int = 0,
) -> dict[str, list[Path]]:
    """Write every split of `source` (any `keras_cnns.data.load` name) as TFRecord shards
    in `out_dir`: the train split in `shards` files, validation and test in as many as
    keep their shards the size of train's (at least one). The splits are those a
    `keras_cnns.train` run with the same fractions and seed would use. A `folder:` source
    is scanned first (`keras_cnns.data.scan`): unreadable files stop the conversion with
    their list, or with `skip_corrupt` are left out. Returns each split's shard paths.
    """
    shards = check_positive_int("shards", shards)
    exclude: list[str] = []
    if source.startswith("folder:"):
        report = scan(source)
        if not report.ok:
            if not skip_corrupt:
                report.raise_if_bad()
            exclude = [path for path, _ in report.bad]
    common = dict(data_dir=data_dir, validation_fraction=validation_fraction, seed=seed,
                  test_fraction=test_fraction, exclude=exclude)
    train = load(source, "train", **common)
    splits = {"train": train}
    if validation_fraction > 0 or _has_split(source, "validation", common):
        splits["validation"] = load(source, "validation", **common)
    splits["test"] = load(source, "test", **common)
    written = {}
    for name, split in splits.items():
        count = shards if name == "train" else max(1, round(shards * split.num_examples / train.num_examples))
        written[name] = write_tfrecords(split, out_dir, shards=min(count, split.num_examples),
                                        first_label=first_label, seed=seed)
    return written


def _has_split(source: str, split: str, common: dict) -> bool:
    try:
        load(source, split, **{**common, "validation_fraction": 0.0})
    except ValueError:
        return False
    return True
