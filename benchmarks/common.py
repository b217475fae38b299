"""What every benchmark shares: the machine's description and versions, thread pinning,
load records, running a benchmark module in a process of its own and reading back the JSON
it prints, and long-lived worker processes that take measurement requests in turn.

Every benchmark is a module of this package run as `python -m benchmarks.<name>` from the
repository root (`ROOT`, the working directory of every process started here); it prints
its results as indented JSON last (`print_result`), which `run_module` reads back.

Why workers: a Keras backend is chosen when Keras is imported, and TensorFlow reads
`TF_ENABLE_ONEDNN_OPTS` at import, so each framework / backend runs in its own process.
Starting a process per measurement would re-import, re-build and re-trace every time; a
worker instead keeps its models (built and warmed up once) and answers one request at a
time, so that the parent can alternate A, B, A, B, ... over several rounds while the other
workers sit idle (blocked on their input), and a change in the machine's load hits every
contender alike.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent  # where `python -m benchmarks.<name>` finds this package
THREADS = 2  # intra-op (and inter-op) threads for every framework: this machine's cores
PREFIX = "@@bench "  # marks a worker's answer among whatever else reaches stdout


def pin_threads_env(env: dict, backend: str | None = None) -> dict:
    """Environment for a worker: the same thread count for every framework."""
    env = dict(env)
    env.update(
        TF_CPP_MIN_LOG_LEVEL="2",
        OMP_NUM_THREADS=str(THREADS),
        MKL_NUM_THREADS=str(THREADS),
        TF_NUM_INTRAOP_THREADS=str(THREADS),
        TF_NUM_INTEROP_THREADS=str(THREADS),
        XLA_FLAGS=(
            env.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=true "
            f"intra_op_parallelism_threads={THREADS}"
        ).strip(),
    )
    if backend:
        env["KERAS_BACKEND"] = backend
    return env


def pin_threads_in_process(framework: str) -> None:
    """Apply THREADS inside a worker, after its framework is imported."""
    if framework == "tensorflow":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(THREADS)
    elif framework == "torch":
        import torch

        torch.set_num_threads(THREADS)
        try:
            torch.set_num_interop_threads(THREADS)
        except RuntimeError:  # already set (inter-op pool started)
            pass


def machine() -> dict:
    """CPU model, cores, memory, OS and Python."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = None
    try:
        memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(memory_gb, 1) if memory_gb else None,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "threads": THREADS,
    }


def versions() -> dict:
    """Versions of the frameworks involved (imported lazily, in the parent only)."""
    from importlib import metadata

    found = {}
    for package in ("tensorflow-cpu", "tensorflow", "keras", "jax", "torch", "torchvision", "numpy",
                    "ai-edge-litert"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return found


def now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def load() -> float:
    return round(os.getloadavg()[0], 2)


def module_command(module: str, *args: str) -> list[str]:
    """The command line that runs `benchmarks.<module>` in a fresh interpreter."""
    return [sys.executable, "-m", f"benchmarks.{module}", *args]


def print_result(result) -> None:
    """Print a benchmark's (or a one-shot worker's) results: indented JSON, last."""
    print(json.dumps(result, indent=2), flush=True)


def run_module(module: str, arguments, env: dict | None = None,
               timeout: float | None = None) -> dict:
    """Run `python -m benchmarks.<module> ARGUMENTS` in its own process (framework settings
    read at import, such as KERAS_BACKEND and TF_ENABLE_ONEDNN_OPTS, never leak between
    processes) and return the JSON it printed last (`print_result`)."""
    env = pin_threads_env(os.environ) if env is None else env
    result = subprocess.run(module_command(module, *arguments), env=env, capture_output=True,
                            text=True, timeout=timeout, cwd=ROOT, check=False)
    if result.returncode:
        raise RuntimeError(f"{module} {' '.join(arguments)} failed ({result.returncode}):\n"
                           f"{result.stderr[-5000:]}")
    # Indented JSON starts with a lone "{" line; anything before it is the libraries' noise.
    text = "\n" + result.stdout
    if "\n{\n" not in text:
        raise RuntimeError(f"{module} printed no results:\n{result.stdout[-2000:]}")
    return json.loads(text[text.rindex("\n{\n") + 1:])


class Worker:
    """A long-lived benchmark process (`python -m benchmarks.<module> --worker ARGS`)
    answering JSON requests, one at a time."""

    def __init__(self, module: str, *args: str, env: dict | None = None):
        self.name = " ".join(args)
        self.process = subprocess.Popen(
            module_command(module, "--worker", *args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )

    def ask(self, request: dict) -> dict:
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
        except OSError as err:  # the worker is gone (killed, e.g. out of memory)
            raise RuntimeError(
                f"worker {self.name} is gone (exit code {self.process.poll()}): {err}"
            ) from err
        while True:
            line = self.process.stdout.readline()
            if not line:
                error = self.process.stderr.read()
                raise RuntimeError(f"worker {self.name} died on {request}:\n{error[-4000:]}")
            if line.startswith(PREFIX):
                answer = json.loads(line[len(PREFIX):])
                if "error" in answer:
                    raise RuntimeError(f"worker {self.name} failed on {request}: {answer['error']}")
                return answer

    def rss_mb(self) -> float:
        """The worker's resident memory (Linux; 0 where /proc is not available)."""
        try:
            for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.close()
            except OSError:
                pass
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def serve(handle) -> None:
    """The worker side: answer each JSON line of stdin with `handle(request)`."""
    import traceback

    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            answer = handle(request)
        except Exception as err:  # reported to the parent, which raises
            answer = {"error": f"{type(err).__name__}: {err}\n{traceback.format_exc()[-3000:]}"}
        sys.stdout.write(PREFIX + json.dumps(answer) + "\n")
        sys.stdout.flush()


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def log(line: str) -> None:
    """Progress for the reader of the harness's stderr (stdout carries the results)."""
    print(line, file=sys.stderr, flush=True)


def script_main(doc: str, run, argv=None, worker=None) -> int:
    """The command line of a single benchmark module: `[--quick]`, results as JSON.

    A module that measures in worker processes passes `worker`, which handles the
    command lines that contain `--worker`.
    """
    import argparse

    argv = sys.argv[1:] if argv is None else argv
    if worker is not None and "--worker" in argv:
        return worker(argv)
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print_result(run(args.quick))
    return 0
