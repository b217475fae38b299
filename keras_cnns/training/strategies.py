"""tf.distribute strategies by name: none, auto, mirrored, multiworker."""

from __future__ import annotations

import json
import os

import tensorflow as tf

STRATEGIES = ("auto", "none", "mirrored", "multiworker")


def configure_cpu_devices(count: int) -> None:
    """Split the CPU into `count` logical devices (before TensorFlow initializes them)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"`cpu_devices` must be a positive integer; received {count!r}.")
    cpu = tf.config.list_physical_devices("CPU")[0]
    wanted = [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) == count:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, wanted)
    except RuntimeError as err:
        have = len(tf.config.list_logical_devices("CPU"))
        if have == count:
            return
        raise ValueError(
            f"`cpu_devices={count}` must be set before TensorFlow starts its devices; this "
            f"process already runs with {have} CPU device(s). Start a new process (the CLI "
            "does this for you)."
        ) from err


def make_strategy(name: str = "auto", cpu_devices: int | None = None) -> tf.distribute.Strategy:
    """Create a strategy.

    - `"none"`: TensorFlow's default strategy (one device).
    - `"mirrored"`: `MirroredStrategy` over the GPUs, or over `cpu_devices` logical CPU
      devices when given (so that data parallelism can be tried on a laptop).
    - `"multiworker"`: `MultiWorkerMirroredStrategy`, from the `TF_CONFIG` environment
      variable (one process per worker).
    - `"auto"`: multiworker when `TF_CONFIG` names a cluster, mirrored when several GPUs
      or `cpu_devices > 1`, else none.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown `strategy`: {name!r}; accepted: {', '.join(STRATEGIES)}.")
    if cpu_devices is not None:
        configure_cpu_devices(cpu_devices)
    if name == "auto":
        if _tf_config_cluster():
            name = "multiworker"
        elif len(tf.config.list_physical_devices("GPU")) > 1 or (cpu_devices or 1) > 1:
            name = "mirrored"
        else:
            name = "none"
    if name == "none":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus and not cpu_devices:
            return tf.distribute.MirroredStrategy()
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        # NCCL is GPU-only: reduce through one device on CPUs.
        return tf.distribute.MirroredStrategy(
            devices, cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    if not _tf_config_cluster():
        raise ValueError(
            "`strategy='multiworker'` needs the TF_CONFIG environment variable describing the "
            'cluster, e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}\' on the first machine.'
        )
    return tf.distribute.MultiWorkerMirroredStrategy(communication_options=communication_options())


#: Seconds a collective operation of multi-worker training may wait for the other workers.
DEFAULT_COLLECTIVE_TIMEOUT = 120.0


def communication_options() -> tf.distribute.experimental.CommunicationOptions:
    """Multi-worker collective options: `KERAS_CNNS_COLLECTIVE_TIMEOUT` seconds (default
    120) bound each collective, so that a lost peer stops the others with an error instead
    of a hang."""
    raw = os.environ.get("KERAS_CNNS_COLLECTIVE_TIMEOUT", "")
    timeout = DEFAULT_COLLECTIVE_TIMEOUT
    if raw.strip():
        try:
            timeout = float(raw)
        except ValueError:
            timeout = float("nan")
        if not timeout > 0 or timeout == float("inf"):
            raise ValueError(
                f"KERAS_CNNS_COLLECTIVE_TIMEOUT={raw!r}: expected a positive number of seconds "
                f"(default {DEFAULT_COLLECTIVE_TIMEOUT:g})."
            )
    return tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)


def _tf_config_cluster() -> dict:
    raw = os.environ.get("TF_CONFIG", "")
    if not raw:
        return {}
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"TF_CONFIG is not valid JSON: {err}") from err
    return config.get("cluster", {})


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def worker_info(strategy: tf.distribute.Strategy) -> tuple[int, bool]:
    """(task index, is chief) of this process; (0, True) outside multi-worker training."""
    if not is_multi_worker(strategy):
        return 0, True
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, resolver.task_id
    chief = task_type == "chief" or (
        task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().as_dict()
    )
    return int(task_id or 0), chief
