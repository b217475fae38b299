"""`keras-cnns evaluate`: a run, a saved model or pretrained weights on a data set."""

from __future__ import annotations

from keras_cnns.cli.args import parse_shape


def add_evaluate(subparsers) -> None:
    """`keras-cnns evaluate SOURCE [--weights W] [--dataset D] [--top-k 5] ...`."""
    parser = subparsers.add_parser(
        "evaluate",
        help="Top-1, top-k and per-class accuracy and a confusion matrix of a run, a .keras "
        "file or a model with pretrained weights on a data set.",
        description="Evaluate SOURCE on a split of a data set and print top-1 and top-k "
        "accuracy and a per-class table; writes the confusion matrix as a PNG and the "
        "figures as JSON (default folder: <run>/evaluation, else evaluations/<name>). "
        "Runs use their own preprocessing; pretrained weights the standard transform "
        "(shorter side resized to 256/224 of the input, centre crop, their preprocessing).",
    )
    parser.add_argument(
        "source",
        help="A run folder (keras-cnns train), a .keras file, or a registered model name "
        "with --weights.",
    )
    parser.add_argument("--weights", help="For a model name: a published name (torchvision, "
                        "imagenet) or a weights file.")
    parser.add_argument("--dataset", help="A data set name (default for a run: its own).")
    parser.add_argument("--top-k", type=int, default=5, help="The k of top-k accuracy (default 5).")
    parser.add_argument("--split", default="test", choices=["train", "validation", "test"])
    parser.add_argument("--limit", type=int, help="Evaluate only the first N images.")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--data-dir", help="Where to look for the data first.")
    parser.add_argument("--output", help="Folder of the PNG and the JSON.")
    parser.add_argument("--input-shape", type=parse_shape, default=None,
                        help="For a model name: H,W,C (default: the weights' own).")
    parser.add_argument("--checkpoint", default="best", choices=["best", "last"],
                        help="A run's checkpoint.")
    parser.set_defaults(func=run_evaluate)


def run_evaluate(args) -> int:
    from keras_cnns.evaluation import evaluate

    result = evaluate(
        args.source, args.dataset, weights=args.weights, top_k=args.top_k, split=args.split,
        batch_size=args.batch_size, limit=args.limit, data_dir=args.data_dir,
        output_dir=args.output, input_shape=args.input_shape, checkpoint=args.checkpoint,
    )
    details = result.details
    print(f"{details['model']} on {details['dataset']} ({details['split']}, "
          f"{result.num_images} images)")
    print(f"top-1 accuracy: {result.top1:.4f}")
    print(f"top-{result.k} accuracy: {result.top_k:.4f}")
    print()
    print(result.table())
    print()
    print(f"confusion matrix: {result.plot_path}")
    print(f"figures: {result.json_path}", flush=True)
    return 0
