"""The `keras-cnns` command line. It only parses arguments and calls the Python API.

Each subcommand is a pair of functions: `_add_<name>(subparsers)` declares its arguments
and sets `func`, which receives the parsed namespace and returns an exit code.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _parse_shape(text: str) -> tuple[int, int, int]:
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3:
        raise argparse.ArgumentTypeError(
            f"--input-shape must be H,W,C (for example 32,32,3); received {text!r}."
        )
    return shape


def _format_table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    def line(row):
        return "  ".join(
            str(cell).rjust(w) if str(cell).replace(",", "").isdigit() else str(cell).ljust(w)
            for cell, w in zip(row, widths)
        ).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


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
    print(_format_table(rows, ["model", "family", "parameters", "input", "description"]))
    return 0


# ---------------------------------------------------------------------- summary
def _add_summary(subparsers) -> None:
    parser = subparsers.add_parser("summary", help="Print a model's layer-by-layer summary.")
    parser.add_argument("name", help="A registered model name (see `keras-cnns list`).")
    parser.add_argument("--num-classes", type=int, default=1000)
    parser.add_argument("--input-shape", type=_parse_shape, default=None, help="H,W,C")
    parser.set_defaults(func=_run_summary)


def _run_summary(args) -> int:
    from keras_cnns.models import get_model

    model = get_model(args.name, num_classes=args.num_classes, input_shape=args.input_shape)
    model.summary(line_length=110)
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    print(f"Total parameters: {model.count_params():,} (trainable {trainable:,})")
    return 0


SUBCOMMANDS = [_add_list, _add_summary]


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
    except (ValueError, TypeError) as err:
        print(f"keras-cnns {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
