"""A real KerasTuner search: LeNet-5 on Fashion-MNIST with `keras_cnns.tune`, as a user
runs it.

    python -m benchmarks.tuning [--quick]

`keras_cnns.tune("lenet", "fashion_mnist", tuner="random", max_trials=8, epochs=5,
limit=10_000, seed=0, retrain_best=True)` into a temporary folder (`SEARCH`): a random
search over LeNet-5's hypermodel (variant, activation, pooling, optimizer, learning rate,
weight decay, label smoothing), each trial trained for 5 epochs on the first 10,000
images of the training split and scored by its accuracy on the validation split (the 10 %
of Fashion-MNIST's training set that `tune` holds out: 6,000 images, all under the limit),
then the best configuration trained again for 5 epochs and evaluated on the first 10,000
test images (the whole test set). The number of images of each split is recorded.

Recorded: the wall time of the whole call (search and retraining), every trial (its
hyperparameters, validation accuracy and best epoch, best first), the best and the worst
completed trial, and the retrained model's test accuracy and loss.

`--quick` (the harness's test): 2 trials of 1 epoch on 1,000 images of each split.
"""

from __future__ import annotations

import sys
import tempfile
import time

from benchmarks import common

SEARCH = {"family": "lenet", "dataset": "fashion_mnist", "tuner": "random", "max_trials": 8,
          "epochs": 5, "limit": 10_000, "seed": 0, "retrain_best": True}
QUICK = dict(SEARCH, max_trials=2, epochs=1, limit=1000)
_TRIAL_KEYS = ("trial_id", "status", "val_accuracy", "best_epoch", "tuner")


def _trial(row: dict) -> dict:
    return {"trial_id": row["trial_id"], "status": row["status"], "val_accuracy": row["val_accuracy"],
            "best_epoch": row["best_epoch"],
            "hyperparameters": {k: v for k, v in row.items() if k not in _TRIAL_KEYS}}


def run(quick: bool = False) -> dict:
    import keras_cnns

    common.pin_threads_in_process("tensorflow")
    search = QUICK if quick else SEARCH
    arguments = {k: v for k, v in search.items() if k not in ("family", "dataset")}
    load_before = common.load()
    with tempfile.TemporaryDirectory(prefix="bench-tuning-") as folder:
        started = time.perf_counter()
        result = keras_cnns.tune(search["family"], search["dataset"], directory=folder, overwrite=True,
                                 verbose=0, **arguments)
        seconds = time.perf_counter() - started
    from keras_cnns.data import load

    # The splits as `tune` loads them (its default validation_fraction, 0.1).
    images = {split: load(search["dataset"], split, validation_fraction=0.1, seed=search["seed"],
                          limit=search["limit"]).num_examples for split in ("train", "validation", "test")}
    trials = [_trial(row) for row in result.results]  # best first
    completed = [t for t in trials if t["status"] == "COMPLETED" and t["val_accuracy"] is not None]
    common.log(f"  {len(completed)} trials in {seconds:.0f} s; best {completed[0]['val_accuracy']:.4f}, "
               f"worst {completed[-1]['val_accuracy']:.4f}, retrained test accuracy "
               f"{result.test_metrics['test_accuracy']:.4f}")
    return {
        "search": search,
        "images": images,
        "wall_seconds": seconds,
        "trials_completed": len(completed),
        "best": completed[0],
        "worst": completed[-1],
        "trials": trials,
        "retrained": {"epochs": search["epochs"], "test_accuracy": result.test_metrics["test_accuracy"],
                      "test_loss": result.test_metrics["test_loss"]},
        "load_before": load_before,
        "load_after": common.load(),
    }


def main(argv=None) -> int:
    return common.script_main(__doc__, run, argv)


if __name__ == "__main__":
    sys.exit(main())
