"""The files a split is read from: image files (one example each) or TFRecord shards.

A `DataSplit` made from files (`from_directory`, `from_tfrecords`) carries a `FileSource`.
`keras_cnns.data.build_pipeline` uses it to stream a split that is not kept in memory:
each epoch shuffles the files (seeded), then reads and decodes them in parallel. Under
`MultiWorkerMirroredStrategy`, `FileSource.shard` gives each worker its own files, so that
no worker reads another's (tf.data's FILE sharding, made explicit).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Sequence

import numpy as np
import tensorflow as tf

#: Shards read at once when reading TFRecord files.
INTERLEAVE_CYCLE = 8


@dataclasses.dataclass(frozen=True)
class FileSource:
    """Where a split's examples are, file by file.

    Attributes:
        files: image files, or TFRecord shards.
        counts: the examples in each file (1 for an image file).
        labels: for image files, each file's label; None for shards, whose records hold
            their labels.
        decode: encoded image bytes -> uint8 image `[h, w, C]` (resized where the split
            has one size).
        parse: for shards, a serialized record -> `(encoded image bytes, int64 label)`.
    """

    files: tuple[str, ...]
    counts: tuple[int, ...]
    labels: tuple[int, ...] | None
    decode: Callable[[tf.Tensor], tf.Tensor]
    parse: Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]] | None = None

    @property
    def num_examples(self) -> int:
        return int(sum(self.counts))

    @property
    def one_per_file(self) -> bool:
        """Whether each file is one example (image files), so that shuffling the files
        shuffles the examples completely."""
        return self.labels is not None

    @functools.cached_property
    def _tensors(self) -> tuple[tf.Tensor, tf.Tensor | None]:
        # Made once: every epoch's pass of a pipeline reads the same two constants.
        files = tf.constant(list(self.files), tf.string)
        labels = None if self.labels is None else tf.constant(np.asarray(self.labels, "int64"))
        return files, labels

    def subset(self, indices: Sequence[int] | np.ndarray) -> "FileSource":
        """The files at `indices`, in that order."""
        indices = [int(i) for i in indices]
        return dataclasses.replace(
            self,
            files=tuple(self.files[i] for i in indices),
            counts=tuple(self.counts[i] for i in indices),
            labels=None if self.labels is None else tuple(self.labels[i] for i in indices),
        )

    def shard(self, index: int, count: int) -> "FileSource":
        """Worker `index` of `count`'s files: every `count`-th file from the `index`-th."""
        if not (0 <= index < count):
            raise ValueError(f"`index` must be in [0, {count}); received {index!r}.")
        if len(self.files) < count:
            raise ValueError(
                f"{len(self.files)} file(s) cannot be split among {count} workers so that each "
                f"reads files of its own; write at least {count} shards "
                "(`keras-cnns data convert SRC DST --shards N`) or use fewer workers."
            )
        return self.subset(range(index, len(self.files), count))

    def read(self, order: tf.data.Dataset | None = None) -> tf.data.Dataset:
        """`(uint8 image, int64 label)` of the files whose indices `order` yields (None:
        every file in order), decoded in parallel, in a deterministic order."""
        decode = self.decode
        return self.read_encoded(order).map(
            lambda encoded, label: (decode(encoded), label),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
        )

    def read_encoded(self, order: tf.data.Dataset | None = None) -> tf.data.Dataset:
        """`(encoded image bytes, int64 label)` of the files whose indices `order` yields
        (None: every file in order), in a deterministic order."""
        if order is None:
            order = tf.data.Dataset.range(len(self.files))
        files, labels = self._tensors
        if self.one_per_file:
            return order.map(
                lambda index: (tf.io.read_file(tf.gather(files, index)), tf.gather(labels, index)),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
            )
        return order.interleave(
            lambda index: tf.data.TFRecordDataset(tf.gather(files, index)),
            cycle_length=min(INTERLEAVE_CYCLE, len(self.files)), block_length=1,
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
        ).map(self.parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def examples(self) -> tf.data.Dataset:
        """Every example in file order, with the cardinality set."""
        return self.read().apply(tf.data.experimental.assert_cardinality(self.num_examples))


def image_decoder(channels: int, size: tuple[int, int] | None) -> Callable[[tf.Tensor], tf.Tensor]:
    """Encoded JPEG/PNG/GIF/BMP bytes -> uint8 `[h, w, channels]`; with `size`, resized
    (bilinear, as Keras' `image_dataset_from_directory`) to `size` and rounded."""

    def decode(encoded):
        image = tf.io.decode_image(encoded, channels=channels, expand_animations=False)
        if size is None:
            image.set_shape((None, None, channels))
            return image
        resized = tf.image.resize(image, size)
        resized.set_shape((*size, channels))
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)

    return decode
