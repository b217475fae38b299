"""keras_cnns' benchmarks: one harness, `python -m benchmarks.run` (from the repository root),
that runs every benchmark module in its own process and writes one JSON
(`results/benchmarks.json`) and one report (`RESULTS.md`, with `results/throughput.png`).

Modules, each also runnable alone as `python -m benchmarks.<name> [--quick]` (it prints its
results as JSON): `throughput`, `optimizations`, `profile_ops`, `pipeline`, `inference`,
`memory`, `time_to_accuracy`; shared pieces in `common` (machine, versions, processes,
workers), the report in `report`, the PyTorch references in `torch_models` (torchvision's
where it has the architecture, through `torchvision_shim`).

Nothing here is part of the installed package (`setup.py` packages `keras_cnns` only).
"""
