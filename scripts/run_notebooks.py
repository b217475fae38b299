#!/usr/bin/env python
"""Execute the notebooks in `notebooks/` top to bottom and write their outputs back.

    python scripts/run_notebooks.py                    # all of them, full run, outputs saved in place
    python scripts/run_notebooks.py 01 04              # some of them (by number or file name)
    python scripts/run_notebooks.py --small --no-save  # the tests' small run, nothing written back

Each notebook reads two environment variables in its first code cell:
`KERAS_CNNS_NOTEBOOK_SMALL=1` shrinks data, epochs and trials to a quick check (`--small`),
and `KERAS_CNNS_NOTEBOOK_OUT` is the folder for what it writes: run folders, exports, the
search (`--out`; default `notebooks/notebook_runs/`). The kernel is an IPython kernel of the
Python running this script (`--kernel NAME`: an installed Jupyter kernel), started in
`notebooks/`.

Before an executed notebook is saved, the C++ log lines TensorFlow writes to stderr when
it starts (absl's `I0000 00:00:...` lines, with times and process ids) are taken out of
its outputs.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SMALL_ENV = "KERAS_CNNS_NOTEBOOK_SMALL"
OUT_ENV = "KERAS_CNNS_NOTEBOOK_OUT"
#: TensorFlow's C++ start-up logging (absl format: severity, date, time, thread, file:line).
_LOG_LINE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] .*)$"
)


class ThisPythonKernelManager(AsyncKernelManager):
    """An IPython kernel run by the Python running this script, whatever kernel specs are
    installed: a `python3` spec of another Python (in the user's Jupyter folders, which come
    first) would run the notebooks without this environment's packages."""

    @property
    def kernel_spec(self) -> KernelSpec:
        if self._kernel_spec is None:
            self._kernel_spec = KernelSpec(
                argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name="Python 3 (ipykernel)", language="python", resource_dir="",
            )
        return self._kernel_spec


def notebook_paths(names: list[str] | tuple[str, ...] = ()) -> list[Path]:
    """The notebooks to run: all of `notebooks/*.ipynb`, or those whose file name starts
    with one of `names` (`01`, `02_from_lenet_to_densenet`, ...)."""
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return paths
    chosen = [p for p in paths if any(p.name.startswith(n) or p.stem == n for n in names)]
    unknown = [n for n in names if not any(p.name.startswith(n) or p.stem == n for p in paths)]
    if unknown:
        raise SystemExit(f"No notebook matches {', '.join(unknown)}; there are: {', '.join(p.name for p in paths)}.")
    return chosen


def strip_log_lines(notebook: nbformat.NotebookNode) -> None:
    """Drop TensorFlow's C++ start-up log lines from the stderr outputs (in place)."""
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                lines = [line for line in output["text"].splitlines(keepends=True)
                         if not _LOG_LINE.match(line.rstrip("\n"))]
                if not "".join(lines).strip():
                    continue
                output["text"] = "".join(lines)
            kept.append(output)
        cell["outputs"] = kept


def execute(
    path: Path,
    *,
    small: bool = False,
    out_dir: str | os.PathLike | None = None,
    timeout: int = 1800,
    kernel_name: str | None = None,
) -> tuple[nbformat.NotebookNode, float]:
    """Run the notebook at `path` in a fresh kernel started in its folder: an IPython kernel
    of this Python (`sys.executable`), or the installed kernel `kernel_name`.

    Returns the executed notebook (outputs cleaned by `strip_log_lines`) and the wall time
    in seconds. Raises nbclient's `CellExecutionError` on the first cell that fails, and
    `CellTimeoutError` when a cell runs longer than `timeout` seconds.
    """
    notebook = nbformat.read(path, as_version=4)
    env = dict(os.environ)
    env.pop(SMALL_ENV, None)
    if small:
        env[SMALL_ENV] = "1"
    if out_dir is not None:
        env[OUT_ENV] = str(out_dir)
    else:
        env.pop(OUT_ENV, None)
    kernel = {"kernel_name": kernel_name} if kernel_name else {
        "kernel_name": "python3", "kernel_manager_class": ThisPythonKernelManager,
    }
    client = NotebookClient(
        notebook, timeout=timeout, startup_timeout=120, **kernel,
        record_timing=False,  # per-cell timestamps would change every cell on every run
        resources={"metadata": {"path": str(path.parent)}},
    )
    started = time.perf_counter()
    client.execute(env=env)
    seconds = time.perf_counter() - started
    strip_log_lines(notebook)
    return notebook, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="numbers or names (default: all)")
    parser.add_argument("--small", action="store_true", help=f"the small run ({SMALL_ENV}=1)")
    parser.add_argument("--out", help=f"folder for what the notebooks write ({OUT_ENV})")
    parser.add_argument("--no-save", action="store_true", help="do not write the outputs back")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell (default 1800)")
    parser.add_argument("--kernel", help="an installed Jupyter kernel (default: this Python)")
    args = parser.parse_args(argv)
    for path in notebook_paths(args.notebooks):
        print(f"{path.name}: running ({'small' if args.small else 'full'} run)...", flush=True)
        notebook, seconds = execute(
            path, small=args.small, out_dir=args.out, timeout=args.timeout, kernel_name=args.kernel
        )
        if not args.no_save:
            nbformat.write(notebook, path)
        size = path.stat().st_size / 1e6
        print(f"{path.name}: done in {seconds:.0f} s" + ("" if args.no_save else f", saved ({size:.2f} MB)"), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
