"""`keras_cnns.data.scan` and `keras-cnns data check`: the image files that cannot be decoded."""

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from keras_cnns.cli import main
from keras_cnns.data import CorruptImagesError, ScanReport, scan
from keras_cnns.data.scan import SKIP_HINT, BadFile


def _image(rng, size, mode="RGB") -> Image.Image:
    """Random pixels, so that JPEGs are not trivially small."""
    channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
    pixels = rng.integers(0, 256, (size[1], size[0], channels), dtype=np.uint8)
    return Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode)


def _jpeg_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _write_good(folder: Path, rng) -> list[Path]:
    """Two class folders of small good images of several formats, sizes and modes."""
    files = {
        "cats/a.jpg": (_image(rng, (16, 16)), "JPEG"),
        "cats/b.png": (_image(rng, (24, 20), "RGBA"), "PNG"),
        "cats/c.JPG": (_image(rng, (40, 32)), "JPEG"),
        "cats/d.bmp": (_image(rng, (18, 22)), "BMP"),
        "dogs/e.jpeg": (_image(rng, (30, 17), "L"), "JPEG"),
        "dogs/f.png": (_image(rng, (16, 28), "L"), "PNG"),
        "dogs/g.gif": (_image(rng, (20, 20)), "GIF"),
        "dogs/h.png": (_image(rng, (21, 19), "LA"), "PNG"),
        "dogs/puppies/i.jpg": (_image(rng, (26, 24)), "JPEG"),  # classes are walked recursively
        "dogs/j.jpg": (_image(rng, (17, 23)), "PNG"),  # a PNG named .jpg: TF goes by content
    }
    paths = []
    for name, (image, fmt) in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        image.save(path, fmt)
        paths.append(path)
    return paths


def _write_bad(folder: Path, rng) -> dict[Path, str]:
    """The files the issue names, each with the start of the reason `scan` should give."""
    (folder / "cats").mkdir(parents=True, exist_ok=True)
    (folder / "dogs").mkdir(parents=True, exist_ok=True)
    whole = _jpeg_bytes(_image(rng, (40, 40)))
    bad = {
        folder / "cats" / "truncated.jpg": (whole[: len(whole) // 2], "truncated or corrupt JPEG: "),
        folder / "dogs" / "empty.jpg": (b"", "empty file (0 bytes)"),
        folder / "dogs" / "notes.jpg": (b"labels: cat, dog\nnot a picture\n", "not an image: "),
    }
    for path, (data, _) in bad.items():
        path.write_bytes(data)
    return {path: reason for path, (_, reason) in bad.items()}


def _write_cmyk(path: Path) -> None:
    # Pure red in CMYK: no cyan, full magenta and yellow, no black.
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("CMYK", (24, 16), (0, 255, 255, 0)).save(path, "JPEG")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A class folder with good files, the three corrupt ones and a CMYK JPEG; plus files
    the pipeline does not read (not in a class folder, or not named as an image)."""
    root = tmp_path_factory.mktemp("pets")
    rng = np.random.default_rng(0)
    good = _write_good(root, rng)
    bad = _write_bad(root, rng)
    _write_cmyk(root / "cats" / "cmyk.jpg")
    good.append(root / "cats" / "cmyk.jpg")
    (root / "cats" / "labels.txt").write_text("not read: not an image suffix\n")
    (root / "stray.jpg").write_bytes(b"")  # beside the class folders: not read either
    return root, sorted(str(p) for p in good), bad


@pytest.fixture(scope="module")
def clean_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("clean")
    _write_good(root, np.random.default_rng(1))
    return root


def test_scan_finds_exactly_the_corrupt_files(folder):
    root, good, bad = folder
    report = scan(root)
    assert isinstance(report, ScanReport)
    assert report.root == root
    assert report.checked == len(good) + len(bad) == 14
    assert not report.ok
    assert [path for path, _ in report.bad] == sorted(str(p) for p in bad)
    for path, reason in report.bad:
        assert reason.startswith(bad[Path(path)]), (path, reason)
    reasons = dict(report.bad)
    assert "Invalid JPEG data" in reasons[str(root / "cats" / "truncated.jpg")]
    assert "Unknown image file format" in reasons[str(root / "dogs" / "notes.jpg")]
    # TensorFlow's decorations are gone: no "{{function_node ...}}", no "[Op:DecodeImage]".
    assert not any("{{" in reason or "[Op:" in reason for reason in reasons.values())
    assert report.good_paths == good
    assert all(isinstance(b, BadFile) for b in report.bad)


def test_the_report_prints_a_summary_and_one_line_per_bad_file(folder):
    root, _, bad = folder
    lines = str(scan(root)).splitlines()
    assert lines[0] == f"checked 14 files under {root}: 3 unreadable"
    assert len(lines) == 1 + len(bad)
    for line, (path, _) in zip(lines[1:], sorted(bad.items())):
        assert line.startswith(f"  {path}: ")


def test_a_cmyk_jpeg_is_read_as_rgb(folder):
    # TensorFlow 2.21 converts CMYK (Adobe) JPEGs to RGB itself, as Pillow does.
    import tensorflow as tf

    root, good, _ = folder
    path = root / "cats" / "cmyk.jpg"
    assert Image.open(path).mode == "CMYK"
    decoded = tf.io.decode_image(path.read_bytes(), expand_animations=False).numpy()
    assert decoded.shape == (16, 24, 3)
    expected = np.asarray(Image.open(path).convert("RGB"))
    assert np.abs(decoded.astype(int) - expected).max() <= 2
    assert np.abs(decoded[8, 12].astype(int) - [255, 0, 0]).max() <= 2
    assert str(path) in scan(root).good_paths


def test_the_order_is_the_same_with_any_number_of_threads(folder):
    root, _, _ = folder
    assert scan(root, workers=1) == scan(root, workers=4) == scan(root)


def test_folder_name_form_and_a_list_of_files(folder):
    root, good, bad = folder
    assert scan(f"folder:{root}") == scan(root)
    some = [good[0], *bad, good[-1]]
    report = scan(some)
    assert report.checked == len(some)
    assert [path for path, _ in report.bad] == sorted(str(p) for p in bad)
    assert report.good_paths == sorted([good[0], good[-1]])
    assert report.root == root  # the folder holding all of them
    # Any iterable of paths, and files given by path are checked whatever their names.
    report = scan((root / "cats").glob("*.txt"))
    assert report.checked == 1 and report.bad[0].reason.startswith("not an image: ")
    assert scan(root / "cats" / "a.jpg").ok  # one file


def test_split_folders_are_walked_as_from_directory_reads_them(tmp_path):
    rng = np.random.default_rng(2)
    _write_good(tmp_path / "train", rng)
    bad = _write_bad(tmp_path / "test", rng)
    _write_good(tmp_path / "validation", rng)
    # Not read by from_directory: val/ beside validation/, a class folder beside the splits.
    _write_bad(tmp_path / "val", rng)
    _write_bad(tmp_path / "strays", rng)
    report = scan(tmp_path)
    assert report.checked == 10 + 3 + 10
    assert [path for path, _ in report.bad] == sorted(str(p) for p in bad)
    assert all(path.startswith(str(tmp_path / "train")) or path.startswith(str(tmp_path / "validation"))
               for path in report.good_paths)


def test_the_paths_are_the_ones_keras_reads(clean_folder):
    import keras

    dataset = keras.utils.image_dataset_from_directory(
        str(clean_folder), batch_size=None, image_size=(16, 16), shuffle=False
    )
    report = scan(clean_folder)
    assert report.ok and report.bad == []
    assert report.good_paths == sorted(dataset.file_paths)


def test_raise_if_bad_lists_every_file_and_the_way_out(folder, clean_folder):
    root, _, bad = folder
    with pytest.raises(CorruptImagesError) as info:
        scan(root).raise_if_bad()
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert message.startswith(f"3 of 14 image files under {root} cannot be decoded:")
    for path, reason in bad.items():
        assert f"  {path}: {reason}" in message
    assert message.endswith(
        "Remove or fix them, or train with --skip-corrupt (skip_corrupt=True) to leave them out."
    )
    assert message.endswith(SKIP_HINT)
    assert [b.path for b in info.value.bad] == sorted(str(p) for p in bad)
    scan(clean_folder).raise_if_bad()  # nothing to raise


def test_bad_sources_name_the_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"`source` '.*nowhere' does not exist\. Accepted: a folder"):
        scan(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="`source`"):
        scan(f"folder:{tmp_path / 'nowhere'}")
    (tmp_path / "empty_class").mkdir()
    (tmp_path / "empty_class" / "notes.txt").write_text("no images here")
    (tmp_path / "loose.jpg").write_bytes(b"")  # not in a class folder
    with pytest.raises(ValueError, match=r"`source` .* holds no images \(.bmp, .gif, .jpeg, .jpg, .png\)"):
        scan(tmp_path)
    with pytest.raises(ValueError, match="`source` is an empty sequence"):
        scan([])
    with pytest.raises(FileNotFoundError, match=r"`source` lists 2 path\(s\) that are not files: .*missing\.jpg"):
        scan([tmp_path / "loose.jpg", tmp_path / "missing.jpg", tmp_path / "empty_class"])
    with pytest.raises(TypeError, match="`source` must be a folder path"):
        scan(3)
    with pytest.raises(TypeError, match=r"`source`\[1\] must be a file path"):
        scan([tmp_path / "loose.jpg", 7])
    with pytest.raises(ValueError, match="`workers` must be a positive integer"):
        scan(tmp_path / "loose.jpg", workers=0)


def test_cli_data_check(folder, clean_folder, capsys):
    root, _, bad = folder
    assert main(["data", "check", str(root), "--workers", "2"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"checked 14 files under {root}: 3 unreadable\n")
    for path in bad:
        assert f"  {path}: " in out
    assert main(["data", "check", str(clean_folder)]) == 0
    assert capsys.readouterr().out == f"checked 10 files under {clean_folder}: 0 unreadable\n"
    # Several files; and errors are one line with exit status 2, as for every command.
    assert main(["data", "check", str(root / "cats" / "a.jpg"), str(root / "dogs" / "empty.jpg")]) == 1
    assert "empty file (0 bytes)" in capsys.readouterr().out
    assert main(["data", "check", os.fspath(root / "nowhere")]) == 2
    assert "keras-cnns data: error: `source`" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["data"])  # the check sub-command is required


def test_cli_drops_the_decoders_log_lines(folder, capfd):
    # TensorFlow's C++ code logs each failed decode ("Premature end of JPEG data", the
    # eager op's abort); the report already says it, so the command leaves them out.
    root, _, _ = folder
    assert main(["data", "check", str(root)]) == 1
    captured = capfd.readouterr()
    assert "truncated.jpg: truncated or corrupt JPEG" in captured.out
    assert "Premature end of JPEG" not in captured.err
    assert "Local rendezvous" not in captured.err
