"""Data sets and input pipelines.

>>> from keras_cnns.data import load, build_pipeline
>>> train = load("fashion_mnist", "train")          # local IDX files, else tfds
>>> ds = build_pipeline(train, input_shape=(32, 32, 1), batch_size=128, training=True)

`load` returns a `DataSplit` (an unbatched `tf.data.Dataset` of uint8 images and int64
labels, the class names, the size); `build_pipeline` turns it into normalized, fitted and
(in training) augmented batches. `from_arrays` and `from_directory` make a `DataSplit`
from numpy arrays or a folder of images, `from_tfrecords` (`load("tfrecord:...")`) from
TFRecord shards, which `write_tfrecords` writes from any split. `scan` decodes every image of a folder beforehand
and reports the files that cannot be read (truncated, empty, not images).
"""

from keras_cnns.data.augment import PCAColorAugmentation, RandomPadCrop, RandomResizedCrop
from keras_cnns.data.pipeline import (
    AUGMENTATIONS,
    CACHE_LIMIT_BYTES,
    DATASET_STATISTICS,
    NORMALIZATIONS,
    PAD_LIMIT,
    build_pipeline,
)
from keras_cnns.data.files import FileSource
from keras_cnns.data.scan import CorruptImagesError, ScanReport, scan
from keras_cnns.data.sources import (
    DataSplit,
    DatasetNotFoundError,
    from_arrays,
    from_directory,
    load,
    read_idx,
)
from keras_cnns.data.tfrecord import from_tfrecords, write_tfrecords

__all__ = [
    "AUGMENTATIONS",
    "CACHE_LIMIT_BYTES",
    "CorruptImagesError",
    "DATASET_STATISTICS",
    "DataSplit",
    "DatasetNotFoundError",
    "FileSource",
    "NORMALIZATIONS",
    "PAD_LIMIT",
    "PCAColorAugmentation",
    "RandomPadCrop",
    "RandomResizedCrop",
    "ScanReport",
    "build_pipeline",
    "from_arrays",
    "from_directory",
    "from_tfrecords",
    "load",
    "read_idx",
    "scan",
    "write_tfrecords",
]
