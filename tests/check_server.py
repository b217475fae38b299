"""A check process that serves one test worker: the per-model checks under another Keras
backend (tests/torch_backend_check.py, tests/jax_backend_check.py) run in a process of
their own, because the backend is chosen at import, and that process takes the models one
after the other, because importing Keras under PyTorch or JAX costs several seconds, as
much as the whole check of most models.

Both sides are here: `serve`, the loop of the check script, and `CheckProcess`, the
test's handle on it."""

from __future__ import annotations

import gc
import json
import select
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Callable


def memory_mb(field: str) -> int:
    """This process's resident memory, now (VmRSS) or at its peak (VmHWM). Not getrusage's
    ru_maxrss: Linux keeps that across exec, so it would count the memory of the test
    process that forked this one."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) // 1024
    return -1


def serve(check: Callable[..., dict], *, restart_above_mb: int, idle_exit_s: float) -> None:
    """Runs `check(*arguments)` for each line of stdin (its space-separated arguments, the
    first being the model's name) and writes a JSON report line for each
    ({"name": NAME, "error": traceback} if the check raised, after which the process exits
    with status 1). Exits (status 0) at the end of stdin, after `idle_exit_s` seconds
    without a request (the test worker runs other tests between these models, and the
    process should not hold its memory through them), or after a report if it holds more
    than `restart_above_mb` of memory (the test then starts a fresh one)."""
    import keras

    while True:
        ready, _, _ = select.select([sys.stdin], [], [], idle_exit_s)
        line = sys.stdin.readline() if ready else ""
        if not line:
            return
        arguments = line.rstrip("\n").split(" ")
        try:
            report = check(*arguments)
        except Exception:
            print(json.dumps({"name": arguments[0], "error": traceback.format_exc()}), flush=True)
            sys.exit(1)
        keras.backend.clear_session()
        gc.collect()
        report["memory_after_mb"] = memory_mb("VmRSS")
        print(json.dumps(report), flush=True)
        if report["memory_after_mb"] > restart_above_mb:
            return


class CheckProcess:
    """`script --serve` in a process with `env`, for one test worker. `submit` hands it a
    model (and the arguments its check takes) and returns at once; `report` waits for its
    report. A fresh process is started when the last one has exited (idle, holding much
    memory, or after an error). A test that fails between `submit` and `report` must
    `stop` the process, so that no report is left for the next model to read."""

    def __init__(self, script: Path, env: dict[str, str]):
        self.script = script
        self.env = env
        self.process = None
        self.stderr = None
        self.request = None

    def start(self) -> None:
        self.stop()
        self.stderr = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(
            [sys.executable, str(self.script), "--serve"], env=self.env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
        )

    def _send(self) -> None:
        self.process.stdin.write(self.request)
        self.process.stdin.flush()

    def _read(self, timeout: float) -> str | None:
        """The next line ("" if the process has exited), None after `timeout` seconds."""
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        return self.process.stdout.readline() if ready else None

    def submit(self, name: str, *arguments: str | Path) -> None:
        self.request = " ".join([name, *map(str, arguments)]) + "\n"
        if self.process is None or self.process.poll() is not None:
            self.start()
        try:
            self._send()
        except BrokenPipeError:  # it has just left, idle
            self.start()
            self._send()

    def report(self, timeout: float = 1800) -> dict:
        line = self._read(timeout)
        if line == "" and self.process.wait() == 0:  # it left, idle, before reading the request
            self.start()
            self._send()
            line = self._read(timeout)
        if not line:
            self.process.kill()
            self.process.wait()
            self.stderr.seek(0)
            raise AssertionError(f"no report from {self.script.name}:\n{self.stderr.read()[-4000:]}")
        report = json.loads(line)
        if "error" in report:  # the process exits after an error: the next model starts another
            self.stop()
        return report

    def check(self, name: str, *arguments: str | Path, timeout: float = 1800) -> dict:
        """`submit`, then `report`; the process is stopped if the wait fails."""
        self.submit(name, *arguments)
        try:
            return self.report(timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            self.stderr.close()
        self.process = None
