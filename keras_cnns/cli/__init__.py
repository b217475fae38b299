"""The `keras-cnns` command line. It only parses arguments and calls the Python API.

One module per command group: `models` (list, summary, compare), `train`, `tune`,
`evaluate`, `export` (export, predict) and `serve`; the argument types they share are in
`args`. Every subcommand is `add_<command>(subparsers)`, which declares its arguments and
sets `func` to `run_<command>(args)`; `func` receives the parsed namespace and returns an
exit code. Errors (unknown model, bad path, bad value) are raised as ValueError / TypeError /
FileNotFoundError / FileExistsError, which `main` prints as one line with exit code 2.

Commands run in `keras_cnns.console.quiet_console()`: TensorFlow's banners, C++ log
lines and known noisy warnings are dropped, everything else is shown. `keras-cnns
--verbose COMMAND ...` (or `KERAS_CNNS_VERBOSE=1`) shows everything.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Sequence

from keras_cnns import console
from keras_cnns.cli.data import add_data
from keras_cnns.cli.evaluate import add_evaluate
from keras_cnns.cli.export import add_export, add_predict
from keras_cnns.cli.models import add_compare, add_list, add_summary
from keras_cnns.cli.serve import add_serve
from keras_cnns.cli.train import add_train
from keras_cnns.cli.tune import add_tune

SUBCOMMANDS = [
    add_list, add_summary, add_compare, add_train, add_tune, add_evaluate, add_export, add_predict,
    add_serve, add_data,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keras-cnns",
        description="Classic CNNs (LeNet-5 to DenseNet) for Keras 3: build, train, export.",
        epilog=f"{console.VERBOSE_VARIABLE}=1 in the environment does what --verbose does, "
        "and also at `import keras_cnns`.",
    )
    parser.add_argument(
        "--verbose", dest="console_verbose", action="store_true",
        help="Show everything TensorFlow, absl and Keras print (start-up banners, C++ log "
        "lines, warnings), which is dropped by default. Goes before the command.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add in SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `keras-cnns` console script."""
    args = build_parser().parse_args(argv)
    if args.console_verbose:
        console.replay_startup_banners()  # what `import keras_cnns` held back
        quiet = contextlib.nullcontext()
    else:
        quiet = console.quiet_console()
    with quiet:
        try:
            return args.func(args)
        except (ValueError, TypeError, FileNotFoundError, FileExistsError) as err:
            print(f"keras-cnns {args.command}: error: {err}", file=sys.stderr)
            return 2
