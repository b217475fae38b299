"""The package's one plain-text table formatter (summaries, comparisons, search results).

Internal: the library and the CLI both print through it; it imports nothing of the package.
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

_NUMERIC = re.compile(r"[-+]?[\d,.]+( ?[A-Za-z%]+)?( / [\d.]+)?")


def format_table(
    rows: Iterable[Sequence[object]], header: Sequence[str], rule_before_last: bool = False
) -> str:
    """A plain-text table: numbers right-aligned, text left-aligned.

    `rule_before_last` draws a rule above the last row (a total).
    """
    rows = [[str(cell) for cell in row] for row in rows]
    header = [str(cell) for cell in header]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(w) if _NUMERIC.fullmatch(cell) else cell.ljust(w)
            for cell, w in zip(row, widths)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    body = [line(r) for r in rows]
    if rule_before_last and body:
        body.insert(len(body) - 1, rule)
    return "\n".join([line(header), rule, *body])
