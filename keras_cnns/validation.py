"""Every argument check of the package, in one place.

Each `check_*` returns the (normalized) value or raises an error that names the argument,
the value received and what would be accepted: a `TypeError` for a value of the wrong
kind, a `ValueError` for one out of range. Builders, layers, data, training, tuning and
analysis all call these; none keeps a copy of its own.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any, Iterable, Sequence


def check_choice(arg: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return `value` if it is one of `choices`, else raise a ValueError naming `arg`."""
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(
            f"Invalid `{arg}`: {value!r}. Accepted values: "
            f"{', '.join(repr(c) for c in choices)}."
        )
    return value


def check_bool(arg: str, value: Any, *, allow_none: bool = False) -> bool | None:
    """Return `value` if it is True or False (or None where allowed), else raise."""
    if value is None and allow_none:
        return None
    if not isinstance(value, bool):
        accepted = "True, False or None" if allow_none else "True or False"
        raise TypeError(f"`{arg}` must be {accepted}; received {value!r}.")
    return value


def check_int(
    arg: str,
    value: Any,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    allow_none: bool = False,
) -> int | None:
    """Return `value` as an int if it is an integer (not a bool) within bounds.

    NumPy integers are accepted. With `allow_none`, None is returned as is.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        kind = "an integer or None" if allow_none else "an integer"
        raise TypeError(f"`{arg}` must be {kind}; received {value!r} ({type(value).__name__}).")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"`{arg}` must be {_int_range(minimum, maximum)}; received {value}.")
    return value


def check_positive_int(arg: str, value: Any, *, allow_none: bool = False) -> int | None:
    """`check_int` with a minimum of 1."""
    return check_int(arg, value, minimum=1, allow_none=allow_none)


def _int_range(minimum: int | None, maximum: int | None) -> str:
    if minimum == 1 and maximum is None:
        return "a positive integer (>= 1)"
    if maximum is None:
        return f"an integer >= {minimum}"
    if minimum is None:
        return f"an integer <= {maximum}"
    return f"an integer in [{minimum}, {maximum}]"


def check_float(
    arg: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
    what: str = "a number",
    hint: str = "",
) -> float:
    """Return `value` as a float if it is a real number (not NaN) within the interval.

    `what` names the kind of number in the error message ("a survival probability"),
    `hint` is appended to it (what the argument means, the paper's value).
    """
    expected = f"`{arg}` must be {what} in {_interval(low, high, low_inclusive, high_inclusive)}"
    suffix = f" {hint}" if hint else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{expected}; received {value!r}.{suffix}")
    value = float(value)
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if too_low or too_high or math.isnan(value):
        raise ValueError(f"{expected}; received {value:g}.{suffix}")
    return value


def _interval(low, high, low_inclusive: bool, high_inclusive: bool) -> str:
    left = "[" if low_inclusive and low is not None else "("
    right = "]" if high_inclusive and high is not None else ")"
    return f"{left}{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}{right}"


def check_rate(arg: str, value: Any) -> float:
    """A dropout-like rate: a number in [0, 1)."""
    return check_float(arg, value, low=0.0, high=1.0, high_inclusive=False)


def check_pair(arg: str, value: Any, *, low: float, high: float) -> tuple[float, float]:
    """Return `(lo, hi)` as floats if `low <= lo <= hi <= high`, else raise naming `arg`."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"`{arg}` must be a pair (low, high); received {value!r}.")
    pair = tuple(check_float(arg, v) for v in value)
    if not low <= pair[0] <= pair[1] <= high:
        raise ValueError(
            f"`{arg}` must satisfy {low} <= low <= high <= {high}; received {tuple(value)!r}."
        )
    return pair


def check_divides(arg: str, value: Any, channels: Sequence[int]) -> int:
    """Check that `value` (e.g. a group count) divides every channel count given."""
    value = check_positive_int(arg, value)
    bad = [c for c in channels if c % value]
    if bad:
        limit = math.gcd(*channels)
        accepted = [d for d in range(1, limit + 1) if limit % d == 0]
        raise ValueError(
            f"`{arg}`={value} does not divide the channel counts {list(channels)}; "
            f"accepted values: {', '.join(map(str, accepted))}."
        )
    return value


def check_activation(arg: str, value: Any) -> Any:
    """Accept None, a callable or a name Keras knows as an activation."""
    if value is None or callable(value):
        return value
    if not isinstance(value, str):
        raise TypeError(f"`{arg}` must be None, a string or a callable; received {value!r}.")
    import keras  # only here: the rest of this module needs no framework

    try:
        keras.activations.get(value)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"Unknown `{arg}`: {value!r}. Use None (logits), a callable or a Keras "
            f"activation name such as 'softmax', 'sigmoid', 'linear'."
        ) from err
    return value


def check_image_shape(arg: str, value: Any) -> tuple[int, int, int]:
    """A fully defined `(height, width, channels)` of positive integers."""
    ok = isinstance(value, (tuple, list)) and len(value) == 3 and all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0 for d in value
    )
    if not ok:
        raise ValueError(
            f"`{arg}` must be (height, width, channels) of positive integers; received {value!r}."
        )
    return tuple(int(d) for d in value)


def check_positive_float(arg: str, value: Any) -> float:
    """A number > 0 (an epsilon, a scale)."""
    return check_float(arg, value, low=0.0, low_inclusive=False)


def check_probability(arg: str, value: Any, *, what: str = "a number", hint: str = "") -> float:
    """A probability in (0, 1] (a survival probability, a compression factor)."""
    return check_float(arg, value, low=0.0, high=1.0, low_inclusive=False, what=what, hint=hint)


def check_survival_probability(arg: str, value: Any) -> float:
    """Stochastic depth's survival probability, in (0, 1]."""
    return check_probability(
        arg, value, what="a survival probability",
        hint="1.0 keeps every residual branch; 0.5 is the paper's value for the last block.",
    )


def check_compression(value: Any) -> float:
    """DenseNet's transition compression factor θ, in (0, 1]."""
    return check_probability(
        "compression", value,
        hint="It is the fraction of channels a transition keeps: 1.0 = no compression, "
        "0.5 for DenseNet-BC.",
    )


def check_output_path(path: Any, suffix: str | None = None) -> Path:
    """The path of a file to write, as a `Path`, if a file can be written there: a clear
    error for a folder or a missing parent folder (`suffix` is the file type a hint
    suggests, e.g. ".png")."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(
            f"{str(path)!r} is a folder; give a file name such as "
            f"{str(path / ('comparison' + (suffix or '')))!r}."
        )
    parent = path.parent
    if not parent.exists():
        raise FileNotFoundError(
            f"Cannot write {str(path)!r}: the folder {str(parent)!r} does not exist. "
            "Create it first (e.g. `mkdir -p` it) or choose another path."
        )
    if not parent.is_dir():
        raise FileNotFoundError(f"Cannot write {str(path)!r}: {str(parent)!r} is not a folder.")
    return path


def check_image_size(arg: str, value: Any) -> tuple[int, int] | None:
    """None, a side (int > 0) or `(height, width)`: the size images are brought to."""
    if value is None:
        return None
    sides = (value, value) if isinstance(value, numbers.Integral) else value
    ok = isinstance(sides, (tuple, list)) and len(sides) == 2 and all(
        isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0 for d in sides
    ) and not isinstance(value, bool)
    if not ok:
        raise ValueError(
            f"`{arg}` must be None, a positive integer (a square side) or (height, width) of "
            f"positive integers; received {value!r}."
        )
    return int(sides[0]), int(sides[1])
