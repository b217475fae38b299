#!/usr/bin/env python
"""Write `results/models.json`: the parameter counts, multiply-adds and computed claims that
the README's "Models" and "Analysis" sections state, each computed from the builders.

    python scripts/model_figures.py            # about 2 minutes on 2 cores

`scripts/check_readme.py` compares the README with this file; `tests/test_readme.py`
rebuilds the file's smaller models and checks that the file still holds what they count.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "models.json"

#: Every model the README counts: key (as the README's builder column writes the call) ->
#: (registered name, build options). num_classes is 1000 unless the options say otherwise.
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "lenet5(num_classes=10)": ("lenet5", {"num_classes": 10}),
    'lenet5(variant="modern", num_classes=10)': ("lenet5", {"variant": "modern", "num_classes": 10}),
    "alexnet()": ("alexnet", {}),
    "alexnet(groups=1)": ("alexnet", {"groups": 1}),
    'alexnet(variant="single_tower")': ("alexnet", {"variant": "single_tower"}),
    "vgg11()": ("vgg11", {}),
    "vgg11_lrn()": ("vgg11_lrn", {}),
    "vgg13()": ("vgg13", {}),
    "vgg16_c()": ("vgg16_c", {}),
    "vgg16()": ("vgg16", {}),
    "vgg19()": ("vgg19", {}),
    **{f"vgg{d}(batch_norm=True)": (f"vgg{d}", {"batch_norm": True}) for d in (11, 13, 16, 19)},
    "googlenet()": ("googlenet", {}),
    "googlenet(aux_logits=True)": ("googlenet", {"aux_logits": True}),
    "googlenet(batch_norm=True)": ("googlenet", {"batch_norm": True}),
    'googlenet(batch_norm=True, layout="torchvision")':
        ("googlenet", {"batch_norm": True, "layout": "torchvision"}),
    'googlenet(batch_norm=True, layout="torchvision", aux_logits=True)':
        ("googlenet", {"batch_norm": True, "layout": "torchvision", "aux_logits": True}),
    "inception_v2()": ("inception_v2", {}),
    "inception_v3()": ("inception_v3", {}),
    "inception_v3(aux_logits=True)": ("inception_v3", {"aux_logits": True}),
    'inception_v3(layout="torchvision", aux_logits=True)':
        ("inception_v3", {"layout": "torchvision", "aux_logits": True}),
    **{f"resnet{d}()": (f"resnet{d}", {}) for d in (18, 34, 50, 101, 152)},
    **{f'resnet{d}(layout="keras")': (f"resnet{d}", {"layout": "keras"}) for d in (50, 101, 152)},
    **{f"resnet{d}_v2()": (f"resnet{d}_v2", {}) for d in (50, 101, 152)},
    **{f"resnet{d}(num_classes=10)": (f"resnet{d}", {"num_classes": 10})
       for d in (20, 32, 44, 56, 110, 1202)},
    **{f"densenet{d}()": (f"densenet{d}", {}) for d in (121, 161, 169, 201, 264)},
    **{f"{name}(num_classes=10)": (name, {"num_classes": 10})
       for name in ("densenet40", "densenet100", "densenet_bc100", "densenet_bc250", "densenet_bc190")},
}

#: Layers whose parameters the README breaks a model down into: key -> {part: layer names}.
BREAKDOWNS = {
    "lenet5(num_classes=10)": {name: [name] for name in ("c1", "s2", "c3", "s4", "c5", "f6", "rbf")},
    "googlenet()": {
        "stem": ["conv1_7x7_s2", "conv2_3x3_reduce", "conv2_3x3"],
        **{module: [f"inception_{module}"]
           for module in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")},
        "fc": ["predictions"],
    },
}

#: The models (keys of MODELS) whose multiply-adds the README compares, at their default input.
MACS = (
    "googlenet()", 'googlenet(batch_norm=True, layout="torchvision")',
    "alexnet()", 'alexnet(variant="single_tower")',
)


def count(key: str) -> dict[str, Any]:
    """Total and trainable parameters of one README model, with its breakdown if any."""
    import keras

    import keras_cnns

    name, options = MODELS[key]
    model = keras_cnns.get_model(name, **options)
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    entry: dict[str, Any] = {"params": int(model.count_params()), "trainable": trainable}
    if key in BREAKDOWNS:
        entry["parts"] = {part: sum(model.get_layer(n).count_params() for n in layers)
                          for part, layers in BREAKDOWNS[key].items()}
    del model
    keras.backend.clear_session()
    return entry


def macs(key: str) -> int:
    from keras_cnns.analysis import profile

    import keras_cnns

    name, options = MODELS[key]
    return int(profile(keras_cnns.get_model(name, **options)).macs)


def claims() -> dict[str, Any]:
    """The review's arithmetic that the README quotes (keras_cnns.analysis.claims)."""
    from keras_cnns.analysis import claims as c

    bottleneck = c.bottleneck_example()
    return {
        "bottleneck_direct_weights": bottleneck.direct_weights,
        "bottleneck_weights": bottleneck.bottleneck_weights,
        "bottleneck_reduction": bottleneck.reduction,
        "vgg16_fully_connected_share": c.fully_connected_share("vgg16").share,
        "vgg19_fully_connected_share": c.fully_connected_share("vgg19").share,
    }


def compute() -> dict[str, Any]:
    """Every figure, as `results/models.json` holds them."""
    return {
        "parameters": {key: count(key) for key in MODELS},
        "macs": {key: macs(key) for key in MACS},
        "claims": claims(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    from datetime import datetime, timezone

    figures = {"written": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
               "by": "python scripts/model_figures.py", **compute()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=1) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
