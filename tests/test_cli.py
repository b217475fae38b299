import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from keras_cnns import console
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
    assert {"list", "summary", "compare", "train", "tune", "evaluate", "export", "predict", "serve"} <= set(
        commands
    )


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


def test_train_command_fine_tunes_from_weights(tmp_path, capsys):
    import json

    import keras_cnns
    from keras_cnns.training.callbacks import read_history

    weights = tmp_path / "lenet5.weights.h5"
    keras_cnns.lenet5(variant="modern", num_classes=10, input_shape=(28, 28, 1), fit_input="pad").save_weights(weights)
    code = main([
        "train", "lenet5", "--weights", str(weights), "--freeze-epochs", "1", "--epochs", "2",
        "--batch-size", "32", "--limit", "64", "--seed", "2", "--verbose", "0", "--validation-fraction", "0",
        "--run-dir", str(tmp_path / "run"), "--option", "variant=modern",
    ])
    assert code == 0, capsys.readouterr().err
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["weights"] == str(weights) and config["freeze_epochs"] == 1
    assert config["recipe"]["name"] == "lenet/finetune"  # the default recipe with --weights
    rates = [row["learning_rate"] for row in read_history(tmp_path / "run" / "history.csv")]
    assert rates == pytest.approx([config["recipe"]["head_learning_rate"], config["recipe"]["learning_rate"]])


def test_train_command_fine_tuning_errors(tmp_path, capsys):
    assert main(["train", "lenet5", "--freeze-epochs", "2", "--runs-dir", str(tmp_path)]) == 2
    assert "`freeze_epochs=2` needs `weights`" in capsys.readouterr().err
    assert main(["train", "lenet5", "--weights", str(tmp_path / "none.pth"), "--runs-dir", str(tmp_path)]) == 2
    assert "Invalid `weights`" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "lenet5", "--freeze-epochs", "two"])


# -------------------------------------------------------------- the quiet console
def _keras_cnns(*argv):
    """The `keras-cnns` console script of this environment (`python -m keras_cnns.cli`
    where the package is not installed with its scripts)."""
    script = Path(sys.executable).with_name("keras-cnns")
    return [str(script), *argv] if script.exists() else [sys.executable, "-m", "keras_cnns.cli", *argv]


def _plain_env(**extra):
    """The environment of a user's shell: no TF_CPP_MIN_LOG_LEVEL (conftest sets it), no
    KERAS_CNNS_VERBOSE."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", console.VERBOSE_VARIABLE)}
    env.update(CUDA_VISIBLE_DEVICES="", **extra)
    return env


def _run(argv, **env):
    done = subprocess.run(argv, env=_plain_env(**env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    return done.stdout


def _banners(text):
    return [line for line in text.splitlines() if any(re.search(p, line) for p in console.STARTUP_BANNERS)]


def test_train_prints_the_progress_and_the_result_and_nothing_else(tmp_path):
    # The check: `keras-cnns train lenet5 --epochs 1`, on fewer images.
    output = _run(_keras_cnns("train", "lenet5", "--epochs", "1", "--dataset", "fashion_mnist",
                              "--limit", "256", "--seed", "0", "--run-dir", str(tmp_path / "run")))
    lines = output.splitlines()
    assert not re.search(r"absl|oneDNN|cpu_feature_guard|NodeDef|Warning|WARNING|^[IWEF]\d{4} ", output, flags=re.M), output
    progress = [line for line in lines if re.fullmatch(r"\d+/\d+ - \d+m?s - .*loss: [\d.e+-]+.*val_loss: [\d.e+-]+", line)]
    result = [line for line in lines if re.fullmatch(r"test accuracy: \d\.\d{4}  test loss: [\d.e+-]+", line)]
    folder = [line for line in lines if line == f"run folder: {tmp_path / 'run'}"]
    assert len(progress) == 1 and len(result) == 1 and len(folder) == 1, output
    assert len(lines) == 3, output


def test_verbose_shows_what_the_quiet_console_drops():
    quiet = _run(_keras_cnns("list", "--family", "lenet"))
    verbose = _run(_keras_cnns("--verbose", "list", "--family", "lenet"))
    by_environment = _run(_keras_cnns("list", "--family", "lenet"), KERAS_CNNS_VERBOSE="1")
    table = re.compile(r"lenet5\s+lenet\s+144,000\s+32x32x1")
    assert table.search(quiet) and table.search(verbose) and table.search(by_environment)
    assert _banners(quiet) == [] and quiet.splitlines()[0].startswith("model ")
    # TensorFlow's import banners: replayed by --verbose, shown as they come with the variable.
    assert _banners(verbose) and _banners(by_environment)


FILTER_SCRIPT = textwrap.dedent(
    r"""
    import os, sys, time
    from keras_cnns.console import COMMAND_NOISE, StderrFilter

    write = lambda data: os.write(2, data)
    with StderrFilter(COMMAND_NOISE, poll_interval=0.01) as f:
        write(b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        write(b"kept 1\n")
        write(b"I0000 00:00:1796526194.215781    8162 port.cc:153] oneDNN custom operations are on. x\n")
        write(b"E0000 00:00:1796526207.1   8345 node_def_util.cc:682] NodeDef mentions attribute "
              b"use_unbounded_threadpool which is not in the op definition: Op<name=MapDataset>\n")
        write(b"W0000 00:00:1796526207.1   8345 other.cc:1] a real warning\n")
        write(b"no newline, then ")
        time.sleep(0.2)
        write(b"the rest\nbytes \xff\xfe kept\r50%\r100%\n")
        print("from Python", file=sys.stderr, flush=True)
        write(b"x" * 1500000 + b"\n")  # past the rotation size
        time.sleep(0.3)
        write(b"after rotation\n")
        write(b"I0000 00:00:1.1 1 loader.cc:471] SavedModel load\nlast line without an ending")
    print(len(f.dropped))
    raise RuntimeError("a traceback gets through")
    """
)


def test_stderr_filter_drops_the_noise_and_passes_everything_else_unchanged():
    done = subprocess.run([sys.executable, "-c", FILTER_SCRIPT], env=_plain_env(), capture_output=True, timeout=120)
    assert done.returncode == 1
    assert done.stdout.decode().split() == ["4"]
    expected = (b"kept 1\nW0000 00:00:1796526207.1   8345 other.cc:1] a real warning\n"
                b"no newline, then the rest\nbytes \xff\xfe kept\r50%\r100%\nfrom Python\n"
                + b"x" * 1500000 + b"\nafter rotation\nlast line without an ending")
    assert done.stderr[:len(expected)] == expected
    traceback = done.stderr[len(expected):].decode()
    assert traceback.startswith("Traceback (most recent call last):")
    assert traceback.rstrip().endswith("RuntimeError: a traceback gets through")
