"""Run the benchmarks and write RESULTS.md, the JSON and the chart: the one harness.

    python -m benchmarks.run                    # everything (about an hour on 2 cores)
    python -m benchmarks.run --quick            # small settings, a few minutes
    python -m benchmarks.run --only throughput inference
    python -m benchmarks.run --report           # RESULTS.md and the chart from the JSON

Run from the repository root. Benchmarks (one module each, each run in its own process,
`python -m benchmarks.<module>`, so that framework settings read at import, such as
KERAS_BACKEND and TF_ENABLE_ONEDNN_OPTS, never leak between them): `throughput`
(keras_cnns against PyTorch eager, keras.applications and across Keras backends),
`optimizations` (the speed changes, A against B), `profile` (where a training step's time
goes; module `profile_ops`), `pipeline` (the input pipeline against in-memory arrays, oneDNN
on and off), `jpeg_pipeline` (a folder of JPEG photographs to 224x224 training batches:
keras_cnns' `build_pipeline` against `image_dataset_from_directory` and Keras' preprocessing
layers, and the rate ResNet-50 trains at), `inference` (latency and size as Keras,
SavedModel, TFLite), `memory` (DenseNet-BC-100 plain against memory-efficient),
`time_to_accuracy` (LeNet-5 to 90 % on Fashion-MNIST), `tflite_export` (LeNet-5 and
ResNet-20 trained on Fashion-MNIST, exported as float32 / float16 / dynamic / int8 TFLite:
sizes, differences from Keras, int8 agreement), `tuning` (a KerasTuner random search over
LeNet-5 with `keras_cnns.tune`), `precision` (mixed_bfloat16 against float32: speed, and
accuracy after the same training), `notebook` (`model.fit` as a new user writes it, on
arrays and tf.data with Keras' SGD and Adam, against a plain PyTorch loop) and, in the full
run only, `time_to_accuracy_resnet20` (ResNet-20 to 92 %).
The machine and the versions (`benchmarks.common.machine()` and `versions()`) are recorded
once per run, by this harness, for all of them.

Output, under `--out` (default `benchmarks/`; with `--quick`, `benchmarks/results/quick/`):
`RESULTS.md`, `results/benchmarks.json` and `results/throughput.png`. Every figure of
RESULTS.md comes from the JSON. With `--only`, the other benchmarks' results already in the
JSON are kept (each section says when it was measured); a section's `earlier` runs, if any,
are kept when the benchmark is measured again.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from benchmarks import common, report

BENCHMARKS = ("throughput", "optimizations", "profile", "pipeline", "jpeg_pipeline", "inference",
              "memory", "time_to_accuracy", "tflite_export", "tuning", "precision", "notebook",
              "time_to_accuracy_resnet20")
FULL_ONLY = ("time_to_accuracy_resnet20",)  # ResNet-20 to 92 %: minutes of training
PROFILE = {"full": [("resnet20", ["--size", "32", "--batch", "128", "--steps", "4"]),
                    ("densenet_bc100", ["--size", "32", "--batch", "64", "--steps", "2"])],
           "quick": [("lenet5", ["--channels", "1", "--batch", "128", "--steps", "2"])]}


def run_benchmark(name: str, quick: bool, timeout: float | None, models=None) -> dict:
    flag = ["--quick"] if quick else []
    if name == "throughput" and models:
        flag += ["--models", *models]
    if name == "time_to_accuracy_resnet20":
        return common.run_module("time_to_accuracy", ["--model", "resnet20", "--target", "0.92"],
                                 timeout=timeout)
    if name == "profile":
        profiles = {}
        for model, arguments in PROFILE["quick" if quick else "full"]:
            profiles[model] = common.run_module("profile_ops", [model, *arguments, "--json"],
                                                timeout=timeout)
        return profiles
    return common.run_module(name, flag, timeout=timeout)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small settings (CI)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, metavar="NAME",
                        help=f"run only these: {', '.join(BENCHMARKS)}")
    parser.add_argument("--out", type=Path, help="folder for RESULTS.md and results/")
    parser.add_argument("--timeout", type=float, default=None, help="seconds per benchmark")
    parser.add_argument("--report", action="store_true",
                        help="only rewrite RESULTS.md and the chart from the existing JSON")
    parser.add_argument("--models", nargs="+", metavar="MODEL",
                        help="throughput: re-measure only these rows (names of its tables) and "
                        "merge them into the existing results, each marked with its date")
    args = parser.parse_args(argv)
    out = args.out or (common.HERE / "results" / "quick" if args.quick else common.HERE)
    json_path = out / "results" / "benchmarks.json"
    results = {}
    if (args.only or args.report) and json_path.exists():
        results = json.loads(json_path.read_text())
    results.setdefault("benchmarks", {})
    if not args.report:
        results.update(mode="quick" if args.quick else "full", machine=common.machine(),
                       versions=common.versions(), written=common.now())
    names = [] if args.report else args.only or BENCHMARKS
    for name in [n for n in names if not (args.quick and n in FULL_ONLY)]:
        print(f"[{common.now()}] {name} (load {common.load()})", file=sys.stderr, flush=True)
        load_before, started = common.load(), time.perf_counter()
        data = run_benchmark(name, args.quick, args.timeout, args.models)
        previous = results["benchmarks"].get(name)
        if name == "throughput" and args.models and previous:
            for table in ("pytorch", "keras_applications"):
                for row, value in data[table].items():
                    previous["data"][table][row] = dict(value, remeasured=common.now())
            continue
        results["benchmarks"][name] = {
            "date": common.now(), "seconds": time.perf_counter() - started,
            "load_before": load_before, "load_after": common.load(), "data": data,
        }
        if previous and previous.get("earlier"):
            results["benchmarks"][name]["earlier"] = previous["earlier"]
    (out / "results").mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    chart = out / "results" / "throughput.png"
    if "throughput" in results["benchmarks"]:
        report.chart(results, chart)
    (out / "RESULTS.md").write_text(report.markdown(results, chart_path="results/throughput.png"))
    print(f"wrote {out / 'RESULTS.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
