"""Find the image files of a folder that TensorFlow cannot decode, before training starts.

>>> from keras_cnns.data import scan
>>> report = scan("/data/flowers")          # or "folder:/data/flowers", or a list of files
>>> print(report)
checked 3670 files under /data/flowers: 2 unreadable
  /data/flowers/roses/0042.jpg: truncated or corrupt JPEG: ...
  /data/flowers/tulips/notes.jpg: not an image: Unknown image file format. ...
>>> report.raise_if_bad()                   # CorruptImagesError listing them

A truncated JPEG, a zero-byte file or a text file named `.jpg` stops a training run with a
decode error when the pipeline reaches it, possibly hours into an epoch. `scan` decodes
every file the folder pipeline (`from_directory`, that is
`keras.utils.image_dataset_from_directory`) would read, in parallel threads (TensorFlow
releases the GIL while it decodes), and reports each one that fails with a short reason.

CMYK JPEGs are good files. Measured with TensorFlow 2.21 on JPEGs that Pillow 13 wrote
from `CMYK` images (it marks them with Adobe's APP14 segment): `tf.io.decode_image` converts
them to 3-channel RGB itself, with the colors Pillow's `Image.convert("RGB")` gives, both
with `channels=0` (what `scan` asks for) and `channels=3` (what the pipeline asks for in
its default `"rgb"` mode). TensorFlow never returns 4 channels for a JPEG: it refuses
`channels=4` ("JPEG does not support 4 channels"), which no `color_mode` asks of it.
"""

from __future__ import annotations

import dataclasses
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable, NamedTuple

import tensorflow as tf

from keras_cnns.data.sources import _FOLDER_SPLITS, _IMAGE_SUFFIXES
from keras_cnns.validation import check_positive_int

#: The hint that ends every `CorruptImagesError`.
SKIP_HINT = "Remove or fix them, or train with --skip-corrupt (skip_corrupt=True) to leave them out."

_ACCEPTED = (
    "Accepted: a folder of images with one sub-folder per class (or train/, validation/ "
    "(or val/) and test/ folders of them), the same as 'folder:/path/to/folder', one image "
    "file, or a sequence of image file paths."
)
# The first bytes of each format `tf.io.decode_image` reads: it picks the decoder by
# content, never by the file's suffix, so a PNG named `.jpg` is a good file.
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
)
# Channel counts the pipeline can read: grayscale, grayscale + alpha (PNG), RGB, RGBA.
_CHANNELS = (1, 2, 3, 4)


class BadFile(NamedTuple):
    """A file `scan` could not decode, and why."""

    path: str
    reason: str


class CorruptImagesError(ValueError):
    """Some image files cannot be decoded; the message lists each with its reason.

    Attributes:
        bad: the `BadFile`s, sorted by path.
    """

    def __init__(self, message: str, bad: Iterable[BadFile] = ()) -> None:
        super().__init__(message)
        self.bad = list(bad)


@dataclasses.dataclass
class ScanReport:
    """What `scan` found.

    Attributes:
        root: the folder that was scanned; for a sequence of files, the deepest folder
            holding all of them (None when they share none).
        checked: how many files were decoded.
        bad: the files that cannot be decoded, as `(path, reason)` `BadFile` tuples, sorted
            by path.
        good_paths: the files that decode, sorted.

    Paths are strings spelled as `keras.utils.image_dataset_from_directory` spells its
    `file_paths` (`os.path.join` of the folder and the names under it).
    """

    root: Path | None
    checked: int
    bad: list[BadFile]
    good_paths: list[str]

    @property
    def ok(self) -> bool:
        """Whether every file decodes."""
        return not self.bad

    def __str__(self) -> str:
        files = "file" if self.checked == 1 else "files"
        where = f" under {self.root}" if self.root is not None else ""
        lines = [f"checked {self.checked} {files}{where}: {len(self.bad)} unreadable"]
        lines += [f"  {path}: {reason}" for path, reason in self.bad]
        return "\n".join(lines)

    def raise_if_bad(self) -> None:
        """Raise `CorruptImagesError` listing every bad file, if there is one."""
        if self.ok:
            return
        where = f" under {self.root}" if self.root is not None else ""
        lines = [f"{len(self.bad)} of {self.checked} image files{where} cannot be decoded:"]
        lines += [f"  {path}: {reason}" for path, reason in self.bad]
        lines.append(SKIP_HINT)
        raise CorruptImagesError("\n".join(lines), self.bad)


def scan(
    source: str | os.PathLike | Iterable[str | os.PathLike], *, workers: int | None = None
) -> ScanReport:
    """Decode every image file of `source` as the training pipeline would; report the failures.

    A file is good when it is not empty and `tf.io.decode_image(..., expand_animations=False)`
    decodes it to an image of at least 1x1 pixels with 1, 2 (grayscale and alpha), 3 or 4
    channels; the reason given for a bad one is "empty file (0 bytes)", "not an image:
    ...", "truncated or corrupt JPEG: ..." (or PNG, GIF, BMP, WebP, JPEG XL), followed by the
    first line of TensorFlow's message.

    Args:
        source: a folder with one sub-folder per class, or with `train/`, `validation/` (or
            `val/`) and `test/` folders of class sub-folders (the layout `from_directory`
            reads); `"folder:/path"`, the data-set name `keras_cnns.data.load` takes for
            it; one image file; or a sequence (any iterable) of image file paths. In a
            folder, the files under each class sub-folder whose names end in `.bmp`,
            `.gif`, `.jpeg`, `.jpg` or `.png` (any case) are checked, as
            `keras.utils.image_dataset_from_directory` would read them; files given by
            path are checked whatever their names.
        workers: threads that decode at once; default `os.cpu_count()`.

    Returns:
        A `ScanReport`; `report.raise_if_bad()` turns bad files into an error.

    Raises:
        FileNotFoundError: `source` (or a path in it) does not exist.
        ValueError: a folder without images in class sub-folders, or an empty sequence.
        TypeError: `source` is neither a path nor a sequence of paths.
    """
    workers = check_positive_int("workers", workers, allow_none=True) or os.cpu_count() or 1
    root, paths = _files(source)
    with ThreadPoolExecutor(max_workers=min(workers, len(paths))) as pool:
        reasons = list(pool.map(_check_file, paths))
    bad = [BadFile(path, reason) for path, reason in zip(paths, reasons) if reason is not None]
    good = [path for path, reason in zip(paths, reasons) if reason is None]
    return ScanReport(root=root, checked=len(paths), bad=bad, good_paths=good)


# ----------------------------------------------------------------- what to check
def _files(source) -> tuple[Path | None, list[str]]:
    """The root and the sorted paths of the files `source` names."""
    if isinstance(source, (str, os.PathLike)):
        text = os.fspath(source)
        if isinstance(text, bytes):
            raise TypeError(f"`source` must be a str path or os.PathLike of str; received {source!r}.")
        if text.startswith("folder:"):
            text = text[len("folder:"):]
        path = Path(text).expanduser()
        if path.is_dir():
            return path, _folder_images(path)
        if path.is_file():
            return path.parent, [str(path)]
        raise FileNotFoundError(f"`source` {text!r} does not exist. {_ACCEPTED}")
    if isinstance(source, bytes) or not isinstance(source, Iterable):
        raise TypeError(
            f"`source` must be a folder path, 'folder:/path' or a sequence of image file "
            f"paths; received {source!r} ({type(source).__name__})."
        )
    paths, missing = [], []
    for i, item in enumerate(source):
        if not isinstance(item, (str, os.PathLike)) or isinstance(os.fspath(item), bytes):
            raise TypeError(
                f"`source`[{i}] must be a file path (str or os.PathLike); received {item!r} "
                f"({type(item).__name__})."
            )
        path = Path(item).expanduser()
        if not path.is_file():
            missing.append(f"{str(path)!r} ({'a folder' if path.is_dir() else 'does not exist'})")
        paths.append(str(path))
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise FileNotFoundError(
            f"`source` lists {len(missing)} path(s) that are not files: {shown}. A sequence "
            "given as `source` must hold image file paths; pass a folder on its own."
        )
    if not paths:
        raise ValueError(f"`source` is an empty sequence: no files to check. {_ACCEPTED}")
    paths = sorted(set(paths))
    try:
        root = Path(os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths]))
    except ValueError:  # files on different drives
        root = None
    return root, paths


def _folder_images(root: Path) -> list[str]:
    """The image files `from_directory` reads under `root`, in every split folder."""
    splits = [
        next((root / name for name in names if (root / name).is_dir()), None)
        for names in _FOLDER_SPLITS.values()
    ]
    folders = [folder for folder in splits if folder is not None] or [root]
    paths = []
    for folder in folders:
        # As image_dataset_from_directory: every sub-folder is a class, walked recursively
        # (symbolic links to folders below it are not followed), files matched by the end
        # of their name (".jpg" alone counts, though it has no suffix for os.path).
        for class_folder in sorted(p for p in folder.iterdir() if p.is_dir()):
            for dirpath, _, names in os.walk(class_folder):
                paths += [os.path.join(dirpath, n) for n in names if n.lower().endswith(_IMAGE_SUFFIXES)]
    if not paths:
        layout = " and ".join(repr(str(f)) for f in folders)
        raise ValueError(
            f"`source` {str(root)!r} holds no images ({', '.join(_IMAGE_SUFFIXES)}) in class "
            f"sub-folders of {layout}. {_ACCEPTED}"
        )
    return sorted(paths)


# ------------------------------------------------------------------- one file
def _check_file(path: str) -> str | None:
    """None if `path` decodes as the pipeline needs, else why not."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as err:
        return f"cannot read: {err.strerror or err}"
    if not data:
        return "empty file (0 bytes)"
    kind = _format(data)
    try:
        shape = tf.io.decode_image(data, expand_animations=False).shape
    except tf.errors.OpError as err:
        message = _tf_message(err)
        if kind is None:
            return f"not an image: {message}"
        return f"truncated or corrupt {kind}: {message}"
    height, width, channels = (int(d) for d in shape)
    if height == 0 or width == 0:
        return f"empty image: {kind or 'it'} decodes to {height}x{width} pixels"
    if channels not in _CHANNELS:
        return f"unsupported image: {channels} channels ({kind or 'unknown format'})"
    return None


def _format(data: bytes) -> str | None:
    """The image format `data` starts like, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    return next((name for magic, name in _SIGNATURES if data.startswith(magic)), None)


def _tf_message(err: tf.errors.OpError) -> str:
    """The first line of a TensorFlow error's message, without the op's decorations."""
    message = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", err.message or str(err))
    message = re.sub(r"\s*\[Op:\w+\]", "", message).strip()
    return message.splitlines()[0] if message else type(err).__name__
