"""A training loop over `strategy.run` for `MultiWorkerMirroredStrategy`.

Keras 3's `model.fit` fails under `MultiWorkerMirroredStrategy` (keras-team/keras#20585:
per-replica values reach its reductions unreduced). This loop trains the same compiled
Keras model with its own optimizer and losses, one `strategy.run` per step, and drives the
same Keras callbacks (`BackupAndRestore`, checkpoints, history, TensorBoard, NaN
termination), so a multi-worker run leaves the same run folder as `model.fit` does.
"""

from __future__ import annotations

from typing import Any, Sequence

import keras
import tensorflow as tf


def _per_example_losses(model: keras.Model, labels, predictions):
    """Weighted sum over outputs of the compiled losses, one value per example."""
    losses = model.loss
    if isinstance(predictions, dict):
        weights = (model.get_compile_config() or {}).get("loss_weights") or {}
        total = 0.0
        for name, prediction in predictions.items():
            fn = losses[name] if isinstance(losses, dict) else losses
            total += weights.get(name, 1.0) * _unreduced(fn)(labels[name], prediction)
        return total
    return _unreduced(losses)(labels, predictions)


def _unreduced(loss: Any):
    fn = keras.losses.get(loss) if isinstance(loss, str) else loss
    config = fn.get_config()
    config["reduction"] = None
    return fn.__class__.from_config(config)


def _main(values):
    if isinstance(values, dict):
        return values["logits"] if "logits" in values else next(iter(values.values()))
    return values


def _hits(labels, predictions):
    labels, predictions = _main(labels), _main(predictions)
    predicted = tf.argmax(predictions, axis=-1, output_type=tf.int64)
    if labels.shape.rank == predictions.shape.rank:  # one-hot labels
        labels = tf.argmax(labels, axis=-1, output_type=tf.int64)
    return tf.cast(tf.equal(predicted, tf.cast(labels, tf.int64)), tf.float32)


def _accumulate(strategy, per_replica):
    return {k: strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in per_replica.items()}


def _agreed_finiteness(gradients: list) -> list:
    """The replica's gradients, all made NaN when any replica's are not finite.

    Keras' LossScaleOptimizer tests the gradients it is given for finiteness before its
    inner optimizer sums them over the replicas, and only the finite branch takes part in
    that sum: replicas that disagree (one overflowed in float16, another, on a padding
    batch of weight 0 or on easier images, did not) would wait for each other forever.
    With every replica's gradients non-finite as soon as one's are, all of them skip the
    step and lower the loss scale together, as the summed gradients would have them do.
    """
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in gradients if g is not None])
    bad = tf.distribute.get_replica_context().all_reduce(
        tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(finite, tf.float32))
    factor = tf.where(bad > 0, float("nan"), 1.0)
    return [None if g is None else g * tf.cast(factor, g.dtype) for g in gradients]


def _make_train_step(model: keras.Model, strategy: tf.distribute.Strategy):
    optimizer = model.optimizer
    variables = model.trainable_variables

    def replica_step(images, labels, weights=None):
        with tf.GradientTape() as tape:
            predictions = model(images, training=True)
            per_example = _per_example_losses(model, labels, predictions)
            if weights is None:
                weights = tf.ones_like(per_example)
            weights = tf.cast(weights, per_example.dtype)
            per_example = per_example * weights
            # Divided by the examples of all replicas (padding batches weigh 0:
            # `keras_cnns.training.sharding`).
            total = tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, tf.reduce_sum(weights))
            loss = tf.reduce_sum(per_example) / tf.maximum(total, 1.0)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            # LossScaleOptimizer (mixed_float16) scales the loss and unscales the
            # gradients in apply_gradients; other optimizers return the loss as it is.
            scaled = optimizer.scale_loss(loss)
        gradients = tape.gradient(scaled, variables)
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            gradients = _agreed_finiteness(gradients)
        optimizer.apply_gradients(zip(gradients, variables))
        weights = tf.cast(weights, tf.float32)
        return {
            "loss_sum": tf.cast(tf.reduce_sum(per_example), tf.float32),
            "correct": tf.reduce_sum(_hits(labels, predictions) * weights),
            "count": tf.reduce_sum(weights),
        }

    @tf.function
    def step(batch):
        return _accumulate(strategy, strategy.run(replica_step, args=batch))

    return step


def _make_eval_step(model: keras.Model, strategy: tf.distribute.Strategy):
    def replica_step(images, labels, weights=None):
        predictions = model(images, training=False)
        per_example = tf.cast(_per_example_losses(model, labels, predictions), tf.float32)
        weights = tf.ones_like(per_example) if weights is None else tf.cast(weights, tf.float32)
        return {
            "loss_sum": tf.reduce_sum(per_example * weights),
            "correct": tf.reduce_sum(_hits(labels, predictions) * weights),
            "count": tf.reduce_sum(weights),
        }

    @tf.function
    def step(batch):
        return _accumulate(strategy, strategy.run(replica_step, args=batch))

    return step


def _summarize(totals: dict, accuracy_name: str = "accuracy") -> dict:
    count = max(float(totals["count"]), 1.0)
    return {
        "loss": float(totals["loss_sum"]) / count,
        accuracy_name: float(totals["correct"]) / count,
    }


def evaluate(
    model: keras.Model,
    dataset: tf.data.Dataset,
    *,
    strategy: tf.distribute.Strategy,
    accuracy_name: str = "accuracy",
) -> dict:
    """Loss (without regularization) and accuracy of `model` on `dataset`, each example
    counted once: a `tf.data.Dataset`, whose batches the workers split (DATA sharding,
    whatever it reads), or a distributed dataset of `(images, targets, weights)`
    (`keras_cnns.training.sharding.evaluation_batches`)."""
    step = _make_eval_step(model, strategy)
    totals = {"loss_sum": 0.0, "correct": 0.0, "count": 0.0}
    if isinstance(dataset, tf.data.Dataset):
        options = tf.data.Options()
        # tf.data would shard TFRecord shards by FILE, which needs a file per worker.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        dataset = strategy.experimental_distribute_dataset(dataset.with_options(options))
    for batch in dataset:
        for key, value in step(batch).items():
            totals[key] += float(value)
    return _summarize(totals, accuracy_name)


def fit(
    model: keras.Model,
    train_dataset: tf.data.Dataset,
    validation_dataset: tf.data.Dataset | None,
    *,
    strategy: tf.distribute.Strategy,
    epochs: int,
    steps_per_epoch: int,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: Any = "auto",
    accuracy_name: str = "accuracy",
    initial_epoch: int = 0,
) -> list[dict]:
    """Train like `model.fit(train, validation_data=..., epochs=..., initial_epoch=...,
    callbacks=...)`.

    `model` must be built and compiled inside `strategy.scope()`. `train_dataset`
    holds the batches of every epoch still to train (`steps_per_epoch` each), as
    `build_pipeline(..., epochs=(first, end))` makes them: a `tf.data.Dataset` of global
    batches, or an already distributed dataset of `(images, targets, weights)`
    (`keras_cnns.training.sharding.worker_batches`). A `BackupAndRestore` callback
    that restores a backup sets the first epoch instead of `initial_epoch`, as in `fit`.
    """
    callback_list = keras.callbacks.CallbackList(
        list(callbacks), add_history=False, add_progbar=False, model=model,
        epochs=epochs, verbose=0,
    )
    if isinstance(train_dataset, tf.data.Dataset):
        train_dataset = strategy.experimental_distribute_dataset(train_dataset)
    batches = iter(train_dataset)
    train_step = _make_train_step(model, strategy)
    model.stop_training = False
    model._initial_epoch = None  # noqa: SLF001  (BackupAndRestore sets it on restore)
    if not model.optimizer.built:
        with strategy.scope():
            model.optimizer.build(model.trainable_variables)
    callback_list.on_train_begin()
    initial_epoch = int(model._initial_epoch or initial_epoch)  # noqa: SLF001
    history = []
    for epoch in range(initial_epoch, epochs):
        callback_list.on_epoch_begin(epoch)
        totals = _train_epoch(model, batches, train_step, callback_list, steps_per_epoch, accuracy_name)
        logs = _summarize(totals, accuracy_name)
        if validation_dataset is not None and not model.stop_training:
            logs.update(
                {f"val_{k}": v for k, v in evaluate(
                    model, validation_dataset, strategy=strategy, accuracy_name=accuracy_name
                ).items()}
            )
        if verbose:
            shown = ", ".join(f"{k}={v:.4f}" for k, v in logs.items())
            print(f"Epoch {epoch + 1}/{epochs}: {shown}", flush=True)
        callback_list.on_epoch_end(epoch, logs)
        history.append({"epoch": epoch + 1, **logs})
        if model.stop_training:
            break
    callback_list.on_train_end()
    return history


def _train_epoch(model, batches, train_step, callback_list, steps_per_epoch: int, accuracy_name: str) -> dict:
    """Up to `steps_per_epoch` steps on the next batches; the summed loss, hits and count."""
    totals = {"loss_sum": 0.0, "correct": 0.0, "count": 0.0}
    for index in range(steps_per_epoch):
        batch = next(batches, None)
        if batch is None:
            break
        callback_list.on_train_batch_begin(index)
        result = train_step(batch)
        for key, value in result.items():
            totals[key] += float(value)
        callback_list.on_train_batch_end(index, _summarize(result, accuracy_name))
        if model.stop_training:
            break
    return totals


def barrier(strategy: tf.distribute.Strategy) -> None:
    """Wait until every worker gets here (one tiny all-reduce)."""
    strategy.reduce(
        tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)), axis=None
    )


# What a collective op raises when a peer of a multi-worker run dies or stops answering.
PEER_FAILURES = (
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.CancelledError,
    tf.errors.AbortedError,
    tf.errors.InternalError,
)


class WorkerLost(RuntimeError):
    """A peer of a multi-worker run failed; the run can continue from `run_dir`'s backup."""

    def __init__(self, message: str, run_dir):
        super().__init__(message)
        self.run_dir = run_dir
