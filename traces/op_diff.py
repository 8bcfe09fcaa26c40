"""Which ops changed between two traces: added, removed, slower, faster, unchanged.

The shape follows HTA's `TraceDiff.compare_traces`/`ops_diff`: ops are grouped by (name, kind)
and compared on count and time. Two trace windows rarely hold the same number of steps, so
every figure is per step (the number of step markers in each window) — or per trace when a
trace has no step markers, which the result says in `basis`. A change smaller than both a
relative and an absolute threshold is noise and reads "unchanged": on a shared CPU the same op
moves by ±10 % from run to run.

Qt-free: the CLI report and the GUI's op-diff tab both draw from this object.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from traces.analysis import OP_KINDS, step_windows
from traces.op_groups import group_ops, timed_ops
from traces.table import EventTable, Kind, kind_from_name

STATUSES = ("added", "removed", "slower", "faster", "unchanged")
REL_THRESHOLD = 0.10  # a change under 10 % of the baseline time is run-to-run noise on a shared CPU
ABS_THRESHOLD_NS = 2_000.0  # … and so is one under 2 µs per step, whatever its percentage


@dataclass(frozen=True)
class OpDelta:
    """One (name, kind) in both traces; counts and times are per step (see `OpDiff.basis`)."""

    name: str
    kind: str
    status: str  # one of STATUSES
    base_count: float
    other_count: float
    base_total_ns: float
    other_total_ns: float
    base_self_ns: float
    other_self_ns: float
    base_ns: float  # the baseline's time in the compared measure (self or total)
    other_ns: float
    delta_ns: float  # other_ns − base_ns
    delta_percent: float | None  # None for added ops (no baseline time)


@dataclass
class OpDiff:
    """Ops of `other` against `baseline`, per step; `rows` sorted by |delta|, largest first."""

    baseline_label: str
    other_label: str
    measure: str  # "self" or "total": the time that decides slower / faster
    baseline_steps: int  # step markers in each trace window (0: none, figures are per trace)
    other_steps: int
    rel_threshold: float
    abs_threshold_ns: float
    rows: list[OpDelta]

    @property
    def basis(self) -> str:
        """How the figures were normalised, in words for a table caption."""
        parts = []
        for label, steps in ((self.baseline_label, self.baseline_steps), (self.other_label, self.other_steps)):
            parts.append(f"{label}: per step over {steps} step(s)" if steps else f"{label}: per trace (no step markers)")
        return "; ".join(parts)

    def by_status(self, status: str) -> list[OpDelta]:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        return [r for r in self.rows if r.status == status]

    @property
    def added(self) -> list[OpDelta]:
        return self.by_status("added")

    @property
    def removed(self) -> list[OpDelta]:
        return self.by_status("removed")

    @property
    def slower(self) -> list[OpDelta]:
        return self.by_status("slower")

    @property
    def faster(self) -> list[OpDelta]:
        return self.by_status("faster")

    @property
    def unchanged(self) -> list[OpDelta]:
        return self.by_status("unchanged")

    def counts(self) -> dict[str, int]:
        return {s: len(self.by_status(s)) for s in STATUSES}

    def changed(self, limit: int | None = None) -> list[OpDelta]:
        """Every op that is not unchanged, largest |delta| first (the rows a report shows)."""
        rows = [r for r in self.rows if r.status != "unchanged"]
        return rows[:limit] if limit else rows

    def total_delta_ns(self) -> float:
        """Sum of the per-step deltas over all ops: how much op time per step moved."""
        return float(sum(r.delta_ns for r in self.rows))

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline_label, "other": self.other_label, "measure": self.measure,
                "baseline_steps": self.baseline_steps, "other_steps": self.other_steps, "basis": self.basis,
                "rel_threshold": self.rel_threshold, "abs_threshold_ns": self.abs_threshold_ns, "counts": self.counts(),
                "ops": [asdict(r) for r in self.rows]}


@dataclass(frozen=True)
class _OpTotals:
    steps: int
    keys: dict[tuple[str, str], tuple[float, float, float]]  # (name, kind) -> (count, total, self) per step


def _kinds(kinds: Iterable[Kind | str] | None) -> tuple[Kind, ...]:
    return OP_KINDS if kinds is None else tuple(kind_from_name(k) for k in kinds)


def _op_totals(table: EventTable, kinds: tuple[Kind, ...]) -> _OpTotals:
    """Per-step count, total and self time of every (name, kind). With step markers only the
    events inside a step count, so the profiler's own start-up around the window does not."""
    steps = len(step_windows(table)[0])
    mask = timed_ops(table, kinds)
    if steps and (mask & (table.step >= 0)).any():
        mask &= table.step >= 0
    idx = np.flatnonzero(mask)
    if not len(idx):
        return _OpTotals(steps, {})
    groups = group_ops(table, idx)
    per = float(max(steps, 1))
    out = {}
    for j in range(len(groups)):
        out[groups.label(table, j)] = (groups.count[j] / per, float(groups.total_ns[j]) / per, float(groups.self_ns[j]) / per)
    return _OpTotals(steps, out)


def _status(base: float | None, other: float | None, rel: float, absolute: float) -> str:
    if base is None:
        return "added"
    if other is None:
        return "removed"
    delta = other - base
    if abs(delta) <= max(rel * base, absolute):
        return "unchanged"
    return "slower" if delta > 0 else "faster"


def op_diff(baseline: EventTable, other: EventTable, *, measure: str = "self", kinds: Iterable[Kind | str] | None = None,
            rel_threshold: float = REL_THRESHOLD, abs_threshold_ns: float = ABS_THRESHOLD_NS,
            baseline_label: str = "baseline", other_label: str = "other") -> OpDiff:
    """Compare the ops of two traces. `measure` ("self" or "total" time) decides slower/faster;
    `kinds` picks the event kinds compared (default: framework ops, HLO ops, kernels, memcpy).
    An op whose per-step time moved by no more than `rel_threshold` of its baseline time, or by
    no more than `abs_threshold_ns`, is unchanged."""
    if measure not in ("self", "total"):
        raise ValueError(f"measure must be 'self' or 'total', not {measure!r}")
    if rel_threshold < 0 or abs_threshold_ns < 0:
        raise ValueError("the thresholds must not be negative")
    chosen = _kinds(kinds)
    a, b = _op_totals(baseline, chosen), _op_totals(other, chosen)
    pick = 2 if measure == "self" else 1
    rows = []
    for name, kind in sorted(set(a.keys) | set(b.keys)):
        base, oth = a.keys.get((name, kind)), b.keys.get((name, kind))
        zero = (0.0, 0.0, 0.0)
        ba, ob = base or zero, oth or zero
        status = _status(None if base is None else ba[pick], None if oth is None else ob[pick], rel_threshold, abs_threshold_ns)
        delta = ob[pick] - ba[pick]
        rows.append(OpDelta(name=name, kind=kind, status=status, base_count=ba[0], other_count=ob[0],
                            base_total_ns=ba[1], other_total_ns=ob[1], base_self_ns=ba[2], other_self_ns=ob[2],
                            base_ns=ba[pick], other_ns=ob[pick], delta_ns=delta,
                            delta_percent=None if base is None or not ba[pick] else delta / ba[pick] * 100.0))
    rows.sort(key=lambda r: (-abs(r.delta_ns), r.name, r.kind))
    return OpDiff(baseline_label, other_label, measure, a.steps, b.steps, rel_threshold, abs_threshold_ns, rows)
