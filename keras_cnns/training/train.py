"""`keras_cnns.train`: train a registered model on a data set and leave a run folder.

A run folder (`runs/<model>-<dataset>-<timestamp>/`) holds:
`config.json` (everything needed to repeat or resume the run), `history.csv`, TensorBoard
logs in `logs/`, `checkpoints/best.keras` (best validation accuracy) and
`checkpoints/last.keras` (last finite epoch), `backup/` (`BackupAndRestore`'s state),
`metrics.json` (test accuracy and loss, epochs, images/s, wall time) and
`learning_curves.png`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import statistics
import time
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

import keras_cnns
from keras_cnns.data import build_pipeline, load
from keras_cnns.models.common import InputTooSmallError
from keras_cnns.models.registry import get_spec
from keras_cnns.training import loop
from keras_cnns.training.callbacks import (
    LastGoodCheckpoint,
    RunBackup,
    RunHistory,
    read_history,
)
from keras_cnns.training.optim import apply_weight_decay, make_loss, make_optimizer
from keras_cnns.training.plots import plot_history
from keras_cnns.training.recipes import Recipe, get_recipe
from keras_cnns.training.strategies import STRATEGIES, is_multi_worker, make_strategy, worker_info
from keras_cnns.validation import check_positive_int
from keras_cnns.version import __version__

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the run stopped and kept its last good checkpoint."""


@dataclasses.dataclass
class TrainResult:
    """What `train` returns: the run folder, the trained model, its history and metrics."""

    run_dir: Path
    model: keras.Model
    history: list[dict]
    metrics: dict


def train(
    model: str = "lenet5",
    dataset: str = "fashion_mnist",
    *,
    recipe: str = "quick",
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    strategy: str = "auto",
    cpu_devices: int | None = None,
    seed: int | None = None,
    data_dir: str | None = None,
    runs_dir: str | os.PathLike = "runs",
    run_dir: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    model_options: dict | None = None,
    recipe_overrides: dict | None = None,
    limit: int | None = None,
    validation_fraction: float = 0.1,
    verbose: Any = "auto",
    callbacks: Sequence[keras.callbacks.Callback] = (),
) -> TrainResult:
    """Train `model` on `dataset` with its paper recipe and write a run folder.

    Args:
        model: a registered model name (`keras_cnns.list_models()`).
        dataset: a data set name of `keras_cnns.data.load` (`fashion_mnist`, `cifar10`,
            any tfds image-classification set, `folder:/path`).
        recipe: `"quick"` (short runs) or `"paper"` (the paper's full recipe).
        epochs, batch_size, learning_rate: shortcuts for the recipe fields.
        strategy: `"auto"`, `"none"`, `"mirrored"` or `"multiworker"` (see
            `keras_cnns.training.strategies.make_strategy`).
        cpu_devices: split the CPU into this many logical devices (for `mirrored`).
        seed: make the run reproducible (seeds every generator, deterministic ops).
        data_dir: where to look for data first.
        runs_dir: the parent of new run folders; `run_dir` names the folder exactly.
        resume: an existing run folder to continue from its last backup (its
            `config.json` is used; `epochs` may extend it).
        model_options: builder options (e.g. `{"variant": "modern"}`).
        recipe_overrides: any other recipe fields (e.g. `{"weight_decay": 0}`).
        limit: use only the first `limit` examples of each split.
        validation_fraction: the share of train held out when the set has no
            validation split.
        verbose: Keras' progress bar setting.
        callbacks: more Keras callbacks.

    Raises:
        TrainingDiverged: when the loss became NaN (the last good checkpoint is kept).
    """
    if resume is not None:
        run_path = Path(resume)
        config = read_run_config(run_path)
        if epochs is not None:
            config["recipe"]["epochs"] = check_positive_int("epochs", epochs)
    else:
        if strategy not in STRATEGIES:
            raise ValueError(f"Unknown `strategy`: {strategy!r}; accepted: {', '.join(STRATEGIES)}.")
        get_spec(model)  # unknown model names fail before any data is read
        overrides = dict(recipe_overrides or {})
        for key, value in (("epochs", epochs), ("batch_size", batch_size), ("learning_rate", learning_rate)):
            if value is not None:
                overrides[key] = value
        chosen = get_recipe(model, recipe, **overrides)
        if limit is not None:
            check_positive_int("limit", limit)
        config = {
            "model": model,
            "dataset": dataset,
            "recipe": chosen.to_dict(),
            "strategy": strategy,
            "cpu_devices": cpu_devices,
            "seed": seed,
            "data_dir": None if data_dir is None else str(data_dir),
            "limit": limit,
            "validation_fraction": validation_fraction,
            "model_options": dict(model_options or {}),
            "keras_cnns_version": __version__,
        }
        if run_dir is not None:
            run_path = Path(run_dir)
        elif strategy == "multiworker":
            raise ValueError(
                "`strategy='multiworker'` needs `run_dir` (--run-dir): every worker, and every "
                "restart of one, must use the same run folder."
            )
        else:
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            run_path = Path(runs_dir) / f"{model}-{dataset}-{stamp}"
    return _run(config, run_path, verbose=verbose, extra_callbacks=list(callbacks))


def read_run_config(run_dir: str | os.PathLike) -> dict:
    """The `config.json` of a run folder, with a clear error when it is not a run."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise ValueError(
            f"`resume`: {str(run_dir)!r} is not a run folder (no {CONFIG_FILE} in it). Pass a "
            "folder written by `keras-cnns train` / `keras_cnns.train`, e.g. runs/lenet5-fashion_mnist-<time>."
        )
    return json.loads(path.read_text())


def recipe_from_config(config: dict) -> Recipe:
    fields = dict(config["recipe"])
    return Recipe(name=fields.pop("name")).replace(**fields)


def choose_fit_input(minimum: int, image_shape: Sequence[int | None]) -> str:
    """Pad inputs a little smaller than the network's minimum, resize much smaller ones."""
    smallest = min(d for d in image_shape[:2] if d is not None)
    return "pad" if minimum <= 1.25 * smallest else "resize"


def build_for_data(model_name: str, image_shape, num_classes: int, options: dict) -> tuple[keras.Model, str | None]:
    """Build `model_name` for images of `image_shape`, adapting small images inside the
    model (see `choose_fit_input`). Returns the model and the `fit_input` it uses."""
    try:
        model = keras_cnns.get_model(model_name, num_classes=num_classes, input_shape=image_shape, **options)
        return model, None
    except InputTooSmallError as err:
        fit_input = choose_fit_input(err.min_size, image_shape)
    model = keras_cnns.get_model(
        model_name, num_classes=num_classes, input_shape=image_shape, fit_input=fit_input, **options
    )
    return model, fit_input


def _run(config: dict, run_dir: Path, *, verbose: Any, extra_callbacks: list) -> TrainResult:
    started = time.perf_counter()
    recipe = recipe_from_config(config)
    seed = config["seed"]
    if seed is not None:
        keras.utils.set_random_seed(seed)
        tf.config.experimental.enable_op_determinism()
    strategy = make_strategy(config["strategy"], config["cpu_devices"])
    worker, chief = worker_info(strategy)
    replicas = strategy.num_replicas_in_sync
    if recipe.batch_size % replicas:
        raise ValueError(
            f"`batch_size`={recipe.batch_size} is not divisible by the {replicas} replicas of "
            f"the {config['strategy']!r} strategy; use a multiple of {replicas}."
        )

    def split(name):
        return load(
            config["dataset"],
            name,
            data_dir=config["data_dir"],
            validation_fraction=config["validation_fraction"],
            seed=seed or 0,
            limit=config["limit"],
        )

    train_split = split("train")
    validation_split = split("validation") if config["validation_fraction"] > 0 else None
    test_split = split("test")
    image_shape = tuple(train_split.image_shape)
    class_names = list(train_split.class_names)
    if image_shape[-1] != 3 and "pca_color" in recipe.augmentation:
        # AlexNet's colour augmentation is defined on RGB: grey images skip it.
        recipe = recipe.replace(augmentation=tuple(a for a in recipe.augmentation if a != "pca_color"))
        config["recipe"] = recipe.to_dict()

    steps_per_epoch = math.ceil(train_split.num_examples / recipe.batch_size)
    with strategy.scope():
        model, fit_input = build_for_data(
            config["model"], image_shape, len(class_names),
            {**recipe.model_options, **config["model_options"]},
        )
        apply_weight_decay(model, recipe.weight_decay)
        outputs = _output_names(model)
        loss = make_loss(recipe)
        model.compile(
            optimizer=make_optimizer(recipe, steps_per_epoch),
            loss=loss if not outputs else {name: loss for name in outputs},
            loss_weights=None if not outputs else {
                name: 1.0 if name == outputs[0] else recipe.aux_loss_weight for name in outputs
            },
            metrics=["accuracy"] if not outputs else {outputs[0]: ["accuracy"]},
        )

    # The epoch a resumed run starts at (BackupAndRestore restores the same one).
    initial_epoch = _backed_up_epoch(run_dir / "backup")

    def pipeline(data, training):
        ds = build_pipeline(
            data,
            input_shape=image_shape,
            batch_size=recipe.batch_size,
            training=training,
            augmentation=recipe.augmentation if training else None,
            normalization=recipe.normalization,
            seed=seed,
            epochs=(min(initial_epoch, recipe.epochs), recipe.epochs) if training else None,
        )
        return ds.map(_label_fn(len(class_names), recipe.label_smoothing > 0, outputs))

    config.update(
        input_shape=list(image_shape), fit_input=fit_input, class_names=class_names,
        num_classes=len(class_names),
    )
    # Every worker writes: the chief into the run folder, the others into their own.
    out_dir = run_dir if chief else run_dir / "workers" / f"worker-{worker}"
    (out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    if chief:
        (run_dir / CONFIG_FILE).write_text(json.dumps(config, indent=2))

    train_ds = pipeline(train_split, True)
    validation_ds = pipeline(validation_split, False) if validation_split is not None else None

    accuracy_key = f"{outputs[0]}_accuracy" if outputs else "accuracy"
    monitor = f"val_{accuracy_key}" if validation_ds is not None else accuracy_key
    history_path = out_dir / "history.csv"
    previous_best = [r.get(monitor, -math.inf) for r in read_history(history_path)]
    best = keras.callbacks.ModelCheckpoint(
        out_dir / "checkpoints" / "best.keras", monitor=monitor, mode="max", save_best_only=True
    )
    best.best = max(previous_best, default=-math.inf)
    last_good = LastGoodCheckpoint(out_dir / "checkpoints" / "last.keras")
    run_history = RunHistory(history_path, images_per_epoch=train_split.num_examples)
    callbacks = [
        keras.callbacks.TerminateOnNaN(),
        run_history,
        best,
        last_good,
        *([keras.callbacks.TensorBoard(run_dir / "logs")] if chief else []),
        *extra_callbacks,
        # Last, so that the other callbacks' files are written before the backup says
        # the epoch is done.
        RunBackup(run_dir / "backup", writer=chief),
    ]

    if is_multi_worker(strategy):
        try:
            loop.fit(
                model, train_ds, validation_ds, strategy=strategy, epochs=recipe.epochs,
                steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=verbose,
                accuracy_name=accuracy_key,
            )
            test_logs = loop.evaluate(
                model, pipeline(test_split, False), strategy=strategy, accuracy_name=accuracy_key
            )
            loop.barrier(strategy)
        except loop.PEER_FAILURES as err:
            raise loop.WorkerLost(
                f"worker {worker} lost its peers ({type(err).__name__})", run_dir
            ) from err
    else:
        model.fit(
            train_ds, validation_data=validation_ds, epochs=recipe.epochs,
            steps_per_epoch=steps_per_epoch, callbacks=callbacks, verbose=verbose,
        )
        test_logs = model.evaluate(pipeline(test_split, False), verbose=0, return_dict=True)

    history = read_history(history_path)
    metrics = {
        "model": config["model"],
        "dataset": config["dataset"],
        "status": "diverged" if last_good.nan_at else "completed",
        "test_accuracy": float(test_logs.get(accuracy_key, math.nan)),
        "test_loss": float(test_logs.get("loss", math.nan)),
        # Epochs that finished with a finite loss (a diverged epoch keeps its row in history).
        "epochs": sum(1 for r in history if np.isfinite(r.get("loss", np.nan))),
        "best_" + monitor: max((r.get(monitor, -math.inf) for r in history), default=None),
        "images_per_second": _steady_throughput(history),
        "wall_time_seconds": time.perf_counter() - started,
        "parameters": int(model.count_params()),
        "run_dir": str(run_dir),
    }
    if chief:
        (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
        if history:
            plot_history(history, run_dir / "learning_curves.png", title=f"{config['model']} on {config['dataset']}")
    if last_good.nan_at:
        epoch, batch = last_good.nan_at
        kept = out_dir / "checkpoints" / "last.keras"
        raise TrainingDiverged(
            f"The loss became NaN at epoch {epoch}, batch {batch}; training stopped. "
            + (f"The last good checkpoint is {kept}." if kept.exists() else "No epoch finished before it.")
            + " Try a lower learning rate (--learning-rate)."
        )
    return TrainResult(run_dir=run_dir, model=model, history=history, metrics=metrics)


def _backed_up_epoch(backup_dir: Path) -> int:
    try:
        return int(json.loads((backup_dir / "training_metadata.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


def _output_names(model: keras.Model) -> list[str]:
    """Names of a multi-output model's outputs, main output first; [] for one output."""
    if isinstance(model.output, dict):
        names = list(model.output)
        main = "logits" if "logits" in names else names[0]
        return [main] + [n for n in names if n != main]
    return []


def _label_fn(num_classes: int, one_hot: bool, outputs: list[str]):
    def fn(images, labels):
        if one_hot:
            labels = tf.one_hot(tf.cast(labels, tf.int32), num_classes)
        if outputs:
            labels = {name: labels for name in outputs}
        return images, labels

    return fn


def _steady_throughput(history: list[dict]) -> float | None:
    values = [r["images_per_second"] for r in history if np.isfinite(r.get("images_per_second", np.nan))]
    if len(values) > 1:
        values = values[1:]  # the first epoch includes tracing and warm-up
    return statistics.median(values) if values else None
