"""Downloads of published weights into Keras' cache, their checks, and the cache of
converted checkpoints.

- Every file goes through `keras.utils.get_file` into Keras' cache: `$KERAS_HOME` (read
  at each load, so a process may point it elsewhere after importing Keras) or `~/.keras`,
  sub-folder `PretrainedWeights.cache_subdir` (`models`, `models/torchvision`).
- keras.applications' files carry their full hash, which `get_file` checks.
- A torchvision file (`resnet18-f37072fd.pth`) carries the first hex digits of its sha256
  in its name. It is checked after the download; a file that does not match is deleted
  and refused.
- A checkpoint is converted once: the Keras `.weights.h5` of the model loaded from it is
  kept beside it (`resnet18-f37072fd.weights.h5`), so that later loads need neither the
  network nor torch. Delete the file to convert again.
- `KERAS_CNNS_WEIGHTS_MIRROR` (environment variable): a base URL that replaces the
  folder of every published URL (the file name stays), for a mirror of
  download.pytorch.org/models and storage.googleapis.com's keras-applications files,
  e.g. `KERAS_CNNS_WEIGHTS_MIRROR=http://mirror.local/weights`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import tempfile
from typing import Callable

import h5py
import keras

from keras_cnns.weights.formats import TORCH_EXTRA
from keras_cnns.weights.published import PretrainedWeights
from keras_cnns.weights.transfer import CheckpointMap, load_checkpoint

logger = logging.getLogger("keras_cnns")

MIRROR_ENV = "KERAS_CNNS_WEIGHTS_MIRROR"
CONVERTED_SUFFIX = ".weights.h5"
# The converted file records the network it was saved from (weighted layers' names and
# shapes, in order): Keras' .weights.h5 is keyed by position, so a file converted for
# another version of a model is detected and converted again, never loaded silently.
STRUCTURE_ATTR = "keras_cnns_structure"


def origin(url: str) -> str:
    """The URL a published file is downloaded from: `url`, or the same file name under
    the mirror named by `$KERAS_CNNS_WEIGHTS_MIRROR`."""
    mirror = os.environ.get(MIRROR_ENV, "").strip()
    if not mirror:
        return url
    return f"{mirror.rstrip('/')}/{url.rsplit('/', 1)[-1]}"


def cache_folder(entry: PretrainedWeights) -> str:
    """The folder `keras.utils.get_file` keeps `entry`'s files in (created if needed)."""
    base, subdir = _cache_location(entry)
    folder = os.path.join(base, subdir)
    os.makedirs(folder, exist_ok=True)
    return folder


def _cache_location(entry: PretrainedWeights) -> tuple[str, str]:
    """(`cache_dir`, `cache_subdir`) for `get_file`: the entry's folder, else
    `$KERAS_HOME` read now, else `~/.keras`; get_file's fallback where not writable."""
    base = os.path.expanduser(
        entry.cache_dir or os.environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    )
    try:
        os.makedirs(base, exist_ok=True)
    except OSError:
        pass
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return base, entry.cache_subdir


def fetch(entry: PretrainedWeights, include_top: bool = True) -> str:
    """The local path of a published Keras weights file (with or without the classifier),
    downloaded into Keras' cache and checked against its full hash by `get_file`."""
    url = entry.top_url if include_top else entry.notop_url
    file_hash = entry.top_hash if include_top else entry.notop_hash
    base, subdir = _cache_location(entry)
    return keras.utils.get_file(
        fname=url.rsplit("/", 1)[-1],
        origin=origin(url),
        file_hash=file_hash,
        cache_subdir=subdir,
        cache_dir=base,
    )


def converted_path(entry: PretrainedWeights) -> str:
    """Where the Keras `.weights.h5` converted from a checkpoint entry is kept: beside the
    download, with its name (`resnet18-f37072fd.pth` -> `resnet18-f37072fd.weights.h5`)."""
    name = entry.file_name()
    return os.path.join(cache_folder(entry), name.rsplit(".", 1)[0] + CONVERTED_SUFFIX)


def fetch_checkpoint(entry: PretrainedWeights) -> str:
    """The local path of a published checkpoint, downloaded into Keras' cache if absent,
    its sha256 checked against the prefix its file name carries (`entry.top_hash`).

    Raises:
        ValueError: the file's sha256 does not start with that prefix. The file is
            deleted first; the message names it, the expected prefix and what to do.
    """
    base, subdir = _cache_location(entry)
    name = entry.file_name()
    source = origin(entry.top_url)
    path = keras.utils.get_file(fname=name, origin=source, cache_subdir=subdir, cache_dir=base)
    digest = sha256(path)
    if not digest.startswith(entry.top_hash):
        os.remove(path)
        mirror = (
            f" It came from the mirror ${MIRROR_ENV}={os.environ[MIRROR_ENV]!r}: check that "
            "the mirror holds torchvision's file." if source != entry.top_url else ""
        )
        raise ValueError(
            f"{path!r} (from {source}) is not the published file: its sha256 starts with "
            f"{digest[:len(entry.top_hash)]!r}, the file name {name!r} says "
            f"{entry.top_hash!r}. The file was deleted. Load again to download it anew; "
            f"if it fails again (a proxy or server altering the download), download "
            f"{entry.top_url} yourself and pass its path as `weights=`.{mirror}"
        )
    return path


def sha256(path: str, chunk: int = 1 << 20) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- converted checkpoints
def load_published_checkpoint(
    model: keras.Model,
    entry: PretrainedWeights,
    checkpoint_keys: Callable[[keras.Model], CheckpointMap],
    *,
    weights_name: str,
) -> str:
    """Load the published checkpoint `entry` into `model`, which must be the network the
    checkpoint holds (its classifier included): from the converted `.weights.h5` when
    the cache has one for this network (no network, no torch), else downloaded,
    hash-checked, converted through `checkpoint_keys` and cached. Returns the path of
    the file read.

    Raises:
        ImportError: no converted file and no torch (before anything is downloaded);
            the message names the `keras_cnns[torch]` extra.
        ValueError: a download whose hash does not match (`fetch_checkpoint`), or a
            checkpoint that does not fit the model (`load_checkpoint`).
    """
    converted = converted_path(entry)
    structure = _structure(model)
    if os.path.exists(converted):
        if _saved_structure(converted) == structure:
            model.load_weights(converted)
            return converted
        logger.warning(
            "%s was converted for another version of %r's network; converting %s again.",
            converted, model.name, entry.file_name(),
        )
    if importlib.util.find_spec("torch") is None:
        raise ImportError(
            f"`weights={weights_name!r}` are a PyTorch checkpoint ({entry.top_url}), "
            f"converted into Keras' format on its first load, which needs torch: "
            f"{TORCH_EXTRA}. Once converted (into {converted!r}), loads need no torch."
        )
    path = fetch_checkpoint(entry)
    load_checkpoint(model, path, checkpoint_keys(model))
    _save_converted(model, converted, structure)
    return path


def _structure(model: keras.Model) -> str:
    layers = [
        [layer.name, [list(w.shape) for w in layer.weights]]
        for layer in model.layers if layer.weights
    ]
    return json.dumps(layers, separators=(",", ":"))


def _saved_structure(path: str) -> str | None:
    try:
        with h5py.File(path, "r") as f:
            value = f.attrs.get(STRUCTURE_ATTR)
    except OSError:  # truncated or not HDF5
        return None
    return value.decode("utf8") if isinstance(value, bytes) else value


def _save_converted(model: keras.Model, path: str, structure: str) -> None:
    """`model.save_weights(path)`, with the network's structure recorded, written under a
    temporary name and renamed: a reader never sees a partial file."""
    partial = f"{path[: -len(CONVERTED_SUFFIX)]}.{os.getpid()}.partial{CONVERTED_SUFFIX}"
    try:
        model.save_weights(partial)
        with h5py.File(partial, "a") as f:
            f.attrs[STRUCTURE_ATTR] = structure
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
