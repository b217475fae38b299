"""Multi-worker input by file: each worker reads its own files, and every worker takes the
same number of steps.

tf.data's automatic sharding splits a data set by FILE only when the files are read by
its own reader datasets; for image folders it falls back to DATA sharding, where every
worker reads and decodes every file and keeps a share. Here the split is sharded
explicitly (`DataSplit.shard`: worker i reads files i, i + n, i + 2n, ...) and each
worker's pipeline is built by `strategy.distribute_datasets_from_function`.

The workers' shards differ in size by up to a file (or a shard's records), but collective
training needs every worker to run every step. Each batch carries example weights: 1 for
the worker's examples, and a worker whose epoch ends early repeats its first batch with
weight 0 until the others end theirs (`pad_epoch`). The loop's loss and metrics are
weighted sums divided by the summed weights of all workers, so an epoch counts each
example exactly once (the padding batches pass through the network, so batch
normalization's moving averages see them: one batch a worker at most per epoch).
Validation and test splits are read the same way when they have a file per worker
(`evaluation_batches`).
"""

from __future__ import annotations

import math
from typing import Callable

import tensorflow as tf

from keras_cnns.data import DataSplit

#: `make_epoch(split, batch_size, epoch)` -> that epoch's batches `(images, targets)`.
EpochBatches = Callable[[DataSplit, int, int], tf.data.Dataset]


def worker_count(strategy: tf.distribute.Strategy) -> int:
    """The workers (input pipelines) of a multi-worker strategy."""
    jobs = strategy.cluster_resolver.cluster_spec().as_dict()
    return sum(len(jobs.get(job, ())) for job in ("chief", "worker"))


def steps_per_epoch(data: DataSplit, workers: int, per_replica_batch: int, local_replicas: int = 1) -> int:
    """The steps every worker runs per epoch: those of the worker with the most examples."""
    most = max(data.shard(w, workers).num_examples for w in range(workers))
    return math.ceil(math.ceil(most / per_replica_batch) / local_replicas)


def pad_epoch(batches: tf.data.Dataset, real: int, total: int) -> tf.data.Dataset:
    """`(images, targets, weights)`: the `real` batches with weight 1, then the first
    one again with weight 0 until there are `total`."""

    def weighted(value):
        def add(images, targets):
            return images, targets, tf.fill(tf.shape(tf.nest.flatten(targets)[0])[:1], value)
        return add

    ones = batches.map(weighted(1.0))
    if total == real:
        return ones
    return ones.concatenate(batches.take(1).map(weighted(0.0)).repeat(total - real))


def worker_batches(
    strategy: tf.distribute.Strategy, data: DataSplit, *, global_batch_size: int,
    epochs: tuple[int, int], make_epoch: EpochBatches,
) -> tuple[tf.distribute.DistributedDataset, int]:
    """The distributed batches of epochs `first .. end - 1`, each worker reading its own
    files, and the steps per epoch (the same on every worker)."""
    workers = worker_count(strategy)
    replicas = strategy.num_replicas_in_sync
    if global_batch_size % replicas:
        raise ValueError(
            f"`batch_size`={global_batch_size} is not divisible by the {replicas} replicas; use a "
            f"multiple of {replicas}."
        )
    per_replica, local = global_batch_size // replicas, replicas // workers
    steps = steps_per_epoch(data, workers, per_replica, local)

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        own = data.shard(context.input_pipeline_id, context.num_input_pipelines)
        real = math.ceil(own.num_examples / per_replica)
        passes = [pad_epoch(make_epoch(own, per_replica, epoch), real, steps * local)
                  for epoch in range(*epochs)]
        while len(passes) > 1:  # a balanced tree keeps the nesting shallow
            passes = [passes[i].concatenate(passes[i + 1]) if i + 1 < len(passes) else passes[i]
                      for i in range(0, len(passes), 2)]
        ds = passes[0]
        options = tf.data.Options()
        # Already this worker's own files: no automatic sharding on top.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return ds.with_options(options)

    return strategy.distribute_datasets_from_function(dataset_fn), steps


def evaluation_batches(
    strategy: tf.distribute.Strategy, data: DataSplit, *, global_batch_size: int,
    make_batches: Callable[[DataSplit, int], tf.data.Dataset],
) -> tf.distribute.DistributedDataset | None:
    """A validation or test split's distributed batches `(images, targets, weights)`, each
    worker reading its own files (`make_batches(split, batch_size)` makes a worker's
    batches); None when the split is not read from files or has fewer files than there
    are workers (the caller then splits the batches: DATA sharding)."""
    if data.files is None or len(data.files.files) < worker_count(strategy):
        return None
    batches, _ = worker_batches(
        strategy, data, global_batch_size=global_batch_size, epochs=(0, 1),
        make_epoch=lambda split, batch_size, epoch: make_batches(split, batch_size),
    )
    return batches
