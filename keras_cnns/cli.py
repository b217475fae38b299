"""The `keras-cnns` command line. It only parses arguments and calls the Python API.

Each subcommand is a pair of functions: `_add_<name>(subparsers)` declares its arguments
and sets `func`, which receives the parsed namespace and returns an exit code. `summary`
and `compare` live in `keras_cnns.analysis.cli`, `tune` in `keras_cnns.tuning.cli`.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from keras_cnns.analysis.cli import add_compare, add_summary  # noqa: E402
from keras_cnns.cli_args import parse_key_value, parse_shape  # noqa: E402
from keras_cnns.tuning.cli import add_parser as add_tune  # noqa: E402
from keras_cnns.tables import format_table  # noqa: E402


# ------------------------------------------------------------------------- list
def _add_list(subparsers) -> None:
    parser = subparsers.add_parser(
        "list", help="List the registered models with their parameters and default input."
    )
    parser.add_argument("--family", help="Only this family (lenet, alexnet, vgg, ...).")
    parser.set_defaults(func=_run_list)


def _run_list(args) -> int:
    import keras

    from keras_cnns.models import get_spec, list_models

    rows = []
    for name in list_models(args.family):
        spec = get_spec(name)
        model = spec.builder()
        rows.append(
            [
                name,
                spec.family,
                f"{model.count_params():,}",
                "x".join(str(d) for d in spec.default_input_shape),
                spec.summary_line,
            ]
        )
        del model
        keras.backend.clear_session()
    print(format_table(rows, ["model", "family", "parameters", "input", "description"]))
    return 0


# ------------------------------------------------------------------------ train
def _add_train(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="Train a model on a data set with its paper recipe; writes a run folder.",
        description="Train MODEL on --dataset and write runs/<model>-<dataset>-<time>/ "
        "(config, history.csv, TensorBoard logs, checkpoints, metrics.json, learning curves).",
    )
    parser.add_argument("model", nargs="?", help="A registered model name (omit with --resume).")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--recipe", default="quick", choices=["quick", "paper"])
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
    parser.add_argument("--strategy", default="auto", choices=["auto", "none", "mirrored", "multiworker"])
    parser.add_argument("--cpu-devices", type=int, help="Logical CPU devices (for --strategy mirrored).")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--data-dir")
    parser.add_argument("--runs-dir", default="runs")
    parser.add_argument("--run-dir", help="Exact run folder (default: <runs-dir>/<model>-<dataset>-<time>).")
    parser.add_argument("--resume", metavar="RUN_DIR", help="Continue an interrupted run.")
    parser.add_argument("--limit", type=int, help="Use only the first N examples of each split.")
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    parser.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2])
    parser.set_defaults(func=_run_train)


def _run_train(args) -> int:
    if args.model is None and args.resume is None:
        raise ValueError("train needs a MODEL name, or --resume RUN_DIR.")
    from keras_cnns.training import TrainingDiverged, train
    from keras_cnns.training.loop import WorkerLost

    try:
        result = train(
            args.model,
            args.dataset,
            recipe=args.recipe,
            epochs=args.epochs,
            batch_size=args.batch_size,
            learning_rate=args.learning_rate,
            recipe_overrides=dict(args.recipe_overrides),
            model_options=dict(args.model_options),
            strategy=args.strategy,
            cpu_devices=args.cpu_devices,
            seed=args.seed,
            data_dir=args.data_dir,
            runs_dir=args.runs_dir,
            run_dir=args.run_dir,
            resume=args.resume,
            limit=args.limit,
            validation_fraction=args.validation_fraction,
            verbose=args.verbose,
        )
    except TrainingDiverged as err:
        print(f"keras-cnns train: {err}", file=sys.stderr)
        return 1
    except WorkerLost as err:
        # A peer of a multi-worker run died: start again from the last backup, as a
        # cluster manager restarts a failed task (the restarted peer rejoins).
        print(f"keras-cnns train: {err}; restarting from the last backup.", file=sys.stderr, flush=True)
        os.execv(sys.executable, [sys.executable, "-m", "keras_cnns.cli", "train", "--resume", str(err.run_dir)])
    metrics = result.metrics
    print(f"test accuracy: {metrics['test_accuracy']:.4f}  test loss: {metrics['test_loss']:.4f}")
    print(f"run folder: {result.run_dir}", flush=True)
    if "TF_CONFIG" in os.environ and args.strategy in ("multiworker", "auto") or _resumed_multiworker(args):
        # Everything is written and all workers passed a final barrier. Skip the
        # interpreter's teardown: TensorFlow's coordination service fails the tasks that
        # are still shutting down when its leader (worker 0) has already exited.
        sys.stderr.flush()
        os._exit(0)
    return 0


def _resumed_multiworker(args) -> bool:
    if not args.resume:
        return False
    from keras_cnns.training import read_run_config

    return read_run_config(args.resume).get("strategy") == "multiworker"


# ----------------------------------------------------------------------- export
def _add_export(subparsers) -> None:
    parser = subparsers.add_parser(
        "export",
        help="Export a run (or a .keras file / model name) to SavedModel for TF Serving and TFLite.",
        description="Writes <output>/<name>/<version>/ (TF Serving layout, next free version, "
        "uint8 `serving_default` with the run's preprocessing inside, warm-up requests, "
        "<output>/models.config) and <output>/<name>[_<quantization>].tflite.",
    )
    parser.add_argument("source", help="A run folder, a .keras file or a registered model name.")
    parser.add_argument("--format", dest="formats", nargs="+", default=["saved_model"],
                        choices=["saved_model", "tflite"])
    parser.add_argument("--quantize", nargs="+", default=["none"],
                        choices=["none", "float16", "dynamic", "int8"],
                        help="TFLite variants to write (several allowed).")
    parser.add_argument("--io-dtype", default="float32", choices=["float32", "uint8", "int8"],
                        help="Input/output type of int8 TFLite files.")
    parser.add_argument("--output", default="saved_models", help="Folder of exported models.")
    parser.add_argument("--version", type=int, help="SavedModel version (default: next free).")
    parser.add_argument("--checkpoint", default="best", choices=["best", "last"])
    parser.add_argument("--dataset", help="int8 calibration data set (default: the run's).")
    parser.add_argument("--data-dir")
    parser.add_argument("--representative-count", type=int, default=256)
    parser.add_argument("--num-classes", type=int, default=1000, help="For a model name.")
    parser.add_argument("--input-shape", type=parse_shape, default=None, help="For a model name: H,W,C.")
    parser.add_argument("--overwrite", action="store_true", help="Replace existing .tflite files.")
    parser.set_defaults(func=_run_export)


def _run_export(args) -> int:
    from keras_cnns.export import export_run

    written = export_run(
        args.source, formats=args.formats, output_dir=args.output, version=args.version,
        quantizations=args.quantize, io_dtype=args.io_dtype, checkpoint=args.checkpoint,
        dataset=args.dataset, data_dir=args.data_dir,
        representative_count=args.representative_count, overwrite=args.overwrite,
        num_classes=args.num_classes, input_shape=args.input_shape,
    )
    for kind, path in written.items():
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size
        print(f"{kind:<16} {path}  ({size / 1e6:.2f} MB)")
    return 0


# ---------------------------------------------------------------------- predict
def _add_predict(subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="Classify test images of a data set with an exported model (.tflite or SavedModel version).",
    )
    parser.add_argument("model", help="A .tflite file (run by LiteRT) or a SavedModel version folder.")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--split", default="test", choices=["train", "validation", "test"])
    parser.add_argument("--count", type=int, default=5, help="How many images (from the first).")
    parser.add_argument("--data-dir")
    parser.set_defaults(func=_run_predict)


def _run_predict(args) -> int:
    from keras_cnns.export.predict import predict_dataset

    rows = predict_dataset(args.model, args.dataset, split=args.split, count=args.count, data_dir=args.data_dir)
    table = [[str(r["index"]), r["true"], r["predicted"], f"{r['probability']:.3f}",
              "yes" if r["true"] == r["predicted"] else "no"] for r in rows]
    print(format_table(table, ["image", "true", "predicted", "probability", "correct"]))
    return 0


# ------------------------------------------------------------------------ serve
def _add_serve(subparsers) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="Development stand-in for TF Serving's REST API over a folder of exported models.",
        description="Answers /v1/models/<name>[:predict|/metadata] like TF Serving does, with "
        "tf.saved_model.load. For trying exports and clients; use TF Serving in production.",
    )
    parser.add_argument("root", nargs="?", default="saved_models")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    parser.set_defaults(func=_run_serve)


def _run_serve(args) -> int:
    from keras_cnns.serving import DevServer

    server = DevServer(args.root, host=args.host, port=args.port)
    print(f"serving {', '.join(server.servables)} at {server.url} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


SUBCOMMANDS = [
    _add_list, add_summary, add_compare, _add_train, add_tune, _add_export, _add_predict, _add_serve,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-cnns",
        description="Classic CNNs (LeNet-5 to DenseNet) for Keras 3: build, train, export.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `keras-cnns` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as err:
        print(f"keras-cnns {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
