"""Fine-tuning on real data: pretrained features against training from scratch.

    python -m benchmarks.finetune                  # every seed of SEEDS, writes results/finetune.json
    python -m benchmarks.finetune --seeds 0 --out /tmp/finetune.json

What it measures, with `keras_cnns.train` exactly as a user calls it (folders of PNG images,
one sub-folder per class, `dataset="folder:..."`), on real Fashion-MNIST images (the IDX
files of Debian's `dataset-fashion-mnist`, `/usr/share/datasets/fashion-mnist/`, resized to
16x16 pixels to keep it cheap):

1. **pretrain** ResNet-20 on classes 0-4 (T-shirt/top, Trouser, Pullover, Dress, Coat) with
   the quick recipe; its run's checkpoint (`checkpoints/last.keras`) holds the weights;
2. **fine-tune** from that checkpoint on a few labelled images of classes 5-9 (Sandal,
   Shirt, Sneaker, Bag, Ankle boot): `train(weights=checkpoint, freeze_epochs=...)`, which
   takes the `finetune` recipe (the new head alone, then every layer);
3. **scratch**: the same images, the same batch size and number of steps, the quick recipe,
   random initial weights;

and evaluates both on held-out test images of classes 5-9. Each seed draws its own images
and seeds its runs (deterministic ops): a seed's figures repeat exactly on one machine.
`tests/test_finetune.py` runs seed `TEST_SEED` and asserts a margin of at least `BOUND`
(below the smallest margin of the committed seeds); it also checks that the README's table
is `readme_table()` of the committed `results/finetune.json`.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results" / "finetune.json"
FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = ("t-shirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
               "sneaker", "bag", "ankle_boot")
SETTINGS = {
    "model": "resnet20",
    "model_options": {},
    "image_size": 16,
    "pretrain_classes": [0, 1, 2, 3, 4],
    "target_classes": [5, 6, 7, 8, 9],
    "pretrain_images_per_class": 500,
    "pretrain_epochs": 4,
    "pretrain_batch_size": 32,
    "finetune_images_per_class": 20,
    "test_images_per_class": 200,
    "batch_size": 10,
    "epochs": 16,
    "freeze_epochs": 8,
}
SEEDS = (0, 1, 2, 3, 4)
TEST_SEED = 0  # the seed tests/test_finetune.py measures
# The margin (fine-tuned minus scratch test accuracy) the test asserts: the committed seeds'
# smallest margin is 25 points, so 15 leaves room for other machines' rounding.
BOUND = 0.15


def _read_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    from keras_cnns.data import read_idx

    prefix = "train" if split == "train" else "t10k"
    images = read_idx(FASHION_MNIST / f"{prefix}-images-idx3-ubyte.gz")
    labels = read_idx(FASHION_MNIST / f"{prefix}-labels-idx1-ubyte.gz")
    return images, labels


def write_folder(root: Path, splits: dict, classes: list[int], per_class: dict, rng, size: int = 28) -> dict:
    """PNG images of `classes` under `root/<split>/<N_name>/`, `per_class[split]` drawn at
    random from each class of the real split and resized to `size` x `size` (antialiased);
    returns the count per split."""
    import tensorflow as tf

    counts = {}
    for split, (images, labels) in splits.items():
        counts[split] = 0
        for label in classes:
            folder = root / split / f"{label}_{CLASS_NAMES[label]}"
            folder.mkdir(parents=True, exist_ok=True)
            chosen = rng.choice(np.flatnonzero(labels == label), per_class[split], replace=False)
            pixels = images[chosen][..., None]
            if size != pixels.shape[1]:
                pixels = tf.image.resize(pixels, (size, size), antialias=True)
                pixels = tf.cast(tf.clip_by_value(tf.round(pixels), 0, 255), tf.uint8).numpy()
            for index, image in zip(chosen, pixels):
                png = tf.io.encode_png(image).numpy()
                (folder / f"{index:05d}.png").write_bytes(png)
            counts[split] += len(chosen)
    return counts


def measure(workdir: str | Path, seed: int, settings: dict = SETTINGS) -> dict:
    """One seed: pretrain, fine-tune and scratch runs (module docstring); their figures."""
    from keras_cnns.training import train

    work, s = Path(workdir), settings
    rng = np.random.default_rng(seed)
    splits = {"train": _read_split("train"), "test": _read_split("test")}
    test_count = s["test_images_per_class"]
    write_folder(work / "pretrain", splits, s["pretrain_classes"],
                 {"train": s["pretrain_images_per_class"], "test": test_count}, rng, s["image_size"])
    counts = write_folder(work / "target", splits, s["target_classes"],
                          {"train": s["finetune_images_per_class"], "test": test_count}, rng, s["image_size"])
    common = dict(seed=seed, verbose=0, validation_fraction=0.0, model_options=s["model_options"])
    pretrained = train(s["model"], f"folder:{work / 'pretrain'}", recipe="quick", run_dir=work / "runs" / "pretrain",
                       epochs=s["pretrain_epochs"], batch_size=s["pretrain_batch_size"], **common)
    checkpoint = pretrained.run_dir / "checkpoints" / "last.keras"
    target = dict(dataset=f"folder:{work / 'target'}", epochs=s["epochs"], batch_size=s["batch_size"], **common)
    finetuned = train(s["model"], weights=checkpoint, freeze_epochs=s["freeze_epochs"],
                      run_dir=work / "runs" / "finetune", **target)
    scratch = train(s["model"], recipe="quick", run_dir=work / "runs" / "scratch", **target)
    steps = s["epochs"] * math.ceil(counts["train"] / s["batch_size"])
    return {
        "seed": seed,
        "pretrain_accuracy": pretrained.metrics["test_accuracy"],
        "finetuned_accuracy": finetuned.metrics["test_accuracy"],
        "scratch_accuracy": scratch.metrics["test_accuracy"],
        "margin": finetuned.metrics["test_accuracy"] - scratch.metrics["test_accuracy"],
        "train_images": counts["train"],
        "test_images": counts["test"],
        "steps": steps,
        "finetune_recipe": json.loads((finetuned.run_dir / "config.json").read_text())["recipe"]["name"],
        "wall_seconds": {name: run.metrics["wall_time_seconds"] for name, run in
                         (("pretrain", pretrained), ("finetune", finetuned), ("scratch", scratch))},
    }


def summarize(rows: list[dict]) -> dict:
    """The results file: settings, every seed's figures, and their summary."""
    margins = [row["margin"] for row in rows]
    return {
        "settings": SETTINGS,
        "bound": BOUND,
        "test_seed": TEST_SEED,
        "seeds": rows,
        "summary": {
            "min_margin": min(margins),
            "mean_margin": statistics.mean(margins),
            "mean_pretrain_accuracy": statistics.mean(r["pretrain_accuracy"] for r in rows),
            "mean_finetuned_accuracy": statistics.mean(r["finetuned_accuracy"] for r in rows),
            "mean_scratch_accuracy": statistics.mean(r["scratch_accuracy"] for r in rows),
        },
    }


def readme_table(results: dict) -> str:
    """The README's table of the measured figures (Markdown), from the results file."""
    s = results["settings"]
    lines = [
        "| seed | pretrain accuracy (classes 0-4) | fine-tuned (classes 5-9) | from scratch | margin |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in results["seeds"]:
        lines.append(
            f"| {row['seed']} | {row['pretrain_accuracy']:.1%} | {row['finetuned_accuracy']:.1%} | "
            f"{row['scratch_accuracy']:.1%} | {100 * row['margin']:+.1f} points |"
        )
    first = results["seeds"][0]
    summary = results["summary"]
    lines.append(
        f"| mean | {summary['mean_pretrain_accuracy']:.1%} | {summary['mean_finetuned_accuracy']:.1%} | "
        f"{summary['mean_scratch_accuracy']:.1%} | {100 * summary['mean_margin']:+.1f} points |"
    )
    lines += [
        "",
        f"ResNet-20 on {s['image_size']}x{s['image_size']} images, pretrained on "
        f"{len(s['pretrain_classes']) * s['pretrain_images_per_class']:,} images of classes 0-4 "
        f"({s['pretrain_epochs']} epochs of batch {s['pretrain_batch_size']}); fine-tuning and scratch: "
        f"{first['train_images']} training images ({s['finetune_images_per_class']} per class), "
        f"{first['steps']} steps of batch {s['batch_size']} ({s['epochs']} epochs, "
        f"{s['freeze_epochs']} with the backbone frozen); tested on {first['test_images']} held-out "
        f"images. The test asserts a margin of at least {100 * results['bound']:.0f} points "
        f"(seed {results['test_seed']}).",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    rows = []
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as work:
            rows.append(measure(work, seed))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    results = summarize(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(readme_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
