"""`keras-cnns train`: a model, a data set and its paper recipe; writes a run folder."""

from __future__ import annotations

import argparse
import os
import sys

from keras_cnns import console
from keras_cnns.cli.args import parse_key_value


def add_train(subparsers) -> None:
    """`keras-cnns train MODEL --dataset D ...` or `keras-cnns train --resume RUN_DIR`."""
    parser = subparsers.add_parser(
        "train",
        help="Train a model on a data set with its paper recipe; writes a run folder.",
        description="Train MODEL on --dataset and write runs/<model>-<dataset>-<time>/ "
        "(config, history.csv, TensorBoard logs, checkpoints, metrics.json, learning curves).",
    )
    parser.add_argument("model", nargs="?", help="A registered model name (omit with --resume).")
    parser.add_argument(
        "--dataset", default="fashion_mnist",
        help="fashion_mnist, mnist, cifar10, any tfds image set, folder:PATH (one sub-folder per "
        "class) or tfrecord:PATTERN (shards in ImageNet's layout; keras-cnns data convert).",
    )
    parser.add_argument(
        "--recipe", choices=["quick", "paper", "finetune"],
        help="Training recipe (default: finetune with --weights, else quick).",
    )
    parser.add_argument(
        "--weights", metavar="NAME_OR_PATH",
        help="Start from pretrained weights: a published name (torchvision, imagenet) or a "
        "weights file (.weights.h5, .h5, .keras, .pth, .pt, .safetensors).",
    )
    parser.add_argument(
        "--freeze-epochs", type=int, metavar="N",
        help="With --weights: train only the new head for the first N epochs (backbone frozen), "
        "then every layer.",
    )
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument(
        "--set", dest="recipe_overrides", type=parse_key_value, action="append", default=[],
        metavar="FIELD=VALUE", help="Override any recipe field, e.g. --set weight_decay=0.",
    )
    parser.add_argument(
        "--option", dest="model_options", type=parse_key_value, action="append", default=[],
        metavar="NAME=VALUE", help="A model option, e.g. --option variant=modern.",
    )
    parser.add_argument(
        "--precision", default="float32", choices=["float32", "mixed_bfloat16", "mixed_float16"],
        help="Mixed precision: compute in bfloat16 or float16 with float32 weights and outputs "
        "(mixed_float16 scales the loss). Default float32.",
    )
    parser.add_argument(
        "--steps-per-execution", type=_steps_per_execution, default="auto", metavar="N|auto",
        help="Training steps per call of the compiled step (default auto: 16 for models with a "
        "small step such as LeNet-5, else 1). Blocks end with the epoch.",
    )
    parser.add_argument("--strategy", default="auto", choices=["auto", "none", "mirrored", "multiworker"])
    parser.add_argument("--cpu-devices", type=int, help="Logical CPU devices (for --strategy mirrored).")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--data-dir")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--run-dir", help="Exact run folder (default: <runs-dir>/<model>-<dataset>-<time>).")
    parser.add_argument("--resume", metavar="RUN_DIR", help="Continue an interrupted run.")
    parser.add_argument("--limit", type=int, help="Use only the first N examples of each split.")
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    parser.add_argument(
        "--skip-corrupt", action="store_true",
        help="For a folder: data set, leave out the image files that cannot be decoded (one "
        "warning counts them) instead of stopping before training with their list.",
    )
    parser.add_argument(
        "--test-fraction", type=float, default=0.1,
        help="For a folder: data set without a test/ folder: the share of its images carved out "
        "for test (default 0.1).",
    )
    parser.add_argument(
        "--image-size", type=_image_size, metavar="SIZE",
        help="The model's input size: a side (224) or HEIGHTxWIDTH (224x192). Default: the "
        "images' own size when they share one, else the model's default (224; Inception v3 299). "
        "Images of different sizes are cropped from their originals.",
    )
    parser.add_argument(
        "--first-label", type=int, choices=[0, 1],
        help="For tfrecord: shards, the label of the first class in the records (1 for "
        "ImageNet's shards, whose 0 is 'background'); default: their manifest's, else 0.",
    )
    parser.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2],
                        help="Keras' progress output: 0 none, 1 a bar, 2 one line per epoch.")
    parser.set_defaults(func=run_train)


def _image_size(text: str) -> int | tuple[int, int]:
    parts = text.lower().split("x")
    try:
        sides = [int(p) for p in parts]
    except ValueError:
        sides = []
    if len(sides) not in (1, 2) or min(sides, default=0) < 1:
        raise argparse.ArgumentTypeError(f"expected a side (224) or HEIGHTxWIDTH (224x192), got {text!r}")
    return sides[0] if len(sides) == 1 else (sides[0], sides[1])


def _steps_per_execution(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a positive integer, got {text!r}")
    return value


def run_train(args) -> int:
    if args.model is None and args.resume is None:
        raise ValueError("train needs a MODEL name, or --resume RUN_DIR.")
    from keras_cnns.training import TrainingDiverged, train
    from keras_cnns.training.loop import WorkerLost

    try:
        result = train(
            args.model,
            args.dataset,
            recipe=args.recipe,
            weights=args.weights,
            freeze_epochs=args.freeze_epochs,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            recipe_overrides=dict(args.recipe_overrides),
            model_options=dict(args.model_options),
            strategy=args.strategy,
            precision=args.precision,
            steps_per_execution=args.steps_per_execution,
            cpu_devices=args.cpu_devices,
            seed=args.seed,
            data_dir=args.data_dir,
            runs_dir=args.runs_dir,
            run_dir=args.run_dir,
            resume=args.resume,
            limit=args.limit,
            validation_fraction=args.validation_fraction,
            test_fraction=args.test_fraction,
            skip_corrupt=args.skip_corrupt,
            image_size=args.image_size,
            first_label=args.first_label,
            verbose=args.verbose,
        )
    except TrainingDiverged as err:
        print(f"keras-cnns train: {err}", file=sys.stderr)
        return 1
    except WorkerLost as err:
        # A peer of a multi-worker run died: start again from the last backup, as a
        # cluster manager restarts a failed task (the restarted peer rejoins).
        print(f"keras-cnns train: {err}; restarting from the last backup.", file=sys.stderr, flush=True)
        console.release()  # exec skips the filter's exit: give stderr back first
        verbose = ["--verbose"] if getattr(args, "console_verbose", False) else []
        os.execv(sys.executable, [sys.executable, "-m", "keras_cnns.cli", *verbose,
                                  "train", "--resume", str(err.run_dir)])
    metrics = result.metrics
    print(f"test accuracy: {metrics['test_accuracy']:.4f}  test loss: {metrics['test_loss']:.4f}")
    print(f"run folder: {result.run_dir}", flush=True)
    if "TF_CONFIG" in os.environ and args.strategy in ("multiworker", "auto") or _resumed_multiworker(args):
        # Everything is written and all workers passed a final barrier. Skip the
        # interpreter's teardown: TensorFlow's coordination service fails the tasks that
        # are still shutting down when its leader (worker 0) has already exited.
        console.release()
        sys.stderr.flush()
        os._exit(0)
    return 0


def _resumed_multiworker(args) -> bool:
    if not args.resume:
        return False
    from keras_cnns.training import read_run_config

    return read_run_config(args.resume).get("strategy") == "multiworker"
