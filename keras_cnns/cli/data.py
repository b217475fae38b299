"""`keras-cnns data check` (find the image files of a folder that cannot be decoded) and
`keras-cnns data convert` (write any data set as TFRecord shards)."""

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
    convert = commands.add_parser(
        "convert",
        help="Write a data set's splits as TFRecord shards (train-00000-of-00064, ...).",
        description="Write the train, validation and test splits of SRC (a data set name, "
        "folder:PATH or tfrecord:PATTERN) as TFRecord shards in DST, in ImageNet's layout "
        "(image/encoded, image/class/label, image/class/text), with a manifest "
        "(tfrecords.json). Train on them with --dataset tfrecord:DST. Files read from a folder "
        "keep their encoded bytes; other images are written as PNG.",
    )
    convert.add_argument("src", metavar="SRC", help="fashion_mnist, folder:PATH, tfrecord:PATTERN, ...")
    convert.add_argument("dst", metavar="DST", help="The folder to write the shards to.")
    convert.add_argument("--shards", type=int, required=True, metavar="N",
                         help="Shards of the train split (validation and test get as many as "
                         "keep their shards the same size, at least one).")
    convert.add_argument("--validation-fraction", type=float, default=0.1,
                         help="Share of train carved out for validation when SRC has none.")
    convert.add_argument("--test-fraction", type=float, default=0.1,
                         help="For a folder without test/: the share carved out for test.")
    convert.add_argument("--seed", type=int, default=0, help="Seed of the carving and the shuffle.")
    convert.add_argument("--skip-corrupt", action="store_true",
                         help="Leave out a folder's files that cannot be decoded.")
    convert.add_argument("--data-dir", help="Where to look for SRC first.")
    convert.add_argument("--first-label", type=int, choices=[0, 1], default=0,
                         help="The label written for the first class (1 as in ImageNet's shards).")
    convert.set_defaults(func=run_data_convert)


def run_data_check(args) -> int:
    from keras_cnns.data.scan import scan

    source = args.source[0] if len(args.source) == 1 else args.source
    verbose = getattr(args, "console_verbose", False)
    with contextlib.nullcontext() if verbose else console.filter_stderr(DECODE_NOISE):
        report = scan(source, workers=args.workers)
    print(report, flush=True)
    return 0 if report.ok else 1


def run_data_convert(args) -> int:
    from keras_cnns.data.convert import convert

    written = convert(
        args.src, args.dst, shards=args.shards, validation_fraction=args.validation_fraction,
        test_fraction=args.test_fraction, seed=args.seed, skip_corrupt=args.skip_corrupt,
        data_dir=args.data_dir, first_label=args.first_label,
    )
    for split, paths in written.items():
        print(f"{split}: {len(paths)} shard(s) in {args.dst}", flush=True)
    print(f"train on them with: keras-cnns train MODEL --dataset tfrecord:{args.dst}", flush=True)
    return 0
