"""RESULTS.md and the chart from the results JSON that the harness (`benchmarks.run`)
collects: every figure in RESULTS.md is read from, or computed from, that JSON."""

from __future__ import annotations

import math
from pathlib import Path

TF, XLA, JAX, KTORCH = "keras_cnns TF", "keras_cnns TF+XLA", "keras_cnns JAX", "keras_cnns torch backend"
NCHW, CL = "PyTorch eager NCHW", "PyTorch eager channels_last"


def _f(value, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:,.{digits}f}"


def _loads(loads) -> str:
    return f"{min(loads):.1f}–{max(loads):.1f}" if loads else "–"


def _header(results: dict) -> list[str]:
    m, v = results["machine"], results["versions"]
    versions = ", ".join(f"{k} {val}" for k, val in v.items())
    return [
        "# keras_cnns benchmarks",
        "",
        f"Written by `python -m benchmarks.run{' --quick' if results['mode'] == 'quick' else ''}` "
        f"on {results['written']} ({results['mode']} run).",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, {m['os']}, no GPU; "
        f"Python {m['python']}.",
        f"- Versions: {versions}.",
        f"- Threads: every framework pinned to {m['threads']} intra-op (and inter-op) threads "
        "(TensorFlow `tf.config.threading`, PyTorch `torch.set_num_threads`, XLA's "
        "`intra_op_parallelism_threads`, `OMP_NUM_THREADS`).",
        "- The machine is shared: other jobs ran on the same 2 cores during these runs. Every "
        "comparison is therefore measured A against B alternating in the same run (order "
        "reversed every other round), the figures are medians over the rounds, and the 1-minute "
        "load average is recorded around each measurement (a load of 2 means both cores "
        "were busy with one job each; above 2, the benchmark shared the cores with others). "
        "Images per CPU-second (`time.process_time()` of the measuring process) are "
        "given beside the wall-clock rates: they are less sensitive to the other jobs.",
        "- Reproduce: `pip install -e .[bench]` (adds `torch==2.13.0`, the CPU wheel, and "
        "`torchvision==0.28.0`), then, from the repository root, `python -m benchmarks.run` "
        "(all tables, about an hour on 2 cores) or `python -m benchmarks.run --only "
        "throughput`; `--quick` runs everything with small settings in a few minutes (the "
        "test suite does, in `tests/test_benchmarks.py`). Every figure below is read from "
        "`results/benchmarks.json`; `python -m benchmarks.run --report` rewrites this file "
        "from it.",
        "",
    ]


def _when(results: dict, name: str, entry: dict | None = None) -> str:
    """When a section (or one of its `earlier` runs) was measured, by what, under what load."""
    b = entry or results["benchmarks"][name]
    if b.get("source"):  # measured before the harness ran it: where the figures come from
        versions = ", ".join(f"{k} {v}" for k, v in b.get("versions", {}).items())
        return f"Measured {b['date']} by {b['source']}" + (f"; {versions}" if versions else "") + "."
    return (f"Measured {b['date']} ({b['seconds'] / 60:.1f} min; load {b['load_before']:.1f} "
            f"before, {b['load_after']:.1f} after).")


def _throughput(results: dict) -> list[str]:
    data = results["benchmarks"]["throughput"]["data"]
    lines = [
        "## Training throughput: keras_cnns against plain PyTorch eager",
        "",
        _when(results, "throughput") + f" {data['rounds']} rounds, {data['warmup_steps']} "
        "warm-up steps excluded. Random images on a resident batch, SGD momentum 0.9, "
        "cross-entropy, 10 classes; the same architecture in both frameworks, trainable "
        "parameters counted in both and asserted equal. The PyTorch references "
        "(`benchmarks/torch_models.py`) are torchvision 0.28.0's definitions where torchvision "
        "has the architecture keras_cnns builds: VGG-11 (`torchvision.models.vgg11`, first fc "
        "reading the flattened feature map as keras_cnns' VGG does), ResNet-50 "
        "(`torchvision.models.resnet50`, \"v1.5\") and DenseNet-BC-100 "
        "(`torchvision.models.DenseNet` with block_config (16, 16, 16), growth 12 and the "
        "CIFAR 3x3 stem); written by hand where it has not: LeNet-5, AlexNet (the paper's two "
        "towers and LRN), GoogLeNet (the paper's: conv biases, true 5x5 branches, LRN, no "
        "batch norm) and CIFAR ResNet-20 (option A). Each row records the reference it was "
        "measured against (listed below the table); rows measured before torchvision's were "
        "used ran against hand-written PyTorch models of the same architectures, with the "
        "same parameter and buffer shapes. keras_cnns with the package's defaults "
        "(TensorFlow backend, oneDNN on, `compile()` default `jit_compile=\"auto\"` = no XLA on CPU); PyTorch's faster layout "
        "is the reference.",
        "",
        "| model | input | batch | trainable params | keras_cnns TF img/s | PyTorch NCHW | "
        "PyTorch channels_last | **TF / PyTorch best** | per CPU-s | TF+XLA / PyTorch | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in data["pytorch"].items():
        c = r["contenders"]
        loads = [x for row in c.values() for x in row.get("load", [])]
        if "remeasured" in r:
            name = f"{name} (re-measured {r['remeasured']})"
        lines.append(
            f"| {name} | {'x'.join(map(str, r['input']))} | {r['batch']} | {r['trainable']:,} | "
            f"{_f(c[TF]['images_per_s'])} | {_f(c[NCHW]['images_per_s'])} | "
            f"{_f(c[CL]['images_per_s'])} | **{r['ratio_tf']:.2f}** | {r['ratio_tf_cpu']:.2f} | "
            f"{r['ratio_tf_xla']:.2f} | {_loads(loads)} |"
        )
    blocks = [n for n, r in data["pytorch"].items() if r.get("steps_per_execution", 1) > 1]
    lines += [
        "",
        "keras_cnns TF trains as `keras_cnns.train` does (`steps_per_execution=\"auto\"`): "
        + (f"{', '.join(blocks)} run {data['pytorch'][blocks[0]]['steps_per_execution']} steps "
           "per `tf.function` call in `model.fit` (item 9 of the changes), the others one step "
           "per call (the `train_on_batch` loop, the same compiled step)." if blocks else
           "one step per call (the `train_on_batch` loop) for every model."),
        "",
        "PyTorch reference of each row: "
        + "; ".join(f"{n}: {r.get('pytorch_reference', 'not recorded')}"
                    for n, r in data["pytorch"].items()) + ".",
        "",
        "## Training throughput across Keras backends (keras_cnns, same models)",
        "",
        "Same run and settings as above. JAX and PyTorch backends with `compile()`'s defaults "
        "(XLA under JAX, eager under PyTorch).",
        "",
        "| model | TensorFlow img/s | TF + XLA | JAX | PyTorch backend | JAX / TF | PyTorch backend / TF |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in data["pytorch"].items():
        c = r["contenders"]
        tf_rate = c[TF]["images_per_s"]
        jax, torch = c[JAX].get("images_per_s"), c[KTORCH].get("images_per_s")
        lines.append(
            f"| {name} | {_f(tf_rate)} | {_f(c[XLA]['images_per_s'])} | {_f(jax)} | {_f(torch)} | "
            f"{_f(jax and jax / tf_rate, 2)} | {_f(torch and torch / tf_rate, 2)} |"
        )
    errors = [(n, label, c["error"]) for n, r in data["pytorch"].items()
              for label, c in r["contenders"].items() if "error" in c]
    if errors:
        lines += [""] + [f"- {n}, {label}: failed: `{e}`" for n, label, e in errors]
    partial = [(n, label, len(c["samples"])) for n, r in data["pytorch"].items()
               for label, c in r["contenders"].items()
               if "samples" in c and len(c["samples"]) < data["rounds"]]
    if partial:
        lines += [""] + [
            f"- {n}, {label}: {k} of {data['rounds']} rounds only. DenseNet-BC-100 on Keras' "
            "PyTorch backend (eager) holds over 8 GB at batch 64; its worker was stopped at "
            "8.3 GB to keep the shared 23 GB machine usable (a later full run's worker was "
            "killed by the kernel's OOM killer at 8.2 GB)."
            for n, label, k in partial
        ]
    lines += [
        "",
        "## Training throughput: keras_cnns against keras.applications",
        "",
        "Same run. The same architecture and weights layout (parameter totals asserted "
        "equal; `resnet50(layout=\"keras\")` is keras.applications' ResNet50), the same input, "
        "both on the TensorFlow backend with the same compile settings, alternating. Three "
        "contenders: keras_cnns as its training runs it (its own `keras_cnns.optimizers.SGD`, "
        "the fused momentum update), keras_cnns with Keras' `SGD` (the layers alone: same "
        "optimizer as the reference), and keras.applications with Keras' `SGD`. **ratio** = "
        "keras_cnns / keras.applications; *layers only* = keras_cnns with Keras' SGD / "
        "keras.applications. *per CPU-s* ratios divide images per CPU-second of each worker "
        "process: when other jobs take cores from one contender during its rounds, its "
        "wall-clock rate drops but its rate per CPU-second much less, so a wall-clock ratio far "
        "from its per-CPU-second ratio marks a measurement disturbed by the machine's other "
        "jobs.",
        "",
        "| keras.applications | keras_cnns | input | batch | parameters | keras_cnns img/s | "
        "keras_cnns, Keras SGD img/s | keras.applications img/s | **ratio** | per CPU-s | "
        "layers only | layers only per CPU-s | load |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in data["keras_applications"].items():
        c = r["contenders"]
        opts = ", ".join(f"{k}={v!r}" for k, v in r["options"].items())
        ours = f"{r['registry']}({opts})" if opts else r["registry"]
        loads = [x for row in c.values() for x in row["load"]]
        lines.append(
            f"| {name} | {ours} | {'x'.join(map(str, r['input']))} | {r['batch']} | "
            f"{r['parameters']:,} | {_f(c['keras_cnns']['images_per_s'], 1)} | "
            f"{_f(c['keras_cnns, Keras SGD']['images_per_s'], 1)} | "
            f"{_f(c['keras.applications']['images_per_s'], 1)} | **{r['ratio']:.2f}** | "
            f"{r['ratio_cpu']:.2f} | {r['ratio_layers']:.2f} | {_layers_ratio_cpu(r):.2f} | "
            f"{_loads(loads)} |"
        )
    lines.append("")
    return lines


def _optimizations(results: dict) -> list[str]:
    b = results["benchmarks"]
    lines = [
        "## Making it fast: changes, predicted and measured",
        "",
    ]
    if "optimizations" in b:
        data = b["optimizations"]["data"]
        lines += [
            _when(results, "optimizations") + f" {data['rounds']} alternating rounds.",
            "",
            "| change | model | before img/s | after img/s | speedup (wall) | speedup (CPU-s) | load |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        changes = [("fused batch norm (`keras_cnns.layers.BatchNormalization`)", r, name)
                   for name, r in data["fused_batch_norm"].items()]
        changes += [("grouped convolutions on oneDNN (`keras_cnns.layers.GroupedConv2D`)", r, name)
                    for name, r in data.get("grouped_conv", {}).items()]
        changes += [("fused SGD momentum update (`keras_cnns.optimizers.SGD`)", r, name)
                    for name, r in data.get("fused_sgd", {}).items()]
        changes += [("LeNet-5's C5 as a matrix product (`keras_cnns.layers.WholeInputConv2D`)", r, name)
                    for name, r in data.get("whole_input_conv", {}).items()]
        for name, r in data.get("steps_per_execution", {}).items():
            # Each `fit` variant against the train_on_batch loop (item 9).
            for label in list(r["variants"])[1:]:
                kept = label == r["after"]
                changes.append((f"`model.fit`, {label.split(', ', 1)[1]} "
                                + ("(kept: `steps_per_execution=\"auto\"`)" if kept else "(for comparison)"),
                                dict(r, after=label), name))
        for change, r, name in changes:
            before, after = r["variants"][r["before"]], r["variants"][r["after"]]
            speedup = after["images_per_s"] / before["images_per_s"]
            speedup_cpu = after["images_per_cpu_s"] / before["images_per_cpu_s"]
            lines.append(
                f"| {change} | {name}, batch {r['batch']} | "
                f"{_f(before['images_per_s'], 1)} | {_f(after['images_per_s'], 1)} | "
                f"**{speedup:.2f}x** | {speedup_cpu:.2f}x | {_loads(before['load'] + after['load'])} |"
            )
        for name, r in data["onednn"].items():
            off, on = r["variants"]["TF_ENABLE_ONEDNN_OPTS=0"], r["variants"]["TF_ENABLE_ONEDNN_OPTS=1"]
            lines.append(
                f"| oneDNN on (`TF_ENABLE_ONEDNN_OPTS=1`, set by `import keras_cnns`) | {name}, batch {r['batch']} | "
                f"{_f(off['images_per_s'])} | {_f(on['images_per_s'])} | **{r['speedup']:.2f}x** | "
                f"{r['speedup_cpu']:.2f}x | {_loads(off['load'] + on['load'])} |"
            )
    if "throughput" in b:
        for name, r in b["throughput"]["data"]["pytorch"].items():
            c = r["contenders"]
            lines.append(
                f"| XLA (`compile(jit_compile=True)`) | {name}, batch {r['batch']} | "
                f"{_f(c[TF]['images_per_s'])} | {_f(c[XLA]['images_per_s'])} | "
                f"**{c[XLA]['images_per_s'] / c[TF]['images_per_s']:.2f}x** | "
                f"{c[XLA]['images_per_cpu_s'] / c[TF]['images_per_cpu_s']:.2f}x | (throughput run) |"
            )
    lines += ["", *_changes(results), ""]
    return lines


def _pipeline_onednn(results: dict) -> dict:
    """Per model, oneDNN on / off from the pipeline benchmark (empty if one is missing)."""
    data = results["benchmarks"].get("pipeline", {}).get("data", {}).get("onednn", {})
    if not {"0", "1"} <= set(data):
        return {}
    return {name: {"best_arrays": on["best"]["arrays"] / data["0"][name]["best"]["arrays"],
                   "best_pipeline": on["best"]["pipeline"] / data["0"][name]["best"]["pipeline"],
                   "cpu_arrays": on["cpu"]["arrays"] / data["0"][name]["cpu"]["arrays"],
                   "cpu_pipeline": on["cpu"]["pipeline"] / data["0"][name]["cpu"]["pipeline"]}
            for name, on in data["1"].items() if name in data["0"]}


def _changes(results: dict) -> list[str]:
    """CHANGES, with the input pipeline's figures (items 3 and 7) from its section."""
    onednn = _pipeline_onednn(results)
    pipeline = results["benchmarks"].get("pipeline", {}).get("data", {}).get("onednn", {})
    lines = []
    for line in CHANGES:
        if line.startswith("3. ") and onednn:
            line += (" Input-pipeline section: oneDNN on / off per CPU-second "
                     + ", ".join(f"{n} {r['cpu_arrays']:.2f}x" for n, r in onednn.items())
                     + " (arrays).")
        if line.startswith("7. ") and pipeline.get("1"):
            ratios = [r["ratio_cpu"] for r in pipeline["1"].values()]
            line += (f" Input-pipeline section: `build_pipeline` at "
                     f"{min(ratios):.2f}–{max(ratios):.2f}x of in-memory arrays per CPU-second "
                     "(oneDNN on).")
        lines.append(line)
    return lines


# What was tried, why, and what was predicted: prose, the measured figures are the tables'.
CHANGES = [
    "What each change was, what was predicted, and whether it stays:",
    "",
    "1. **Fused batch normalization** — kept (keras_cnns 0.1.0, this issue). The profile "
    "of a ResNet-20 training step before the change (`python -m benchmarks.profile_ops resnet20`, "
    "Keras' `BatchNormalization`) put about a quarter of the op time into batch "
    "normalization done as separate ops (`Mul` x444, `Tile`, `SquaredDifference`, `Mean`, "
    "`Sub`, `Sum`: ~50 of ~210 ms of op time per step), against ~61 % in the convolutions. "
    "Predicted: up to ~1.3x for BN-heavy networks (ResNets, DenseNets, Inception v2/v3), "
    "nothing for LeNet-5/AlexNet/VGG/GoogLeNet (no BN). Keras 3 computes BN's training "
    "statistics with `tf.nn.moments` + `tf.nn.batch_normalization`; keras_cnns' "
    "`BatchNormalization` (a subclass: same arguments, weights, names, config and "
    "results; Keras' code for inference and on the other backends) calls TensorFlow's "
    "fused kernel in training, which oneDNN runs as one pass forward and one backward and "
    "which Grappler further fuses with the following ReLU (`_FusedBatchNormEx`). Every "
    "ResNet, DenseNet, VGG-BN, GoogLeNet-BN and Inception v2/v3 batch norm uses it (the "
    "Inception ones since the keras.applications comparison of the first full run showed "
    "Inception v3 at parity per CPU-second: it had kept Keras' class). Measured: the first "
    "table above; outputs, gradients and moving statistics equal Keras' layer "
    "(`tests/test_batch_norm.py`).",
    "2. **Grouped convolutions on oneDNN, and LRN without `pow`** — kept (this issue). "
    "The first full throughput run put AlexNet at 0.48x PyTorch; its profile "
    "(`python -m benchmarks.profile_ops alexnet --size 96 --batch 64`) showed ~70 % of the step in XLA "
    "clusters (`ExecuteAsyncOnStream`): Keras' TensorFlow backend compiles every "
    "convolution with `groups > 1` with XLA on CPU, where XLA's convolutions are far "
    "slower than oneDNN's; and 5 % in `Pow` (LRN's `d^0.75`, forward and backward). "
    "Predicted: up to ~3x for AlexNet (paper layout, groups=2), a few per cent for "
    "GoogLeNet (LRN). keras_cnns' `GroupedConv2D` (a `Conv2D` subclass: same weights, "
    "config and results, max abs difference 7e-9 on AlexNet's softmax) splits the "
    "groups into ordinary oneDNN convolutions on TensorFlow; LRN computes "
    "`d^-0.75 = rsqrt(d) * sqrt(rsqrt(d))` when beta is 0.75 (the paper's), `pow` "
    "otherwise. Measured: the grouped-convolution row of the table above; the AlexNet "
    "and GoogLeNet rows of the throughput tables were re-measured after this change.",
    "3. **oneDNN by default** — kept (already in the package: `import keras_cnns` sets "
    "`TF_ENABLE_ONEDNN_OPTS=1` unless the user chose). Predicted ~2x from the input "
    "pipeline's oneDNN on / off figures (section below); measured again above.",
    "4. **XLA (`jit_compile=True`) by default** — rejected. Predicted: fewer kernel "
    "launches and fused element-wise ops, but XLA's CPU backend runs convolutions with "
    "its own (Eigen) kernels instead of oneDNN's, so convolution-bound networks should "
    "lose. Measured: the XLA rows above; it loses for the convolutional networks, so "
    "`compile()`'s default (no XLA on a CPU-only machine) stays and `keras_cnns.training` "
    "keeps Keras' default.",
    "5. **Data layout** — nothing to change: TensorFlow with oneDNN runs NHWC "
    "(channels-last) convolutions natively (the op profile shows no `Transpose`), and "
    "PyTorch's own fastest setting here is also channels-last.",
    "6. **Casts and copies in our layers** — checked in the op profiles: keras_cnns' layers "
    "add no `Cast` ops in float32 training; the C3 connection table of LeNet-5 is one tiny "
    "`MatMul` per step (150x400x16 weights) that assembles the dense kernel; LRN is one "
    "`MatMul` with a banded matrix (its `pow`: item 2); ResNet-20's option-A shortcut is one `StridedSlice` "
    "plus one `Pad` per stage change; DenseNet's concatenations are one `ConcatV2` per "
    "dense layer, as in PyTorch. None of them shows above a few per cent of a step "
    "(profile table below).",
    "7. **Input pipeline** — nothing to change: `build_pipeline` keeps up with in-memory "
    "arrays (the input-pipeline section below).",
    "8. **Fused SGD momentum update** — kept (`keras_cnns.optimizers.SGD`, used by "
    "`keras_cnns.train` for every SGD recipe). The op profile of a VGG16 step "
    "(`python -m benchmarks.profile_ops vgg16 --size 32 --batch 32`) put ~47 ms of ~375 ms of op time into "
    "Keras' SGD update (`Mul` x70, `Sub`, `AssignAddVariableOp`, `AssignVariableOp`: five "
    "passes over 34 M weights and their momenta), and LeNet-5's step schedules five small "
    "ops per variable for it. Predicted: ~10 % for the networks with large fully connected "
    "layers (VGG, AlexNet), a few per cent more ops saved for LeNet-5. The subclass keeps "
    "Keras' constructor, config, variables and formula and runs TensorFlow's "
    "`ResourceApplyKerasMomentum` kernel (one pass; also per replica under MirroredStrategy); "
    "weights and momenta equal Keras' to float rounding (`tests/test_optimizers.py`). "
    "Measured: the fused-SGD rows above.",
    "9. **`compile(steps_per_execution=N)`** — kept for small steps (`keras_cnns.train`'s "
    "`steps_per_execution=\"auto\"`: 16 steps per call when a batch's forward pass is under "
    "1 G multiply-adds, LeNet-5 at batch 128 for one; 1 otherwise). Running N steps per "
    "`tf.function` call in `model.fit` pays the Python and executor cost of a call once per "
    "block (the `fit` rows above, against the `train_on_batch` loop). Keras 3.15's epoch "
    "iterator runs whole blocks of N steps and, over one stream of epochs, a block runs "
    "into the next epoch's batches; it stops early only where the data ends. "
    "`keras_cnns.train` therefore feeds `fit` one epoch per iteration of its dataset "
    "(`build_pipeline(..., epoch_per_iteration=True)`): each epoch's last block ends with "
    "the epoch, the batches are those of one step per call, and a killed run resumes to "
    "the same weights (`tests/test_resume.py`, 113 steps per epoch in blocks of 16). "
    "Callbacks see one batch per block.",
    "10. **LeNet-5's C5 as a matrix product** — kept (`keras_cnns.layers.WholeInputConv2D`). "
    "C5's 5x5 kernels cover its 5x5 input: one output position, which is a fully connected "
    "layer over the flattened map, but oneDNN ran it (forward and both gradients) as a "
    "convolution. The `Conv2D` subclass keeps the weights (kernel 5x5x16x120), name, "
    "config and results and computes a matrix product when its kernel covers the input "
    "(a larger input convolves as before). Measured: the C5 rows above.",
    "11. **tf.data autotuning off over data in memory** — kept "
    "(`keras_cnns.data.pipeline.in_memory_options`, applied by `build_pipeline` when the "
    "split is cached). Found while measuring item 9: with autotuning on, `fit` ran some "
    "calls at about half LeNet-5's speed and others at full speed, on a resident batch and "
    "on Fashion-MNIST through the pipeline alike; with it off, slow calls became rare (the "
    "`fit` rows with autotuning on above, against those without; the notebook section's "
    "per-epoch rates show the same for ResNet-20 and VGG-11). What the slow calls are was "
    "not pinned down; on 2 cores any thread that wakes beside the 2 compute threads stalls "
    "them. The stages after an in-memory cache are light and need no tuning; sources read "
    "from files keep autotuning.",
]


def _profile(results: dict) -> list[str]:
    data = results["benchmarks"]["profile"]["data"]
    lines = [
        "## Where a training step's time goes (TensorFlow profiler)",
        "",
        _when(results, "profile") + " `python -m benchmarks.profile_ops`: TensorFlow ops traced "
        "over a few steps, op time summed by kind (two threads: op time can exceed wall "
        "time; the executor's `Process` frames around the ops are left out). keras_cnns' "
        "defaults (fused batch norm).",
        "",
    ]
    from benchmarks.profile_ops import group

    for name, p in data.items():
        groups = group(p["ops"])
        total = sum(groups.values())
        lines += [f"**{name}**, batch {p['batch']}: {p['wall_per_step_s'] * 1e3:.0f} ms per step (wall).",
                  "", "| kind of op | ms per step | share |", "|---|---:|---:|"]
        for kind, seconds in groups.items():
            lines.append(f"| {kind} | {seconds * 1e3:.1f} | {100 * seconds / total:.0f} % |")
        top = ", ".join(f"`{o['op']}` {o['seconds_per_step'] * 1e3:.1f} ms"
                        for o in [o for o in p["ops"] if o["op"] != "Process"][:6])
        lines += ["", f"Largest ops: {top}."]
        reference = results["benchmarks"].get("throughput", {}).get("data", {}).get("pytorch", {})
        same = [r for r in reference.values()
                if r["registry"] == name and not r["options"] and r["batch"] == p["batch"]]
        if same:
            r = same[0]
            torch_ms = 1e3 * r["batch"] / r["contenders"][r["pytorch_best"]]["images_per_s"]
            tf_ms = 1e3 * r["batch"] / r["contenders"][TF]["images_per_s"]
            conv_ms = 1e3 * groups.get("convolution / matmul (incl. backprop)", 0.0)
            lines.append(
                f"For comparison (throughput run, another moment's load): a whole keras_cnns "
                f"step took {tf_ms:.0f} ms there, a whole PyTorch step ({r['pytorch_best']}) "
                f"{torch_ms:.0f} ms; the convolutions alone take {conv_ms:.0f} ms of op time "
                "here."
            )
        lines.append("")
    return lines


def _inference(results: dict) -> list[str]:
    data = results["benchmarks"]["inference"]["data"]
    lines = [
        "## Inference: latency and size",
        "",
        _when(results, "inference") + " `python -m benchmarks.inference`: Keras `predict_on_batch`, "
        "the exported SavedModel's `serve`, TFLite files run by LiteRT's interpreter "
        "(2 threads, XNNPACK); median latency of one call with the batch in memory; the max "
        "abs difference from Keras' outputs (softmax probabilities) on the same batch of 32.",
        "",
        "| model | format | size (KB) | latency batch 1 (ms) | latency batch 32 (ms) | img/s at batch 32 | max abs diff vs Keras | top-1 agreement |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in data.items():
        for kind, r in m["formats"].items():
            lines.append(
                f"| {name} | {kind} | {_f(r['size_bytes'] / 1024, 1)} | {r['latency_ms']['1']:.3f} | "
                f"{r['latency_ms']['32']:.3f} | {_f(r['images_per_s_batch32'])} | "
                f"{r['max_abs_diff_vs_keras']:.1e} | {r['top1_agreement_vs_keras']:.3f} |"
            )
    lines.append("")
    return lines


def _memory(results: dict) -> list[str]:
    entry = results["benchmarks"]["memory"]
    runs = [entry, *entry.get("earlier", [])]  # this run first, then earlier ones
    d = entry["data"]
    lines = [
        f"## Memory: {d['model']} training step at batch {d['batch']}, plain against memory-efficient",
        "",
        "`python -m benchmarks.memory`: each mode in a fresh process, the modes alternating "
        "over the rounds, warm-up steps before the measured ones; peak resident set size of "
        "the whole process (`ru_maxrss`), and TensorFlow's allocator peak during the "
        "measured steps above the memory in use before them (weights, optimizer state and "
        "batch excluded); time per step: the median of the measured steps."
        + (f" Targets: peak step memory at least {d['target_memory_ratio']:.0f}x lower, time "
           f"at most {d['target_time_ratio']:.2f}x." if "target_memory_ratio" in d else ""),
        "",
    ]
    for index, run in enumerate(runs):
        r = run["data"]
        loads = [x["load_average"] for row in r["modes"].values() for x in row["runs"]]
        lines += [
            ("" if index == 0 else "Earlier run: ") + _when(results, "memory", run)
            + f" {r['model']}, batch {r['batch']}, {r['rounds']} rounds, {r['warmup']} warm-up "
            f"and {r['steps']} measured steps per run; load during the runs {_loads(loads)}.",
            "",
            "| mode | parameters | peak RSS (MB) | peak step memory (MB) | time per step (s) |",
            "|---|---:|---:|---:|---:|",
        ]
        for mode, m in r["modes"].items():
            lines.append(f"| {mode} | {m['parameters']:,} | {m['peak_rss_mb']:.1f} | "
                         f"{m['peak_step_mb']:.1f} | {m['step_s']:.3f} |")
        lines += [
            "",
            f"Plain / memory-efficient: peak RSS **{r['ratio_peak_rss']:.2f}x**, peak step "
            f"memory **{r['ratio_peak_step']:.2f}x**; time memory-efficient / plain "
            f"**{r['ratio_time']:.2f}x**.",
            "",
        ]
    lines += ["(Pleiss et al. 2017, GPU: 2.863 -> 1.605 GB, 1.78x; 0.165 -> 0.207 s, 1.25x.)", ""]
    return lines


def _pipeline(results: dict) -> list[str]:
    entry = results["benchmarks"]["pipeline"]
    d = entry["data"]
    lines = [
        "## Input pipeline: `build_pipeline` against in-memory arrays",
        "",
        _when(results, "pipeline") + " `python -m benchmarks.pipeline`: Fashion-MNIST train "
        f"(28x28x1), batch {d['batch_size']}, SGD; {d['rounds']} timed epochs per feed (whole "
        "`model.fit(epochs=1)` calls, after one warm-up epoch), the four feeds interleaved "
        "round by round, each `TF_ENABLE_ONEDNN_OPTS` value in its own process. `arrays`: "
        "`model.fit` on preprocessed numpy arrays; `resident`: one preprocessed batch "
        "repeated (no input work); `pipeline`: `load` + `build_pipeline(training=True)`; "
        "`pipeline+aug`: with `augmentation=\"pad_crop_flip\"`. Three figures per feed: the "
        "median and the best of the wall-clock rates, and the median of images per "
        "CPU-second (`time.process_time()`, all threads of the process: what the input "
        "costs in CPU, less sensitive to other jobs).",
        "",
        "| model | images/epoch | TF_ENABLE_ONEDNN_OPTS | figure | arrays | resident | pipeline "
        "| pipeline+aug | pipeline / arrays | pipeline / resident |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    labels = {"median": "img/s, median", "best": "img/s, best", "cpu": "img per CPU-s"}
    for flag, per_model in d["onednn"].items():
        for name, r in per_model.items():
            for figure, label in labels.items():
                m = r[figure]
                lines.append(
                    f"| {name} | {r['images']:,} | {flag} | {label} | {_f(m['arrays'])} | "
                    f"{_f(m['resident'])} | {_f(m['pipeline'])} | {_f(m['pipeline+aug'])} | "
                    f"{m['pipeline'] / m['arrays']:.3f} | {m['pipeline'] / m['resident']:.3f} |"
                )
    lines.append("")
    for flag, per_model in d["onednn"].items():
        for name, r in per_model.items():
            verdict = "meets" if r["ratio_cpu"] >= d["target"] else "misses"
            lines.append(
                f"- {name}, TF_ENABLE_ONEDNN_OPTS={flag}: pipeline / arrays = "
                f"**{r['ratio_cpu']:.3f}** per CPU-second ({r['ratio_median']:.3f} median "
                f"wall-clock): {verdict} the {d['target']} target."
            )
    for name, r in _pipeline_onednn(results).items():
        lines.append(
            f"- {name}: oneDNN on / off, best wall-clock rate: {r['best_arrays']:.2f}x (arrays), "
            f"{r['best_pipeline']:.2f}x (pipeline); per CPU-second: **{r['cpu_arrays']:.2f}x** "
            f"(arrays), {r['cpu_pipeline']:.2f}x (pipeline)."
        )
    lines += ["", "Every round's rate (images/s; per CPU-second in brackets):", ""]
    for flag, per_model in d["onednn"].items():
        for name, r in per_model.items():
            for variant, rates in r["rates"].items():
                lines.append(
                    f"- oneDNN={flag} {name} {variant}: " + ", ".join(_f(v) for v in rates)
                    + " (" + ", ".join(_f(v) for v in r["cpu_rates"][variant]) + ")"
                )
    lines.append("")
    return lines


def _shape(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _jpeg_pipeline(results: dict) -> list[str]:
    d = results["benchmarks"]["jpeg_pipeline"]["data"]
    f, v, r = d["folder"], d["variants"], d["resnet50"]
    ours, reference = v["keras_cnns"], v[d["reference"]]
    cores = results["machine"]["cores"]
    lines = [
        f"## The JPEG input pipeline at {d['size']}x{d['size']}: `build_pipeline` against "
        "Keras' own, and what ResNet-50 consumes",
        "",
        _when(results, "jpeg_pipeline") + f" `python -m benchmarks.jpeg_pipeline`: a folder of "
        f"{f['images']:,} JPEGs (`benchmarks.jpeg_pipeline.make_jpeg_folder`: crops of "
        "scikit-learn's two sample photographs, china.jpg and flower.jpg, 427x640, one class "
        f"each; sides {f['min_side']}–{f['max_side']} px, {f['mean_megapixels']:.2f} megapixels "
        f"on average, {f['portrait']} portrait, Pillow quality {f['quality']}, "
        f"{f['megabytes']:.1f} MB), read from the page cache, decoded, cropped at random, "
        f"resized to {d['size']}x{d['size']}, flipped and normalized, in batches of "
        f"{d['batch_size']}; no model: the dataset is iterated and its images counted. One "
        f"untimed pass per pipeline, then {d['rounds']} timed pass{'es' if d['rounds'] > 1 else ''} each, interleaved round by "
        "round (order reversed every other round), in one process. keras_cnns: "
        "`load(\"folder:…\", validation_fraction=0.0)` (stored image shape "
        f"{_shape(d['image_shape'])}) + `build_pipeline(training=True, "
        "augmentation=(\"random_resized_crop\", \"flip\"), normalization=\"standardize\", "
        "cache=False)`. Keras, RandomZoom: `keras.utils.image_dataset_from_directory("
        "image_size=(224, 224), shuffle=True)` (every image decoded and squashed to 224x224) "
        "then `.map(num_parallel_calls=AUTOTUNE)` of `keras.Sequential([RandomFlip(\"horizontal\"), "
        "RandomZoom(height_factor=(-0.72, 0.0)), Normalization(ImageNet mean, variance)])` and "
        "`.prefetch(AUTOTUNE)`: Keras has no random-resized crop, and a zoom-in on a random "
        "window of 28 %–100 % of each side (8 %–100 % of the area) resampled to 224x224 is its "
        "Inception-style crop, the same kind of work. Keras, 256 + RandomCrop: the cheaper "
        "idiom, images squashed to 256x256, then `RandomCrop(224, 224)` (one position per "
        "batch, a slice, no resampling), the same flip and normalization. **ratio** = "
        "keras_cnns / the row's pipeline.",
        "",
        "| pipeline | img/s, median | img/s, best | img per CPU-s | **ratio** (median) | "
        "ratio per CPU-s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in v.items():
        lines.append(
            f"| {name} | {_f(row['images_per_s'])} | {_f(row['best_images_per_s'])} | "
            f"{_f(row['images_per_cpu_s'])} | **{row['ratio']:.2f}** | {row['ratio_cpu']:.2f} |"
        )
    fed = ours["images_per_s"] / r["images_per_s"]
    # CPU-seconds per image: the input's share when both run on the same cores.
    share = (1 / ours["images_per_cpu_s"]) / (1 / ours["images_per_cpu_s"] + 1 / r["images_per_cpu_s"])
    gpu = d["assumed_gpu_images_per_s"]
    lines += [
        "",
        f"- keras_cnns / Keras (RandomZoom, the same work): **{reference['ratio']:.2f}x** "
        f"median images/s, {reference['ratio_cpu']:.2f}x per CPU-second.",
        f"- ResNet-50 in training (`keras_cnns.resnet50(num_classes=1000, input_shape=(224, 224, "
        f"3))`, {r['parameters']:,} parameters, keras_cnns' SGD with momentum 0.9, sparse "
        f"categorical cross-entropy, `train_on_batch` on one resident batch of {r['batch']}, "
        f"{r['warmup_steps']} warm-up and {r['steps']} timed steps, in a process of its own): "
        f"**{r['images_per_s']:.1f} img/s** median ({r['step_s']:.2f} s per step; best "
        f"{r['best_images_per_s']:.1f}; {r['images_per_cpu_s']:.1f} images per CPU-second).",
        f"- One machine's pipeline against ResNet-50 here: keras_cnns' pipeline delivers "
        f"**{fed:.1f}x** the images ResNet-50 trains on ({_f(ours['images_per_s'])} against "
        f"{r['images_per_s']:.1f} img/s, each measured alone on the {cores} cores): "
        + ("it keeps ResNet-50 fed" if fed >= 1 else "it does not keep ResNet-50 fed")
        + f". On the same cores the input would take {100 * share:.1f} % of the CPU time "
        "(CPU-seconds per image of the pipeline against those of a training step).",
        f"- The pipeline per core: {_f(ours['images_per_cpu_s'])} images per CPU-second "
        f"(wall clock: {_f(ours['images_per_s'] / cores)} img/s per core, its median over "
        f"{cores} cores); Keras with RandomZoom: {_f(reference['images_per_cpu_s'])} per "
        "CPU-second.",
        "- Cores of this CPU needed to feed one GPU (GPU rates "
        + " and ".join(f"{rate:,}" for rate in gpu) + " img/s: assumed typical single-GPU "
        "ResNet-50 training rates, not measured here), from the images per CPU-second above: "
        + "; ".join(f"at {rate:,} img/s **{rate / ours['images_per_cpu_s']:.1f}** cores with "
                    f"keras_cnns ({rate / reference['images_per_cpu_s']:.1f} with Keras, "
                    "RandomZoom)" for rate in gpu)
        + ".",
        "",
        "Every pass's rate (images/s; per CPU-second in brackets): "
        + "; ".join(f"{name} " + ", ".join(_f(x) for x in row["rates"]) + " ("
                    + ", ".join(_f(x) for x in row["cpu_rates"]) + ")" for name, row in v.items())
        + "; ResNet-50 steps " + ", ".join(_f(x, 1) for x in r["rates"]) + ".",
        "",
    ]
    return lines


def _time_to_accuracy(results: dict) -> list[str]:
    d = results["benchmarks"]["time_to_accuracy"]["data"]
    curve = ", ".join(f"{p['epoch']}: {100 * p['test_accuracy']:.1f} %" for p in d["curve"])
    reached = (f"**{d['train_seconds_to_target']:.0f} s** ({d['epochs_to_target']} epochs)"
               if d["reached"] else f"not reached in {len(d['curve'])} epochs")
    lines = [
        "## Time to accuracy (Fashion-MNIST test set)",
        "",
        _when(results, "time_to_accuracy") + " `keras_cnns.train(...)` with the quick "
        "recipe, exactly as `keras-cnns train` runs it; the test split is evaluated after "
        "each epoch (evaluation time excluded) and training stops at the first epoch at or "
        "above the target.",
        "",
        "| model | recipe | batch | train images | target | time to target | final test accuracy | whole run (s) | load |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
        f"| {d['model']} {d['options'] or ''} | {d['recipe']} | {d['batch_size']} | "
        f"{d['limit'] or 'all (54,000)'} | {100 * d['target']:.0f} % | {reached} | "
        f"{100 * d['final_test_accuracy']:.2f} % | {d['run_wall_seconds']:.0f} | "
        f"{d['load_before']:.1f}–{d['load_after']:.1f} |",
        "",
        f"Test accuracy after each epoch: {curve}.",
        "",
    ]
    throughput = results["benchmarks"].get("throughput", {}).get("data", {}).get("pytorch", {})
    extra = results["benchmarks"].get("time_to_accuracy_resnet20")
    if extra:
        r = extra["data"]
        curve = ", ".join(f"{p['epoch']}: {100 * p['test_accuracy']:.1f} %" for p in r["curve"])
        reached = (f"**{r['train_seconds_to_target'] / 60:.1f} min** ({r['epochs_to_target']} epochs)"
                   if r["reached"] else f"**not reached** in the recipe's {len(r['curve'])} epochs")
        lines += [
            f"**ResNet-20 to 92 %** ({extra['date']}, `python "
            "-m benchmarks.time_to_accuracy --model resnet20 --target 0.92`, the quick recipe "
            f"{r['recipe']}: SGD 0.1, momentum 0.9, weight decay 1e-4, batch {r['batch_size']}, "
            f"{r['recipe_epochs']} epochs, pad-crop-flip augmentation; load "
            f"{r['load_before']:.1f}–{r['load_after']:.1f}): time to 92 %: {reached}; final test "
            f"accuracy {100 * r['final_test_accuracy']:.2f} %, whole run {r['run_wall_seconds'] / 60:.1f} min.",
            "",
            f"Test accuracy after each epoch: {curve}.",
            "",
        ]
    elif "resnet20" in throughput:
        rate = throughput["resnet20"]["contenders"][TF]["images_per_s"]
        epoch = 54_000 / rate
        lines += [
            "**ResNet-20 to 92 %: not run.** At the measured keras_cnns training rate of "
            f"ResNet-20 ({rate:.0f} img/s, throughput table, under that run's load) one "
            f"Fashion-MNIST epoch of 54,000 images takes about {epoch / 60:.0f} min on this "
            f"machine, the quick recipe's 10 epochs about {10 * epoch / 3600:.1f} h and the "
            f"paper recipe's 182 epochs about {182 * epoch / 3600:.0f} h. Run it with "
            "`nice -n 19 python -m benchmarks.time_to_accuracy --model resnet20 --target 0.92`.",
            "",
        ]
    return lines


def _kb(size_bytes: int) -> str:
    return f"{size_bytes / 1000:,.0f} KB"


def _tflite_export(results: dict) -> list[str]:
    d = results["benchmarks"]["tflite_export"]["data"]
    models = d["models"]
    first = next(iter(models.values()))
    lines = [
        "## TFLite exports of trained models: size, agreement with float",
        "",
        _when(results, "tflite_export") + " `python -m benchmarks.tflite_export`: each model "
        "trained with `keras_cnns.train` on Fashion-MNIST (seed 0; the settings below), its best "
        "checkpoint exported with `keras_cnns.export.tflite` as float32, float16 (weights in "
        "float16), dynamic (int8 weights) and int8 (full integer, calibrated on "
        f"{first['calibration_images']} training images, uint8 input and output), pixels in "
        "(preprocessing inside), run by LiteRT's interpreter. KB = 1,000 bytes. Agreement: the "
        "share of test images where the int8 file's top-1 class is the float32 file's. A tie: "
        "the int8 file's uint8 output gives its top score to two or more classes (argmax then "
        "takes the lowest class index). Max abs diff: the largest difference of the softmax "
        "probabilities from the Keras model's, on the first test images (count in brackets).",
        "",
        "| model | training | float32 | float16 | dynamic | int8 (of float32) | int8 top-1 agreement "
        "with float32 | accuracy float32 → int8 | disagreements that are exact ties | max abs diff "
        "vs Keras, float32 / float16 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in models.items():
        f = m["formats"]
        train = m["train"]
        settings = ", ".join(f"{k}={v!r}" for k, v in train.items() if k != "recipe_overrides")
        if train.get("recipe_overrides"):
            settings += ", " + ", ".join(f"{k}={v!r}" for k, v in train["recipe_overrides"].items())
        ties = (f"{m['ties']} of {m['disagreements']} ({100 * m['ties_fraction']:.0f} %)"
                if m["disagreements"] else "no disagreement")
        lines.append(
            f"| {m['title']} | {settings} ({m['train_seconds']:.0f} s) | {_kb(f['float32']['size_bytes'])} | "
            f"{_kb(f['float16']['size_bytes'])} | {_kb(f['dynamic']['size_bytes'])} | "
            f"{_kb(f['int8']['size_bytes'])} ({100 * f['int8']['size_fraction_of_float32']:.0f} %) | "
            f"**{100 * m['int8_agreement']:.2f} %** ({m['test_images']:,} test images) | "
            f"{100 * m['float_accuracy']:.2f} → {100 * m['int8_accuracy']:.2f} % | {ties} | "
            f"{f['float32']['max_abs_diff_vs_keras']:.1e} / {f['float16']['max_abs_diff_vs_keras']:.1e} "
            f"({m['diff_images']}) |"
        )
    lines += [
        "",
        "Sizes in bytes: " + "; ".join(
            f"{name} " + ", ".join(f"{kind} {f['size_bytes']:,}" for kind, f in m["formats"].items())
            for name, m in models.items()) + ".",
        "",
    ]
    return lines


def _hyperparameters(values: dict) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in values.items())


def _tuning(results: dict) -> list[str]:
    d = results["benchmarks"]["tuning"]["data"]
    s = d["search"]
    minutes, seconds = divmod(round(d["wall_seconds"]), 60)
    best, worst = d["best"], d["worst"]
    lines = [
        "## Hyperparameter search: LeNet-5 with KerasTuner",
        "",
        _when(results, "tuning") + f" `python -m benchmarks.tuning`: `keras_cnns.tune({s['family']!r}, "
        f"{s['dataset']!r}, tuner={s['tuner']!r}, max_trials={s['max_trials']}, epochs={s['epochs']}, "
        f"limit={s['limit']:_}, seed={s['seed']}, retrain_best={s['retrain_best']})`: a "
        f"{s['tuner']} search of {s['max_trials']} trials of {s['epochs']} epochs, each trained on "
        f"{d['images']['train']:,} Fashion-MNIST training images and scored by its accuracy on "
        f"{d['images']['validation']:,} validation images (held out from the training set), then "
        f"the best configuration trained again for {d['retrained']['epochs']} epochs and evaluated "
        f"on {d['images']['test']:,} test images.",
        "",
        f"- Whole call (search and retraining): **{minutes} min {seconds} s**, "
        f"{d['trials_completed']} trials completed.",
        f"- Best trial ({best['trial_id']}): validation accuracy **{best['val_accuracy']:.3f}**; "
        f"{_hyperparameters(best['hyperparameters'])}.",
        f"- Worst trial ({worst['trial_id']}): validation accuracy {worst['val_accuracy']:.3f}; "
        f"{_hyperparameters(worst['hyperparameters'])}.",
        f"- The best configuration retrained: test accuracy **{d['retrained']['test_accuracy']:.3f}** "
        f"(loss {d['retrained']['test_loss']:.3f}).",
        "",
        "| trial | validation accuracy | best epoch | hyperparameters |",
        "|---|---:|---:|---|",
    ]
    for t in d["trials"]:
        score = "–" if t["val_accuracy"] is None else f"{t['val_accuracy']:.3f}"
        lines.append(f"| {t['trial_id']} | {score} | {t['best_epoch'] or '–'} | "
                     f"{_hyperparameters(t['hyperparameters'])} |")
    lines.append("")
    return lines


def _layers_ratio_cpu(row: dict) -> float:
    """keras_cnns with Keras' SGD against keras.applications, in images per CPU-second."""
    c = row["contenders"]
    return c["keras_cnns, Keras SGD"]["images_per_cpu_s"] / c["keras.applications"]["images_per_cpu_s"]


def _verdict(results: dict) -> list[str]:
    b = results["benchmarks"]
    if "throughput" not in b:
        return []
    data = b["throughput"]["data"]
    lines = ["## Summary", ""]
    ka = data["keras_applications"]
    if ka:
        low = [n for n, r in ka.items() if min(r["ratio"], r["ratio_cpu"]) < 1.0]
        lines.append(
            "- keras.applications (keras_cnns as it trains / keras.applications): "
            + ", ".join(f"{n} {r['ratio']:.2f} (per CPU-s {r['ratio_cpu']:.2f})" for n, r in ka.items())
            + (" — all >= 1.0." if not low else
               f" — below 1.0: {', '.join(low)}. VGG16/19 are the same graph op for op in both "
               "(plain Keras convolutions and dense layers: no batch norm, no groups, no LRN), "
               "so their layers-only ratios measure the run's noise, not a cost of our layers.")
        )
        lines.append(
            "- The layers alone (both with Keras' SGD): "
            + ", ".join(f"{n} {r['ratio_layers']:.2f} (per CPU-s {_layers_ratio_cpu(r):.2f})"
                        for n, r in ka.items())
            + ". VGG16/19 build the same graph op for op as keras.applications (plain Keras "
            "convolutions and dense layers), so their layers-only ratios can only differ from "
            "1.00 by the run's noise; keras_cnns' lead on them is its fused SGD update. The "
            "networks whose layers differ (batch norm: ResNet50, InceptionV3, DenseNet121) "
            "train with TensorFlow's fused batch-norm kernel (item 1 of the changes)."
        )
    pt = data["pytorch"]
    lines.append(
        "- PyTorch eager (its faster layout): keras_cnns / PyTorch = "
        + ", ".join(f"{n} {r['ratio_tf']:.2f}" for n, r in pt.items()) + "."
    )
    below = [n for n, r in pt.items() if r["ratio_tf"] < 1.0]
    if below:
        steps = ", ".join(
            f"{n} {1e3 * pt[n]['batch'] / pt[n]['contenders'][TF]['images_per_s']:.1f} ms" for n in below
        )
        onednn = b.get("optimizations", {}).get("data", {}).get("onednn", {})
        onednn = ", ".join(f"{n} {onednn[n]['speedup']:.2f}x" for n in below if n in onednn)
        lines += [
            f"- Below 1.0: {', '.join(below)} (a whole training step: {steps}). Tried: oneDNN "
            f"(on{': ' + onednn if onednn else ''}, changes table), XLA to cut the number of kernel launches (slower: see the XLA rows), "
            "layouts (TensorFlow runs NHWC natively; PyTorch's channels-last is its faster "
            "setting and is the reference); fused batch norm and grouped convolutions do not "
            "apply (no BN, no groups). What limits them, as far as measured: at a few "
            "milliseconds per step the fixed cost of a Keras/TensorFlow step (the Python "
            "`train_on_batch` call, the `tf.function` call and the graph executor scheduling "
            "some 90 small ops, forward, backward and the optimizer's per-variable updates) is "
            "a large part of the step, where PyTorch eager's per-op dispatch is cheaper; the "
            "gap closes as the work per step grows (all the larger networks are >= 1.0). "
            "Also tried: one fused kernel for the optimizer's update (kept, item 8 of the "
            "changes), blocks of steps per call in `model.fit` (kept, item 9) and C5 as a "
            "matrix product (kept, item 10).",
        ]
    lines.append("")
    return lines


def markdown(results: dict, chart_path: str | None = None) -> str:
    b = results["benchmarks"]
    lines = _header(results)
    lines += _verdict(results)
    if "throughput" in b:
        if chart_path:
            lines += [f"![throughput relative to PyTorch eager]({chart_path})", ""]
        lines += _throughput(results)
    if "optimizations" in b or "throughput" in b:
        lines += _optimizations(results)
    if "profile" in b:
        lines += _profile(results)
    if "pipeline" in b:
        lines += _pipeline(results)
    if "jpeg_pipeline" in b:
        lines += _jpeg_pipeline(results)
    if "inference" in b:
        lines += _inference(results)
    if "memory" in b:
        lines += _memory(results)
    if "time_to_accuracy" in b:
        lines += _time_to_accuracy(results)
    if "tflite_export" in b:
        lines += _tflite_export(results)
    if "tuning" in b:
        lines += _tuning(results)
    if "precision" in b:
        lines += _precision(results)
    if "notebook" in b:
        lines += _notebook(results)
    return "\n".join(lines) + "\n"


NOTEBOOK_FEEDS = ("arrays", "tf.data", "keras_cnns settings")
NOTEBOOK_TORCH = "PyTorch eager channels_last"


def notebook_ratios(results: dict) -> dict:
    """{model: {optimizer: {feed: keras img/s / PyTorch img/s}}} of the notebook benchmark."""
    models = results["benchmarks"]["notebook"]["data"]["models"]
    return {name: {optimizer: {feed: row[feed]["ratio_to_pytorch"] for feed in NOTEBOOK_FEEDS}
                   for optimizer, row in r["optimizers"].items()}
            for name, r in models.items()}


def _notebook(results: dict) -> list[str]:
    d = results["benchmarks"]["notebook"]["data"]
    settings = d["optimizer_settings"]
    lines = [
        "## The notebook path: `model.fit` as a new user writes it, against a plain PyTorch loop",
        "",
        _when(results, "notebook") + f" `python -m benchmarks.notebook`; {d['rounds']} rounds, "
        "one timed epoch per contender and round after an untimed one, the median. The same "
        "float32 images in memory and the same architecture in both frameworks. Keras: "
        "`model.compile(optimizer, \"sparse_categorical_crossentropy\", metrics=[\"accuracy\"])` "
        "then `model.fit(x, y, batch_size=B)` on NumPy arrays (*arrays*), or on "
        "`tf.data.Dataset.from_tensor_slices((x, y)).shuffle(n).batch(B).prefetch(AUTOTUNE)` "
        "(*tf.data*), or that dataset with what `keras_cnns.train` sets (*keras_cnns settings*: "
        "`keras_cnns.optimizers.SGD` for SGD, `compile(steps_per_execution=...)` as "
        "`choose_steps_per_execution` picks it, autotuning off with "
        "`keras_cnns.data.pipeline.in_memory_options()`). PyTorch: eager, channels_last, a "
        "random permutation per epoch and one slice of the resident tensors per batch, "
        "cross-entropy, backward, step, correct predictions summed. Optimizers: "
        + ", ".join(f"{name} ({', '.join(f'{k} {v}' for k, v in opts.items())})"
                    for name, opts in settings.items()) + ", the same in both frameworks.",
        "",
        "| model | batch | optimizer | arrays img/s | tf.data | keras_cnns settings | PyTorch | "
        "**arrays / PyTorch** | tf.data / PyTorch | **settings / PyTorch** | steps per call | load |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in d["models"].items():
        for optimizer, row in r["optimizers"].items():
            loads = [x for feed in row.values() for x in feed["load"]]
            lines.append(
                f"| {name} | {r['batch']} | {optimizer} | "
                + " | ".join(_f(row[feed]["images_per_s"]) for feed in (*NOTEBOOK_FEEDS, NOTEBOOK_TORCH))
                + f" | **{row['arrays']['ratio_to_pytorch']:.2f}** | {row['tf.data']['ratio_to_pytorch']:.2f} | "
                f"**{row['keras_cnns settings']['ratio_to_pytorch']:.2f}** | "
                f"{row['keras_cnns settings']['steps_per_execution']} | {_loads(loads)} |"
            )
    ratios = notebook_ratios(results)
    slow = [f"{n} with {o}" for n, per in ratios.items() for o, feeds in per.items() if feeds["arrays"] < 1.0]
    fast = [f"{n} with {o}" for n, per in ratios.items() for o, feeds in per.items()
            if feeds["keras_cnns settings"] >= 1.0]
    lines += ["", "Every epoch's rate (img/s, in the order measured):", ""]
    for name, r in d["models"].items():
        for optimizer, row in r["optimizers"].items():
            lines.append(f"- {name} {optimizer}: " + "; ".join(
                f"{feed} {', '.join(_f(x) for x in row[feed]['samples'])}"
                for feed in (*NOTEBOOK_FEEDS, NOTEBOOK_TORCH)))
    lines += [
        "",
        f"- `fit` on NumPy arrays is below PyTorch for {', '.join(slow) or 'none'}; "
        f"with keras_cnns' settings, at or above PyTorch for {', '.join(fast) or 'none'} "
        f"(of {sum(len(per) for per in ratios.values())} model-optimizer pairs).",
        "",
    ]
    return lines


def _training(run: dict) -> str:
    overrides = "".join(f", {k}={v}" for k, v in run.get("recipe_overrides", {}).items())
    return f"{run['epochs']} epochs, {run['limit']:,} images{overrides}"


def _precision(results: dict) -> list[str]:
    d = results["benchmarks"]["precision"]["data"]
    a = d["accuracy_settings"]
    lines = [
        "## Mixed precision on this CPU: bfloat16 against float32",
        "",
        _when(results, "precision") + f" `python -m benchmarks.precision`. Speed: the same model "
        f"built under each policy, {d['rounds']} alternating rounds in one TensorFlow worker "
        f"(resident batch, keras_cnns' SGD). Accuracy: `keras_cnns.train(model, "
        f"{a['dataset']!r}, precision=...)`, {a['recipe']} recipe, seed {a['seed']}, the same "
        "epochs, images and recipe overrides (columns) once per policy.",
        "",
        "| model | batch | float32 img/s | mixed_bfloat16 img/s | speedup | training "
        "| test accuracy float32 | test accuracy mixed_bfloat16 | change | load |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for name, r in d["speed"].items():
        before, after = r["variants"][r["before"]], r["variants"][r["after"]]
        runs = d["accuracy"][name]
        fp32, bf16 = runs["float32"]["test_accuracy"], runs["mixed_bfloat16"]["test_accuracy"]
        lines.append(
            f"| {name} | {r['batch']} | {_f(before['images_per_s'], 1)} | {_f(after['images_per_s'], 1)} "
            f"| **{r['speedup']:.2f}x** | {_training(runs['float32'])} | {fp32:.4f} | {bf16:.4f} | {bf16 - fp32:+.4f} "
            f"| {_loads(before['load'] + after['load'])} |"
        )
    lines.append("")
    return lines


def chart(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = results["benchmarks"]["throughput"]["data"]
    names = list(data["pytorch"])
    series = [(TF, "keras_cnns, TensorFlow (default)"), (XLA, "keras_cnns, TF + XLA"),
              (JAX, "keras_cnns, JAX backend"), (KTORCH, "keras_cnns, PyTorch backend")]
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), gridspec_kw={"width_ratios": [3, 1.3]})
    width = 0.8 / len(series)
    for i, (key, label) in enumerate(series):
        values = [
            (data["pytorch"][n]["contenders"][key].get("images_per_s") or 0.0)
            / data["pytorch"][n]["contenders"][data["pytorch"][n]["pytorch_best"]]["images_per_s"]
            for n in names
        ]
        axes[0].bar([x + i * width for x in range(len(names))], values, width, label=label)
    axes[0].axhline(1.0, color="black", linewidth=1, linestyle="--")
    axes[0].set_xticks([x + 0.4 - width / 2 for x in range(len(names))], names, rotation=20)
    axes[0].set_ylabel("training img/s relative to PyTorch eager (best layout)")
    axes[0].legend(fontsize=8)
    ka = data["keras_applications"]
    axes[1].bar(list(ka), [r["ratio"] for r in ka.values()], color="tab:green")
    axes[1].axhline(1.0, color="black", linewidth=1, linestyle="--")
    axes[1].set_ylabel("keras_cnns / keras.applications")
    axes[1].tick_params(axis="x", rotation=30)
    fig.suptitle(f"keras_cnns training throughput, {results['machine']['cores']}-core CPU, "
                 f"{results['benchmarks']['throughput']['date'][:10]}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
