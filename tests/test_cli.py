import re

import pytest

from keras_cnns.cli import main


def test_list_prints_every_model_with_its_parameters(capsys):
    assert main(["list", "--family", "vgg"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"vgg16\s+vgg\s+138,357,544\s+224x224x3", out)
    assert re.search(r"vgg19\s+vgg\s+143,667,240\s+224x224x3", out)
    assert "lenet5" not in out


def test_list_one_family(capsys):
    # The default lenet5 has 1000 RBF classes: 60,000 trainable + 84,000 fixed prototypes.
    assert main(["list", "--family", "lenet"]) == 0
    assert re.search(r"lenet5\s+lenet\s+144,000\s+32x32x1", capsys.readouterr().out)


def test_summary_with_options(capsys):
    assert main(["summary", "lenet5", "--num-classes", "10"]) == 0
    out = capsys.readouterr().out
    assert "Parameters: 60,840 (trainable 60,000, non-trainable 840)" in out
    assert [line.split()[:2] for line in out.splitlines() if line.startswith("c3 ")] == [["c3", "2"]]
    assert main(["summary", "vgg11", "--num-classes", "10", "--input-shape", "32,32,3", "--layers"]) == 0
    out = capsys.readouterr().out
    assert "block5_pool" in out and "MaxPooling2D" in out
    assert "Multiply-adds per image: 171,679,744" in out


def test_compare_reports_unknown_names(capsys):
    assert main(["compare", "resnet21"]) == 2
    assert "Did you mean" in capsys.readouterr().err


def test_every_subcommand_is_wired():
    from keras_cnns.cli import build_parser

    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"list", "summary", "compare", "train", "tune", "export", "predict", "serve"} <= set(commands)


def test_cli_errors_are_reported_not_raised(capsys):
    assert main(["summary", "lenet"]) == 2
    assert "Did you mean: lenet5" in capsys.readouterr().err
    assert main(["summary", "vgg11", "--input-shape", "8,8,3"]) == 2
    assert "at least 32x32" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["summary", "vgg11", "--input-shape", "32x32"])


def test_train_command_writes_a_run_and_reports(tmp_path, capsys):
    code = main([
        "train", "lenet5", "--dataset", "fashion_mnist", "--epochs", "1", "--batch-size", "32",
        "--limit", "96", "--seed", "2", "--verbose", "0", "--runs-dir", str(tmp_path),
        "--option", "variant=modern", "--set", "weight_decay=0.001", "--learning-rate", "0.002",
    ])
    assert code == 0
    out = capsys.readouterr().out
    assert re.search(r"test accuracy: \d\.\d{4}", out)
    run_dir = next(tmp_path.iterdir())
    assert f"run folder: {run_dir}" in out
    import json

    config = json.loads((run_dir / "config.json").read_text())
    assert config["model_options"] == {"variant": "modern"}
    assert config["recipe"]["weight_decay"] == 0.001 and config["recipe"]["learning_rate"] == 0.002


def test_train_command_errors(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "is not a run folder" in capsys.readouterr().err
    assert main(["train"]) == 2
    assert "MODEL name, or --resume" in capsys.readouterr().err
    assert main(["train", "lenet5", "--dataset", "nope_mnist", "--runs-dir", str(tmp_path)]) == 2
    assert "nope_mnist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "lenet5", "--strategy", "tpu"])
    with pytest.raises(SystemExit):
        main(["train", "lenet5", "--set", "novalue"])
