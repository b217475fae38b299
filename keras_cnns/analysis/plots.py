"""Figures as PNG files: architecture diagrams, training curves, the model comparison.

Architecture diagrams use `keras.utils.plot_model`, which needs the `pydot` package and
Graphviz's `dot` program (Debian/Ubuntu: `apt-get install graphviz`).

Figures are drawn on `matplotlib.figure.Figure` objects and written with `savefig`:
importing this module leaves matplotlib's backend (a notebook's inline figures, a
desktop window) as it was, and nothing here imports `matplotlib.pyplot`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from keras_cnns.analysis.profile import _as_model
from keras_cnns.validation import check_output_path

_GRAPHVIZ_HINT = (
    "plot_architecture needs the `pydot` package (pip install pydot) and Graphviz's "
    "`dot` program (Debian/Ubuntu: apt-get install graphviz; macOS: brew install graphviz)."
)


def _check_graphviz() -> None:
    try:
        import pydot  # noqa: F401
    except ImportError as err:
        raise ImportError(_GRAPHVIZ_HINT) from err
    if shutil.which("dot") is None:
        raise ImportError(_GRAPHVIZ_HINT)


def plot_architecture(
    model: Any,
    path: str | Path,
    show_shapes: bool = True,
    expand_nested: bool = False,
    rankdir: str = "TB",
    dpi: int = 96,
) -> Path:
    """Draw a model's layer graph into a PNG file with `keras.utils.plot_model`.

    Args:
        model: a Keras model or a registered model name.
        path: the PNG file to write (its folder must exist).
        show_shapes: label each layer with its output shape.
        expand_nested: draw the inside of nested models.
        rankdir: `"TB"` (top to bottom) or `"LR"` (left to right).
        dpi: resolution.

    Raises:
        ImportError: pydot or Graphviz's `dot` is missing (with how to install them).
    """
    model = _as_model(model, "plot_architecture")
    if rankdir not in ("TB", "LR"):
        raise ValueError(f"`rankdir` must be 'TB' or 'LR'; received {rankdir!r}.")
    path = check_output_path(path, ".png")
    _check_graphviz()
    import keras

    keras.utils.plot_model(
        model, to_file=str(path), show_shapes=show_shapes, show_layer_names=True,
        expand_nested=expand_nested, rankdir=rankdir, dpi=dpi,
    )
    if not path.exists():  # in IPython, plot_model prints what it misses and returns
        raise ImportError(_GRAPHVIZ_HINT)
    return path


def plot_training_curves(run_dir: str | Path, path: str | Path | None = None) -> Path:
    """Loss and accuracy per epoch of a training run, from its folder's `history.csv`.

    Args:
        run_dir: a run folder written by `keras_cnns.train` / `keras-cnns train`.
        path: the PNG file; by default `<run_dir>/learning_curves.png`.
    """
    from keras_cnns.run_history import plot_history, read_history

    run_dir = Path(run_dir)
    history_file = run_dir / "history.csv"
    if not run_dir.is_dir():
        raise FileNotFoundError(f"No run folder at {str(run_dir)!r}.")
    history = read_history(history_file)
    if not history:
        raise FileNotFoundError(
            f"{str(history_file)!r} is missing or empty: the run has not finished an epoch."
        )
    path = check_output_path(run_dir / "learning_curves.png" if path is None else path, ".png")
    return plot_history(history, path, title=run_dir.name)


def plot_comparison(comparison: Any, path: str | Path, annotate: bool = True) -> Path:
    """Parameters against multiply-adds (log-log), one point per model, coloured by the
    published ImageNet top-1 accuracy; models with a figure on another data set (MNIST,
    CIFAR-10) or none are drawn as open grey markers.

    Args:
        comparison: the result of `keras_cnns.analysis.compare(...)` (its `rows`: dicts
            with "model", "parameters", "macs", "top1" and "dataset").
        path: the PNG file to write.
        annotate: label each point with its model's name.
    """
    rows = getattr(comparison, "rows", None)
    if not isinstance(rows, (tuple, list)) or not all(isinstance(r, dict) for r in rows):
        raise TypeError(
            "plot_comparison() takes the result of keras_cnns.analysis.compare(...); "
            f"received {type(comparison).__name__}."
        )
    path = check_output_path(path, ".png")
    rows = [r for r in rows if r["parameters"] > 0 and r["macs"] > 0]
    figure = Figure(figsize=(10, 7))
    axis = figure.subplots()
    imagenet = [r for r in rows if r["dataset"] == "ImageNet" and r["top1"] is not None]
    others = [r for r in rows if r not in imagenet]
    if imagenet:
        points = axis.scatter(
            [r["parameters"] / 1e6 for r in imagenet], [r["macs"] / 1e9 for r in imagenet],
            c=[r["top1"] for r in imagenet], cmap="viridis", s=70, edgecolors="black",
            linewidths=0.5, zorder=3,
        )
        figure.colorbar(points, ax=axis, label="published ImageNet top-1 accuracy (%)")
    if others:
        axis.scatter(
            [r["parameters"] / 1e6 for r in others], [r["macs"] / 1e9 for r in others],
            facecolors="none", edgecolors="grey", s=60, zorder=2,
            label="other data set (MNIST, CIFAR-10) or no published ImageNet figure",
        )
        axis.legend(loc="upper left", fontsize=8)
    if annotate:
        for row in rows:
            axis.annotate(
                row["model"], (row["parameters"] / 1e6, row["macs"] / 1e9), fontsize=7,
                xytext=(4, 3), textcoords="offset points",
            )
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("parameters (millions)")
    axis.set_ylabel("multiply-adds per image (billions)")
    axis.set_title("Parameters against multiply-adds, at each model's default input size")
    axis.grid(alpha=0.3, which="both")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path
