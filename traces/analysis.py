"""Analyses over an EventTable: top ops, per-step time breakdown, device busy fraction,
memory timeline, and a plain description of what the trace contains.

They return data (dataclasses of numbers and numpy arrays) for the CLI and the GUI to show;
they never plot. Each says on what basis it measured, because the frameworks' CPU traces hold
different things (see `describe_source`).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from traces.devices import device_kind, device_kinds, device_label, device_work
from traces.launch_links import LAUNCH_LINK, StepIntervals, attribution
from traces.op_groups import group_ops, timed_ops
from traces.table import INSTANT, EventTable, Kind, kind_from_name

OP_KINDS = (Kind.FRAMEWORK_OP, Kind.HLO_OP, Kind.KERNEL, Kind.MEMCPY)
NOT_ACTIVITY = (Kind.STEP, Kind.PYTHON, Kind.PROFILER, Kind.DERIVED)  # containers / re-slices, not work
WORK_LABELS = ((Kind.KERNEL, "kernel", "kernels"), (Kind.MEMCPY, "copy", "copies"), (Kind.HLO_OP, "XLA op", "XLA ops"))
BREAKDOWN = ("compute", "memcpy", "input", "compile", "host_overhead", "idle")


# -- top ops -----------------------------------------------------------------------------
@dataclass(frozen=True)
class OpRow:
    name: str
    kind: str
    count: int
    total_ns: int
    self_ns: int
    mean_ns: float
    percent: float  # share of the ranked measure (self or total time) within the selection


def _kinds(category: Kind | str | Iterable[Kind | str] | None) -> tuple[Kind, ...]:
    if category is None:
        return OP_KINDS
    if isinstance(category, (str, Kind, int)):
        return (kind_from_name(category),)
    return tuple(kind_from_name(c) for c in category)


def top_ops(table: EventTable, by: str = "self", category: Kind | str | Iterable[Kind | str] | None = None,
            limit: int | None = 20, device: bool | None = None) -> list[OpRow]:
    """Ops ranked by self time, total time, count or mean, grouped by (name, kind). `category`
    picks kinds ("framework_op", "hlo_op", "kernel", ...; default: all op kinds); `device`
    keeps only device rows (True) or host rows (False)."""
    if by not in ("self", "total", "count", "mean"):
        raise ValueError(f"by must be self, total, count or mean, not {by!r}")
    mask = timed_ops(table, _kinds(category))
    if device is not None and len(table):
        on_device = np.array([r.device for r in table.rows], dtype=bool)[table.row]
        mask &= on_device if device else ~on_device
    idx = np.flatnonzero(mask)
    if not len(idx):
        return []
    groups = group_ops(table, idx)
    count = groups.count
    total = groups.total_ns.astype(np.int64)
    selft = groups.self_ns.astype(np.int64)
    mean = total / count
    measure = {"self": selft, "total": total, "count": count, "mean": mean}[by]
    order = np.lexsort((groups.key, -measure))[: limit if limit else None]
    denom = float(measure.sum()) if by != "mean" else 0.0
    rows = []
    for j in order.tolist():
        name, kind = groups.label(table, j)
        rows.append(OpRow(name=name, kind=kind, count=int(count[j]), total_ns=int(total[j]), self_ns=int(selft[j]),
                          mean_ns=float(mean[j]), percent=100.0 * float(measure[j]) / denom if denom else 0.0))
    return rows


# -- intervals ---------------------------------------------------------------------------
class _Intervals:
    """Events of some kinds, sorted by start, to cut out the part inside a window fast."""

    def __init__(self, table: EventTable, mask: np.ndarray) -> None:
        idx = np.flatnonzero(mask & (table.dur_ns > 0))
        order = np.argsort(table.start_ns[idx], kind="stable")
        self.start = table.start_ns[idx][order]
        self.end = self.start + table.dur_ns[idx][order]
        self.longest = int(table.dur_ns[idx].max()) if len(idx) else 0

    def within(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
        a = np.searchsorted(self.start, lo - self.longest, side="left")
        b = np.searchsorted(self.start, hi, side="left")
        s, e = np.clip(self.start[a:b], lo, hi), np.clip(self.end[a:b], lo, hi)
        keep = e > s
        return s[keep], e[keep]


def union_ns(starts: np.ndarray, ends: np.ndarray) -> int:
    """Length of the union of intervals [start, end)."""
    if not len(starts):
        return 0
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    run_end = np.maximum.accumulate(e)
    new = np.ones(len(s), bool)
    new[1:] = s[1:] > run_end[:-1]
    first = np.flatnonzero(new)
    last = np.append(first[1:] - 1, len(s) - 1)
    return int((run_end[last] - s[first]).sum())


# -- steps -------------------------------------------------------------------------------
@dataclass
class StepBreakdown:
    """Per step, where its wall time went, in ns: compute (device kernels; on CPU the op
    events, see `basis`), memcpy, input, compile, host_overhead (runtime / annotation / other
    recorded host work with no compute running) and idle (nothing recorded: on CPU mostly
    Python between ops). Categories are exclusive, in that order of precedence, and add up
    to `total_ns`. Step -1 is the whole trace when it has no step markers. Device work linked
    to its launch counts in the launch's step, and such a step's time runs from its start to
    the end of its CPU window or of its last linked device event, whichever is later (so with
    the GPU behind the CPU, steps overlap); `attribution` says how many were placed how."""

    steps: np.ndarray
    start_ns: np.ndarray
    total_ns: np.ndarray
    compute_ns: np.ndarray
    memcpy_ns: np.ndarray
    input_ns: np.ndarray
    compile_ns: np.ndarray
    host_overhead_ns: np.ndarray
    idle_ns: np.ndarray
    basis: str
    notes: list[str] = field(default_factory=list)
    attribution: str = ""  # how device work was put into steps (by its launch, or by time), when any was linked

    def __len__(self) -> int:
        return len(self.steps)

    def fractions(self) -> dict[str, float]:
        """Share of all steps' time per category (0 when there are no steps)."""
        total = float(self.total_ns.sum())
        return {c: (float(getattr(self, f"{c}_ns").sum()) / total if total else 0.0) for c in BREAKDOWN}

    def rows(self) -> list[dict[str, int]]:
        return [{"step": int(s), "start_ns": int(t0), "total_ns": int(t),
                 **{f"{c}_ns": int(getattr(self, f"{c}_ns")[i]) for c in BREAKDOWN}}
                for i, (s, t0, t) in enumerate(zip(self.steps, self.start_ns, self.total_ns, strict=True))]


def step_windows(table: EventTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(step numbers, window starts, window ends) from the step markers, by start time."""
    markers = np.flatnonzero(table.kind == Kind.STEP)
    if not len(markers):
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
    numbers = table.step[markers].astype(np.int64)
    uniq, inverse = np.unique(numbers, return_inverse=True)
    lo = np.full(len(uniq), np.iinfo(np.int64).max)
    hi = np.full(len(uniq), np.iinfo(np.int64).min)
    np.minimum.at(lo, inverse, table.start_ns[markers])
    np.maximum.at(hi, inverse, table.end_ns[markers])
    order = np.argsort(lo, kind="stable")
    return uniq[order], lo[order], hi[order]


def _compute_basis(table: EventTable, device_rows: np.ndarray) -> tuple[tuple[Kind, ...], str]:
    on_device = device_rows[table.row] if len(device_rows) else np.zeros(len(table), bool)
    kind = device_kind(table)  # "GPU", "TPU", "MTIA", ... from what the trace says
    if (np.isin(table.kind, (Kind.KERNEL,)) & on_device).any():
        return (Kind.KERNEL,), f"device kernels ({kind})"
    if (table.kind[on_device] == Kind.HLO_OP).any():
        return (Kind.HLO_OP,), f"XLA ops on the {kind} (the device's op lines)"
    if (table.kind == Kind.HLO_OP).any():
        return (Kind.HLO_OP,), "XLA HLO ops executing on the CPU (framework-level ops around them count as host overhead)"
    if (table.kind == Kind.FRAMEWORK_OP).any():
        return (Kind.FRAMEWORK_OP,), "framework ops on the CPU (their time includes dispatch; no separate device)"
    return (), "none: the trace has no op or kernel events, so compute cannot be told from overhead"


def step_breakdown(table: EventTable) -> StepBreakdown:
    """Where each step's time went (see StepBreakdown); falls back to one pseudo-step over
    the whole trace when there are no step markers."""
    device_rows = np.array([r.device for r in table.rows], dtype=bool)
    compute_kinds, basis = _compute_basis(table, device_rows)
    notes: list[str] = []
    attribution_line = ""
    steps, lo, hi = step_windows(table)
    if not len(steps):
        first, last = table.span_ns()
        steps, lo, hi = np.array([-1]), np.array([first]), np.array([last])
        notes.append("no step markers (ProfilerStep#N, step_num): one pseudo-step over the whole trace")
    timed = (table.flags & INSTANT) == 0
    kinds = table.kind
    on_device = device_rows[table.row] if len(device_rows) else np.zeros(len(table), bool)
    sets = [
        np.isin(kinds, compute_kinds) & timed,
        (kinds == Kind.MEMCPY) & timed,
        (kinds == Kind.INPUT) & timed,
        (kinds == Kind.COMPILE) & timed,
        ~np.isin(kinds, (*compute_kinds, Kind.MEMCPY, Kind.INPUT, Kind.COMPILE, Kind.KERNEL, *NOT_ACTIVITY)) & timed & ~on_device,
    ]
    if not sets[2].any():
        notes.append("no data-input events (DataLoader, tf.data iterators, infeed): input time reads 0")
    # device work linked to its launch counts in the launch's step wherever it ran (the GPU lags
    # the CPU), so such a step lasts until its last linked device event ends; the rest by time
    linked = (table.flags & LAUNCH_LINK) != 0
    intervals = [_Intervals(table, m & ~linked) for m in sets]
    by_launch = [StepIntervals(table, m & linked) for m in sets[:2]]
    out = np.zeros((len(steps), len(sets)), np.int64)
    hi = hi.copy()
    for j, (number, a, b) in enumerate(zip(steps.tolist(), lo.tolist(), hi.tolist(), strict=True)):
        ends = [b, *(e for e in (iv.last_end(number) for iv in by_launch) if e is not None)]
        hi[j] = b_ext = max(ends)
        s_acc: list[np.ndarray] = []
        e_acc: list[np.ndarray] = []
        covered = 0
        for k, iv in enumerate(intervals):
            s, e = iv.within(a, b)
            s_acc.append(s)
            e_acc.append(e)
            if k < len(by_launch):
                s, e = by_launch[k].within(number, a, b_ext)
                s_acc.append(s)
                e_acc.append(e)
            now = union_ns(np.concatenate(s_acc), np.concatenate(e_acc))
            out[j, k] = now - covered
            covered = now
    total = (hi - lo).astype(np.int64)
    placed = attribution(table)
    if placed.total and int(steps[0]) != -1:
        attribution_line = placed.line()
    idle = total - out.sum(axis=1)
    return StepBreakdown(steps=steps.astype(np.int64), start_ns=lo.astype(np.int64), total_ns=total,
                         compute_ns=out[:, 0], memcpy_ns=out[:, 1], input_ns=out[:, 2], compile_ns=out[:, 3],
                         host_overhead_ns=out[:, 4], idle_ns=idle, basis=basis, notes=notes,
                         attribution=attribution_line)


# -- device busy -------------------------------------------------------------------------
@dataclass(frozen=True)
class DeviceBusy:
    device: str
    busy_ns: int  # union of kernel, copy and device-op time over the device's rows
    window_ns: int
    kernels: int  # kernels, or device ops (XLA Ops lines) on a device without kernels
    kind: str = ""  # "GPU", "TPU", "MTIA", ... (traces.devices)

    @property
    def fraction(self) -> float:
        return self.busy_ns / self.window_ns if self.window_ns else 0.0


@dataclass
class BusyReport:
    devices: list[DeviceBusy]
    window: str  # "steps" (first step start to last step end) or "trace"
    reason: str = ""  # why `devices` is empty


def busy_fraction(table: EventTable) -> BusyReport:
    """Per device, the share of the window in which at least one kernel or copy ran."""
    steps, lo, hi = step_windows(table)
    if len(steps):
        a, b, window = int(lo.min()), int(hi.max()), "steps"
    else:
        (a, b), window = table.span_ns(), "trace"
    work = device_work(table) & ((table.flags & INSTANT) == 0)
    kinds = device_kinds(table)
    device_of = [r.process or r.pid for r in table.rows]
    rows = np.unique(table.row[work]) if work.any() else np.empty(0, np.int64)
    names = sorted({device_of[r] for r in rows.tolist()})
    if not names:
        return BusyReport([], window, "no device kernel events: the trace has no device rows (a CPU-only run, "
                                      "or a profiler that records no device activity)")
    out = []
    for name in names:
        on = np.isin(table.row, [r for r in rows.tolist() if device_of[r] == name]) & work
        iv = _Intervals(table, on)
        s, e = iv.within(a, b)
        kernels = int((on & (table.kind == Kind.KERNEL)).sum()) or int((on & (table.kind == Kind.HLO_OP)).sum())
        kind = next(kinds[r] for r in rows.tolist() if device_of[r] == name)
        out.append(DeviceBusy(name, union_ns(s, e), b - a, kernels, kind))
    return BusyReport(out, window)


# -- memory ------------------------------------------------------------------------------
@dataclass
class MemorySeries:
    label: str
    device: str
    field: str
    ts_ns: np.ndarray
    bytes: np.ndarray

    @property
    def peak(self) -> float:
        return float(self.bytes.max()) if len(self.bytes) else 0.0


def memory_timeline(table: EventTable) -> list[MemorySeries]:
    """Memory counters in bytes over time: torch `[memory]` totals per device, xprof
    memory_profile allocator snapshots, Chrome memory counters. Empty when the trace has none
    (JAX on CPU reports no allocator statistics)."""
    out = []
    for sid, s in enumerate(table.series):
        if s.unit != "bytes":
            continue
        on = table.counter_series == sid
        out.append(MemorySeries(s.label, s.device, s.field, table.counter_ts_ns[on], table.counter_value[on]))
    return out


# -- description -------------------------------------------------------------------------
def describe_source(table: EventTable) -> str:
    """One paragraph: which tool wrote the trace and what it does and does not contain."""
    src = table.source
    counts = table.kind_counts()
    device = f"on {device_label(src.device)}" if src.device else "device unknown"
    steps = len(step_windows(table)[0])
    parts = [f"{src.producer} ({src.format}), {device}: {len(table):,} events"]
    parts.append(f"{steps} step{'s' if steps != 1 else ''}" if steps else "no step markers")
    shown = ", ".join(f"{c:,} {k.replace('_', ' ')}" for k, c in sorted(counts.items(), key=lambda kv: -kv[1]))
    if shown:
        parts.append(shown)
    facts = []
    work = device_work(table)
    if work.any():
        kind = device_kind(table)
        done = np.bincount(table.kind[work], minlength=len(Kind))
        shown_work = [f"{int(done[k]):,} {one if done[k] == 1 else many}" for k, one, many in WORK_LABELS if done[k]]
        n_rows = len(np.unique(table.row[work]))
        facts.append(f"{kind} device work: {', '.join(shown_work)} on {n_rows} device row{'s' if n_rows != 1 else ''}")
    else:
        facts.append("no device kernel events")
    if table.string_id("cuda_profiler_range") >= 0:
        facts.append("cuda_profiler_range events carry CUPTI metrics; Kineto spreads them evenly over the profiled span, "
                     "so their times are not the kernels' own")
    if not counts.get("hlo_op") and (src.format == "xplane" or src.framework in ("jax", "tf")):
        facts.append("no per-HLO-op events (" + ("framework ops, not compiled by XLA)" if counts.get("framework_op")
                                                 else "runtime/executor events only)"))
    elif counts.get("hlo_op"):
        facts.append("per-HLO-op events present")
    if not counts.get("framework_op") and src.framework in ("torch", "tf"):
        facts.append("no framework-op events")
    mem = memory_timeline(table)
    facts.append(f"memory: {len(mem)} series, {sum(len(m.ts_ns) for m in mem):,} samples" if mem else "no memory counters")
    text = "; ".join(parts) + ". " + "; ".join(facts) + "."
    if src.notes:
        text += " Notes: " + "; ".join(src.notes) + "."
    return text
