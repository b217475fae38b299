"""`keras_cnns.train`: train a registered model on a data set and leave a run folder.

A run folder (`runs/<model>-<dataset>-<timestamp>/`) holds:
`config.json` (everything needed to repeat or resume the run), `history.csv`, TensorBoard
logs in `logs/`, `checkpoints/best.keras` (best validation accuracy) and
`checkpoints/last.keras` (last finite epoch), `backup/` (`BackupAndRestore`'s state),
`metrics.json` (test accuracy and loss, epochs, images/s, wall time) and
`learning_curves.png`.

A run from pretrained weights (`weights=`, `freeze_epochs=`) trains in phases, one `fit`
each: see `keras_cnns.training.finetune`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import statistics
import time
import warnings
from pathlib import Path
from typing import Any, Sequence

import keras
import numpy as np
import tensorflow as tf

from keras_cnns.data import DataSplit, load, scan
from keras_cnns.models import get_spec
from keras_cnns.precision import check_precision, precision_policy
from keras_cnns.training import finetune, loop, sharding
# build_for_data and choose_fit_input lived here before the assembly module: still importable.
from keras_cnns.training.assembly import (  # noqa: F401
    accuracy_name,
    build_and_compile,
    build_for_data,
    check_steps_per_execution,
    choose_fit_input,
    choose_steps_per_execution,
    compile_for_recipe,
    make_dataset,
)
from keras_cnns.training.callbacks import (
    LastGoodCheckpoint,
    RunBackup,
    RunHistory,
    read_history,
)
from keras_cnns.run_history import plot_history
from keras_cnns.training.recipes import Recipe, get_recipe
from keras_cnns.training.strategies import STRATEGIES, is_multi_worker, make_strategy, worker_info
from keras_cnns.validation import check_bool, check_choice, check_image_size, check_positive_int, check_rate
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
    model: str = "lenet5", dataset: str = "fashion_mnist", *, recipe: str | None = None,
    weights: str | os.PathLike | None = None, freeze_epochs: int | None = None,
    epochs: int | None = None, batch_size: int | None = None, learning_rate: float | None = None,
    strategy: str = "auto", precision: str = "float32", steps_per_execution: int | str = "auto",
    cpu_devices: int | None = None,
    seed: int | None = None, data_dir: str | None = None, runs_dir: str | os.PathLike = "runs",
    run_dir: str | os.PathLike | None = None, resume: str | os.PathLike | None = None,
    model_options: dict | None = None, recipe_overrides: dict | None = None, limit: int | None = None,
    validation_fraction: float = 0.1, test_fraction: float = 0.1, skip_corrupt: bool = False,
    image_size: int | Sequence[int] | None = None, first_label: int | None = None,
    verbose: Any = "auto", callbacks: Sequence[keras.callbacks.Callback] = (),
) -> TrainResult:
    """Train `model` on `dataset` with its paper recipe and write a run folder.

    Args:
        model: a registered model name (`keras_cnns.list_models()`).
        dataset: a data set name of `keras_cnns.data.load` (`fashion_mnist`, `cifar10`,
            any tfds image-classification set, `folder:/path`).
        recipe: `"quick"` (short runs), `"paper"` (the paper's full recipe) or
            `"finetune"` (from pretrained weights: a head-phase and a lower full-network
            learning rate). None: `"finetune"` with `weights`, else `"quick"`.
        weights: start from these weights: a published name (`"torchvision"`,
            `"imagenet"`) or a weights file (`.weights.h5`, legacy `.h5`, `.keras`,
            `.pth`/`.pt`/`.safetensors`). The classifier starts fresh (its classes are
            the data set's), the other layers hold the weights. Where the weights' preprocessing is known (published names, torchvision
            checkpoints) it goes inside the model, which then takes pixels in [0, 255]
            (pipeline normalization `"none"`), and RGB weights get an RGB model (grey images
            are repeated to RGB). See `keras_cnns.training.finetune`.
        freeze_epochs: with `weights`, train only the new head (the backbone frozen, its
            batch norms in inference mode) for this many epochs at the recipe's
            `head_learning_rate`, then every layer at its `learning_rate`. 0 .. `epochs`
            (equal to `epochs`: the head alone); None: 0.
        epochs, batch_size, learning_rate: shortcuts for the recipe fields.
        strategy: `"auto"`, `"none"`, `"mirrored"` or `"multiworker"` (see
            `keras_cnns.training.strategies.make_strategy`).
        precision: `"float32"`, `"mixed_bfloat16"` or `"mixed_float16"`: the dtype policy
            the model is built and trained under (`keras_cnns.precision`). The mixed
            policies compute in 16 bits and keep float32 weights and outputs; under
            `"mixed_float16"` the optimizer is wrapped in
            `keras.optimizers.LossScaleOptimizer` (the fused SGD stays inside it). Keras'
            global policy is restored when the run ends; the checkpoints keep the run's.
        steps_per_execution: training steps per call of the compiled step in
            `model.fit`: a positive int, or `"auto"` (16 for a model whose step is small,
            LeNet-5 for one, else 1: `keras_cnns.training.assembly.choose_steps_per_execution`).
            A block of steps ends with its epoch, so the batches, and a resumed run, are the
            same for any value. Callbacks see one batch per block. The multi-worker loop
            runs one step per call.
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
        test_fraction: for a `folder:` data set without a test/ folder, the share of its
            images carved out for test first (`keras_cnns.data.from_directory`); how each
            split was made is printed and kept in `config.json` (`data_splits`).
        skip_corrupt: a `folder:` data set is scanned before training
            (`keras_cnns.data.scan`); a file that cannot be decoded stops the run before it
            starts, with the list (`CorruptImagesError`), unless this is True: then those
            files are left out, with one warning that counts them, and listed in
            `config.json` (`skipped_files`).
        image_size: the model's input size, a side or `(height, width)`. None: the
            images' own size when they share one; for a data set of images of different
            sizes (a `folder:` of photographs, `tfrecord:` shards), the model's default
            (224 for most, 299 for Inception v3). Images of different sizes are cropped
            from their originals (random-resized crops in training, the evaluation's
            resize-and-centre-crop otherwise); others are padded or resized.
        first_label: for `tfrecord:` shards, the label of the first class in the
            records (0, or 1 for ImageNet's); None: their manifest's, else 0.
        verbose: Keras' progress bar setting.
        callbacks: more Keras callbacks.

    Raises:
        TrainingDiverged: when the loss became NaN (the last good checkpoint is kept).
    """
    if resume is not None:
        run_path = Path(resume)
        config = _resumed_config(run_path, epochs)
    else:
        config = new_run_config(
            model, dataset, recipe=recipe, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
            strategy=strategy, precision=precision, steps_per_execution=steps_per_execution,
            cpu_devices=cpu_devices, seed=seed, data_dir=data_dir, limit=limit,
            validation_fraction=validation_fraction, test_fraction=test_fraction,
            skip_corrupt=skip_corrupt, model_options=model_options, recipe_overrides=recipe_overrides,
            weights=weights, freeze_epochs=freeze_epochs, image_size=image_size, first_label=first_label,
        )
        run_path = _new_run_path(config, run_dir, runs_dir)
    return _Run(config, run_path, verbose=verbose, extra_callbacks=list(callbacks)).run()


def new_run_config(
    model: str, dataset: str, *, recipe: str | None = None, epochs: int | None = None,
    batch_size: int | None = None, learning_rate: float | None = None, strategy: str = "auto",
    precision: str = "float32", steps_per_execution: int | str = "auto",
    cpu_devices: int | None = None, seed: int | None = None,
    data_dir: str | None = None, limit: int | None = None, validation_fraction: float = 0.1,
    test_fraction: float = 0.1, skip_corrupt: bool = False, model_options: dict | None = None,
    recipe_overrides: dict | None = None, weights: str | os.PathLike | None = None,
    freeze_epochs: int | None = None, image_size: int | Sequence[int] | None = None,
    first_label: int | None = None,
) -> dict:
    """The `config.json` of a new run of `train` (before the data adds its shape and
    classes), its arguments checked: unknown models, strategies, recipes and weights and
    a bad `freeze_epochs` fail here, before any data is read."""
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown `strategy`: {strategy!r}; accepted: {', '.join(STRATEGIES)}.")
    check_precision(precision)
    check_steps_per_execution(steps_per_execution)
    get_spec(model)  # unknown model names fail before any data is read
    overrides = dict(recipe_overrides or {})
    for key, value in (("epochs", epochs), ("batch_size", batch_size), ("learning_rate", learning_rate)):
        if value is not None:
            overrides[key] = value
    weights = finetune.check_weights(model, weights)
    chosen = get_recipe(model, recipe or ("finetune" if weights else "quick"), **overrides)
    freeze_epochs = finetune.check_freeze_epochs(freeze_epochs, weights, chosen.epochs)
    preprocessing = finetune.known_preprocessing(model, weights)
    chosen = finetune.pixel_recipe(chosen, preprocessing, overrides)
    if limit is not None:
        check_positive_int("limit", limit)
    return {
        "model": model,
        "dataset": dataset,
        "weights": weights,
        "freeze_epochs": freeze_epochs,
        "preprocessing": preprocessing,
        "recipe": chosen.to_dict(),
        "strategy": strategy,
        "precision": precision,
        "steps_per_execution": steps_per_execution,
        "cpu_devices": cpu_devices,
        "seed": seed,
        "data_dir": None if data_dir is None else str(data_dir),
        "limit": limit,
        "validation_fraction": validation_fraction,
        "test_fraction": check_rate("test_fraction", test_fraction),
        "skip_corrupt": check_bool("skip_corrupt", skip_corrupt),
        "image_size": None if image_size is None else list(check_image_size("image_size", image_size)),
        "first_label": None if first_label is None else check_choice("first_label", first_label, (0, 1)),
        "model_options": dict(model_options or {}),
        "keras_cnns_version": __version__,
    }


def _new_run_path(config: dict, run_dir: str | os.PathLike | None, runs_dir: str | os.PathLike) -> Path:
    if run_dir is not None:
        return Path(run_dir)
    if config["strategy"] == "multiworker":
        raise ValueError(
            "`strategy='multiworker'` needs `run_dir` (--run-dir): every worker, and every "
            "restart of one, must use the same run folder."
        )
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(runs_dir) / f"{config['model']}-{config['dataset']}-{stamp}"


def _resumed_config(run_dir: Path, epochs: int | None) -> dict:
    config = read_run_config(run_dir)
    if epochs is not None:
        config["recipe"]["epochs"] = check_positive_int("epochs", epochs)
        if config.get("freeze_epochs"):
            finetune.check_freeze_epochs(config["freeze_epochs"], config["weights"], epochs)
    return config


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


@dataclasses.dataclass
class _Splits:
    """The data of a run: its splits (no validation split with `validation_fraction=0`)."""

    train: DataSplit
    validation: DataSplit | None
    test: DataSplit

    @property
    def image_shape(self) -> tuple:
        return tuple(self.train.image_shape)

    @property
    def class_names(self) -> list[str]:
        return list(self.train.class_names)


class _Run:
    """One training run from its resolved `config`, in named steps: start (seed, strategy),
    load the data, build and compile the model (`keras_cnns.training.assembly`), write the
    run folder's config, make the callbacks, fit (Keras' `fit`, or the multi-worker loop),
    report the metrics."""

    def __init__(self, config: dict, run_dir: Path, *, verbose: Any, extra_callbacks: list):
        self.config, self.run_dir = config, run_dir
        self.verbose, self.extra_callbacks = verbose, extra_callbacks
        self.started = time.perf_counter()

    def run(self) -> TrainResult:
        self.start()
        self.load_data()
        self.build()
        self.write_config()
        callbacks, last_good = self.callbacks()
        test_logs = self.fit(callbacks)
        return self.report(test_logs, last_good)

    # ------------------------------------------------------------------ steps
    def start(self) -> None:
        """Seed, the strategy and this process' place in it."""
        self.recipe = recipe_from_config(self.config)
        seed = self.config["seed"]
        if seed is not None:
            keras.utils.set_random_seed(seed)
            tf.config.experimental.enable_op_determinism()
        self.strategy = make_strategy(self.config["strategy"], self.config["cpu_devices"])
        self.worker, self.chief = worker_info(self.strategy)
        replicas = self.strategy.num_replicas_in_sync
        if self.recipe.batch_size % replicas:
            raise ValueError(
                f"`batch_size`={self.recipe.batch_size} is not divisible by the {replicas} replicas of "
                f"the {self.config['strategy']!r} strategy; use a multiple of {replicas}."
            )

    def load_data(self) -> None:
        config = self.config
        exclude = self._unreadable_files()

        def split(name):
            return load(
                config["dataset"], name, data_dir=config["data_dir"], exclude=exclude,
                validation_fraction=config["validation_fraction"], seed=config["seed"] or 0,
                # Runs written before test carving existed carved none.
                limit=config["limit"], test_fraction=config.get("test_fraction", 0.0),
                first_label=config.get("first_label"),
            )

        self.splits = _Splits(
            train=split("train"),
            validation=split("validation") if config["validation_fraction"] > 0 else None,
            test=split("test"),
        )
        carvings = {
            data.split: data.carving
            for data in (self.splits.train, self.splits.validation, self.splits.test)
            if data is not None and data.carving
        }
        if carvings:
            config["data_splits"] = carvings
            if self.verbose:
                for name, how in carvings.items():
                    print(f"{name}: {how}", flush=True)
        recipe = self.recipe.for_channels(self.splits.image_shape[-1])
        if recipe is not self.recipe:
            self.recipe = recipe
            config["recipe"] = recipe.to_dict()
        self.steps_per_epoch = math.ceil(self.splits.train.num_examples / recipe.batch_size)
        if self.file_sharded:
            replicas = self.strategy.num_replicas_in_sync
            workers = sharding.worker_count(self.strategy)
            self.steps_per_epoch = sharding.steps_per_epoch(
                self.splits.train, workers, recipe.batch_size // replicas, replicas // workers)

    @property
    def file_sharded(self) -> bool:
        """Whether each worker reads its own files of the train split (multi-worker
        training on a folder or TFRecord shards: `keras_cnns.training.sharding`)."""
        return is_multi_worker(self.strategy) and self.splits.train.files is not None

    def _unreadable_files(self) -> list[str]:
        """A folder data set's files that cannot be decoded (`keras_cnns.data.scan`): an
        error listing them, or, with `skip_corrupt`, the files to leave out."""
        dataset = self.config["dataset"]
        if not dataset.startswith("folder:"):
            return []
        report = scan(dataset)
        if report.ok:
            return []
        if not self.config.get("skip_corrupt"):
            report.raise_if_bad()
        bad = [path for path, _ in report.bad]
        warnings.warn(
            f"Leaving out {len(bad)} of the {report.checked} image files under {report.root}: they "
            f"cannot be decoded (listed in config.json, skipped_files; `keras-cnns data check "
            f"{report.root}` gives the reasons).",
            stacklevel=2,
        )
        self.config["skipped_files"] = bad
        return bad

    def build(self) -> None:
        """Build the network for the data (from the run's weights, if any), and enter the
        phase the run (or its resumption) starts in (`keras_cnns.training.finetune`)."""
        config = self.config
        height, width, stored = self.splits.image_shape
        if config.get("image_size"):
            height, width = config["image_size"]
        elif height is None:  # images of different sizes: the model's default input
            height, width = get_spec(config["model"]).default_input_shape[:2]
        channels = finetune.weights_channels(config["model"], config.get("weights"))
        # The model's input: the weights' channels where known (the pipeline converts).
        self.input_shape = (height, width, channels or stored)
        with precision_policy(self.precision), self.strategy.scope():
            self.model, self.fit_input = self._build_model()
            if config.get("weights") is not None:
                finetune.fresh_classifier(self.model)
        self.accuracy = accuracy_name(self.model)
        # Runs written before the option existed: "auto".
        self.steps_per_execution = 1 if is_multi_worker(self.strategy) else choose_steps_per_execution(
            self.model, self.recipe.batch_size, config.get("steps_per_execution", "auto")
        )
        # The epoch a resumed run starts at (BackupAndRestore restores the same one).
        self.initial_epoch = _backed_up_epoch(self.run_dir / "backup")
        phases = finetune.plan_phases(self.recipe, config.get("freeze_epochs") or 0)
        self.phases = finetune.remaining_phases(phases, self.initial_epoch)
        self.enter(self.phases[0])

    def _build_model(self) -> tuple[keras.Model, str | None]:
        config = self.config
        weights = finetune.build_options(config)
        options = {**self.recipe.model_options, **config["model_options"], **weights}
        num_classes = len(self.splits.class_names)
        try:
            return build_for_data(config["model"], self.input_shape, num_classes, options)
        except ValueError as err:
            if not weights:
                raise
            raise ValueError(
                f"The run builds {config['model']!r} for {config['dataset']!r} with input "
                f"{self.input_shape} (the images have {self.splits.image_shape[-1]} channel(s)) and "
                f"{num_classes} classes, and `weights`={config['weights']!r} do not fit it: {err}"
            ) from err

    def enter(self, phase: finetune.Phase) -> None:
        """Make the phase's layers trainable and compile the model for it (a new optimizer,
        the phase's learning rate)."""
        with self.strategy.scope():
            frozen_bn = self.recipe.freeze_batch_norm and self.config.get("weights") is not None
            finetune.set_trainable(self.model, phase.layers, freeze_batch_norm=frozen_bn)
            compile_for_recipe(self.model, phase.recipe(self.recipe), self.steps_per_epoch,
                               steps_per_execution=self.steps_per_execution)

    def write_config(self) -> None:
        """The data's shape and classes into the config; the chief writes it. Every worker
        writes its files: the chief into the run folder, the others into their own."""
        class_names = self.splits.class_names
        self.config.update(
            input_shape=[*self.input_shape[:2], self.splits.image_shape[-1]], fit_input=self.fit_input,
            class_names=class_names, num_classes=len(class_names),
            # Images of different sizes reach the model centre-cropped (evaluation, exports).
            image_fit="centre_crop" if self.splits.image_shape[0] is None else "fit",
        )
        self.out_dir = self.run_dir if self.chief else self.run_dir / "workers" / f"worker-{self.worker}"
        (self.out_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        if self.chief:
            (self.run_dir / CONFIG_FILE).write_text(json.dumps(self.config, indent=2))

    def dataset(self, data: DataSplit, training: bool, epochs: tuple[int, int] | None = None,
                epoch_per_iteration: bool = False) -> tf.data.Dataset:
        """The batches of `data` for the model; in training, those of `epochs` (first, end),
        one after the other or (`epoch_per_iteration`) one per iteration."""
        return make_dataset(
            data, self.model, self.recipe, input_shape=self.input_shape,
            num_classes=len(self.splits.class_names), training=training, seed=self.config["seed"],
            epochs=epochs if training else None, epoch_per_iteration=epoch_per_iteration,
        )

    def _worker_batches(self, data: DataSplit, batch_size: int, *, training: bool,
                        epoch: int | None = None) -> tf.data.Dataset:
        """One worker's own files in batches of `batch_size`: in training, those of `epoch`."""
        return make_dataset(
            data, self.model, self.recipe.replace(batch_size=batch_size), input_shape=self.input_shape,
            num_classes=len(self.splits.class_names), training=training, seed=self.config["seed"],
            epochs=(epoch, epoch + 1) if training else None,
        )

    @property
    def precision(self) -> str:
        """The run's dtype policy (runs written before mixed precision existed: float32)."""
        return self.config.get("precision", "float32")

    @property
    def monitor(self) -> str:
        return f"val_{self.accuracy}" if self.splits.validation is not None else self.accuracy

    def callbacks(self) -> tuple[list[keras.callbacks.Callback], LastGoodCheckpoint]:
        out_dir, monitor = self.out_dir, self.monitor
        history_path = out_dir / "history.csv"
        previous_best = [r.get(monitor, -math.inf) for r in read_history(history_path)]
        best = keras.callbacks.ModelCheckpoint(
            out_dir / "checkpoints" / "best.keras", monitor=monitor, mode="max", save_best_only=True
        )
        best.best = max(previous_best, default=-math.inf)
        last_good = LastGoodCheckpoint(out_dir / "checkpoints" / "last.keras", self.steps_per_epoch)
        self.last_good = last_good
        self.backup = RunBackup(self.run_dir / "backup", writer=self.chief, phase=self.phases[0].layers)
        callbacks = [
            keras.callbacks.TerminateOnNaN(),
            RunHistory(history_path, images_per_epoch=self.splits.train.num_examples),
            best,
            last_good,
            *([keras.callbacks.TensorBoard(self.run_dir / "logs")] if self.chief else []),
            *self.extra_callbacks,
            # Last, so that the other callbacks' files are written before the backup says
            # the epoch is done.
            self.backup,
        ]
        return callbacks, last_good

    def fit(self, callbacks: list) -> dict:
        """Train phase after phase (one `fit`, or one multi-worker loop, each); return the
        test split's loss and accuracy."""
        validation = self.splits.validation
        multi = is_multi_worker(self.strategy)
        validation_ds = self._evaluation_data(validation, multi) if validation is not None else None
        try:
            for index, phase in enumerate(self.phases):
                if index:
                    if multi:  # the chief's backup of the phase before is written
                        loop.barrier(self.strategy)
                    self.enter(phase)
                self._fit_phase(phase, validation_ds, callbacks, multi)
                if self.last_good.nan_at or self.model.stop_training:
                    break
            return self._evaluate(multi)
        except loop.PEER_FAILURES as err:
            if not multi:
                raise
            raise loop.WorkerLost(
                f"worker {self.worker} lost its peers ({type(err).__name__})", self.run_dir
            ) from err

    def _fit_phase(self, phase: finetune.Phase, validation_ds, callbacks: list, multi: bool) -> None:
        self.backup.phase = phase.layers
        first = min(max(self.initial_epoch, phase.start), phase.end)
        common = dict(epochs=phase.end, initial_epoch=phase.start, callbacks=callbacks, verbose=self.verbose)
        if multi and self.file_sharded:
            train_ds, _ = sharding.worker_batches(
                self.strategy, self.splits.train, global_batch_size=self.recipe.batch_size,
                epochs=(first, phase.end),
                make_epoch=lambda split, batch_size, epoch: self._worker_batches(
                    split, batch_size, training=True, epoch=epoch),
            )
        elif multi:
            train_ds = self.dataset(self.splits.train, True, epochs=(first, phase.end))
        if multi:
            loop.fit(self.model, train_ds, validation_ds, strategy=self.strategy, steps_per_epoch=self.steps_per_epoch,
                     accuracy_name=self.accuracy, **common)
        else:
            # One epoch per iteration, which `fit` starts anew each epoch: a block of
            # `steps_per_execution` steps stops at the epoch's end. No `shuffle`: the
            # pipeline shuffles (Keras warns that it ignores it for a tf.data input).
            train_ds = self.dataset(self.splits.train, True, epochs=(first, phase.end), epoch_per_iteration=True)
            self.model.fit(train_ds, validation_data=validation_ds, shuffle=False, **common)

    def _evaluation_data(self, data: DataSplit, multi: bool):
        """`data`'s batches for evaluation; in a multi-worker run, each worker's own files
        where the split has a file per worker (`sharding.evaluation_batches`)."""
        if multi:
            batches = sharding.evaluation_batches(
                self.strategy, data, global_batch_size=self.recipe.batch_size,
                make_batches=lambda split, batch_size: self._worker_batches(split, batch_size, training=False),
            )
            if batches is not None:
                return batches
        return self.dataset(data, False)

    def _evaluate(self, multi: bool) -> dict:
        test_ds = self._evaluation_data(self.splits.test, multi)
        if not multi:
            return self.model.evaluate(test_ds, verbose=0, return_dict=True)
        test_logs = loop.evaluate(self.model, test_ds, strategy=self.strategy, accuracy_name=self.accuracy)
        loop.barrier(self.strategy)
        return test_logs

    def report(self, test_logs: dict, last_good: LastGoodCheckpoint) -> TrainResult:
        """`metrics.json` and the learning curves (chief); the result, or TrainingDiverged."""
        config, run_dir, monitor = self.config, self.run_dir, self.monitor
        history = read_history(self.out_dir / "history.csv")
        metrics = {
            "model": config["model"],
            "dataset": config["dataset"],
            "status": "diverged" if last_good.nan_at else "completed",
            "test_accuracy": float(test_logs.get(self.accuracy, math.nan)),
            "test_loss": float(test_logs.get("loss", math.nan)),
            # Epochs that finished with a finite loss (a diverged epoch keeps its row in history).
            "epochs": sum(1 for r in history if np.isfinite(r.get("loss", np.nan))),
            "best_" + monitor: max((r.get(monitor, -math.inf) for r in history), default=None),
            "images_per_second": _steady_throughput(history),
            "wall_time_seconds": time.perf_counter() - self.started,
            "parameters": int(self.model.count_params()),
            "run_dir": str(run_dir),
        }
        if self.chief:
            (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
            if history:
                plot_history(history, run_dir / "learning_curves.png", title=f"{config['model']} on {config['dataset']}")
        if last_good.nan_at:
            kept = self.out_dir / "checkpoints" / "last.keras"
            raise TrainingDiverged(
                f"The loss became NaN at {last_good.where()}; training stopped. "
                + (f"The last good checkpoint is {kept}." if kept.exists() else "No epoch finished before it.")
                + " Try a lower learning rate (--learning-rate)."
            )
        return TrainResult(run_dir=self.run_dir, model=self.model, history=history, metrics=metrics)


def _backed_up_epoch(backup_dir: Path) -> int:
    try:
        return int(json.loads((backup_dir / "training_metadata.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


def _steady_throughput(history: list[dict]) -> float | None:
    values = [r["images_per_second"] for r in history if np.isfinite(r.get("images_per_second", np.nan))]
    if len(values) > 1:
        values = values[1:]  # the first epoch includes tracing and warm-up
    return statistics.median(values) if values else None
