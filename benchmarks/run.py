"""Run the benchmarks and write RESULTS.md, the JSON and the chart.

    python benchmarks/run.py                    # everything (tens of minutes on 2 cores)
    python benchmarks/run.py --quick            # small settings, under 2 minutes
    python benchmarks/run.py --only throughput inference

Benchmarks (one module each, each run in its own process so that framework settings read
at import, such as KERAS_BACKEND and TF_ENABLE_ONEDNN_OPTS, never leak between them):
`throughput` (keras_cnns against PyTorch eager, keras.applications and across Keras
backends), `optimizations` (the speed changes, A against B), `profile` (where a training
step's time goes), `inference` (latency and size as Keras, SavedModel, TFLite),
`memory` (DenseNet-BC-100 plain against memory-efficient), `time_to_accuracy` (LeNet-5
to 90 % on Fashion-MNIST) and, in the full run only, `time_to_accuracy_resnet20`
(ResNet-20 to 92 %).

Output, under `--out` (default `benchmarks/`; with `--quick`, `benchmarks/results/quick/`):
`RESULTS.md`, `results/benchmarks.json` and `results/throughput.png`. With `--only`, the
other benchmarks' results already in the JSON are kept (each table says when it was
measured).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import report  # noqa: E402

BENCHMARKS = ("throughput", "optimizations", "profile", "inference", "memory", "time_to_accuracy",
              "time_to_accuracy_resnet20")
FULL_ONLY = ("time_to_accuracy_resnet20",)  # ResNet-20 to 92 %: minutes of training
PROFILE = {"full": [("resnet20", ["--size", "32", "--batch", "128", "--steps", "4"]),
                    ("densenet_bc100", ["--size", "32", "--batch", "64", "--steps", "2"])],
           "quick": [("lenet5", ["--channels", "1", "--batch", "128", "--steps", "2"])]}


def _run_module(module: str, arguments: list[str], timeout: float | None) -> dict:
    env = common.pin_threads_env(os.environ)
    command = [sys.executable, str(common.HERE / f"{module}.py"), *arguments]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout,
                            cwd=common.HERE.parent, check=False)
    if result.returncode:
        raise RuntimeError(f"{module} failed ({result.returncode}):\n{result.stderr[-5000:]}")
    # The JSON (indented, so its first line is a lone "{") is the last thing a module
    # prints; anything before it is the libraries' noise.
    text = "\n" + result.stdout
    return json.loads(text[text.rindex("\n{\n") + 1:])


def run_benchmark(name: str, quick: bool, timeout: float | None, models=None) -> dict:
    flag = ["--quick"] if quick else []
    if name == "throughput" and models:
        flag += ["--models", *models]
    if name == "time_to_accuracy_resnet20":
        return _run_module("time_to_accuracy", ["--model", "resnet20", "--target", "0.92"], timeout)
    if name == "profile":
        profiles = {}
        for model, arguments in PROFILE["quick" if quick else "full"]:
            profiles[model] = _run_module("profile_ops", [model, *arguments, "--json"], timeout)
        return profiles
    return _run_module(name, flag, timeout)


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
