"""`keras-cnns tune`: the command-line face of `keras_cnns.tune` (KerasTuner searches).

Nothing heavy is imported here: TensorFlow and KerasTuner load when the command runs.
"""

from __future__ import annotations

import sys

from keras_cnns.cli.args import parse_key_value, parse_range, parse_shape
from keras_cnns.tables import format_table


def add_tune(subparsers) -> None:
    """`keras-cnns tune FAMILY --dataset D --tuner T --max-trials N ...`."""
    from keras_cnns.models import list_families

    parser = subparsers.add_parser(
        "tune",
        help="Search a family's architecture and recipe with KerasTuner.",
        description="Run a KerasTuner search over FAMILY's hypermodel on --dataset; writes "
        "<directory>/<project>/ (KerasTuner's files, results.csv, best_hyperparameters.json). "
        "Distributed: set KERASTUNER_TUNER_ID (chief, tuner0, tuner1, ...), "
        "KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT on every process.",
    )
    parser.add_argument("family", help=f"One of: {', '.join(list_families())}.")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--tuner", default="random", help="random, bayesian or hyperband.")
    parser.add_argument("--max-trials", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=3, help="Epochs per trial.")
    parser.add_argument("--directory", default="tuning")
    parser.add_argument("--project-name", help="Default: <family>-<dataset>.")
    parser.add_argument("--overwrite", action="store_true", help="Start afresh instead of resuming.")
    parser.add_argument(
        "--fix", dest="fixed", type=parse_key_value, action="append", default=[], metavar="NAME=VALUE",
        help="Fix a hyperparameter, e.g. --fix depth=20 --fix optimizer=sgd.",
    )
    parser.add_argument(
        "--range", dest="ranges", type=parse_range, action="append", default=[], metavar="NAME=LOW:HIGH|A,B",
        help="Narrow a hyperparameter, e.g. --range learning_rate=1e-3:0.1 --range config=A,B.",
    )
    parser.add_argument("--variant", choices=["cifar", "imagenet"], help="ResNet/DenseNet networks.")
    parser.add_argument("--strategy", default="none", help="none, mirrored or auto.")
    parser.add_argument("--cpu-devices", type=int, help="Logical CPU devices (for --strategy mirrored).")
    parser.add_argument("--limit", type=int, help="Use only the first N images of each split.")
    parser.add_argument("--input-shape", type=parse_shape, help="H,W,C (default: the images' shape).")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--data-dir")
    parser.add_argument("--validation-fraction", type=float, default=0.1)
    parser.add_argument("--retrain-best", action="store_true", help="Retrain the best configuration; save best_model.keras.")
    parser.add_argument("--export-dir", help="Also export the retrained best model as a SavedModel here.")
    parser.add_argument(
        "--oracle-timeout", type=float, default=300.0,
        help="Seconds a distributed worker waits for the chief oracle (default 300).",
    )
    parser.add_argument("--list-hyperparameters", action="store_true", help="Print the search space and exit.")
    parser.add_argument("--verbose", type=int, default=1, choices=[0, 1, 2],
                        help="Keras' progress output: 0 none, 1 a bar, 2 one line per epoch.")
    parser.set_defaults(func=run_tune)


def run_tune(args) -> int:
    from keras_cnns.tuning import OracleUnreachableError, get_hypermodel_class, tune

    if args.list_hyperparameters:
        return _list_hyperparameters(args, get_hypermodel_class(args.family))
    try:
        result = tune(
            args.family, args.dataset, tuner=args.tuner, max_trials=args.max_trials, epochs=args.epochs,
            directory=args.directory, project_name=args.project_name, overwrite=args.overwrite,
            strategy=args.strategy, cpu_devices=args.cpu_devices, limit=args.limit,
            input_shape=args.input_shape, batch_size=args.batch_size, variant=args.variant,
            fixed=dict(args.fixed), ranges=dict(args.ranges), seed=args.seed, data_dir=args.data_dir,
            validation_fraction=args.validation_fraction, retrain_best=args.retrain_best,
            export_dir=args.export_dir, oracle_timeout=args.oracle_timeout, verbose=args.verbose,
        )
    except OracleUnreachableError as err:
        print(f"keras-cnns tune: error: {err}", file=sys.stderr)
        return 3
    if result.role == "worker":
        print(f"worker {result.tuner.tuner_id} ran trials {', '.join(result.trials_run) or 'none'}", flush=True)
    else:
        print(f"search folder: {result.project_dir}", flush=True)
    return 0


def _list_hyperparameters(args, hypermodel_class) -> int:
    options = {"variant": args.variant} if args.variant else {}
    shape = args.input_shape or (28, 28, 1)
    hypermodel = hypermodel_class(
        10, shape, epochs=args.epochs, batch_size=args.batch_size, fixed=dict(args.fixed),
        ranges=dict(args.ranges), **options,
    )
    print(format_table([list(row) for row in hypermodel.space.describe()], ["hyperparameter", "values", "what"]))
    return 0
