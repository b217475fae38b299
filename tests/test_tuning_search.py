"""`keras_cnns.tuning.tune` on real Fashion-MNIST subsets: files, resumption, the three
tuners, retraining and export of the best configuration, an unreachable oracle."""

import json
import socket
import time

import keras
import numpy as np
import pytest

from keras_cnns.cli import main
from keras_cnns.tuning import OBJECTIVE, OracleUnreachableError, read_results, tune

TINY = dict(limit=160, epochs=1, seed=0, verbose=0)


def test_search_writes_its_folder_and_resumes(tmp_path, capsys):
    first = tune("lenet", tuner="random", max_trials=2, directory=tmp_path, project_name="p", **TINY)
    folder = tmp_path / "p"
    assert first.project_dir == folder and first.role == "single"
    assert first.trials_run == ["0", "1"]
    for name in ("oracle.json", "results.csv", "best_hyperparameters.json", "trial_0", "trial_1"):
        assert (folder / name).exists(), name
    rows = read_results(folder / "results.csv")
    assert [r["status"] for r in rows] == ["COMPLETED", "COMPLETED"]
    scores = [float(r[OBJECTIVE]) for r in rows]
    assert scores == sorted(scores, reverse=True)  # best first
    best = json.loads((folder / "best_hyperparameters.json").read_text())
    assert best["score"] == pytest.approx(scores[0]) == pytest.approx(first.best_score)
    assert best["hyperparameters"] == first.best_hyperparameters
    assert best["trial_id"] == rows[0]["trial_id"]
    assert rows[0]["optimizer"] == first.best_hyperparameters["optimizer"]

    # The same folder, more trials: the two finished trials are kept, one more runs.
    capsys.readouterr()
    second = tune("lenet", tuner="random", max_trials=3, directory=tmp_path, project_name="p", **TINY)
    assert "Reloading Tuner" not in capsys.readouterr().out  # verbose=0 prints nothing of it
    assert second.trials_run == ["2"]
    rows = {r["trial_id"]: r for r in read_results(folder / "results.csv")}
    assert sorted(rows) == ["0", "1", "2"]
    assert {t: float(rows[t][OBJECTIVE]) for t in ("0", "1")} == {
        r["trial_id"]: r[OBJECTIVE] for r in first.results
    }
    # A finished search resumed with the same budget runs nothing.
    third = tune("lenet", tuner="random", max_trials=3, directory=tmp_path, project_name="p", **TINY)
    assert third.trials_run == [] and len(third.results) == 3
    # overwrite=True starts afresh.
    fresh = tune("lenet", tuner="random", max_trials=1, directory=tmp_path, project_name="p",
                 overwrite=True, **TINY)
    assert fresh.trials_run == ["0"] and len(read_results(folder / "results.csv")) == 1


def test_printed_results_table(tmp_path, capsys):
    tune("lenet", max_trials=1, directory=tmp_path, fixed={"variant": "modern", "activation": "tanh"},
         limit=160, epochs=1, seed=0, verbose=1)
    out = capsys.readouterr().out
    header = next(line for line in out.splitlines() if line.startswith("trial_id"))
    for column in ("status", OBJECTIVE, "best_epoch", "tuner", "variant", "activation", "learning_rate"):
        assert column in header
    assert "best val_accuracy" in out and '"activation": "tanh"' in out


def test_bayesian_search_and_narrowed_space(tmp_path):
    result = tune("lenet", tuner="bayesian", max_trials=3, directory=tmp_path,
                  fixed={"variant": "modern"}, ranges={"learning_rate": (1e-3, 1e-2), "optimizer": ["adam"]},
                  **TINY)
    assert len(result.results) == 3 and all(r["status"] == "COMPLETED" for r in result.results)
    for row in result.results:
        assert row["variant"] == "modern" and row["optimizer"] == "adam"
        assert 1e-3 <= row["learning_rate"] <= 1e-2


def test_hyperband_respects_max_trials_and_hides_its_bookkeeping(tmp_path):
    # One epoch is a one-trial bracket: Hyperband repeats brackets until max_trials.
    result = tune("lenet", tuner="hyperband", max_trials=3, directory=tmp_path, **TINY)
    assert len(result.results) == 3 and all(r["status"] == "COMPLETED" for r in result.results)
    assert not any(k.startswith("tuner/") for k in result.best_hyperparameters)
    rows = read_results(result.project_dir / "results.csv")
    assert not any(k.startswith("tuner/") for k in rows[0])


def test_retrain_and_export_the_best_configuration(tmp_path):
    export_dir = tmp_path / "saved_models" / "lenet_tuned"
    # Adam on the paper LeNet-5, which learns in 20 steps (batch 16, 320 images); TINY's
    # random draw (RMSProp, 3 steps) stays at chance.
    result = tune("lenet", max_trials=1, directory=tmp_path, retrain_best=True, export_dir=export_dir,
                  fixed={"variant": "paper", "optimizer": "adam"}, ranges={"learning_rate": (5e-4, 2e-3)},
                  batch_size=16, **{**TINY, "limit": 320})
    assert result.best_model_path == result.project_dir / "best_model.keras"
    model = keras.models.load_model(result.best_model_path)
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    # Retrained test accuracy 0.619 with this seed (0; run to run the same), 0.450 and 0.475
    # with seeds 1 and 2 (2026-12-06); chance is 0.1.
    assert result.test_metrics["test_accuracy"] >= 0.3
    metrics = json.loads((result.project_dir / "best_model_metrics.json").read_text())
    assert metrics == result.test_metrics
    # The export is TF Serving's layout: a numbered version folder with the SavedModel.
    assert result.export_path == export_dir / "1"
    assert (result.export_path / "saved_model.pb").is_file()
    import tensorflow as tf

    loaded = tf.saved_model.load(str(result.export_path))
    images = np.zeros((2, 28, 28, 1), np.uint8)
    probabilities = loaded.signatures["serving_default"](images=tf.constant(images))["probabilities"]
    expected = model.predict(images.astype("float32") / 255.0, verbose=0)
    np.testing.assert_allclose(probabilities.numpy(), expected, atol=1e-5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_worker_with_an_unreachable_oracle_fails_after_its_timeout(tmp_path, monkeypatch, capsys):
    port = _free_port()  # nothing listens there
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner0")
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", str(port))
    started = time.monotonic()
    with pytest.raises(OracleUnreachableError) as err:
        tune("lenet", max_trials=1, directory=tmp_path, oracle_timeout=1.5, **TINY)
    assert f"127.0.0.1:{port}" in str(err.value) and "did not answer within 1.5 s" in str(err.value)
    assert time.monotonic() - started < 60
    # The CLI: a clear message and exit code 3.
    assert main(["tune", "lenet", "--directory", str(tmp_path), "--limit", "160", "--epochs", "1",
                 "--verbose", "0", "--oracle-timeout", "1"]) == 3
    assert "did not answer within 1 s" in capsys.readouterr().err
    # Half a configuration is refused before anything runs.
    monkeypatch.delenv("KERASTUNER_ORACLE_PORT")
    with pytest.raises(ValueError, match="KERASTUNER_ORACLE_PORT"):
        tune("lenet", max_trials=1, directory=tmp_path, **TINY)
