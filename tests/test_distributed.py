"""Training under tf.distribute: MirroredStrategy over 2 logical CPU devices, and
MultiWorkerMirroredStrategy with two worker processes on 127.0.0.1 (TF_CONFIG), both
through the same `train()` / `keras-cnns train` as one-device runs."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_cnns  # noqa: F401  (registers the custom objects the checkpoints hold)
from keras_cnns.precision import load_model

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import keras
    from keras_cnns.training import train
    common = dict(epochs=1, batch_size=64, limit=256, seed=3, verbose=0, validation_fraction=0.0,
                  model_options={"variant": "modern"}, runs_dir=sys.argv[1])
    two = train("lenet5", "fashion_mnist", strategy="mirrored", cpu_devices=2, **common)
    one = train("lenet5", "fashion_mnist", strategy="none", **common)
    # Loss scaling under MirroredStrategy (Keras' fit with a LossScaleOptimizer).
    half = train("lenet5", "fashion_mnist", strategy="mirrored", cpu_devices=2,
                 precision="mixed_float16", **common)
    try:
        train("lenet5", "fashion_mnist", strategy="mirrored", cpu_devices=2,
              **{**common, "batch_size": 33})
        odd = None
    except ValueError as err:
        odd = str(err)
    print(json.dumps({"two": two.history[0]["loss"], "one": one.history[0]["loss"],
                      "replicas_two": two.metrics["parameters"], "odd": odd,
                      "half": half.history[0]["loss"], "half_steps": int(keras.ops.convert_to_numpy(half.model.optimizer.iterations)),
                      "half_optimizer": type(half.model.optimizer).__name__}))
    """
)


def test_two_replicas_match_one_replica_of_the_same_global_batch(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, str(tmp_path)],
        env=ENV, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # Same data, same initial weights: only the order of the gradient sums differs.
    assert report["two"] == pytest.approx(report["one"], rel=1e-3)
    assert "batch_size`=33 is not divisible by the 2 replicas" in report["odd"]
    # 256 images, batch 64: four steps, none skipped; float16's rounding moves the loss a little.
    assert report["half_optimizer"] == "LossScaleOptimizer" and report["half_steps"] == 4
    assert report["half"] == pytest.approx(report["one"], rel=2e-2)


def _worker_command(run_dir, extra=(), dataset=("--dataset", "fashion_mnist", "--limit", "384")):
    return [
        sys.executable, "-m", "keras_cnns.cli", "train", "lenet5", *dataset,
        "--strategy", "multiworker", "--run-dir", str(run_dir), "--epochs", "3",
        "--batch-size", "64", "--seed", "5", "--verbose", "2", *extra,
    ]


def _tf_config(ports, index):
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


def _start(command, ports, index, log):
    env = dict(ENV, TF_CONFIG=_tf_config(ports, index), KERAS_CNNS_COLLECTIVE_TIMEOUT="30")
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


def test_two_workers_train_in_lock_step(tmp_path):
    ports = _free_ports(2)
    run_dir = tmp_path / "run"
    logs = [open(tmp_path / f"worker{i}.log", "w") for i in range(2)]
    # From TFRecord shards of Fashion-MNIST, which each worker reads its own of (3 of 5
    # and 2 of 5: 231 and 154 examples, so the second worker pads its last epoch steps).
    from keras_cnns.data import load, write_tfrecords

    shards = tmp_path / "shards"
    write_tfrecords(load("fashion_mnist", "train", limit=385), shards, shards=5)
    # The test split too, evaluated on each worker's own shard (33 and 32 examples).
    write_tfrecords(load("fashion_mnist", "test", limit=65), shards, shards=2)
    # In mixed_float16: the loop's loss scaling (scaled loss, unscaled gradients, the
    # scale's updates) must keep the workers in lock-step too. (The float32 loop is
    # test_resume.py's multi-worker run.)
    command = _worker_command(run_dir, ["--precision", "mixed_float16", "--validation-fraction", "0"],
                              dataset=("--dataset", f"tfrecord:{shards}"))
    workers = [_start(command, ports, i, logs[i]) for i in range(2)]
    codes = [w.wait(timeout=600) for w in workers]
    output = [(tmp_path / f"worker{i}.log").read_text()[-3000:] for i in range(2)]
    assert codes == [0, 0], output
    chief = load_model(run_dir / "checkpoints" / "last.keras", "mixed_float16")
    other = load_model(run_dir / "workers" / "worker-1" / "checkpoints" / "last.keras", "mixed_float16")
    for a, b in zip(chief.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert json.loads((run_dir / "config.json").read_text())["precision"] == "mixed_float16"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 3 and metrics["status"] == "completed"
    history = (run_dir / "history.csv").read_text().strip().splitlines()
    assert len(history) == 4
    assert "test accuracy:" in output[0]
    assert json.loads((run_dir / "config.json").read_text())["dataset"] == f"tfrecord:{shards}"
    # Each epoch's accuracy counts the 385 examples once (8 steps of 2 x 32 would be 512,
    # the padding batches weigh 0): a whole number of hits out of 385.
    for row in history[1:]:
        hits = float(row.split(",")[1]) * 385
        assert abs(hits - round(hits)) < 1e-6, row
    hits = metrics["test_accuracy"] * 65  # likewise: 65 test examples, each once
    assert abs(hits - round(hits)) < 1e-6, metrics


SHARDING_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    from keras_cnns.data import build_pipeline, load
    from keras_cnns.training import sharding
    from keras_cnns.training.strategies import make_strategy

    strategy = make_strategy("multiworker")
    data = load("folder:" + sys.argv[1], "train", validation_fraction=0)

    def make_epoch(split, batch_size, epoch):
        return build_pipeline(split, input_shape=(8, 8, 1), batch_size=batch_size, training=True,
                              normalization="none", seed=1, epochs=(epoch, epoch + 1))

    batches, steps = sharding.worker_batches(strategy, data, global_batch_size=8, epochs=(0, 2),
                                             make_epoch=make_epoch)
    seen, weights, taken = [], [], 0
    for batch in batches:
        images, labels, weight = (strategy.experimental_local_results(t)[0].numpy() for t in batch)
        seen.append((images[:, 0, 0, 0] / 10).round().astype(int).tolist())
        weights.append(weight.tolist())
        taken += 1
    print(json.dumps({"steps": steps, "taken": taken, "seen": seen, "weights": weights,
                      "reads": list(data.shard(strategy.cluster_resolver.task_id, 2).files.files)}))
    """
)


def test_each_worker_reads_its_own_files_and_together_they_see_every_example_once(tmp_path):
    """Two workers on 127.0.0.1, a folder of 25 images whose pixels are their number x 10:
    worker 0 reads 13 files and worker 1 the other 12; in batches of 4 per worker, both
    take 4 steps per epoch, worker 1's last one a repeat with weight 0."""
    from PIL import Image

    for index in range(25):
        folder = tmp_path / "images" / f"class{index % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 8), index * 10, np.uint8)).save(folder / f"{index:02d}.png")
    ports = _free_ports(2)
    workers = [
        subprocess.Popen([sys.executable, "-c", SHARDING_SCRIPT, str(tmp_path / "images")],
                         env=dict(ENV, TF_CONFIG=_tf_config(ports, i)), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for i in range(2)
    ]
    outputs = [w.communicate(timeout=300) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [err[-3000:] for _, err in outputs]
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert [len(r["reads"]) for r in reports] == [13, 12]
    assert set(reports[0]["reads"]).isdisjoint(reports[1]["reads"])
    for report in reports:
        assert report["steps"] == 4 and report["taken"] == 2 * 4
    for epoch in range(2):
        counted = []
        for report in reports:
            for seen, weight in zip(report["seen"][epoch * 4:(epoch + 1) * 4],
                                    report["weights"][epoch * 4:(epoch + 1) * 4]):
                counted += [s for s, w in zip(seen, weight) if w == 1.0]
                assert set(weight) <= {0.0, 1.0}
        assert sorted(counted) == list(range(25)), epoch
    # Worker 1's fourth batch is padding: weight 0.
    assert reports[1]["weights"][3] == [0.0] * len(reports[1]["weights"][3])


def test_collective_timeout_comes_from_the_environment(monkeypatch):
    """README: `KERAS_CNNS_COLLECTIVE_TIMEOUT` (seconds, default 120) bounds a collective
    operation of multi-worker training (the lost-worker test sets it to 30)."""
    from keras_cnns.training.strategies import communication_options

    monkeypatch.delenv("KERAS_CNNS_COLLECTIVE_TIMEOUT", raising=False)
    assert communication_options().timeout_seconds == 120
    monkeypatch.setenv("KERAS_CNNS_COLLECTIVE_TIMEOUT", "45.5")
    assert communication_options().timeout_seconds == 45.5
    for bad in ("0", "-3", "soon", "inf", "nan"):
        monkeypatch.setenv("KERAS_CNNS_COLLECTIVE_TIMEOUT", bad)
        with pytest.raises(ValueError, match=rf"KERAS_CNNS_COLLECTIVE_TIMEOUT='{bad}': expected a positive"):
            communication_options()
