"""Callbacks of a training run: history that survives resumption, the last good
checkpoint, throughput, and NaN detection."""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import keras
import numpy as np

from keras_cnns.run_history import read_history


class RunHistory(keras.callbacks.Callback):
    """Append one row per epoch to `history.csv`; on resume, drop rows of epochs that
    are about to be trained again (those after the restored backup)."""

    def __init__(self, path: Path, images_per_epoch: int):
        super().__init__()
        self.path = Path(path)
        self.images_per_epoch = images_per_epoch
        self.rows: list[dict] = []
        self._epoch_start = 0.0
        self._train_seconds = 0.0

    def on_train_begin(self, logs=None):
        self.rows = None

    def on_epoch_begin(self, epoch, logs=None):
        if self.rows is None:
            # The first epoch trained (after BackupAndRestore restored its state, which
            # happens in on_train_begin): keep only the rows of the epochs before it.
            self.rows = [row for row in read_history(self.path) if int(row["epoch"]) <= epoch]
            self._write()
        self._epoch_start = time.perf_counter()
        self._train_seconds = 0.0

    def on_train_batch_end(self, batch, logs=None):
        self._train_seconds = time.perf_counter() - self._epoch_start

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1}
        row.update({k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0})
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            row["learning_rate"] = float(keras.ops.convert_to_numpy(optimizer.learning_rate))
        seconds = self._train_seconds or (time.perf_counter() - self._epoch_start)
        row["train_seconds"] = seconds
        row["images_per_second"] = self.images_per_epoch / seconds if seconds else float("nan")
        self.rows.append(row)
        self._write()

    def _write(self):
        if not self.rows:
            self.path.write_text("")
            return
        fields = list(dict.fromkeys(k for row in self.rows for k in row))
        with self.path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(self.rows)


class LastGoodCheckpoint(keras.callbacks.Callback):
    """Save the model at each epoch end unless its loss or weights are not finite, so
    that a diverged run keeps the last good model."""

    def __init__(self, path: Path, steps_per_epoch: int | None = None):
        super().__init__()
        self.path = Path(path)
        self.steps_per_epoch = steps_per_epoch
        # (epoch, first batch, last batch), counted from 1: the block of steps (one
        # batch, or a `steps_per_execution` block) whose loss was not finite.
        self.nan_at: tuple[int, int, int] | None = None
        self._epoch = 0
        self._block_start = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        self._block_start = batch

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and self.nan_at is None and not np.isfinite(float(loss)):
            # Keras numbers a block by its full length even where the epoch cuts it short.
            last = batch + 1 if self.steps_per_epoch is None else min(batch + 1, self.steps_per_epoch)
            self.nan_at = (self._epoch + 1, self._block_start + 1, last)

    def where(self) -> str:
        """Where the loss stopped being finite, in words: "epoch 2, batch 3" or, for a
        block of steps, "epoch 2, batches 1-16"."""
        epoch, first, last = self.nan_at
        return f"epoch {epoch}, batch {last}" if first == last else f"epoch {epoch}, batches {first}-{last}"

    def on_epoch_end(self, epoch, logs=None):
        if self.nan_at is not None or not np.isfinite(float((logs or {}).get("loss", 0.0))):
            return
        if not _weights_finite(self.model):
            return
        self.model.save(self.path)


def _weights_finite(model: keras.Model) -> bool:
    return all(np.all(np.isfinite(keras.ops.convert_to_numpy(w))) for w in model.weights)


class RunBackup(keras.callbacks.BackupAndRestore):
    """`BackupAndRestore` for run folders.

    - Never backs up non-finite weights: a run whose loss became NaN resumes from the
      last finite state.
    - Writes atomically: the weights and the metadata go to a scratch folder first and
      are renamed into place, so a process killed while saving leaves the previous
      backup whole instead of a truncated HDF5 file.
    - `writer=False` restores without writing: in a multi-worker run every worker
      restores the chief's backup (so all resume at the same epoch with the same
      weights) and only the chief writes it.
    - Knows the run's phase (`keras_cnns.training.finetune`: `"head"` or `"full"`, set
      before each phase's `fit`) and writes it into the metadata. A backup of another
      phase restores the model's weights and epoch but not the optimizer state: the
      phase's new optimizer has other variables (those of the layers it trains).
    """

    def __init__(self, backup_dir, *, writer: bool = True, phase: str = "full"):
        super().__init__(str(backup_dir), save_freq="epoch", delete_checkpoint=False)
        self.writer = writer
        self.phase = phase

    def _load_model(self):
        metadata = _read_json(Path(self._training_metadata_path))
        if metadata.get("phase", self.phase) == self.phase or not Path(self._weights_path).exists():
            super()._load_model()
            return
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self.model.load_weights(self._weights_path, objects_to_skip=[optimizer] if optimizer else None)
        self.model._initial_epoch = metadata["epoch"]  # noqa: SLF001  (as BackupAndRestore does)

    def on_epoch_end(self, epoch, logs=None):
        if _weights_finite(self.model):
            super().on_epoch_end(epoch, logs)

    def _save_model(self):
        if not self.writer:
            return
        final = Path(self.backup_dir)
        scratch = final / ".incoming"
        scratch.mkdir(parents=True, exist_ok=True)
        weights = scratch / Path(self._weights_path).name
        metadata = scratch / Path(self._training_metadata_path).name
        self.model.save_weights(filepath=str(weights), overwrite=True)
        metadata.write_text(
            json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen, "phase": self.phase})
        )
        os.replace(weights, self._weights_path)
        os.replace(metadata, self._training_metadata_path)  # last: the epoch it names is saved


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
