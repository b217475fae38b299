"""From a `DataSplit` to model batches: the input pipeline.

    source (uint8) -> cache -> shuffle -> batch -> [per batch: cast float32 -> channels
    -> size -> augmentation (training only) -> normalization] -> prefetch

Everything after `batch` runs on whole batches (`map` calls per batch, vectorized), which
keeps the pipeline ahead of the model even on two CPU cores; the random augmentations
still draw their parameters per image. Images of different sizes (folders of photographs,
TFRecord shards, some tfds sets) are cropped one by one from their originals before
batching (the **crops** rule). With a `seed`, the augmentation `map`
runs one batch at a time so that its random draws come in a fixed order and the batches
are reproducible; without one it runs in parallel.

Rules, in the order they apply:

* **cache**: `cache=None` caches the decoded uint8 split in memory when
  `num_examples * H * W * C <= CACHE_LIMIT_BYTES` (1 GiB: MNIST, Fashion-MNIST, CIFAR fit;
  ImageNet does not) and the image size is known.
* **shuffle** (default: when training): over the whole split when it fits that limit, else
  over `SHUFFLE_BUFFER` elements; reshuffled each epoch, seeded by `seed`. A split read
  from files (`DataSplit.files`) that is not cached is streamed instead: each epoch
  shuffles the order of its files (seeded by `seed` and the epoch), then reads and
  decodes them in parallel; records of TFRecord shards are shuffled again over
  `RECORD_SHUFFLE_BUFFER` encoded examples.
* **crops** (images of different sizes, `image_shape` (None, None, C)): in training with
  `random_resized_crop`, Inception's box is drawn in each original's own pixels (a
  stateless draw per image, seeded by the epoch's seed and the image's position; a JPEG is
  decoded within the box alone) and resized to the input; otherwise the shorter side is
  resized to 256/224 of the input and the centre crop taken, the evaluation transform of
  `keras_cnns.data.crops`.
* **channels**: 1 -> 3 repeats the grey channel, 3 -> 1 takes the luma
  (`tf.image.rgb_to_grayscale`, ITU-R 601), 4 -> 3 drops alpha (4 -> 1: then luma). Other
  changes raise ValueError.
* **size**: images smaller than the model's input by at most `PAD_LIMIT` (1.25x) in each
  side are zero-padded, centred (LeNet-5's 28x28 digits in a 32x32 field, as in the
  paper); any other size difference is resized (bilinear, antialiased when shrinking).
  Height and width `None` in `input_shape` keep the stored size.
* **augmentation** (only with `training=True`), in this order whatever the order given:
  `random_resized_crop` (Inception: 8 %-100 % of the area, aspect 3/4-4/3, resized back),
  `pad_crop_flip` (ResNet/DenseNet CIFAR: 4-pixel zero pad, random crop, horizontal flip),
  `flip` (horizontal, p = 0.5), `pca_color` (AlexNet, ImageNet eigen-decomposition,
  alpha ~ N(0, 0.1)), `random_erasing` (Zhong et al. 2017: p = 0.5, 2 %-40 % of the area,
  random fill). Padding happens in pixel space, before normalization (zeros are black), as
  in torchvision's CIFAR recipes. `augmentation_strength` scales the magnitudes: the
  padding (4 s pixels), the crop's smallest area (1 - 0.92 s) and aspect range
  ((4/3)^s), the colour noise (0.1 s) and the erasing probability (0.5 s).
* **normalization**: `"scale"` divides by 255; `"standardize"` subtracts the data set's
  per-channel mean and divides by its standard deviation (`DATASET_STATISTICS`, for
  pixels in [0, 1]) when the set is known and its channels were kept or grey was
  repeated to RGB, and otherwise standardizes each image by its own mean and standard
  deviation (`tf.image.per_image_standardization`); `"none"` keeps float32 in [0, 255].
"""

from __future__ import annotations

import itertools
import math
from typing import Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_cnns.data.augment import PCAColorAugmentation, RandomPadCrop, RandomResizedCrop
from keras_cnns.data.crops import (
    center_crop,
    crop_resize,
    decode_crop_resize,
    random_resized_crop_box,
    resize_shorter_side,
    resize_size,
)
from keras_cnns.data.sources import DataSplit

AUGMENTATIONS = ("random_resized_crop", "pad_crop_flip", "flip", "pca_color", "random_erasing")
NORMALIZATIONS = ("scale", "standardize", "none")
#: Pad (rather than resize) when the model's side is at most this many times the image's.
PAD_LIMIT = 1.25
#: Cache the decoded split in memory (and shuffle all of it) up to this many bytes.
CACHE_LIMIT_BYTES = 1 << 30
#: Shuffle buffer (elements) for splits larger than CACHE_LIMIT_BYTES.
SHUFFLE_BUFFER = 10_000
#: Shuffle buffer (encoded examples) after reading TFRecord shards in a shuffled order.
RECORD_SHUFFLE_BUFFER = 4096
#: Per-channel mean and standard deviation of the training pixels scaled to [0, 1].
#: Fashion-MNIST's are checked against the real files by the tests; MNIST's, CIFAR's and
#: ImageNet's are the values used throughout the literature (torchvision's examples).
DATASET_STATISTICS = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagenet2012": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


# ------------------------------------------------------------------------ checks
def _check_input_shape(input_shape) -> tuple[int | None, int | None, int]:
    ok = isinstance(input_shape, (tuple, list)) and len(input_shape) == 3
    if ok:
        height, width, channels = input_shape
        sizes_ok = all(
            d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d > 0)
            for d in (height, width)
        )
        channels_ok = isinstance(channels, (int, np.integer)) and not isinstance(channels, bool)
        ok = sizes_ok and channels_ok and channels > 0 and ((height is None) == (width is None))
    if not ok:
        raise ValueError(
            "`input_shape` must be (height, width, channels) with positive integers (height "
            f"and width may both be None to keep the stored size); received {input_shape!r}."
        )
    return tuple(None if d is None else int(d) for d in input_shape)


def _check_augmentation(augmentation) -> tuple[str, ...]:
    if augmentation is None:
        return ()
    names = (augmentation,) if isinstance(augmentation, str) else tuple(augmentation)
    for name in names:
        if name not in AUGMENTATIONS:
            raise ValueError(
                f"Unknown `augmentation`: {name!r}. Accepted: "
                f"{', '.join(repr(a) for a in AUGMENTATIONS)} (a name or a list of them), or None."
            )
    return tuple(a for a in AUGMENTATIONS if a in names)


def _check_channels(stored: int, wanted: int) -> None:
    if stored != wanted and (stored, wanted) not in {(1, 3), (3, 1), (4, 3), (4, 1)}:
        raise ValueError(
            f"`input_shape` asks for {wanted} channel(s) but the images have {stored}; the "
            "pipeline converts grey (1) <-> RGB (3) and drops alpha (4 -> 3 or 1). Accepted "
            f"channel counts for these images: {sorted({stored, *_CONVERSIONS.get(stored, ())})}."
        )


_CONVERSIONS = {1: (3,), 3: (1,), 4: (1, 3)}


# ------------------------------------------------------------------------ steps
def convert_channels(images: tf.Tensor, channels: int) -> tf.Tensor:
    """Grey <-> RGB and alpha dropping on float images `[..., H, W, C]`."""
    stored = images.shape[-1]
    if stored == channels:
        return images
    if stored == 4:
        images = images[..., :3]
        stored = 3
    if stored == 1 and channels == 3:
        return tf.repeat(images, 3, axis=-1)
    if stored == 3 and channels == 1:
        return tf.image.rgb_to_grayscale(images)
    return images


def fit_size(images: tf.Tensor, height: int | None, width: int | None) -> tf.Tensor:
    """Pad or resize float images `[..., h, w, C]` to `height` x `width` (module rules).

    The rule is applied in Python when the image size is static, and in the graph
    (`tf.cond`) when it is only known at run time, as in a serving signature that takes
    images of whatever size the client sends.
    """
    h, w = images.shape[-3], images.shape[-2]
    if height is None or (h, w) == (height, width):
        return images
    if h is not None and w is not None:
        if h <= height <= PAD_LIMIT * h and w <= width <= PAD_LIMIT * w:
            return _pad_centred(images, h, w, height, width)
        return _resize(images, height, width, shrink=h > height or w > width)
    dynamic = tf.shape(images)
    h, w = dynamic[-3], dynamic[-2]
    hf, wf = tf.cast(h, tf.float32), tf.cast(w, tf.float32)
    pad = (
        (h <= height) & (height <= PAD_LIMIT * hf) & (w <= width) & (width <= PAD_LIMIT * wf)
    )
    shrink = (h > height) | (w > width)
    fitted = tf.cond(
        pad,
        lambda: _pad_centred(images, h, w, height, width),
        lambda: tf.cond(
            shrink,
            lambda: _resize(images, height, width, shrink=True),
            lambda: _resize(images, height, width, shrink=False),
        ),
    )
    return tf.ensure_shape(fitted, [*images.shape[:-3], height, width, images.shape[-1]])


def _pad_centred(images, h, w, height: int, width: int) -> tf.Tensor:
    return tf.image.pad_to_bounding_box(images, (height - h) // 2, (width - w) // 2, height, width)


def _resize(images, height: int, width: int, *, shrink: bool) -> tf.Tensor:
    return tf.image.resize(images, (height, width), method="bilinear", antialias=shrink)


def crop_ranges(strength: float = 1.0) -> tuple[tuple[float, float], tuple[float, float]]:
    """The random-resized crop's area share and aspect ratio ranges at `strength` (1: the
    paper's 8 %-100 % and 3/4-4/3)."""
    log_ratio = math.log(4 / 3) * strength
    return (max(1.0 - 0.92 * strength, 0.01), 1.0), (math.exp(-log_ratio), math.exp(log_ratio))


def make_augmenter(
    names: Sequence[str], *, strength: float = 1.0, seed: int | None = None
) -> list[keras.layers.Layer]:
    """The Keras layers of the named augmentations, in the pipeline's order."""
    names = _check_augmentation(names)
    layers: list[keras.layers.Layer] = []

    def seeded(i):
        return None if seed is None else seed + i

    for i, name in enumerate(names):
        if name == "random_resized_crop":
            scale, ratio = crop_ranges(strength)
            layers.append(RandomResizedCrop(
                scale=scale, ratio=ratio, seed=seeded(i), name="random_resized_crop",
            ))
        elif name == "pad_crop_flip":
            layers.append(RandomPadCrop(round(4 * strength), seed=seeded(i), name="pad_crop"))
            if "flip" not in names:
                layers.append(keras.layers.RandomFlip(
                    "horizontal", seed=seeded(i + 100), name="flip"))
        elif name == "flip":
            layers.append(keras.layers.RandomFlip("horizontal", seed=seeded(i), name="flip"))
        elif name == "pca_color":
            layers.append(PCAColorAugmentation(
                stddev=0.1 * strength, value_range=(0, 255), seed=seeded(i), name="pca_color"))
        elif name == "random_erasing":
            probability = min(0.5 * strength, 1.0)
            layers.append(keras.layers.RandomErasing(
                factor=(probability, probability), scale=(0.02, 0.4), value_range=(0, 255),
                seed=seeded(i), name="random_erasing",
            ))
    return layers


def normalizer(data: DataSplit, normalization: str, channels: int):
    """The function mapping float images in [0, 255] to the model's input values."""
    return normalizer_for(data.name, data.image_shape[-1], normalization, channels)


def normalizer_for(dataset: str | None, stored_channels: int, normalization: str, channels: int):
    """`normalizer` from the data set's name and its stored channel count alone (what a
    run folder records), for code that has no `DataSplit`: exports, serving."""
    if normalization == "none":
        return lambda images: images
    if normalization == "scale":
        return lambda images: images / 255.0
    stats = DATASET_STATISTICS.get(dataset)
    usable = stats is not None and len(stats[0]) == stored_channels and (
        stored_channels == channels or (stored_channels, channels) == (1, 3)
    )
    if not usable:
        return tf.image.per_image_standardization
    mean = np.resize(np.asarray(stats[0], "float32"), channels) * 255.0
    std = np.resize(np.asarray(stats[1], "float32"), channels) * 255.0
    return lambda images: (images - mean) / std


def should_cache(data: DataSplit) -> bool:
    """Whether the decoded split fits `CACHE_LIMIT_BYTES` (unknown sizes: no)."""
    if any(d is None for d in data.image_shape):
        return False
    return data.num_examples * int(np.prod(data.image_shape)) <= CACHE_LIMIT_BYTES


def _batches(examples: int, batch_size: int, drop_remainder: bool) -> int:
    return examples // batch_size if drop_remainder else -(-examples // batch_size)


def _epoch_per_iteration(passes: list[tf.data.Dataset], batches: int) -> tf.data.Dataset:
    """A dataset whose k-th iteration is `passes[k]` (the last one once they run out)."""
    started = itertools.count()

    def next_pass():
        return np.int64(min(next(started), len(passes) - 1))

    # The index is drawn when an iteration reads its first batch (creating an iterator
    # reads nothing), so iterators made and dropped unread do not skip an epoch.
    index = tf.data.Dataset.from_tensors(0).map(
        lambda _: tf.reshape(tf.py_function(next_pass, [], tf.int64), [])
    )
    choices = index.flat_map(lambda i: tf.data.Dataset.from_tensors(i).repeat())
    ds = tf.data.Dataset.choose_from_datasets(passes, choices, stop_on_empty_dataset=True)
    return ds.apply(tf.data.experimental.assert_cardinality(batches))


# ---------------------------------------------------------------------- pipeline
def build_pipeline(
    data: DataSplit,
    *,
    input_shape: tuple[int, int, int],
    batch_size: int,
    training: bool,
    augmentation: str | Sequence[str] | None = None,
    normalization: str = "scale",
    shuffle: bool | None = None,
    seed: int | None = None,
    cache: bool | None = None,
    drop_remainder: bool = False,
    augmentation_strength: float = 1.0,
    epochs: tuple[int, int] | None = None,
    epoch_per_iteration: bool = False,
) -> tf.data.Dataset:
    """Batches of `(float32 images [B, *input_shape], int64 labels [B])` for a model.

    Args:
        data: a split from `load`, `from_arrays` or `from_directory`.
        input_shape: the model's `(height, width, channels)`.
        batch_size: examples per batch (> 0).
        training: augment (and by default shuffle) only when True.
        augmentation: None, one name or a list of names from `AUGMENTATIONS`.
        normalization: `"scale"`, `"standardize"` or `"none"` (see the module docstring).
        shuffle: shuffle the examples; default: `training`.
        seed: seed of the shuffle and of the augmentations (None: random).
        cache: keep the decoded split in memory; default: when it fits (module docstring).
        drop_remainder: drop the last, smaller batch.
        augmentation_strength: multiplies the augmentations' magnitudes (>= 0; 1 = papers).
        epochs: `(first, end)`: one dataset holding epochs `first .. end - 1`, each
            shuffled by `(seed, epoch)` alone, so that training resumed at epoch k reads
            the same batches as an uninterrupted run (`model.fit` then needs
            `steps_per_epoch`). Random augmentations draw from the layers' seed
            generators, which restart with the process: resumed runs with augmentation
            are equivalent, not identical. None: a single pass, reshuffled each time it
            is iterated.
        epoch_per_iteration: with `epochs`, each iteration of the dataset (each
            `iter()`, which `model.fit` does once per epoch when it is given no
            `steps_per_epoch`) is the next epoch, the batches of one epoch and then the
            end: a block of `steps_per_execution` steps then stops at the epoch's end
            instead of running into the next epoch's batches. The dataset's cardinality is
            one epoch's batches. It counts its iterations in Python, so it serves one
            process (`model.fit`, also under `MirroredStrategy`); False (the default): the
            epochs follow each other in one iteration.
    """
    if not isinstance(data, DataSplit):
        raise TypeError(
            f"`data` must be a DataSplit (from keras_cnns.data.load, from_arrays or "
            f"from_directory); received {type(data).__name__}."
        )
    target = _check_input_shape(input_shape)
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise ValueError(f"`batch_size` must be a positive integer; received {batch_size!r}.")
    if not isinstance(training, bool):
        raise TypeError(f"`training` must be True or False; received {training!r}.")
    names = _check_augmentation(augmentation)
    if normalization not in NORMALIZATIONS:
        raise ValueError(
            f"Unknown `normalization`: {normalization!r}. Accepted: "
            f"{', '.join(repr(n) for n in NORMALIZATIONS)}."
        )
    if (
        isinstance(augmentation_strength, bool)
        or not isinstance(augmentation_strength, (int, float))
        or not augmentation_strength >= 0
    ):
        raise ValueError(
            f"`augmentation_strength` must be a number >= 0 (1 = the papers' magnitudes); "
            f"received {augmentation_strength!r}."
        )
    if epochs is not None and not (
        isinstance(epochs, (tuple, list)) and len(epochs) == 2
        and all(isinstance(e, int) and not isinstance(e, bool) for e in epochs)
        and 0 <= epochs[0] <= epochs[1]
    ):
        raise ValueError(f"`epochs` must be None or (first, end) with 0 <= first <= end; received {epochs!r}.")
    for arg, value in (("shuffle", shuffle), ("cache", cache)):
        if value not in (None, True, False):
            raise TypeError(f"`{arg}` must be None, True or False; received {value!r}.")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"`seed` must be an integer or None; received {seed!r}.")
    if epoch_per_iteration not in (True, False):
        raise TypeError(f"`epoch_per_iteration` must be True or False; received {epoch_per_iteration!r}.")
    if epoch_per_iteration and epochs is None:
        raise ValueError("`epoch_per_iteration=True` needs `epochs=(first, end)`: the epochs it iterates.")
    stored = tuple(data.image_shape)
    _check_channels(stored[-1], target[-1])
    if training and "pca_color" in names and target[-1] != 3:
        raise ValueError(
            f"`augmentation` 'pca_color' needs RGB inputs; `input_shape` {target!r} has "
            f"{target[-1]} channel(s). Drop 'pca_color' for grey images, or ask for "
            "input_shape[-1] = 3 (grey is then repeated to RGB)."
        )

    fits = should_cache(data)
    shuffle = training if shuffle is None else shuffle
    cache = fits if cache is None else cache
    height, width, channels = target
    if None in stored[:2] and height is None:
        raise ValueError(
            f"The images of {data.name!r} differ in size ({stored!r}); give `input_shape` "
            "a height and width to crop them to."
        )
    # Images of different sizes are cropped one by one from their originals, before
    # batching: the random-resized crop there, not on the batch.
    crop_each = None in stored[:2]
    per_image_crop = crop_each and training and "random_resized_crop" in names
    batch_names = tuple(n for n in names if not (per_image_crop and n == "random_resized_crop"))
    augmenters = (
        make_augmenter(batch_names, strength=float(augmentation_strength), seed=seed)
        if training else []
    )
    normalize = normalizer(data, normalization, channels)
    crop_scale, crop_ratio = crop_ranges(float(augmentation_strength))
    # Streamed from its files (each epoch reads them in a new order) unless kept in memory.
    stream = data.files is not None and not cache

    ds = data.dataset
    if cache:
        ds = ds.cache()
    buffer = max(1, data.num_examples if fits else min(data.num_examples, SHUFFLE_BUFFER))

    def random_box(seed_pair):
        return lambda shape: random_resized_crop_box(shape, seed_pair, scale=crop_scale, ratio=crop_ratio)

    def centre(image):
        """The evaluation transform (`keras_cnns.data.crops`): what exports do too."""
        image = resize_shorter_side(tf.cast(image, tf.float32), resize_size(min(height, width)))
        return center_crop(image, height, width)

    def order_and_batch(ds, shuffle_seed, reshuffle):
        if stream:
            files = data.files
            order = tf.data.Dataset.range(len(files.files))
            if shuffle:
                order = order.shuffle(len(files.files), seed=shuffle_seed, reshuffle_each_iteration=reshuffle)
            ds = files.read_encoded(order)
            if shuffle and not files.one_per_file:
                ds = ds.shuffle(min(data.num_examples, RECORD_SHUFFLE_BUFFER), seed=shuffle_seed,
                                reshuffle_each_iteration=reshuffle)
            if not crop_each:
                decode = files.decode
                ds = ds.map(lambda encoded, label: (decode(encoded), label),
                            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        elif shuffle:
            ds = ds.shuffle(buffer, seed=shuffle_seed, reshuffle_each_iteration=reshuffle)
        if crop_each and per_image_crop:
            # One stateless seed per image: the same crops on any parallelism, and per
            # epoch (the passes' seeds) when seeded.
            seeds = tf.data.Dataset.random(seed=shuffle_seed, rerandomize_each_iteration=reshuffle)
            stored_channels = stored[-1]

            def crop(example, draw):
                image, label = example
                box = random_box(tf.stack([draw, tf.constant(0, tf.int64)]))
                if stream:  # encoded bytes: decode only the box of a JPEG
                    return decode_crop_resize(image, stored_channels, box, height, width), label
                return crop_resize(image, box(tf.shape(image)), height, width), label

            ds = tf.data.Dataset.zip((ds, seeds)).map(crop, num_parallel_calls=tf.data.AUTOTUNE,
                                                      deterministic=True)
        elif crop_each:
            decode = data.files.decode if stream else (lambda image: image)
            ds = ds.map(lambda image, label: (centre(decode(image)), label),
                        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.batch(batch_size, drop_remainder=drop_remainder)

    if epochs is None:
        ds = order_and_batch(ds, seed, reshuffle=True)
    else:
        # One pass per epoch, each ordered by (seed, epoch) alone: a run resumed at
        # epoch k sees the batches an uninterrupted run saw at epoch k. (Python ints as
        # seeds: tf.data refuses a tensor seed when TensorFlow's global seed is 0.)
        first, end = epochs
        base_seed = seed if seed is not None else int(np.random.default_rng().integers(2**31))
        passes = [
            order_and_batch(ds, base_seed * 100_003 + epoch + 1, reshuffle=False)
            for epoch in range(first, end)
        ] or [ds.take(0).batch(batch_size)]
        if epoch_per_iteration:
            ds = _epoch_per_iteration(passes, batches=_batches(data.num_examples, batch_size, drop_remainder))
        else:
            while len(passes) > 1:  # a balanced tree keeps the nesting shallow
                passes = [
                    passes[i].concatenate(passes[i + 1]) if i + 1 < len(passes) else passes[i]
                    for i in range(0, len(passes), 2)
                ]
            ds = passes[0]

    def prepare(images, labels):
        images = tf.cast(images, tf.float32)
        images = convert_channels(images, channels)
        images = fit_size(images, height, width)
        return (images if augmenters else normalize(images)), labels

    def augment(images, labels):
        for layer in augmenters:
            images = layer(images, training=True)
        return normalize(images), labels

    ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    if augmenters:
        # The layers draw from seed generators (variables): with a seed, one call at a
        # time keeps the draws in batch order, so the batches are reproducible.
        parallel = None if seed is not None else tf.data.AUTOTUNE
        ds = ds.map(augment, num_parallel_calls=parallel)
    ds = ds.prefetch(tf.data.AUTOTUNE)
    return ds.with_options(in_memory_options()) if cache else ds


def in_memory_options() -> tf.data.Options:
    """tf.data options for a pipeline over data held in memory: autotuning off.

    The stages after an in-memory cache are light (a cast, a pad, a crop) and need no
    tuning, and on a 2-core machine tf.data's autotuning cost some epochs about half of a
    small model's training speed, while others ran at full speed (`benchmarks/RESULTS.md`,
    item 11 of the changes). Parallel stages then run at the default parallelism.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return options
