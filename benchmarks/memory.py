"""Peak memory of one DenseNet-BC-100 training step at batch 64, plain against
memory-efficient (Pleiss et al. 2017): `densenet_memory.py`'s measurement, run from run.py.

Each mode runs in a fresh process (nothing shared between them), the modes alternate
over the rounds; see `densenet_memory.py` for what the two memory figures mean. Quick mode
measures the small DenseNet-40 at batch 8, one step, to keep the scripts exercised.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402
import densenet_memory  # noqa: E402

FULL = dict(model="densenet_bc100", batch=64, steps=3, warmup=2, rounds=2)
QUICK = dict(model="densenet40", batch=8, steps=1, warmup=1, rounds=1)


def run(quick: bool = False, log=None) -> dict:
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    settings = QUICK if quick else FULL
    args = argparse.Namespace(**settings)
    runs = {mode: [] for mode in densenet_memory.MODES}
    load_before = common.load()
    for _ in range(settings["rounds"]):
        for mode in densenet_memory.MODES:
            runs[mode].append(densenet_memory._run_mode(mode, args))
            log(f"  {settings['model']} {mode}: peak RSS {runs[mode][-1]['peak_rss_mb']:.0f} MB, "
                f"step {runs[mode][-1]['step_s']:.2f} s")
    result = {mode: densenet_memory._aggregate(runs[mode]) for mode in densenet_memory.MODES}
    plain, efficient = result["plain"], result["memory_efficient"]
    return {
        **settings,
        "modes": result,
        "ratio_peak_step": plain["peak_step_mb"] / efficient["peak_step_mb"],
        "ratio_peak_rss": plain["peak_rss_mb"] / efficient["peak_rss_mb"],
        "ratio_time": efficient["step_s"] / plain["step_s"],
        "load_before": load_before,
        "load_after": common.load(),
    }


def main(argv=None) -> int:
    return common.script_main(__doc__, run, argv)


if __name__ == "__main__":
    sys.exit(main())
