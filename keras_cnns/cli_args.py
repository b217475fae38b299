"""Argument types shared by every `keras-cnns` subcommand (no heavy imports)."""

from __future__ import annotations

import argparse
import json


def parse_shape(text: str) -> tuple[int, int, int]:
    """`H,W,C` (or `HxWxC`) with positive integers, for `--input-shape`."""
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise argparse.ArgumentTypeError(
            f"--input-shape must be H,W,C (for example 32,32,3); received {text!r}."
        )
    return shape


def parse_key_value(text: str) -> tuple[str, object]:
    """`key=value` with the value read as JSON when it parses (numbers, booleans, lists).
    The type of every `NAME=VALUE` option (`train --set/--option`, `tune --fix/--range`)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE; received {text!r}.")
    key, value = text.split("=", 1)
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value
