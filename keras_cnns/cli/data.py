"""`keras-cnns data check`: find the image files of a folder that cannot be decoded."""

from __future__ import annotations

import contextlib

from keras_cnns import console

#: What TensorFlow's C++ code logs for each file that fails to decode (the decoder's own
#: complaint, e.g. "Premature end of JPEG data", and the eager op's abort), which the
#: report already lists: the command drops these lines unless --verbose is given.
DECODE_NOISE = (
    r"^[WE]\d{4} [\d:.]+ +\d+ [\w./+-]*(jpeg|png|gif|bmp|webp|jxl|image)[\w+-]*\.cc:\d+\] ",
    r"^[WE]\d{4} [\d:.]+ +\d+ [\w./+-]+:\d+\] Local rendezvous is aborting with status: "
    r"INVALID_ARGUMENT: ",
)


def add_data(subparsers) -> None:
    """`keras-cnns data check SOURCE... [--workers N]`."""
    parser = subparsers.add_parser(
        "data",
        help="Check a data set before training on it.",
        description="Commands about data sets. `check` decodes every image of a folder and "
        "lists the files that cannot be read.",
    )
    commands = parser.add_subparsers(dest="data_command", required=True)
    check = commands.add_parser(
        "check",
        help="Decode every image of a folder; list the truncated, empty and foreign files.",
        description="Decode every image file a training run would read from SOURCE, as the "
        "input pipeline does, and print the files that fail with the reason. Exit status 0 "
        "when every file decodes, 1 when some do not.",
    )
    check.add_argument(
        "source", nargs="+", metavar="SOURCE",
        help="A folder with one sub-folder per class (or train/, validation/ or val/, and "
        "test/ folders of them), 'folder:/path', or one or more image files.",
    )
    check.add_argument(
        "--workers", type=int, metavar="N",
        help="Files decoded at once, in threads (default: the number of CPUs).",
    )
    check.set_defaults(func=run_data_check)


def run_data_check(args) -> int:
    from keras_cnns.data.scan import scan

    source = args.source[0] if len(args.source) == 1 else args.source
    verbose = getattr(args, "console_verbose", False)
    with contextlib.nullcontext() if verbose else console.filter_stderr(DECODE_NOISE):
        report = scan(source, workers=args.workers)
    print(report, flush=True)
    return 0 if report.ok else 1
