"""compare(), the plots and the `summary` / `compare` subcommands."""

import argparse
import csv
import struct

import pytest

import keras_cnns
from keras_cnns.analysis import (
    PUBLISHED,
    compare,
    plot_architecture,
    plot_comparison,
    plot_training_curves,
)
from keras_cnns.cli.models import add_compare, add_summary

NAMES = ["lenet5", "alexnet", "resnet20"]


def png_size(path):
    """(width, height) of a PNG file; fails unless the file is a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG file"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def comparison():
    return compare(NAMES)


def test_compare_rows(comparison):
    rows = {row["model"]: row for row in comparison.rows}
    assert list(rows) == NAMES
    assert rows["alexnet"]["parameters"] == keras_cnns.alexnet().count_params()
    assert rows["resnet20"]["depth"] == 20 and rows["resnet20"]["receptive_field"] == 81
    assert rows["alexnet"]["receptive_field"] == 195 and rows["alexnet"]["rf_stride"] == 32
    assert rows["lenet5"]["input"] == "32x32x1"
    assert rows["alexnet"]["top1"] == PUBLISHED["alexnet"].top1 == 59.3
    assert rows["resnet20"]["dataset"] == "CIFAR-10" and "Table 6" in rows["resnet20"]["source"]
    text = str(comparison)
    for name in NAMES:
        assert name in text
    # Figures are cached per process: a second call builds nothing and returns equal rows.
    assert compare(["ResNet-20"]).rows[0] == rows["resnet20"]


def test_every_published_figure_belongs_to_a_registered_model():
    assert set(PUBLISHED) <= set(keras_cnns.list_models())
    assert all(0 < p.top1 < 100 and p.source for p in PUBLISHED.values())


def test_csv_and_plot(comparison, tmp_path):
    path = comparison.to_csv(tmp_path / "models.csv")
    with path.open() as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == NAMES
    assert int(rows[1]["macs"]) == comparison.rows[1]["macs"]
    assert rows[1]["source"].startswith("Krizhevsky")
    png = comparison.plot(tmp_path / "models.png")
    width, height = png_size(png)
    assert width > 500 and height > 300


def test_compare_errors(tmp_path, comparison):
    with pytest.raises(ValueError, match="Unknown model name 'resnet21'.*Did you mean: .*resnet20"):
        compare(["resnet20", "resnet21"])
    with pytest.raises(FileNotFoundError, match="the folder .*missing.* does not exist"):
        comparison.to_csv(tmp_path / "missing" / "models.csv")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        comparison.plot(tmp_path / "missing" / "models.png")
    with pytest.raises(TypeError, match="takes the result of keras_cnns.analysis.compare"):
        plot_comparison([{"model": "x"}], tmp_path / "x.png")


def test_plot_architecture(tmp_path):
    path = plot_architecture(keras_cnns.lenet5(), tmp_path / "lenet5.png")
    width, height = png_size(path)
    assert width > 50 and height > 200
    nested = plot_architecture("resnet20", tmp_path / "resnet20.png", rankdir="LR", show_shapes=False)
    assert png_size(nested)[0] > png_size(nested)[1]  # left to right: wider than tall
    with pytest.raises(TypeError, match="takes a Keras model"):
        plot_architecture("not a model".split(), tmp_path / "x.png")


def test_plot_training_curves(tmp_path):
    run = tmp_path / "lenet5-fashion_mnist-1"
    run.mkdir()
    (run / "history.csv").write_text(
        "epoch,loss,accuracy,val_loss,val_accuracy\n"
        "0,0.9,0.70,0.8,0.72\n1,0.6,0.80,0.6,0.79\n2,0.5,0.83,0.55,0.81\n"
    )
    path = plot_training_curves(run)
    assert path == run / "learning_curves.png"
    width, height = png_size(path)
    assert width > 500 and height > 200
    assert png_size(plot_training_curves(run, tmp_path / "curves.png"))[0] == width
    with pytest.raises(FileNotFoundError, match="No run folder"):
        plot_training_curves(tmp_path / "nowhere")
    empty = tmp_path / "empty-run"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="missing or empty"):
        plot_training_curves(empty)


# ---------------------------------------------------------------------------- CLI
def run_cli(argv):
    """The subcommands as keras_cnns.cli wires them: parse, then call `func`."""
    parser = argparse.ArgumentParser(prog="keras-cnns")
    subparsers = parser.add_subparsers(dest="command", required=True)
    add_summary(subparsers)
    add_compare(subparsers)
    args = parser.parse_args(argv)
    return args.func(args)


def test_summary_command(capsys):
    assert run_cli(["summary", "resnet20", "--num-classes", "10"]) == 0
    out = capsys.readouterr().out
    assert "Multiply-adds per image: 40,551,040" in out
    assert "conv3" in out and "total" in out and "81 / 4" in out
    assert "conv3_block2" not in out  # stage table only
    assert run_cli(["summary", "lenet5", "--input-shape", "28,28,1", "--fit-input", "pad", "--layers"]) == 0
    out = capsys.readouterr().out
    assert "ConnectionTableConv2D" in out and "input 28x28x1" in out and "ZeroPadding2D" in out


def test_compare_command(tmp_path, capsys):
    csv_path, png_path = tmp_path / "out.csv", tmp_path / "out.png"
    assert run_cli(["compare", "lenet5", "resnet20", "--csv", str(csv_path), "--plot", str(png_path)]) == 0
    out = capsys.readouterr().out
    assert "lenet5" in out and "resnet20" in out and f"wrote {csv_path}" in out
    assert csv_path.read_text().startswith("model,family,")
    png_size(png_path)


def test_command_errors(tmp_path):
    with pytest.raises(ValueError, match="Unknown model name 'vgg_17'"):
        run_cli(["summary", "vgg_17"])
    with pytest.raises(ValueError, match="Unknown model name 'lenet'.*Did you mean: lenet5"):
        run_cli(["compare", "lenet"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run_cli(["compare", "lenet5", "--csv", str(tmp_path / "no" / "such" / "file.csv")])
    with pytest.raises(SystemExit):
        run_cli(["summary", "lenet5", "--input-shape", "28x28"])

