"""`keras-cnns export` and `keras-cnns predict`: exported models, written and run."""

from __future__ import annotations

from keras_cnns.cli.args import parse_shape
from keras_cnns.tables import format_table


# ----------------------------------------------------------------------- export
def add_export(subparsers) -> None:
    """`keras-cnns export SOURCE --format saved_model tflite ...`."""
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
    parser.set_defaults(func=run_export)


def run_export(args) -> int:
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
def add_predict(subparsers) -> None:
    """`keras-cnns predict MODEL --dataset D --count N`: a table of predictions."""
    parser = subparsers.add_parser(
        "predict",
        help="Classify test images of a data set with an exported model (.tflite or SavedModel version).",
    )
    parser.add_argument("model", help="A .tflite file (run by LiteRT) or a SavedModel version folder.")
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--split", default="test", choices=["train", "validation", "test"])
    parser.add_argument("--count", type=int, default=5, help="How many images (from the first).")
    parser.add_argument("--data-dir")
    parser.set_defaults(func=run_predict)


def run_predict(args) -> int:
    from keras_cnns.export.predict import predict_dataset

    rows = predict_dataset(args.model, args.dataset, split=args.split, count=args.count, data_dir=args.data_dir)
    table = [[str(r["index"]), r["true"], r["predicted"], f"{r['probability']:.3f}",
              "yes" if r["true"] == r["predicted"] else "no"] for r in rows]
    print(format_table(table, ["image", "true", "predicted", "probability", "correct"]))
    return 0
