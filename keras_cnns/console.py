"""A quiet console: drop the known noise of TensorFlow, absl and Keras, pass the rest through.

TensorFlow 2.21 prints start-up banners when it is imported (absl's "WARNING: All log
messages before absl::InitializeLog() ...", "oneDNN custom operations are on", the
cpu_feature_guard lines) and C++ log lines while it runs (the TFLite converter's INFO
lines, tf.data's "NodeDef mentions attribute use_unbounded_threadpool"). They come from
absl's C++ logging, written straight to file descriptor 2, and `TF_CPP_MIN_LOG_LEVEL`
does not hold them back. So the filter works at the OS level:

- `StderrFilter` (and the `filter_stderr` context manager) points descriptor 2 at a
  temporary file while it is active; a reader thread forwards every line of it to the real
  stderr, byte for byte, except the lines that match one of its noise patterns.
  Writers never block (the file takes what they write, so the filter cannot deadlock,
  even when C++ code writes while holding the GIL); the file is rotated as it grows; what
  is left is forwarded when the filter stops, also on an exception, so tracebacks and
  error messages always reach the terminal.
- `startup_banners_filtered()` drops only `STARTUP_BANNERS`; `import keras_cnns` imports
  Keras (and so TensorFlow) inside it. The dropped lines are kept: `replay_startup_banners`
  writes them out (`keras-cnns --verbose` does).
- `quiet_console()` is what the `keras-cnns` commands run in: the stderr filter with
  `COMMAND_NOISE` (the banners, every C++ INFO line and a few known warnings), the known
  noisy Python warnings ignored, and TensorFlow's Python logger at ERROR.

Set the environment variable `KERAS_CNNS_VERBOSE=1` to turn every filter off, in the
command line and at import. Only the standard library is imported here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
import warnings
from typing import Iterable, Iterator, Pattern

VERBOSE_VARIABLE = "KERAS_CNNS_VERBOSE"

#: absl's C++ log line prefix: severity and date, time, thread id, file:line.
_ABSL = r"^[IWEF]\d{4} [\d:.]+ +\d+ [\w./+-]+:\d+\] "

#: What TensorFlow prints on import (and nothing else): absl's pre-initialization notice,
#: oneDNN's and the CPU feature guard's notices, and the CUDA plugin registrations of GPU
#: builds.
STARTUP_BANNERS: tuple[str, ...] = (
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$",
    _ABSL + r"oneDNN custom operations are on\.",
    _ABSL + r"This TensorFlow binary is optimized to use available CPU instructions",
    r"^To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\.$",
    _ABSL + r"Unable to register cu(DNN|FFT|BLAS) factory: ",
    _ABSL + r"computation placer already registered\.",
    _ABSL + r"TF-TRT Warning: Could not find TensorRT",
)

#: What a `keras-cnns` command drops: the banners, every C++ INFO line (TensorFlow's
#: diagnostics: SavedModel reader and loader, MLIR passes, devices created) and the known
#: warnings that say nothing to the user (tf.data's graph rewrite, its optimizations under
#: a strategy, the end of an input iterator, the TFLite converter's ignored options and
#: quantization settings, LiteRT's XNNPACK notice).
COMMAND_NOISE: tuple[str, ...] = STARTUP_BANNERS + (
    r"^I\d{4} [\d:.]+ +\d+ [\w./+-]+:\d+\] ",
    _ABSL + r"NodeDef mentions attribute use_unbounded_threadpool which is not in the op definition",
    _ABSL + r"Local rendezvous is aborting with status: OUT_OF_RANGE: End of sequence",
    _ABSL + r"Input of GeneratorDatasetOp::Dataset will not be optimized because",
    _ABSL + r"Ignored (output_format|drop_control_dependency)\.$",
    _ABSL + r"Skipping runtime version metadata in the model\.",
    r"^fully_quantize: \d+, inference_type: \d+, input_inference_type: \w+, output_inference_type: \w+$",
    r"^INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.$",
)

#: Python warnings (message regular expressions) a command does not show.
NOISY_WARNINGS: tuple[str, ...] = (
    r"`shuffle=True` was passed, but will be ignored since the data `x` was provided as a tf\.data\.Dataset",
)

#: Python loggers a command turns down, with the level.
QUIET_LOGGERS: tuple[tuple[str, int], ...] = (("tensorflow", logging.ERROR), ("absl", logging.WARNING))

_LINE_END = re.compile(rb"\r\n|\n|\r")
_ROTATE_BYTES = 1 << 20
_KEPT_LINES = 1000
_ACTIVE: list["StderrFilter"] = []
_STARTUP_LINES: list[bytes] = []


def verbose_requested() -> bool:
    """Whether `KERAS_CNNS_VERBOSE` asks for everything (set, and not 0/false/no/off)."""
    value = os.environ.get(VERBOSE_VARIABLE, "").strip().lower()
    return value not in ("", "0", "false", "no", "off")


def _flush_python_streams() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass


def _new_buffer_file() -> int:
    handle, path = tempfile.mkstemp(prefix="keras-cnns-stderr-")
    os.unlink(path)
    import fcntl

    # Every writer appends, whatever file description it holds.
    fcntl.fcntl(handle, fcntl.F_SETFL, fcntl.fcntl(handle, fcntl.F_GETFL) | os.O_APPEND)
    return handle


class StderrFilter:
    """Forward what is written to file descriptor `fd` (2: stderr), less the lines that
    match one of `patterns` (regular expressions searched in each line, decoded as UTF-8
    without its line ending). Use it as a context manager, or `start()` / `stop()`.

    Lines are forwarded byte for byte, in order; `\\r` ends a line as `\\n` does (progress
    bars), and a line without an ending is forwarded once nothing has been written for
    about `poll_interval` seconds (prompts). `dropped` holds the last lines it dropped.
    Nothing is filtered where the platform lacks `os.pread` (Windows) or `fd` is closed.
    """

    def __init__(self, patterns: Iterable[str | Pattern[str]] = COMMAND_NOISE, *, fd: int = 2,
                 poll_interval: float = 0.05):
        self.patterns = tuple(re.compile(p) if isinstance(p, str) else p for p in patterns)
        self.fd = fd
        self.poll_interval = poll_interval
        self.dropped: list[bytes] = []
        self._saved: int | None = None
        self._buffer_fd: int | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._pending = b""
        self._output_broken = False

    @property
    def active(self) -> bool:
        return self._saved is not None

    # ----------------------------------------------------------------- start / stop
    def start(self) -> "StderrFilter":
        if self.active:
            raise RuntimeError("This StderrFilter is already started.")
        if not hasattr(os, "pread"):
            return self
        _flush_python_streams()
        try:
            saved = os.dup(self.fd)
        except OSError:
            return self
        buffer_fd = _new_buffer_file()
        with self._lock:
            os.dup2(buffer_fd, self.fd)
            self._saved, self._buffer_fd = saved, buffer_fd
        self._stopping.clear()
        self._thread = threading.Thread(target=self._forward, name="keras-cnns-stderr", daemon=True)
        self._thread.start()
        _ACTIVE.append(self)
        return self

    def stop(self) -> None:
        """Give `fd` back, forward what is left, and end the reader thread."""
        if not self.active:
            return
        _flush_python_streams()
        with self._lock:
            os.dup2(self._saved, self.fd)
            self._stopping.set()
        self._thread.join()
        with self._lock:
            os.close(self._saved)
            self._saved = None
        self._thread = None
        if self in _ACTIVE:
            _ACTIVE.remove(self)

    def __enter__(self) -> "StderrFilter":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ------------------------------------------------------------------ the reader
    def _forward(self) -> None:
        try:
            self._forward_lines()
        except BaseException:
            # Never swallow the output: give `fd` back, so what comes next goes straight out.
            with self._lock:
                if not self._stopping.is_set():
                    os.dup2(self._saved, self.fd)
            raise

    def _forward_lines(self) -> None:
        position, idle_polls = 0, 0
        while True:
            data = os.pread(self._buffer_fd, 1 << 16, position)
            if data:
                position += len(data)
                idle_polls = 0
                self._feed(data)
                continue
            if self._stopping.is_set():
                break
            idle_polls += 1
            if self._pending and idle_polls > 1:
                self._feed(b"", final=True)  # a prompt, or a progress bar's last state
            if position >= _ROTATE_BYTES and self._rotate(position):
                position = 0
                continue
            self._stopping.wait(self.poll_interval)
        # `fd` is given back: read to the end once more (a write may just have landed).
        while data := os.pread(self._buffer_fd, 1 << 16, position):
            position += len(data)
            self._feed(data)
        if self._pending:
            self._feed(b"", final=True)
        os.close(self._buffer_fd)
        self._buffer_fd = None

    def _rotate(self, position: int) -> bool:
        """Point `fd` at a fresh file, then forward the rest of the old one and close it."""
        fresh = _new_buffer_file()
        with self._lock:
            if self._stopping.is_set():
                os.close(fresh)
                return False
            os.dup2(fresh, self.fd)
        old, self._buffer_fd = self._buffer_fd, fresh
        self._stopping.wait(self.poll_interval)  # writes begun before the switch land
        while data := os.pread(old, 1 << 16, position):
            position += len(data)
            self._feed(data)
        os.close(old)
        return True

    def _feed(self, data: bytes, final: bool = False) -> None:
        text = self._pending + data
        start = 0
        out = []
        for match in _LINE_END.finditer(text, len(self._pending)):  # pending has no line end
            line, start = text[start:match.end()], match.end()
            if self._is_noise(line):
                self._keep(line)
            else:
                out.append(line)
        self._pending = text[start:]
        if final and self._pending:
            if self._is_noise(self._pending):
                self._keep(self._pending)
            else:
                out.append(self._pending)
            self._pending = b""
        if out:
            self._write(b"".join(out))

    def _is_noise(self, line: bytes) -> bool:
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        return any(pattern.search(text) for pattern in self.patterns)

    def _keep(self, line: bytes) -> None:
        self.dropped.append(line if line.endswith((b"\n", b"\r")) else line + b"\n")
        del self.dropped[:-_KEPT_LINES]

    def _write(self, data: bytes) -> None:
        if self._output_broken:
            return
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._saved, view):]
        except OSError:
            self._output_broken = True  # the terminal or pipe is gone: nothing to show it on


@contextlib.contextmanager
def filter_stderr(patterns: Iterable[str | Pattern[str]] = COMMAND_NOISE) -> Iterator[StderrFilter | None]:
    """Drop the lines of stderr (descriptor 2) that match `patterns` while the block runs;
    yields the `StderrFilter` (None when `KERAS_CNNS_VERBOSE` turns filtering off)."""
    if verbose_requested():
        yield None
        return
    with StderrFilter(patterns) as stderr_filter:
        yield stderr_filter


@contextlib.contextmanager
def startup_banners_filtered() -> Iterator[None]:
    """Drop TensorFlow's import banners (`STARTUP_BANNERS`, nothing else) while the block
    runs; `replay_startup_banners` shows them afterwards."""
    with filter_stderr(STARTUP_BANNERS) as stderr_filter:
        try:
            yield
        finally:
            if stderr_filter is not None:
                stderr_filter.stop()
                _STARTUP_LINES.extend(stderr_filter.dropped)


def replay_startup_banners(stream=None) -> None:
    """Write the import banners `startup_banners_filtered` dropped (to stderr by default)."""
    stream = sys.stderr if stream is None else stream
    for line in _STARTUP_LINES:
        stream.write(line.decode("utf-8", "replace"))
    stream.flush()


@contextlib.contextmanager
def quiet_console(patterns: Iterable[str | Pattern[str]] = COMMAND_NOISE) -> Iterator[None]:
    """The console a `keras-cnns` command runs in: stderr without `patterns`, the
    `NOISY_WARNINGS` ignored, the `QUIET_LOGGERS` turned down; all undone on exit.
    A no-op when `KERAS_CNNS_VERBOSE` is set."""
    if verbose_requested():
        yield
        return
    levels = [(logging.getLogger(name), level) for name, level in QUIET_LOGGERS]
    previous = [logger.level for logger, _ in levels]
    with warnings.catch_warnings():
        for message in NOISY_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        for logger, level in levels:
            if logger.getEffectiveLevel() < level:
                logger.setLevel(level)
        try:
            with filter_stderr(patterns):
                yield
        finally:
            for (logger, _), level in zip(levels, previous):
                logger.setLevel(level)


def release() -> None:
    """Stop every active filter (forwarding what they hold): call it before `os._exit`
    or `os.exec*`, which skip the context managers' exits."""
    for stderr_filter in reversed(list(_ACTIVE)):
        stderr_filter.stop()
