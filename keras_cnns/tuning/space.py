"""Search spaces as data: one `Knob` per hyperparameter, and the user's fixes and ranges.

A hypermodel declares its knobs in a table (`Knob("depth", "int", low=20, high=110,
step=6)`, ...). Users fix or narrow any of them; `SearchSpace` checks each request against
the declaration (a fixed value outside the declared range, an unknown name or a range
that widens the declaration is a ValueError naming the hyperparameter, the value and what
is accepted) and registers the knobs on a `keras_tuner.HyperParameters`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from typing import Any, Iterable, Mapping

import keras_tuner as kt

KINDS = ("choice", "int", "float", "boolean")


@dataclasses.dataclass(frozen=True)
class Knob:
    """One hyperparameter of a search space.

    Attributes:
        name: the hyperparameter's name (also a builder option or recipe field name).
        kind: `"choice"`, `"int"`, `"float"` or `"boolean"`.
        values: the choices of a `"choice"` knob.
        low, high, step, sampling: the range of an `"int"` / `"float"` knob
            (`sampling`: `"linear"` or `"log"`; `step` None: continuous floats).
        default: the value of the first, default configuration.
        when: conditions `((parent, (values...)), ...)`: the knob is active only when
            every parent has one of its values (KerasTuner's conditional scopes).
        doc: what the knob changes.
    """

    name: str
    kind: str
    values: tuple = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    sampling: str = "linear"
    default: Any = None
    when: tuple = ()
    doc: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Knob {self.name!r}: unknown kind {self.kind!r}; accepted: {', '.join(KINDS)}.")

    # ---------------------------------------------------------------- description
    def describe(self) -> str:
        """The accepted values, for error messages and `--list-hyperparameters`."""
        if self.kind == "boolean":
            return "True or False"
        if self.kind == "choice":
            return "one of " + ", ".join(repr(v) for v in self.values)
        text = f"[{_fmt(self.low)}, {_fmt(self.high)}]"
        if self.step is not None:
            text += f" in steps of {_fmt(self.step)} from {_fmt(self.low)}"
        if self.sampling == "log":
            text += " (log scale)"
        return text

    def grid(self) -> list | None:
        """All values of a discrete knob (None for a continuous float)."""
        if self.kind == "boolean":
            return [False, True]
        if self.kind == "choice":
            return list(self.values)
        if self.step is None:
            return None
        count = int(round((self.high - self.low) / self.step))
        values = [self.low + i * self.step for i in range(count + 1)]
        return [int(v) for v in values] if self.kind == "int" else [round(v, 12) for v in values]

    # ---------------------------------------------------------------- checks
    def accepts(self, value: Any) -> bool:
        """Whether `value` lies in this knob's declared space."""
        if self.kind == "boolean":
            return isinstance(value, bool)
        if self.kind == "choice":
            return any(value == v and type(value) is type(v) or _same_number(value, v) for v in self.values)
        if not _is_number(value) or (self.kind == "int" and not float(value).is_integer()):
            return False
        if not self.low - 1e-12 <= value <= self.high + 1e-12:
            return False
        grid = self.grid()
        return grid is None or any(_same_number(value, v) for v in grid)

    def check(self, value: Any, source: str) -> Any:
        """`value` if accepted, else a ValueError naming the knob, the value and the range."""
        if not self.accepts(value):
            raise ValueError(
                f"{source}: hyperparameter {self.name!r} = {value!r} is outside its declared "
                f"range; accepted: {self.describe()}."
            )
        if self.kind == "int":
            return int(value)
        if self.kind == "choice":
            return next(v for v in self.values if value == v)
        return value

    def narrowed(self, request: Any, source: str) -> "Knob":
        """This knob restricted to `request`: `(low, high)` for numbers, a list of values
        for choices and booleans. The request must lie inside the declaration."""
        where = f"{source}[{self.name!r}]"
        numeric_pair = (
            isinstance(request, tuple) and len(request) == 2 and all(_is_number(v) for v in request)
        )
        if self.kind in ("int", "float"):
            if not numeric_pair or request[0] > request[1]:
                raise ValueError(
                    f"{where} must be a (low, high) pair of numbers with low <= high; "
                    f"received {request!r}. Declared range: {self.describe()}."
                )
            low, high = (self.check(v, where) for v in request)
            return dataclasses.replace(
                self, low=low, high=high, default=_clip(self.default, low, high, self.grid())
            )
        if numeric_pair and self.kind == "choice" and all(_is_number(v) for v in self.values):
            # A (low, high) pair keeps the numeric choices inside the interval.
            values = tuple(v for v in self.values if request[0] <= v <= request[1])
        elif isinstance(request, (list, tuple)) and request:
            values = tuple(self.check(v, where) for v in request)
        else:
            raise ValueError(
                f"{where} must be a non-empty list of values ({self.describe()})"
                + (" or a (low, high) pair" if self.kind == "choice" and all(_is_number(v) for v in self.values) else "")
                + f"; received {request!r}."
            )
        if not values:
            raise ValueError(f"{where}={request!r} keeps none of the declared values ({self.describe()}).")
        kind = "choice" if self.kind == "boolean" and len(set(values)) < 2 else self.kind
        if self.kind == "boolean" and kind == "boolean":
            return self
        default = self.default if self.default in values else values[0]
        return dataclasses.replace(self, kind="choice", values=tuple(dict.fromkeys(values)), default=default)

    # ---------------------------------------------------------------- registration
    def register(self, hp: kt.HyperParameters, fixed: Any = dataclasses.MISSING) -> Any:
        """Register on `hp` (inside this knob's conditional scopes) and return its value
        for the current trial (None when a condition is not met)."""

        def declare():
            if fixed is not dataclasses.MISSING:
                return hp.Fixed(self.name, fixed)
            if self.kind == "boolean":
                return hp.Boolean(self.name, default=bool(self.default))
            if self.kind == "choice":
                if len(self.values) == 1:
                    return hp.Fixed(self.name, self.values[0])
                return hp.Choice(self.name, list(self.values), default=self.default)
            if self.low == self.high:
                return hp.Fixed(self.name, self.low)
            if self.kind == "int":
                return hp.Int(
                    self.name, int(self.low), int(self.high), step=int(self.step or 1),
                    sampling=self.sampling, default=self.default,
                )
            return hp.Float(
                self.name, self.low, self.high, step=self.step, sampling=self.sampling,
                default=self.default,
            )

        return _in_scopes(hp, list(self.when), declare)


def _in_scopes(hp, conditions, declare):
    if not conditions:
        return declare()
    (parent, values), rest = conditions[0], conditions[1:]
    with hp.conditional_scope(parent, list(values)):
        return _in_scopes(hp, rest, declare)


class SearchSpace:
    """A table of knobs with the user's fixed values and narrowed ranges applied.

    Args:
        knobs: the declared knobs, parents before their conditional children.
        fixed: `{name: value}`: values every trial uses (checked against the declaration).
        ranges: `{name: (low, high)}` for numbers or `{name: [values]}` for choices.
        hyperparameters: a `keras_tuner.HyperParameters` whose `Fixed` entries are fixes
            and whose `Choice`/`Int`/`Float` entries narrow the knobs of the same name.
    """

    def __init__(
        self,
        knobs: Iterable[Knob],
        *,
        fixed: Mapping[str, Any] | None = None,
        ranges: Mapping[str, Any] | None = None,
        hyperparameters: kt.HyperParameters | None = None,
    ):
        self.knobs: dict[str, Knob] = {k.name: k for k in knobs}
        self.fixed: dict[str, Any] = {}
        fixed = dict(_mapping("fixed", fixed))
        ranges = dict(_mapping("ranges", ranges))
        if hyperparameters is not None:
            if not isinstance(hyperparameters, kt.HyperParameters):
                raise TypeError(
                    "`hyperparameters` must be a keras_tuner.HyperParameters; received "
                    f"{type(hyperparameters).__name__}."
                )
            for entry in hyperparameters.space:
                self._known(entry.name, "hyperparameters")
                if isinstance(entry, kt.engine.hyperparameters.Fixed):
                    fixed.setdefault(entry.name, entry.value)
                elif isinstance(entry, kt.engine.hyperparameters.Choice):
                    ranges.setdefault(entry.name, list(entry.values))
                elif isinstance(entry, (kt.engine.hyperparameters.Int, kt.engine.hyperparameters.Float)):
                    ranges.setdefault(entry.name, (entry.min_value, entry.max_value))
        for name, request in ranges.items():
            self.knobs[self._known(name, "ranges").name] = self.knobs[name].narrowed(request, "ranges")
        for name, value in fixed.items():
            self.fixed[name] = self._known(name, "fixed").check(value, "fixed")

    def _known(self, name: str, source: str) -> Knob:
        if name not in self.knobs:
            close = difflib.get_close_matches(str(name), self.knobs, n=3)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ValueError(
                f"`{source}`: unknown hyperparameter {name!r}.{hint} This search space has: "
                f"{', '.join(self.knobs)}."
            )
        return self.knobs[name]

    def value(self, hp: kt.HyperParameters, name: str) -> Any:
        """Register knob `name` on `hp` and return its value (None when inactive)."""
        return self.knobs[name].register(hp, self.fixed.get(name, dataclasses.MISSING))

    def values(self, hp: kt.HyperParameters) -> dict[str, Any]:
        """Register every knob and return `{name: value}` of the active ones."""
        values = {name: self.value(hp, name) for name in self.knobs}
        return {name: value for name, value in values.items() if value is not None}

    def describe(self) -> list[tuple[str, str, str]]:
        """`(name, accepted values, doc)` of every knob, fixes shown as `= value`."""
        rows = []
        for knob in self.knobs.values():
            accepted = f"= {self.fixed[knob.name]!r}" if knob.name in self.fixed else knob.describe()
            if knob.when:
                accepted += " if " + " and ".join(f"{p} in {list(v)}" for p, v in knob.when)
            rows.append((knob.name, accepted, knob.doc))
        return rows


def _mapping(arg: str, value: Any) -> Mapping:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"`{arg}` must be a dict {{hyperparameter: value}} or None; received {type(value).__name__}.")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _same_number(a: Any, b: Any) -> bool:
    return _is_number(a) and _is_number(b) and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _clip(default: Any, low: float, high: float, grid: list | None) -> Any:
    if default is None or low <= default <= high:
        return default
    candidates = [v for v in grid if low <= v <= high] if grid else [low, high]
    return min(candidates, key=lambda v: abs(v - default))


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
