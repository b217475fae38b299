"""`keras_cnns.tune`: a KerasTuner search over a family's hypermodel, in one call.

    result = keras_cnns.tune("resnet", "fashion_mnist", tuner="bayesian", max_trials=20,
                             epochs=5, limit=10_000, ranges={"depth": (20, 56)})
    result.best_hyperparameters     # {"depth": 32, "learning_rate": 0.07, ...}

The search folder (`<directory>/<project_name>/`) holds KerasTuner's own files (the
oracle, one `trial_<id>/` per trial), and what `tune` adds: `best_hyperparameters.json`,
`results.csv` (one row per trial: id, status, score, which tuner ran it, every
hyperparameter), `best_model.keras` with `retrain_best=True`, and `workers/<tuner_id>.json`
(the trials each worker of a distributed search ran).

A search that stopped (Ctrl-C, a lost machine) continues where it was with the same
`directory` and `project_name` and `overwrite=False`: finished trials are kept, an
interrupted one runs again, and `max_trials` counts all of them.

Distributed searches are KerasTuner's chief/worker mode, set by environment variables on
every process: `KERASTUNER_TUNER_ID` (`chief` on one process, `tuner0`, `tuner1`, ... on
the workers), `KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT` (the chief's address).
The chief runs the oracle (a gRPC server) and no trials; each worker asks it for trials
until `max_trials` are done. A worker waits at most `oracle_timeout` seconds for the chief
to answer (at start and on every request), then fails with `OracleUnreachableError`.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import keras
import keras_tuner as kt
import tensorflow as tf

from keras_cnns.data import DataSplit, load
from keras_cnns.training.assembly import accuracy_name
from keras_cnns.tuning.hypermodels import OBJECTIVE, CNNHyperModel, get_hypermodel_class
from keras_cnns.validation import check_float, check_positive_int

TUNERS = ("random", "bayesian", "hyperband")
STRATEGIES = ("none", "mirrored", "auto")
ROLES = ("single", "chief", "worker")
BEST_HYPERPARAMETERS_FILE = "best_hyperparameters.json"
RESULTS_FILE = "results.csv"
BEST_MODEL_FILE = "best_model.keras"
WORKERS_DIR = "workers"
#: Seconds a worker waits for the chief oracle (connection and each request).
DEFAULT_ORACLE_TIMEOUT = 300.0


class OracleUnreachableError(ConnectionError):
    """A worker of a distributed search could not reach the chief oracle in time."""


@dataclasses.dataclass
class TuneResult:
    """What `tune` returns.

    Attributes:
        tuner: the KerasTuner tuner (its oracle holds every trial on the chief and in a
            single-process search).
        project_dir: the search folder.
        role: `"single"`, `"chief"` or `"worker"`.
        best_hyperparameters: the best trial's values (None on a worker).
        best_score: its objective value (`val_accuracy`).
        results: one dict per trial (the rows of `results.csv`), best first.
        trials_run: the ids of the trials this process ran.
        best_model_path: `best_model.keras` when retrained.
        test_metrics: the retrained model's test accuracy and loss.
        export_path: the SavedModel version folder when exported.
        replicas: the replicas each trial trained on (2 for mirrored over 2 devices).
    """

    tuner: kt.Tuner
    project_dir: Path
    role: str
    best_hyperparameters: dict | None
    best_score: float | None
    results: list[dict]
    trials_run: list[str]
    best_model_path: Path | None = None
    test_metrics: dict | None = None
    export_path: Path | None = None
    replicas: int = 1


# ---------------------------------------------------------------------- tuners
class _RecordingTuner:
    """Remembers the trials this process ran; a worker also writes them to
    `workers/<tuner_id>.json` (before asking for its next trial, so that the chief sees
    them when the search ends)."""

    def __init__(self, *args, **kwargs):
        self.trials_run: list[str] = []
        super().__init__(*args, **kwargs)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self.trials_run.append(trial.trial_id)
        if distributed_role() == "worker":
            path = Path(self.project_dir) / WORKERS_DIR / f"{self.tuner_id}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"tuner_id": self.tuner_id, "trials": self.trials_run}, indent=2))


class RandomSearch(_RecordingTuner, kt.RandomSearch):
    """`keras_tuner.RandomSearch` that records which trials it ran."""


class BayesianOptimization(_RecordingTuner, kt.BayesianOptimization):
    """`keras_tuner.BayesianOptimization` that records which trials it ran."""


class Hyperband(_RecordingTuner, kt.Hyperband):
    """`keras_tuner.Hyperband` that records which trials it ran."""


def make_tuner(kind: str, hypermodel: CNNHyperModel, *, max_trials: int, epochs: int, seed: int | None,
               directory: str | os.PathLike, project_name: str, overwrite: bool,
               distribution_strategy: tf.distribute.Strategy | None = None) -> kt.Tuner:
    """A KerasTuner tuner over `hypermodel` maximizing `val_accuracy`."""
    objective = kt.Objective(OBJECTIVE, direction="max")
    common = dict(
        objective=objective, seed=seed, directory=str(directory), project_name=project_name,
        overwrite=overwrite, distribution_strategy=distribution_strategy,
    )
    if kind == "random":
        return RandomSearch(hypermodel, max_trials=max_trials, **common)
    if kind == "bayesian":
        return BayesianOptimization(
            hypermodel, max_trials=max_trials, num_initial_points=max(1, min(3, max_trials - 1)), **common
        )
    # Hyperband sizes its brackets from max_epochs and repeats them (iterations None:
    # without end); max_trials is the budget, as for the other tuners.
    tuner = Hyperband(hypermodel, max_epochs=epochs, factor=3, hyperband_iterations=None, **common)
    tuner.oracle.max_trials = max_trials
    return tuner


# ---------------------------------------------------------------------- distribution
def distributed_role() -> str:
    """`"chief"`, `"worker"` (KerasTuner's environment variables) or `"single"`."""
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return "single"
    missing = [v for v in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID") if v not in os.environ]
    if missing:
        raise ValueError(
            f"KERASTUNER_ORACLE_IP is set but {' and '.join(missing)} not: a distributed search "
            "needs KERASTUNER_TUNER_ID ('chief' or 'tuner0', 'tuner1', ...), KERASTUNER_ORACLE_IP "
            "and KERASTUNER_ORACLE_PORT on every process."
        )
    return "chief" if "chief" in os.environ["KERASTUNER_TUNER_ID"] else "worker"


def oracle_address() -> str:
    return f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"


def wait_for_oracle(timeout: float) -> None:
    """Block until the chief oracle accepts connections, at most `timeout` seconds."""
    import grpc

    address = oracle_address()
    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise OracleUnreachableError(_unreachable(address, timeout, "did not answer")) from None
    finally:
        channel.close()


def _unreachable(address: str, timeout: float, what: str) -> str:
    return (
        f"The chief oracle at {address} (KERASTUNER_ORACLE_IP:KERASTUNER_ORACLE_PORT) {what} "
        f"within {timeout:g} s. Start the chief first (KERASTUNER_TUNER_ID=chief, same IP and "
        "port), check the address and that the port is open, or raise the timeout "
        "(`oracle_timeout`, --oracle-timeout)."
    )


class _DeadlineStub:
    """KerasTuner's worker-side stub with a deadline on every request (KerasTuner's own
    is an hour), so that a worker whose chief died does not hang."""

    def __init__(self, stub, timeout: float):
        self._stub, self._timeout = stub, timeout

    def __getattr__(self, name):
        method = getattr(self._stub, name)

        def call(*args, **kwargs):
            kwargs["timeout"] = min(kwargs.get("timeout", math.inf), self._timeout)
            return method(*args, **kwargs)

        return call


# ---------------------------------------------------------------------- tune
def tune(
    family: str, dataset: str = "fashion_mnist", *, tuner: str = "random", max_trials: int = 10,
    epochs: int = 3, directory: str | os.PathLike = "tuning", project_name: str | None = None,
    overwrite: bool = False, strategy: str | tf.distribute.Strategy | None = None,
    cpu_devices: int | None = None, limit: int | None = None, input_shape: tuple[int, int, int] | None = None,
    batch_size: int | None = None, variant: str | None = None, fixed: dict | None = None,
    ranges: dict | None = None, hyperparameters: kt.HyperParameters | None = None, seed: int | None = None,
    data_dir: str | os.PathLike | None = None, validation_fraction: float = 0.1, retrain_best: bool = False,
    export_dir: str | os.PathLike | None = None, oracle_timeout: float = DEFAULT_ORACLE_TIMEOUT,
    verbose: Any = 1,
) -> TuneResult:
    """Search a family's architecture and recipe with KerasTuner.

    Args:
        family: `"lenet"`, `"alexnet"`, `"vgg"`, `"googlenet"`, `"inception"`,
            `"resnet"` or `"densenet"` (see `keras_cnns.tuning.HYPERMODELS`).
        dataset: a data set of `keras_cnns.data.load`; its train split minus
            `validation_fraction` trains, the rest scores the trials.
        tuner: `"random"`, `"bayesian"` or `"hyperband"`.
        max_trials: trials in the whole search (resumed searches count earlier ones).
        epochs: epochs per trial (Hyperband: the most a trial gets; its brackets repeat
            until `max_trials`).
        directory, project_name: the search folder `directory/project_name`
            (default project name: `<family>-<dataset>`).
        overwrite: start afresh; False (default) resumes an existing search.
        strategy: None/`"none"` (one device), `"mirrored"` (`MirroredStrategy`: all GPUs,
            or `cpu_devices` logical CPU devices), `"auto"`, or a `tf.distribute.Strategy`.
        cpu_devices: split the CPU into this many logical devices (before TensorFlow
            starts; the CLI's fresh process is the place for it).
        limit: use only the first `limit` images of each split.
        input_shape: the models' input (default: the images' own shape; networks with a
            larger minimum input pad or resize inside, as `keras_cnns.train` does).
        batch_size: batch size (default: the family's quick recipe).
        variant: ResNet/DenseNet: `"cifar"` or `"imagenet"` networks (default by size).
        fixed, ranges, hyperparameters: fix or narrow hyperparameters (see
            `CNNHyperModel`); values outside the declared space are a ValueError.
        seed: seeds the oracle, the weights and the input pipeline.
        data_dir: where to look for the data first.
        validation_fraction: the share of train held out to score trials, in (0, 1).
        retrain_best: train the best configuration again for `epochs` and save
            `best_model.keras` (with its test accuracy).
        export_dir: also export the retrained model as a TF Serving SavedModel there
            (`keras_cnns.export.saved_model`; implies `retrain_best`).
        oracle_timeout: seconds a distributed worker waits for the chief.
        verbose: KerasTuner's and Keras' verbosity.

    Raises:
        ValueError: an unknown family, tuner or strategy, `max_trials` or `epochs` < 1,
            a fixed or narrowed hyperparameter outside its declared range.
        OracleUnreachableError: a worker got no answer from the chief oracle in time.
    """
    return _Search(
        family=family, dataset=dataset, tuner=tuner, max_trials=max_trials, epochs=epochs, directory=directory,
        project_name=project_name, overwrite=overwrite, strategy=strategy, cpu_devices=cpu_devices,
        limit=limit, input_shape=input_shape, batch_size=batch_size, variant=variant, fixed=fixed,
        ranges=ranges, hyperparameters=hyperparameters, seed=seed, data_dir=data_dir,
        validation_fraction=validation_fraction, retrain_best=retrain_best, export_dir=export_dir,
        oracle_timeout=oracle_timeout, verbose=verbose,
    ).run()


@dataclasses.dataclass
class _Search:
    """One `tune` call (its arguments, checked when made) in named steps: start (strategy,
    seed), the data, the hypermodel, the tuner, the trials, the results, the retrained
    best configuration."""

    family: str
    dataset: str
    tuner: str
    max_trials: int
    epochs: int
    directory: str | os.PathLike
    project_name: str | None
    overwrite: bool
    strategy: str | tf.distribute.Strategy | None
    cpu_devices: int | None
    limit: int | None
    input_shape: tuple[int, int, int] | None
    batch_size: int | None
    variant: str | None
    fixed: dict | None
    ranges: dict | None
    hyperparameters: kt.HyperParameters | None
    seed: int | None
    data_dir: str | os.PathLike | None
    validation_fraction: float
    retrain_best: bool
    export_dir: str | os.PathLike | None
    oracle_timeout: float
    verbose: Any

    def __post_init__(self):
        self.hypermodel_class = get_hypermodel_class(self.family)
        if self.tuner not in TUNERS:
            raise ValueError(f"Unknown `tuner`: {self.tuner!r}; accepted: {', '.join(TUNERS)}.")
        self.max_trials = check_positive_int("max_trials", self.max_trials)
        self.epochs = check_positive_int("epochs", self.epochs)
        check_positive_int("limit", self.limit, allow_none=True)
        check_float("validation_fraction", self.validation_fraction, low=0.0, high=1.0, low_inclusive=False,
                    high_inclusive=False, hint="Trials are scored on it.")
        check_float("oracle_timeout", self.oracle_timeout, low=0.0, low_inclusive=False, what="a number of seconds")
        if self.variant is not None and not getattr(self.hypermodel_class, "VARIANTS", ()):
            raise ValueError(
                f"`variant` is a ResNet/DenseNet option ('cifar' or 'imagenet'); {self.family!r} has none."
            )
        self.family_key = self.family.strip().lower()
        self.role = distributed_role()

    def run(self) -> TuneResult:
        distribution = _make_strategy(self.strategy, self.cpu_devices)  # before TensorFlow starts its devices
        if self.seed is not None:
            keras.utils.set_random_seed(self.seed)
        train_split, validation_split = self.split("train"), self.split("validation")
        hypermodel = self.make_hypermodel(train_split, distribution)
        search = self.build_tuner(hypermodel, distribution)
        self.run_trials(search, train_split, validation_split)
        result = TuneResult(
            tuner=search, project_dir=Path(search.project_dir), role=self.role, best_hyperparameters=None,
            best_score=None, results=[], trials_run=list(search.trials_run), replicas=_replicas(distribution),
        )
        if self.role == "worker":
            # The chief holds the results; it writes them when every worker is done.
            return result
        best = self.collect_results(search, result)
        if (self.retrain_best or self.export_dir is not None) and result.best_hyperparameters is not None:
            splits = (train_split, validation_split, self.split("test"))
            self.retrain(best, hypermodel, splits, distribution, result)
        return result

    # ------------------------------------------------------------------ steps
    def split(self, name: str) -> DataSplit:
        # A folder without test/ gets the test split `keras_cnns.train` carves by default.
        return load(self.dataset, name, data_dir=self.data_dir, validation_fraction=self.validation_fraction,
                    seed=self.seed or 0, limit=self.limit, test_fraction=0.1)

    def make_hypermodel(self, train_split: DataSplit, distribution) -> CNNHyperModel:
        model_shape = tuple(self.input_shape) if self.input_shape is not None else tuple(train_split.image_shape)
        if None in model_shape[:2]:
            raise ValueError(
                f"The images of {self.dataset!r} differ in size; pass `input_shape` "
                "(--input-shape 224,224,3) to crop them to."
            )
        options = {"variant": self.variant} if self.variant is not None else {}
        hypermodel = self.hypermodel_class(
            train_split.num_classes, model_shape, epochs=self.epochs, batch_size=self.batch_size,
            train_examples=train_split.num_examples, dataset=train_split.name, fixed=self.fixed,
            ranges=self.ranges, hyperparameters=self.hyperparameters, seed=self.seed, verbose=self.verbose,
            **options,
        )
        replicas = _replicas(distribution)
        if hypermodel.base_recipe.batch_size % replicas:
            raise ValueError(
                f"The batch size {hypermodel.base_recipe.batch_size} does not split over {replicas} "
                f"replicas; pass a `batch_size` that is a multiple of {replicas}."
            )
        return hypermodel

    def build_tuner(self, hypermodel: CNNHyperModel, distribution) -> kt.Tuner:
        # KerasTuner prints "Reloading Tuner from ..." whatever its verbosity.
        quiet = contextlib.nullcontext() if self.verbose else contextlib.redirect_stdout(io.StringIO())
        with quiet:
            search = make_tuner(
                self.tuner, hypermodel, max_trials=self.max_trials, epochs=self.epochs, seed=self.seed,
                directory=self.directory, project_name=self.project_name or f"{self.family_key}-{self.dataset}",
                # A worker never wipes the folder it shares with the chief.
                overwrite=self.overwrite and self.role != "worker",
                distribution_strategy=distribution,
            )
        if self.verbose:
            print(f"tuning {self.family} on {self.dataset}: {self.tuner} search, {self.max_trials} trials of "
                  f"{self.epochs} epoch(s), {_replicas(distribution)} replica(s) in sync, role {self.role}, "
                  f"folder {Path(search.project_dir)}", flush=True)
        return search

    def run_trials(self, search: kt.Tuner, train_split: DataSplit, validation_split: DataSplit) -> None:
        if self.role == "worker":
            wait_for_oracle(self.oracle_timeout)
            search.oracle.stub = _DeadlineStub(search.oracle.stub, self.oracle_timeout)
        try:
            search.search(train_split, validation_data=validation_split, epochs=self.epochs, verbose=self.verbose)
        except Exception as err:
            import grpc

            if self.role == "worker" and isinstance(err, grpc.RpcError):
                raise OracleUnreachableError(
                    _unreachable(oracle_address(), self.oracle_timeout, f"failed ({err.code().name})")
                ) from err
            raise

    def collect_results(self, search: kt.Tuner, result: TuneResult) -> kt.engine.trial.Trial | None:
        """`results.csv`, `best_hyperparameters.json` and the printed table; the best trial."""
        rows = results_table(search)
        write_results(rows, result.project_dir / RESULTS_FILE)
        best = search.oracle.get_best_trials(1)
        completed = [r for r in rows if r["status"] == "COMPLETED"]
        trial = best[0] if best else None
        if trial is not None and completed:
            result.best_hyperparameters = _public_values(trial.hyperparameters.values)
            result.best_score = trial.score
            (result.project_dir / BEST_HYPERPARAMETERS_FILE).write_text(json.dumps({
                "family": self.family, "dataset": self.dataset, "objective": OBJECTIVE,
                "trial_id": trial.trial_id, "score": trial.score, "hyperparameters": result.best_hyperparameters,
            }, indent=2))
        result.results = rows
        if self.verbose:
            print(format_results(rows), flush=True)
            if result.best_hyperparameters is not None:
                print(f"best {OBJECTIVE} {result.best_score:.4f} (trial {trial.trial_id}): "
                      f"{json.dumps(result.best_hyperparameters)}", flush=True)
        return trial

    def retrain(self, trial, hypermodel: CNNHyperModel, splits: tuple, distribution, result: TuneResult) -> None:
        """Train the best configuration again, save `best_model.keras` and its test metrics,
        and export it when asked."""
        train_split, validation_split, test_split = splits
        hp = trial.hyperparameters.copy()
        keras.backend.clear_session()
        with distribution.scope() if distribution is not None else contextlib.nullcontext():
            model = hypermodel.build(hp)
        hypermodel.fit(hp, model, train_split, validation_data=validation_split, epochs=self.epochs,
                       verbose=self.verbose)
        recipe = hypermodel.recipe(hypermodel.space.values(hp))
        logs = model.evaluate(hypermodel.pipeline(test_split, model, recipe, training=False),
                              verbose=0, return_dict=True)
        accuracy = logs.get("accuracy", logs.get(accuracy_name(model)))
        result.test_metrics = {"test_accuracy": float(accuracy), "test_loss": float(logs["loss"])}
        result.best_model_path = result.project_dir / BEST_MODEL_FILE
        model.save(result.best_model_path)
        (result.project_dir / "best_model_metrics.json").write_text(json.dumps(result.test_metrics, indent=2))
        if self.verbose:
            print(f"best configuration retrained: test accuracy {accuracy:.4f}; saved {result.best_model_path}",
                  flush=True)
        if self.export_dir is not None:
            self.export(model, recipe, train_split, result)

    def export(self, model: keras.Model, recipe, train_split: DataSplit, result: TuneResult) -> None:
        from keras_cnns.export import Preprocessing, saved_model

        preprocessing = Preprocessing(
            normalization=recipe.normalization, dataset=train_split.name,
            stored_channels=int(train_split.image_shape[-1]),
            # Trained on images of different sizes: centre crops, as the trials evaluated.
            image_fit="centre_crop" if train_split.image_shape[0] is None else "fit",
        )
        result.export_path = saved_model(
            model, self.export_dir, class_names=list(train_split.class_names), preprocessing=preprocessing
        )
        if self.verbose:
            print(f"exported to {result.export_path}", flush=True)


def _replicas(distribution: tf.distribute.Strategy | None) -> int:
    return distribution.num_replicas_in_sync if distribution is not None else 1


def _make_strategy(strategy, cpu_devices) -> tf.distribute.Strategy | None:
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy is None:
        strategy = "none"
    if strategy not in STRATEGIES:
        raise ValueError(
            f"Unknown `strategy`: {strategy!r}; accepted: {', '.join(STRATEGIES)}, None or a "
            "tf.distribute.Strategy (a distributed search spreads trials over workers instead: "
            "see KERASTUNER_TUNER_ID)."
        )
    from keras_cnns.training.strategies import make_strategy

    made = make_strategy(strategy, cpu_devices)
    return None if made is tf.distribute.get_strategy() else made


# ---------------------------------------------------------------------- results
def _public_values(values: dict) -> dict:
    """Trial values without Hyperband's bookkeeping (`tuner/epochs`, ...); floats without
    the rounding noise of stepped ranges (0.15000000000000002)."""
    return {
        k: float(f"{v:.12g}") if isinstance(v, float) else v
        for k, v in values.items() if not k.startswith("tuner/")
    }


def results_table(search: kt.Tuner) -> list[dict]:
    """One row per trial, best first: id, status, score, the tuner that ran it (from
    `workers/*.json`), best epoch, then every hyperparameter."""
    ran_by = {}
    for path in sorted((Path(search.project_dir) / WORKERS_DIR).glob("*.json")):
        record = json.loads(path.read_text())
        ran_by.update({trial_id: record["tuner_id"] for trial_id in record["trials"]})
    for trial_id in getattr(search, "trials_run", []):
        ran_by.setdefault(trial_id, search.tuner_id)
    trials = list(search.oracle.trials.values())
    maximize = search.oracle.objective.direction == "max"

    def order(trial):
        done = trial.score is not None and not math.isnan(trial.score)
        return (not done, -trial.score if done and maximize else (trial.score if done else 0), trial.trial_id)

    rows = []
    for trial in sorted(trials, key=order):
        row = {
            "trial_id": trial.trial_id,
            "status": trial.status,
            OBJECTIVE: None if trial.score is None else float(trial.score),
            "best_epoch": None if trial.best_step is None else int(trial.best_step) + 1,
            "tuner": ran_by.get(trial.trial_id, ""),
        }
        row.update(_public_values(trial.hyperparameters.values))
        rows.append(row)
    return rows


def write_results(rows: list[dict], path: Path) -> None:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def read_results(path: str | os.PathLike) -> list[dict]:
    """The rows of a `results.csv` (values as strings)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def format_results(rows: list[dict]) -> str:
    """The results as an aligned text table."""
    from keras_cnns.tables import format_table

    columns = list(dict.fromkeys(k for row in rows for k in row))

    def cell(value):
        if value is None:
            return "-"
        if isinstance(value, float):
            text = f"{value:.4g}"
            return text if any(c in text for c in ".einf") else text + ".0"
        return str(value)

    return format_table([[cell(row.get(c)) for c in columns] for row in rows], columns)
