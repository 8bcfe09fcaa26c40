"""How one figure reads in a text table, one rule for every table: the `run` summary, `report`,
`compare` and the comparison documents, so the same number never reads two ways."""
from __future__ import annotations

import math
from typing import Any


def format_value(value: Any, digits: int = 2, *, grouping: bool = True) -> str:
    """"—" for a missing figure; a finite float to `digits` places (with thousands separators
    unless `grouping` is off); anything else, NaN and infinities included, as `str` gives it."""
    if value is None:
        return "—"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:,.{digits}f}" if grouping else f"{value:.{digits}f}"
    return str(value)


def run_heading(record: dict[str, Any]) -> str:
    """"torch eager", or "torch (imported)" for a run read from someone's trace (it has no
    variant): a column heading that never reads "torch None"."""
    variant = record.get("variant") or ("(imported)" if record.get("workload") == "imported" else "")
    return f"{record.get('framework') or '?'} {variant}".strip()
