"""Fault tolerance: a training process killed mid-epoch (SIGKILL) resumes from its last
backup and ends on the same weights as an uninterrupted seeded run; a multi-worker run
with one worker killed and restarted finishes."""

import json
import signal
import subprocess
import sys
import time

import keras
import numpy as np

from test_distributed import ENV, _free_ports, _start, _worker_command

# No random augmentation: its draws restart with the process (see build_pipeline's
# `epochs`), while the data order and every weight update are reproduced exactly.
ARGS = ["--epochs", "4", "--batch-size", "32", "--limit", "4000", "--seed", "11", "--verbose", "0",
        "--validation-fraction", "0.1", "--option", "variant=modern", "--set", "augmentation=[]"]


def _train(run_dir, *extra):
    return [sys.executable, "-m", "keras_cnns.cli", "train", "lenet5", "--run-dir", str(run_dir), *ARGS, *extra]


def _backup_epoch(run_dir):
    path = run_dir / "backup" / "training_metadata.json"
    try:
        return json.loads(path.read_text())["epoch"]
    except (OSError, ValueError, KeyError):
        return 0


def _wait_for_epoch(run_dir, process, epoch, timeout=300):
    deadline = time.time() + timeout
    while _backup_epoch(run_dir) < epoch:
        assert process.poll() is None, "training ended before it could be interrupted"
        assert time.time() < deadline, "no backup appeared"
        time.sleep(0.02)


def _weights(path):
    return keras.saving.load_model(path).get_weights()


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    reference = subprocess.run(_train(tmp_path / "reference"), env=ENV, capture_output=True, text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr[-3000:]

    run_dir = tmp_path / "interrupted"
    process = subprocess.Popen(_train(run_dir), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _wait_for_epoch(run_dir, process, 2)
    time.sleep(0.3)  # into the third epoch
    assert process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert _backup_epoch(run_dir) == 2 and not (run_dir / "metrics.json").exists()

    resumed = subprocess.run(
        [sys.executable, "-m", "keras_cnns.cli", "train", "--resume", str(run_dir), "--verbose", "0"],
        env=ENV, capture_output=True, text=True, timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    for a, b in zip(_weights(run_dir / "checkpoints" / "last.keras"),
                    _weights(tmp_path / "reference" / "checkpoints" / "last.keras")):
        np.testing.assert_array_equal(a, b)
    history = (run_dir / "history.csv").read_text().strip().splitlines()
    assert [line.split(",")[0] for line in history[1:]] == ["1", "2", "3", "4"]


def test_multiworker_run_survives_a_killed_worker(tmp_path):
    ports = _free_ports(2)
    run_dir = tmp_path / "run"
    extra = ["--limit", "3000", "--batch-size", "32", "--epochs", "4"]
    logs = [open(tmp_path / f"worker{i}.log", "w") for i in range(2)]
    workers = [_start(_worker_command(run_dir, extra), ports, i, logs[i]) for i in range(2)]
    _wait_for_epoch(run_dir, workers[0], 1)
    workers[1].send_signal(signal.SIGKILL)
    workers[1].wait()
    # The cluster manager's part: restart the lost worker on its own address.
    restart_log = open(tmp_path / "worker1-restart.log", "w")
    command = [sys.executable, "-m", "keras_cnns.cli", "train", "--resume", str(run_dir), "--verbose", "2"]
    workers[1] = _start(command, ports, 1, restart_log)
    codes = [w.wait(timeout=600) for w in workers]
    output = [p.read_text()[-3000:] for p in sorted(tmp_path.glob("worker*.log"))]
    assert codes == [0, 0], (codes, output)
    assert "restarting from the last backup" in (tmp_path / "worker0.log").read_text()
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs"] == 4 and metrics["status"] == "completed"
    for a, b in zip(_weights(run_dir / "checkpoints" / "last.keras"),
                    _weights(run_dir / "workers" / "worker-1" / "checkpoints" / "last.keras")):
        np.testing.assert_array_equal(a, b)
