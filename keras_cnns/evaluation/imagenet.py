"""ImageNet's class names, and `decode_predictions`.

The class index is the file keras.applications reads (`CLASS_INDEX_URL`: index ->
[WordNet id, name], e.g. `"0": ["n01440764", "tench"]`), fetched with
`keras.utils.get_file` into Keras' cache (`$KERAS_HOME`, read at each fetch, else
`~/.keras`; sub-folder `models`, where keras.applications keeps the same file, so that
either library's download serves both) and checked against its md5. It is read once per
process (per URL and cache folder).

Offline, or when the file cannot be fetched or read, `decode_predictions` falls back to
the class indices (`("3", "class 3", score)`) and logs one warning (logger
`"keras_cnns"`) saying why. `KERAS_CNNS_WEIGHTS_MIRROR` does not apply: a weights mirror
need not hold this file. To use another copy, put `imagenet_class_index.json` in the
cache folder, or point `CLASS_INDEX_URL` (and `CLASS_INDEX_HASH`) at it.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import tempfile
from typing import Any

import numpy as np

from keras_cnns.validation import check_int

logger = logging.getLogger("keras_cnns")

CLASS_INDEX_URL = (
    "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
)
#: The md5 of keras.applications' file (what `keras.applications.imagenet_utils` checks).
CLASS_INDEX_HASH: str | None = "c2c37ea517e94d9795004a39431a14cb"
CLASS_INDEX_FILE = "imagenet_class_index.json"
CACHE_SUBDIR = "models"
NUM_CLASSES = 1000


def keras_cache_dir() -> str:
    """Keras' cache folder read now: `$KERAS_HOME`, else `~/.keras`; a folder under the
    temporary directory where that one is not writable (as `keras.utils.get_file` does)."""
    base = os.path.expanduser(os.environ.get("KERAS_HOME") or os.path.join("~", ".keras"))
    try:
        os.makedirs(base, exist_ok=True)
    except OSError:
        pass
    if not os.access(base, os.W_OK):
        base = os.path.join(tempfile.gettempdir(), ".keras")
    return base


def imagenet_class_index() -> list[tuple[str, str]] | None:
    """ImageNet's 1000 classes as `(WordNet id, name)` in index order, fetched once into
    Keras' cache; None (after one warning) when the file cannot be fetched or read."""
    return _class_index(CLASS_INDEX_URL, CLASS_INDEX_HASH, keras_cache_dir())


@functools.lru_cache(maxsize=None)
def _class_index(url: str, file_hash: str | None, cache_dir: str) -> list[tuple[str, str]] | None:
    import keras

    try:
        path = keras.utils.get_file(
            fname=CLASS_INDEX_FILE, origin=url, file_hash=file_hash,
            cache_subdir=CACHE_SUBDIR, cache_dir=cache_dir,
        )
        with open(path, encoding="utf8") as f:
            return _parse_class_index(json.load(f))
    except Exception as err:  # noqa: BLE001  (get_file raises bare Exceptions offline)
        reason = " ".join(str(err).split()) or type(err).__name__
        logger.warning(
            "ImageNet class names unavailable (%s could not be fetched or read: %s); "
            "decode_predictions gives class indices instead.", url, reason,
        )
        return None


def _parse_class_index(content: Any) -> list[tuple[str, str]]:
    """`{"0": ["n01440764", "tench"], ...}` -> the list of (id, name) by index."""
    if not isinstance(content, dict):
        raise ValueError(f"expected a JSON object, found {type(content).__name__}")
    try:
        entries = [content[str(i)] for i in range(NUM_CLASSES)]
    except KeyError as err:
        raise ValueError(f"the class index has no entry {err} (needs '0' .. '999')") from None
    if not all(isinstance(e, list) and len(e) == 2 for e in entries):
        raise ValueError("each entry must be [WordNet id, class name]")
    return [(str(wnid), str(name)) for wnid, name in entries]


def decode_predictions(probabilities: Any, top: int = 5) -> list[list[tuple[str, str, float]]]:
    """The `top` most probable ImageNet classes of each row, as keras.applications'
    `decode_predictions` gives them.

    Args:
        probabilities: scores `[N, 1000]` (a numpy array, a tensor or nested lists), as an
            ImageNet classifier outputs them (probabilities or logits: only their order
            and the values reported matter).
        top: how many classes per row, from 1 to 1000.

    Returns:
        One list per row of `(class_id, class_name, score)`, best first, e.g.
        `("n01440764", "tench", 0.93)`. When ImageNet's class index cannot be fetched
        (offline), `(str(index), f"class {index}", score)`, after one warning.

    Raises:
        ValueError: `probabilities` is not `[N, 1000]`, or `top` is out of range.
    """
    import keras

    scores = np.asarray(keras.ops.convert_to_numpy(probabilities))
    if scores.ndim != 2 or scores.shape[1] != NUM_CLASSES:
        raise ValueError(
            "`probabilities` must be a batch of ImageNet scores of shape (N, 1000), one "
            f"row per image; received shape {scores.shape}. Add a batch axis for one image "
            "(probabilities[None]); models with another number of classes have their own "
            "class names."
        )
    top = check_int("top", top, minimum=1, maximum=NUM_CLASSES)
    classes = imagenet_class_index()
    results = []
    for row in scores:
        best = np.argsort(-row, kind="stable")[:top]
        results.append([
            (*(classes[i] if classes is not None else (str(i), f"class {i}")), float(row[i]))
            for i in best
        ])
    return results
