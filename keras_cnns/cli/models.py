"""`keras-cnns list`, `summary` and `compare`: the registered models and their profiles."""

from __future__ import annotations

from keras_cnns.cli.args import parse_shape
from keras_cnns.tables import format_table


# ------------------------------------------------------------------------- list
def add_list(subparsers) -> None:
    """`keras-cnns list [--family F]`: name, family, parameters, default input."""
    parser = subparsers.add_parser(
        "list", help="List the registered models with their parameters and default input."
    )
    parser.add_argument("--family", help="Only this family (lenet, alexnet, vgg, ...).")
    parser.set_defaults(func=run_list)


def run_list(args) -> int:
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


# ---------------------------------------------------------------------- summary
def add_summary(subparsers) -> None:
    """`keras-cnns summary NAME`: the per-stage table with totals (parameters,
    multiply-adds, receptive field, activation memory); `--layers` adds the per-layer
    table."""
    parser = subparsers.add_parser(
        "summary",
        help="Print a model's parameters, multiply-adds, receptive field and memory per stage.",
        description="Profile a registered model: a table per stage (and with --layers per "
        "layer) of output shape, trainable and non-trainable parameters, multiply-adds, "
        "receptive field and activation memory, with totals.",
    )
    parser.add_argument("name", help="A registered model name (see `keras-cnns list`).")
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--input-shape", type=parse_shape, default=None, help="H,W,C")
    parser.add_argument(
        "--fit-input", choices=["pad", "resize"], default=None,
        help="Pad or resize inputs smaller than the network's minimum inside the model.",
    )
    parser.add_argument("--layers", action="store_true", help="Also print the per-layer table.")
    parser.set_defaults(func=run_summary)


def run_summary(args) -> int:
    from keras_cnns.analysis.profile import profile
    from keras_cnns.models import get_model

    model = get_model(
        args.name, num_classes=args.num_classes, input_shape=args.input_shape, fit_input=args.fit_input
    )
    report = profile(model)
    print(report)
    if args.layers:
        print()
        print(report.table("layers"))
    return 0


# ---------------------------------------------------------------------- compare
def add_compare(subparsers) -> None:
    """`keras-cnns compare [NAMES...] [--csv PATH] [--plot PATH]`."""
    parser = subparsers.add_parser(
        "compare",
        help="Compare models side by side: parameters, multiply-adds, depth, receptive "
        "field, published accuracy.",
        description="Profile registered models (all of them when no name is given) at their "
        "default input size and print them side by side; optionally write a CSV file and a "
        "PNG plot of parameters against multiply-adds coloured by published accuracy.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="Registered model names (default: all).")
    parser.add_argument("--csv", metavar="PATH", help="Write the table to this CSV file.")
    parser.add_argument("--plot", metavar="PATH", help="Write the scatter plot to this PNG file.")
    parser.set_defaults(func=run_compare)


def run_compare(args) -> int:
    from keras_cnns.analysis.compare import check_output_path, compare
    from keras_cnns.models import get_spec

    # Check everything that can fail before building any model.
    for name in args.names:
        get_spec(name)
    for path, suffix in ((args.csv, ".csv"), (args.plot, ".png")):
        if path is not None:
            check_output_path(path, suffix)
    comparison = compare(args.names or None)
    print(comparison)
    if args.csv:
        print(f"wrote {comparison.to_csv(args.csv)}")
    if args.plot:
        print(f"wrote {comparison.plot(args.plot)}")
    return 0
