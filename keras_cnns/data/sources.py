"""Where the images come from: local IDX files, tensorflow-datasets, image folders, arrays.

Every source ends in the same `DataSplit`: an unbatched `tf.data.Dataset` of
`(uint8 image [H, W, C], int64 label)` plus the class names, the number of examples and
the image shape. `keras_cnns.data.build_pipeline` turns a split into model batches.

Validation splits: when a data set has no validation split of its own, `"validation"` is
the last `validation_fraction` of a permutation of the train split drawn with `seed`
(`numpy.random.default_rng(seed)`), and `"train"` is the rest. Both keep the original order
of the examples, so the same arguments always give the same, disjoint splits.
"""

from __future__ import annotations

import difflib
import gzip
import os
import socket
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import urlparse

import numpy as np
import tensorflow as tf

from keras_cnns.data.files import FileSource, image_decoder
from keras_cnns.data.splits import (  # noqa: F401  (importable from here as before)
    SPLITS,
    DatasetNotFoundError,
    DataSplit,
    carved_test_mask,
    check_split,
    validation_mask,
)
from keras_cnns.validation import check_positive_int, check_rate

#: Data sets stored in LeCun's IDX format, read from local files before tfds is tried.
MNIST_FORMAT = {
    "mnist": [str(i) for i in range(10)],
    "fashion_mnist": [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
}
#: Named here so `load` suggests them even when tensorflow-datasets is not importable.
KNOWN_DATASETS = ("mnist", "fashion_mnist", "cifar10", "cifar100")
#: Debian's `dataset-fashion-mnist` package installs the IDX files here.
DEBIAN_DIRS = {"fashion_mnist": Path("/usr/share/datasets/fashion-mnist")}
#: The environment variable naming a folder of local data sets.
DATA_ENV = "KERAS_CNNS_DATA"
#: Host asked (3 s timeout) before tensorflow-datasets may download: without a network
#: tfds retries each URL for minutes before it gives up.
NETWORK_PROBE = ("storage.googleapis.com", 443)
NETWORK_TIMEOUT_S = 3.0

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_PREFIX = {"train": "train", "test": "t10k"}


def _keep(dataset: tf.data.Dataset, keep: np.ndarray) -> tuple[tf.data.Dataset, int]:
    """The elements of `dataset` where `keep` is True, with the cardinality asserted."""
    flags = tf.constant(keep)

    def kept_index(index, example):
        return tf.gather(flags, index)

    def drop_index(index, example):
        return example

    kept = dataset.enumerate().filter(kept_index).map(drop_index)
    count = int(keep.sum())
    return kept.apply(tf.data.experimental.assert_cardinality(count)), count


def _no_validation_error(name: str) -> ValueError:
    return ValueError(
        f"Data set {name!r} has no validation split and `validation_fraction`=0 carves "
        "none from train. Pass validation_fraction > 0 (e.g. 0.1) or use split='test'."
    )


def _carve(
    dataset: tf.data.Dataset, num_examples: int, split: str, fraction: float, seed: int
) -> tuple[tf.data.Dataset, int]:
    """Keep the train or validation part of `dataset` (a full train split)."""
    mask = validation_mask(num_examples, fraction, seed)
    return _keep(dataset, mask if split == "validation" else ~mask)


# ----------------------------------------------------------------------- arrays
def from_arrays(
    images: Any,
    labels: Any,
    class_names: Sequence[str] | None = None,
    *,
    split: str = "train",
    name: str = "arrays",
) -> DataSplit:
    """A `DataSplit` over in-memory arrays.

    Args:
        images: `[N, H, W]` or `[N, H, W, C]` unsigned 8-bit images (integer arrays with
            values in [0, 255] are converted; scale float images to [0, 255] and cast).
        labels: `[N]` integer class indices, >= 0.
        class_names: one name per class; default `"0"`, `"1"`, ... up to the largest label.
        split: the split the arrays stand for (`"train"`, `"validation"` or `"test"`).
        name: the data set's name (used for normalization constants of known sets).
    """
    check_split(split)
    images = np.asarray(images)
    labels = np.asarray(labels)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or 0 in images.shape[1:]:
        raise ValueError(
            "`images` must be an array [N, H, W] or [N, H, W, C]; received shape "
            f"{images.shape}."
        )
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.integer):
            raise ValueError(
                f"`images` must hold uint8 pixels; received dtype {images.dtype}. Scale "
                "float images to [0, 255] and cast them: (images * 255).round().astype('uint8')."
            )
        if images.size and (images.min() < 0 or images.max() > 255):
            raise ValueError(
                f"`images` of dtype {images.dtype} must hold values in [0, 255]; received "
                f"values in [{images.min()}, {images.max()}]."
            )
        images = images.astype(np.uint8)
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"`labels` must be a 1-D array with one label per image ({len(images)}); "
            f"received shape {labels.shape}."
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"`labels` must be integers; received dtype {labels.dtype}.")
    if labels.size and labels.min() < 0:
        raise ValueError(f"`labels` must be >= 0; received {labels.min()}.")
    if class_names is None:
        class_names = [str(i) for i in range(int(labels.max()) + 1 if labels.size else 0)]
    class_names = [str(c) for c in class_names]
    if labels.size and labels.max() >= len(class_names):
        raise ValueError(
            f"`labels` go up to {labels.max()} but `class_names` names only "
            f"{len(class_names)} classes."
        )
    dataset = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int64)))
    return DataSplit(
        dataset=dataset,
        class_names=class_names,
        num_examples=len(images),
        image_shape=tuple(int(d) for d in images.shape[1:]),
        name=name,
        split=split,
        source="arrays",
    )


# -------------------------------------------------------------------------- IDX
def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (LeCun's MNIST format), gzip-compressed or not."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4]!r}).")
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(
            f"{path} is truncated or corrupt: its header announces shape {shape} "
            f"({expected} bytes) but the file holds {len(data)} bytes."
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def _idx_file(folder: Path, prefix: str, kind: str, rank: int) -> Path | None:
    # Both spellings are in use: train-images-idx3-ubyte and train-images.idx3-ubyte.
    for sep in ("-", "."):
        for suffix in (".gz", ""):
            path = folder / f"{prefix}-{kind}{sep}idx{rank}-ubyte{suffix}"
            if path.is_file():
                return path
    return None


def _mnist_candidates(name: str, data_dir: str | None) -> list[Path]:
    """Folders that may hold `name`'s IDX files, in the order they are searched."""
    folders: list[Path] = []
    roots = [data_dir, os.environ.get(DATA_ENV)]
    for root in roots:
        if root:
            root = Path(root).expanduser()
            folders += [root, root / name, root / name.replace("_", "-")]
    if name in DEBIAN_DIRS:
        folders.append(DEBIAN_DIRS[name])
    # Where keras.datasets.fashion_mnist.load_data() caches the same files.
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    folders.append(keras_home / "datasets" / name.replace("_", "-"))
    return list(dict.fromkeys(folders))


def _find_idx(name: str, data_dir: str | None) -> tuple[Path, dict[str, tuple[Path, Path]]] | None:
    for folder in _mnist_candidates(name, data_dir):
        if not folder.is_dir():
            continue
        files = {}
        for split, prefix in _IDX_PREFIX.items():
            images = _idx_file(folder, prefix, "images", 3)
            labels = _idx_file(folder, prefix, "labels", 1)
            if images and labels:
                files[split] = (images, labels)
        if len(files) == len(_IDX_PREFIX):
            return folder, files
    return None


def _load_idx(name, split, files, folder, fraction, seed, limit) -> DataSplit:
    source_split = "test" if split == "test" else "train"
    image_path, label_path = files[source_split]
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.ndim != 3 or images.dtype != np.uint8 or len(images) != len(labels):
        raise ValueError(
            f"{image_path} / {label_path}: expected uint8 images [N, H, W] and N labels; "
            f"found {images.dtype} {images.shape} and {labels.shape}."
        )
    if split != "test" and fraction > 0:
        mask = validation_mask(len(images), fraction, seed)
        keep = mask if split == "validation" else ~mask
        images, labels = images[keep], labels[keep]
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    data = from_arrays(images, labels, MNIST_FORMAT[name], split=split, name=name)
    data.source = str(folder)
    return data


# ------------------------------------------------------------------------- tfds
def _network_reachable() -> bool:
    """Whether the download host (or the HTTPS proxy, when one is set) answers quickly."""
    proxy = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    if proxy:
        parsed = urlparse(proxy if "://" in proxy else f"http://{proxy}")
        address = (parsed.hostname or "", parsed.port or 80)
    else:
        address = NETWORK_PROBE
    try:
        with socket.create_connection(address, timeout=NETWORK_TIMEOUT_S):
            return True
    except OSError:
        return False


def _unknown_dataset(name: str, tfds_names: Sequence[str]) -> ValueError:
    candidates = list(dict.fromkeys([*KNOWN_DATASETS, *tfds_names]))
    close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.6)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return ValueError(
        f"Unknown data set `name`: {name!r}.{hint} Accepted: {', '.join(KNOWN_DATASETS)}, "
        "any tensorflow-datasets image-classification name (tfds.list_builders()), or "
        "'folder:/path/to/images' (one sub-folder per class)."
    )


def _how_to_get(name: str, looked: list[str], reason: str) -> DatasetNotFoundError:
    lines = [f"Data set {name!r} is not on this machine and could not be downloaded ({reason})."]
    lines.append("Looked in:")
    lines += [f"  - {place}" for place in looked]
    lines.append("To get it:")
    if name == "fashion_mnist":
        lines.append(
            "  - on Debian/Ubuntu: `apt-get install dataset-fashion-mnist` (installs the IDX "
            f"files into {DEBIAN_DIRS['fashion_mnist']});"
        )
    if name in MNIST_FORMAT:
        lines.append(
            "  - put the four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) in a folder and pass it as "
            f"`data_dir` / `--data-dir`, or set ${DATA_ENV};"
        )
    lines.append(
        f"  - on a machine with internet: `tfds build {name} --data_dir DIR` (or "
        f"`keras_cnns.data.load({name!r}, data_dir=DIR)`), then copy DIR here and pass "
        "`data_dir` / `--data-dir` DIR."
    )
    return DatasetNotFoundError("\n".join(lines))


def _load_tfds(name, split, data_dir, fraction, seed, limit, download, looked) -> DataSplit:
    import tensorflow_datasets as tfds

    try:
        builders = [tfds.builder(name, data_dir=data_dir)]
        if data_dir is not None:
            builders.append(tfds.builder(name))  # tfds' own default folder
    except tfds.core.registered.DatasetNotFoundError:
        raise _unknown_dataset(name, tfds.list_builders()) from None

    info = builders[0].info
    keys = info.supervised_keys
    if not keys or len(keys) != 2 or not (
        isinstance(info.features[keys[0]], tfds.features.Image)
        and isinstance(info.features[keys[1]], tfds.features.ClassLabel)
    ):
        raise ValueError(
            f"tensorflow-datasets set {name!r} is not an image-classification data set (its "
            f"supervised keys are {keys!r}); `load` needs (Image, ClassLabel) pairs."
        )

    builder = next((b for b in builders if b.is_prepared()), None)
    if builder is None:
        looked += [f"tensorflow-datasets folder {b.data_dir}" for b in builders]
        builder = builders[0]
        if download is False:
            raise _how_to_get(name, looked, "downloading disabled with download=False")
        if download is None and not _network_reachable():
            raise _how_to_get(name, looked, f"no network: {NETWORK_PROBE[0]} does not answer")
        try:
            builder.download_and_prepare()
        except Exception as err:  # noqa: BLE001  (tfds raises many kinds)
            raise _how_to_get(name, looked, f"download failed: {err}") from err

    known_splits = set(builder.info.splits)  # empty when tfds cannot tell
    if split == "validation" and "validation" in known_splits:
        source_split, carve = "validation", False
    elif split == "test":
        source_split, carve = "test", False
    else:
        source_split, carve = "train", fraction > 0
        if split == "validation" and not carve:
            raise _no_validation_error(name)
    if known_splits and source_split not in known_splits:
        raise ValueError(
            f"Unknown `split`: {split!r} for {name!r}, which has the splits "
            f"{', '.join(sorted(known_splits))}."
        )
    dataset = builder.as_dataset(split=source_split, as_supervised=True, shuffle_files=False)
    count = int(dataset.cardinality())
    if count < 0:
        count = builder.info.splits[source_split].num_examples
    if carve:
        dataset, count = _carve(dataset, count, split, fraction, seed)
    dataset = dataset.map(lambda image, label: (image, tf.cast(label, tf.int64)))
    if limit is not None and limit < count:
        dataset, count = dataset.take(limit), limit
    shape = tuple(None if d is None else int(d) for d in info.features[keys[0]].shape)
    return DataSplit(
        dataset=dataset,
        class_names=list(info.features[keys[1]].names),
        num_examples=count,
        image_shape=shape,
        name=name,
        split=split,
        source=f"tfds:{builder.data_dir}",
    )


# -------------------------------------------------------------------- folders
_FOLDER_SPLITS = {"train": ("train",), "validation": ("validation", "val"), "test": ("test",)}
_IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


def from_directory(
    path: str | os.PathLike,
    *,
    split: str = "train",
    validation_fraction: float = 0.1,
    seed: int = 0,
    image_size: tuple[int, int] | None = None,
    color_mode: str = "rgb",
    limit: int | None = None,
    test_fraction: float = 0.0,
    exclude: Iterable[str | os.PathLike] = (),
) -> DataSplit:
    """A `DataSplit` over a folder of images, one sub-folder per class.

    The folder may hold `train/`, `test/` and `validation/` (or `val/`) sub-folders, each
    with one folder per class; otherwise it is itself the train split. A missing test
    folder is carved from the train images first (`carved_test_mask`: `test_fraction` of them,
    drawn with `seed`), then a missing validation folder from what is left (see the module
    docstring); no image is in two splits. `DataSplit.carving` says how a split was made.
    The files and classes are listed by `keras.utils.image_dataset_from_directory`, and the
    images decoded and resized (bilinear) as it decodes them. The split's `files` lets
    `build_pipeline` stream it: each epoch shuffles the file paths and decodes them in
    parallel.

    Args:
        path: the root folder.
        split: `"train"`, `"validation"` or `"test"`.
        validation_fraction, seed: how the validation split is carved from train.
        test_fraction: the share of the images carved out for test when there is no test/
            folder, in [0, 1); 0 (the default) carves none, and `split="test"` is then an
            error. `keras_cnns.train` carves 0.1 by default.
        exclude: image files to leave out, never read (the unreadable files
            `keras_cnns.data.scan` reports); the splits are carved from the other images.
        image_size: `(height, width)` every image is resized to when read. None: when
            the images share one size (`SIZE_SAMPLE` of them, spread over the folder, are
            read to tell) they keep it, and `image_shape` is `(H, W, C)`; when they differ,
            each is read at its own size and `image_shape` is `(None, None, C)`:
            `build_pipeline` then crops each original to the model's input (random-resized
            crops in training, the centre crop of the evaluation transform otherwise), so
            that no image is stretched.
        color_mode: `"rgb"`, `"grayscale"` or `"rgba"`.
        limit: keep only the first `limit` examples.
    """
    import keras

    check_split(split)
    fraction = check_rate("validation_fraction", validation_fraction)
    test_fraction = check_rate("test_fraction", test_fraction)
    limit = check_positive_int("limit", limit, allow_none=True)
    if color_mode not in ("rgb", "grayscale", "rgba"):
        raise ValueError(
            f"Invalid `color_mode`: {color_mode!r}. Accepted: 'rgb', 'grayscale', 'rgba'."
        )
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetNotFoundError(f"`path` {str(root)!r} is not a folder.")

    def split_folder(name: str) -> Path | None:
        return next((root / n for n in _FOLDER_SPLITS[name] if (root / n).is_dir()), None)

    has_split_folders = any(split_folder(name) for name in _FOLDER_SPLITS)
    train_folder = split_folder("train") or (None if has_split_folders else root)
    folder, carve = split_folder(split), False
    carve_test = split_folder("test") is None and test_fraction > 0
    if split == "test" and folder is None:
        if not carve_test:
            raise ValueError(
                f"Unknown `split`: 'test' for folder {str(root)!r}: it has no test/ "
                "sub-folder and `test_fraction`=0 carves none. Accepted here: 'train', "
                "'validation'; or pass test_fraction > 0 (e.g. 0.1) to carve a test split."
            )
        if train_folder is None:
            raise DatasetNotFoundError(f"Folder {str(root)!r} has no train/ images.")
        folder = train_folder
    if split != "test" and split_folder("validation") is None:
        # No validation folder: train and validation are carved from the train images.
        if train_folder is None:
            raise DatasetNotFoundError(f"Folder {str(root)!r} has no train/ images.")
        if split == "validation" and fraction == 0:
            raise _no_validation_error(f"folder:{root}")
        folder, carve = train_folder, fraction > 0
    elif split == "train" and folder is None:
        raise DatasetNotFoundError(f"Folder {str(root)!r} has validation/ but no train/ images.")

    excluded = {os.path.abspath(p) for p in exclude}
    channels = {"rgb": 3, "grayscale": 1, "rgba": 4}[color_mode]
    # Keras lists the files and the classes (its order, its suffixes); the images are
    # decoded here, so that files named in `exclude` are never read.
    listing = keras.utils.image_dataset_from_directory(
        str(folder), labels="inferred", label_mode="int", color_mode=color_mode, batch_size=None,
        image_size=(8, 8), shuffle=False, verbose=False,
    )
    class_names = list(listing.class_names)
    paths = [p for p in listing.file_paths if os.path.abspath(p) not in excluded]
    if not listing.file_paths:
        raise DatasetNotFoundError(
            f"No images ({', '.join(_IMAGE_SUFFIXES)}) in class sub-folders of {str(folder)!r}."
        )
    if not paths:
        raise DatasetNotFoundError(f"Every image of {str(folder)!r} is in `exclude`.")
    labels = [class_names.index(Path(p).relative_to(folder).parts[0]) for p in paths]
    if image_size is None:
        image_size = _common_size(paths)
    size = None if image_size is None else tuple(int(d) for d in image_size)
    files = FileSource(
        files=tuple(paths), counts=(1,) * len(paths), labels=tuple(labels),
        decode=image_decoder(channels, size),
    )
    count = len(paths)
    carving = []
    if carve_test and folder == train_folder:
        total, mask = count, carved_test_mask(count, test_fraction, seed)
        files = files.subset(np.flatnonzero(mask if split == "test" else ~mask))
        count = files.num_examples
        carving.append(
            f"{folder} has no test/ folder: {total - count if split != 'test' else count:,} of its "
            f"{total:,} images were carved out for test (test_fraction {test_fraction:g}, seed {seed})"
        )
    if carve:
        before = count
        mask = validation_mask(count, fraction, seed)
        files = files.subset(np.flatnonzero(mask if split == "validation" else ~mask))
        count = files.num_examples
        n_val = count if split == "validation" else before - count
        carving.append(
            f"no validation/ folder: {n_val:,} of the {before:,} "
            + ("remaining " if carving else "train ")
            + f"images were carved out for validation (validation_fraction {fraction:g}, seed {seed})"
        )
    if carving:
        carving.append(f"this {split} split holds {count:,}")
    left_out = len(listing.file_paths) - len(paths)
    if left_out:
        carving.insert(0, f"{left_out:,} files of {folder} left out (`exclude`: unreadable)")
    if limit is not None and limit < count:
        files, count = files.subset(range(limit)), limit
        carving.append(f"the first {limit:,} of them are kept (limit)")
    if size is None:
        carving.append("the images differ in size: each is read at its own size")
    return DataSplit(
        dataset=files.examples(),
        class_names=class_names,
        num_examples=count,
        image_shape=(*(size or (None, None)), channels),
        name=f"folder:{root}",
        split=split,
        source=str(folder),
        carving="; ".join(carving),
        files=files,
    )


#: Images whose size `from_directory` reads to tell whether a folder's images share one.
SIZE_SAMPLE = 16


def _common_size(paths: Sequence[str]) -> tuple[int, int] | None:
    """The size of the images at `paths` if `SIZE_SAMPLE` of them spread over the list
    (the first included) all have it; None when they differ."""
    picks = sorted({round(i * (len(paths) - 1) / max(SIZE_SAMPLE - 1, 1)) for i in range(SIZE_SAMPLE)})
    sizes = set()
    for index in picks:
        try:
            encoded = tf.io.read_file(paths[index])
            if tf.io.is_jpeg(encoded):
                shape = tf.image.extract_jpeg_shape(encoded)  # the header alone
            else:
                shape = tf.shape(tf.io.decode_image(encoded, expand_animations=False))
        except tf.errors.InvalidArgumentError:
            continue  # unreadable: `keras_cnns.data.scan` reports it, a run refuses or skips it
        sizes.add((int(shape[0]), int(shape[1])))
        if len(sizes) > 1:
            return None
    return sizes.pop() if sizes else None


# ------------------------------------------------------------------------- load
def load(
    name: str,
    split: str = "train",
    *,
    data_dir: str | os.PathLike | None = None,
    validation_fraction: float = 0.1,
    seed: int = 0,
    limit: int | None = None,
    download: bool | None = None,
    test_fraction: float = 0.0,
    exclude: Iterable[str | os.PathLike] = (),
    first_label: int | None = None,
) -> DataSplit:
    """Load one split of a data set as `(uint8 image, int64 label)` pairs.

    Args:
        name: `"mnist"`, `"fashion_mnist"`, `"cifar10"`, `"cifar100"`, any
            tensorflow-datasets image-classification name, or `"folder:/path/to/root"`
            (see `from_directory`).
        split: `"train"`, `"validation"` or `"test"`. Without a validation split of its
            own, `"validation"` is the last `validation_fraction` of a permutation of the
            train split drawn with `seed`, and `"train"` is the rest; with
            `validation_fraction=0`, `"train"` is all of it and `"validation"` an error.
        data_dir: a folder to look in first (IDX files for the MNIST-format sets, directly
            or in a `<name>/` sub-folder; a tensorflow-datasets folder for the others).
        validation_fraction: the fraction of train carved out for validation, in [0, 1).
        seed: the seed of that carving.
        limit: keep only the first `limit` examples of the split.
        download: whether tensorflow-datasets may download a set that is not on this
            machine: None (default) downloads when the network answers, True always
            tries, False never does.
        test_fraction: for `"folder:"` sets without a test/ folder, the share of the
            images carved out for test (see `from_directory`); for `"tfrecord:"` sets
            without test shards, the share of the shards; the other sets have a test
            split of their own.
        exclude: for `"folder:"` sets, image files to leave out (see `from_directory`).
        first_label: for `"tfrecord:"` sets, the label of the first class in the records
            (0, or 1 for ImageNet's shards); None: as written in their manifest, else 0.

    Search order for `"mnist"` / `"fashion_mnist"`: IDX files (gzip or not) in `data_dir`,
    then `$KERAS_CNNS_DATA`, then Debian's `/usr/share/datasets/fashion-mnist/`
    (`apt-get install dataset-fashion-mnist`), then Keras' cache (`~/.keras/datasets`),
    then tensorflow-datasets. Other names go to tensorflow-datasets directly. A set found
    nowhere raises `DatasetNotFoundError` listing where it looked and how to get it.
    """
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a data set name (a string); received {name!r}.")
    check_split(split)
    fraction = check_rate("validation_fraction", validation_fraction)
    limit = check_positive_int("limit", limit, allow_none=True)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`seed` must be an integer; received {seed!r}.")
    if download not in (None, True, False):
        raise TypeError(f"`download` must be None, True or False; received {download!r}.")
    if name.startswith("tfrecord:"):
        from keras_cnns.data.tfrecord import from_tfrecords

        return from_tfrecords(
            name[len("tfrecord:"):], split=split, first_label=first_label,
            validation_fraction=fraction, test_fraction=check_rate("test_fraction", test_fraction),
            seed=seed, limit=limit,
        )
    if name.startswith("folder:"):
        return from_directory(
            name[len("folder:"):], split=split, validation_fraction=fraction, seed=seed,
            limit=limit, test_fraction=test_fraction, exclude=exclude,
        )
    key = name.strip().lower().replace("-", "_")
    data_dir = os.fspath(Path(data_dir).expanduser()) if data_dir is not None else None

    looked: list[str] = []
    if key in MNIST_FORMAT:
        found = _find_idx(key, data_dir)
        if found is not None:
            folder, files = found
            if split == "validation" and fraction == 0:
                raise _no_validation_error(key)
            return _load_idx(key, split, files, folder, fraction, seed, limit)
        looked += [f"IDX files in {folder}" for folder in _mnist_candidates(key, data_dir)]
        if os.environ.get(DATA_ENV) is None:
            looked.append(f"${DATA_ENV} (not set)")
    try:
        import tensorflow_datasets  # noqa: F401
    except ImportError as err:
        if key not in KNOWN_DATASETS:
            raise _unknown_dataset(key, []) from err
        raise _how_to_get(key, looked, "tensorflow-datasets is not installed") from err
    return _load_tfds(key, split, data_dir, fraction, seed, limit, download, looked)
