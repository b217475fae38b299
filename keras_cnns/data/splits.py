"""One split of a data set (`DataSplit`), and how missing splits are carved.

Validation splits: when a data set has no validation split of its own, `"validation"` is
the last `validation_fraction` of a permutation of the train split drawn with `seed`
(`numpy.random.default_rng(seed)`), and `"train"` is the rest. A folder without a test
split has its test split carved first (`carved_test_mask`). The same arguments always give
the same, disjoint splits.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np
import tensorflow as tf

from keras_cnns.data.files import FileSource
from keras_cnns.validation import check_choice

SPLITS = ("train", "validation", "test")


class DatasetNotFoundError(FileNotFoundError):
    """A data set is neither on this machine nor downloadable; the message says where
    `load` looked and how to get it."""


@dataclasses.dataclass
class DataSplit:
    """One split of a data set, ready for `build_pipeline`.

    Attributes:
        dataset: unbatched elements `(image uint8 [H, W, C], label int64 scalar)`.
        class_names: the name of each label index.
        num_examples: number of elements in `dataset`.
        image_shape: `(H, W, C)` of the stored images; H and W are None when the
            images differ in size.
        name: the data set's name (`"fashion_mnist"`, `"folder:/data/flowers"`, ...).
        split: `"train"`, `"validation"` or `"test"`.
        source: where the examples were read from (a folder, `"tfds:<dir>"`, ...).
        carving: how the split was made from its source, in words: files left out,
            carved test and validation parts, a limit ("" for a split taken as it is).
        files: the image files or TFRecord shards of a split read from files (None for
            arrays and tfds): what streaming and per-worker sharding work on.
    """

    dataset: tf.data.Dataset
    class_names: list[str]
    num_examples: int
    image_shape: tuple[int | None, int | None, int]
    name: str
    split: str
    source: str = ""
    carving: str = ""
    files: FileSource | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def shard(self, index: int, count: int) -> "DataSplit":
        """Worker `index` of `count`'s part of a split read from files: its own files
        alone (`FileSource.shard`), so that no two workers read the same file."""
        if self.files is None:
            raise ValueError(
                f"{self.name!r} ({self.split}) is not read from files, so it cannot be sharded by "
                "file; only folder: and tfrecord: data sets can."
            )
        files = self.files.shard(index, count)
        return dataclasses.replace(
            self, files=files, dataset=files.examples(), num_examples=files.num_examples,
            carving=(f"{self.carving}; " if self.carving else "")
            + f"worker {index} of {count} reads {len(files.files):,} of the {len(self.files.files):,} files",
        )


def check_split(split: Any, accepted: Sequence[str] = SPLITS) -> str:
    return check_choice("split", split, accepted)


# ------------------------------------------------------------- validation carving
def validation_mask(num_examples: int, validation_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the examples that form the carved validation split.

    The validation examples are the last `round(num_examples * validation_fraction)` of a
    permutation drawn with `numpy.random.default_rng(seed)`.
    """
    return _carved_mask(num_examples, validation_fraction, seed, "validation")


def carved_test_mask(num_examples: int, test_fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the examples that form a test split carved from a folder that has
    no test/ folder: the last `round(num_examples * test_fraction)` of a permutation drawn
    with `numpy.random.default_rng([seed, 1])` (a stream of its own, so that the validation
    split is then carved from the rest exactly as from any train split)."""
    return _carved_mask(num_examples, test_fraction, [seed, 1], "test")


def _carved_mask(num_examples: int, fraction: float, seed, split: str) -> np.ndarray:
    carved = int(round(num_examples * fraction))
    if carved < 1 or carved >= num_examples:
        raise ValueError(
            f"`{split}_fraction`={fraction} of {num_examples} training examples leaves "
            f"{carved} for {split} and {num_examples - carved} for training; both need at "
            "least one. Choose a fraction in (0, 1) that fits."
        )
    permutation = np.random.default_rng(seed).permutation(num_examples)
    mask = np.zeros(num_examples, dtype=bool)
    mask[permutation[num_examples - carved:]] = True
    return mask
