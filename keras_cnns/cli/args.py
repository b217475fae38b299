"""The argument types shared by the `keras-cnns` subcommands (standard library only)."""

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
    The type of every `NAME=VALUE` option (`train --set/--option`, `tune --fix`)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE; received {text!r}.")
    key, value = text.split("=", 1)
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def parse_range(text: str) -> tuple[str, object]:
    """`name=low:high` (numbers) or `name=a,b,c` (choices), for `tune --range`."""
    key, value = parse_key_value(text)
    if isinstance(value, list):
        return key, value
    if isinstance(value, str) and ":" in value:
        low, high = value.split(":", 1)
        try:
            return key, (json.loads(low), json.loads(high))
        except json.JSONDecodeError:
            pass
    if isinstance(value, str) and "," in value:
        return key, [parse_key_value(f"x={part}")[1] for part in value.split(",")]
    if isinstance(value, str) and ":" not in value:
        return key, [value]
    raise argparse.ArgumentTypeError(
        f"--range expects NAME=LOW:HIGH or NAME=A,B,C; received {text!r}."
    )
