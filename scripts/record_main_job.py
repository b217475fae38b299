#!/usr/bin/env python
"""Write `results/main_job.json`: what `scripts/main.sh` measured, for the README.

    python scripts/record_main_job.py RUN_DIR STARTED LOAD_BEFORE [TFLITE]

RUN_DIR is the training run, STARTED the job's start (seconds since the epoch, before its
set-up), LOAD_BEFORE the one-minute load average then. The test accuracy and epochs come
from the run's `metrics.json` and `config.json`; the LiteRT figure re-runs the exported
TFLite file on the first 8 test images, as `keras-cnns predict` did.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "main_job.json"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    run_dir, started, load_before = Path(argv[0]), float(argv[1]), float(argv[2])
    tflite = argv[3] if len(argv) > 3 else "saved_models/lenet5.tflite"
    wall = time.time() - started
    from keras_cnns.console import quiet_console
    from keras_cnns.export.predict import predict_dataset

    metrics = json.loads((run_dir / "metrics.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    with quiet_console():  # as `keras-cnns predict`: no LiteRT start-up lines
        rows = predict_dataset(tflite, "fashion_mnist", split="test", count=8)
    record = {
        "by": "bash scripts/main.sh",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "wall_seconds": round(wall, 1),
        "test_accuracy": metrics["test_accuracy"],
        "epochs": metrics["epochs"],
        "seed": config.get("seed"),
        "litert_count": len(rows),
        "litert_correct": sum(r["true"] == r["predicted"] for r in rows),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}: test accuracy {record['test_accuracy']:.4f}, "
          f"{record['litert_correct']} of {record['litert_count']} LiteRT predictions correct, "
          f"{wall:.0f} s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
