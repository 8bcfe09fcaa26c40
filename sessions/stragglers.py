"""Which rank holds a multi-rank job back, step by step: per step the slowest rank, its step
time, the fastest rank's, and the spread; and, where the trace holds collectives, how long
each rank spent in them in that step.

Why per step and not per run: in a data-parallel job every rank waits for the slowest at each
collective, so the job's step time is the slowest rank's, and a straggler that moves from rank to
rank (a noisy host, an unlucky data shard) shows only step by step. The time in collectives says
the same from the other side where a collective blocks: the ranks that arrive early wait longest,
the straggler least. (Where it overlaps compute, as DDP's bucketed all-reduce does during backward,
the time includes the overlap.)

The step times come from the session (every rank's steps, `RunReader.rank_steps`) or, for an
imported per-rank trace, from each rank's step markers. A multi-rank trace is one EventTable
whose rows are grouped "rank N: ..." (`traces.rank_reader`); a collective counts in the step
whose marker window on its own rank contains its start (a device kernel: its launch's start).
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from traces.table import EventTable, Kind

RANK_ROW = re.compile(r"^rank (\d+): ")
# Collectives by the names the frameworks really record: PyTorch's c10d ops and their
# record_param_comms span, gloo's and NCCL's own spans ("gloo:all_reduce", "nccl:all_reduce"),
# NCCL/RCCL kernels (ncclDevKernel_AllReduce_Sum_f32_RING_LL, ncclKernel_AllReduce_RING_LL_Sum_float),
# functional collectives (_c10d_functional::all_reduce, wait_tensor), XLA's collective HLO ops
# (all-reduce.1, all-gather-start, reduce-scatter, collective-permute-done) and TensorFlow's
# collective ops (CollectiveReduceV2, NcclAllReduce).
COLLECTIVE_NAME = re.compile(
    r"^(?:c10d::|_c10d_functional::|c10d_functional::|record_param_comms$|gloo:|nccl:|rccl:"
    r"|nccl(?:Dev)?Kernel_|rccl(?:Dev)?Kernel_"
    r"|(?:ragged-)?all-(?:reduce|gather|to-all)(?:-start|-done)?(?:\.\d+)?$"
    r"|reduce-scatter(?:-start|-done)?(?:\.\d+)?$"
    r"|collective-(?:permute|broadcast)(?:-start|-done)?(?:\.\d+)?$"
    r"|Collective(?:Reduce|Gather|Bcast|AllToAll|ReduceScatter)\w*$|Nccl(?:AllReduce|Reduce|Broadcast)$)")


@dataclass(frozen=True)
class StragglerRow:
    """One step that at least two ranks reported. `collective_wait_ms[k]` is the time rank
    `StragglerTable.ranks[k]` spent in collectives in this step (NaN: the trace does not
    cover that rank's step); empty when the trace holds no collectives."""

    step: int
    phase: str
    slowest_rank: int
    slowest_ms: float
    fastest_rank: int
    fastest_ms: float
    spread_ms: float
    spread_pct: float  # how much longer the slowest rank's step took than the fastest's, in % of the fastest
    collective_wait_ms: tuple[float, ...] = ()


@dataclass(frozen=True)
class StragglerTable:
    ranks: tuple[int, ...]
    rows: tuple[StragglerRow, ...]
    collectives: tuple[str, ...] = ()  # the collective op names found in the trace, most time first
    source: str = "session"  # where the step times came from: "session" or "trace"
    trace_ranks: tuple[int, ...] = ()  # the ranks whose rows the trace holds ("rank N: ..."); () without one

    @property
    def has_waits(self) -> bool:
        return bool(self.collectives)

    def slowest_counts(self) -> dict[int, int]:
        """How many steps each rank was the slowest in (warm-up steps left out where others exist)."""
        rows = measured(self.rows)
        return {r: sum(1 for row in rows if row.slowest_rank == r) for r in self.ranks}

    def summary(self) -> str:
        """One sentence: who straggles how often, and the typical spread."""
        rows = measured(self.rows)
        if not rows:
            return (f"No step was reported by two ranks or more (ranks {', '.join(map(str, self.ranks)) or 'none'}), "
                    "so there is nothing to compare.")
        counts = self.slowest_counts()
        worst = max(counts, key=lambda r: (counts[r], -r))
        spread = float(np.median([row.spread_ms for row in rows]))
        pct = float(np.median([row.spread_pct for row in rows if math.isfinite(row.spread_pct)] or [math.nan]))
        text = (f"{len(self.ranks)} ranks, {len(rows)} steps: rank {worst} was the slowest in {counts[worst]} of them; "
                f"median spread {spread:.2f} ms ({pct:.1f} %).")
        if self.has_waits:
            waits = np.array([row.collective_wait_ms for row in rows if row.collective_wait_ms], dtype=float)
            medians = [float(np.median(col[np.isfinite(col)])) if np.isfinite(col).any() else math.nan
                       for col in waits.reshape(-1, len(self.ranks)).T]
            per_rank = ", ".join(f"rank {r} {m:.2f} ms" for r, m in zip(self.ranks, medians, strict=True) if math.isfinite(m))
            if per_rank:
                text += f" Median time in collectives per step: {per_rank}."
        return text


def measured(rows: tuple[StragglerRow, ...]) -> list[StragglerRow]:
    """The rows outside warm-up, or all of them when every step is warm-up."""
    kept = [row for row in rows if row.phase != "warmup"]
    return kept or list(rows)


def straggler_table(steps_by_rank: Mapping[int, Mapping[str, np.ndarray]],
                    trace: EventTable | None = None) -> StragglerTable:
    """The table from every rank's steps (columns `index`, `step_ms`, optionally `phase`, as
    `RunReader.steps` gives them). With fewer than two ranks' steps and a multi-rank `trace`,
    the steps are the trace's own step markers, rank by rank."""
    source = "session"
    steps = {int(r): cols for r, cols in steps_by_rank.items() if len(cols.get("index", ()))}
    if len(steps) < 2 and trace is not None:
        from_trace = trace_rank_steps(trace)
        if len(from_trace) >= 2:
            steps, source = dict(from_trace), "trace"
    ranks = tuple(sorted(steps))
    times: dict[int, dict[int, float]] = {}  # step -> rank -> ms
    phases: dict[int, str] = {}
    for rank in ranks:
        cols = steps[rank]
        index = np.asarray(cols["index"]).astype(np.int64)
        ms = np.asarray(cols["step_ms"], dtype=float)
        phase = np.asarray(cols["phase"]).astype(str) if "phase" in cols else np.full(len(index), "")
        for i, value, name in zip(index.tolist(), ms.tolist(), phase.tolist(), strict=True):
            if math.isfinite(value):
                times.setdefault(i, {})[rank] = value
                phases.setdefault(i, name)
    waits, names = collective_waits(trace) if trace is not None else ({}, ())
    rows = []
    for step in sorted(times):
        by_rank = times[step]
        if len(by_rank) < 2:
            continue
        slowest = max(by_rank, key=lambda r: (by_rank[r], -r))
        fastest = min(by_rank, key=lambda r: (by_rank[r], r))
        spread = by_rank[slowest] - by_rank[fastest]
        pct = 100.0 * spread / by_rank[fastest] if by_rank[fastest] > 0 else math.nan
        wait = tuple(waits.get((rank, step), math.nan) for rank in ranks) if names else ()
        rows.append(StragglerRow(step, phases.get(step, ""), slowest, by_rank[slowest], fastest, by_rank[fastest],
                                 spread, pct, wait))
    traced = tuple(sorted(set(row_ranks(trace).tolist()) - {-1})) if trace is not None else ()
    return StragglerTable(ranks, tuple(rows), names, source, traced)


def row_ranks(table: EventTable) -> np.ndarray:
    """Each row's rank from its "rank N: " group prefix (-1: not a rank's row)."""
    cached = table.cache.get("row_ranks")
    if cached is None:
        found = [RANK_ROW.match(row.pid) or RANK_ROW.match(row.process) for row in table.rows]
        cached = table.cache["row_ranks"] = np.array([int(m.group(1)) if m else -1 for m in found], np.int64)
    return np.asarray(cached)


def step_windows(table: EventTable) -> dict[tuple[int, int], tuple[int, int]]:
    """(rank, step) -> (start ns, end ns) of that rank's step markers (several markers of one
    step on one rank, e.g. on two threads, make one window)."""
    markers = np.flatnonzero((table.kind == Kind.STEP) & (table.step >= 0))
    ranks = row_ranks(table)[table.row[markers]] if len(markers) else np.zeros(0, np.int64)
    windows: dict[tuple[int, int], tuple[int, int]] = {}
    for i, rank in zip(markers.tolist(), ranks.tolist(), strict=True):
        if rank < 0:
            continue
        key = (rank, int(table.step[i]))
        start, end = int(table.start_ns[i]), int(table.start_ns[i] + table.dur_ns[i])
        old = windows.get(key)
        windows[key] = (start, end) if old is None else (min(old[0], start), max(old[1], end))
    return windows


def trace_rank_steps(table: EventTable) -> dict[int, dict[str, np.ndarray]]:
    """Every rank's steps as the trace's markers time them: columns index and step_ms."""
    by_rank: dict[int, list[tuple[int, float]]] = {}
    for (rank, step), (start, end) in sorted(step_windows(table).items()):
        by_rank.setdefault(rank, []).append((step, (end - start) / 1e6))
    return {rank: {"index": np.array([s for s, _ in pairs], np.int64), "step_ms": np.array([m for _, m in pairs])}
            for rank, pairs in by_rank.items()}


def collective_waits(table: EventTable) -> tuple[dict[tuple[int, int], float], tuple[str, ...]]:
    """(rank, step) -> ms that rank spent in collectives in that step, for every rank-step the
    trace has a window for (0.0 when it ran none), and the collective names found. Nested spans
    (c10d::allreduce_ around record_param_comms around gloo:all_reduce) and overlapping ones on
    other threads count once: the union of their intervals. Where a rank's step has collective
    kernels on a device, only those count (the host op that enqueued them returns at once)."""
    ids = [i for i, text in enumerate(table.strings) if COLLECTIVE_NAME.match(text)]
    windows = step_windows(table)
    if not ids or not windows:
        return {}, ()
    chosen = np.flatnonzero(np.isin(table.name, np.array(ids, np.int32)) & (table.kind != Kind.STEP))
    if not len(chosen):
        return {}, ()
    ranks = row_ranks(table)[table.row[chosen]]
    device = np.array([table.rows[r].device for r in table.row[chosen].tolist()], dtype=bool)
    at = _launch_starts(table, chosen)
    spans: dict[int, list[tuple[int, int]]] = {}  # rank -> its windows' (start, step), in time order
    for (rank, step), (start, _) in windows.items():
        spans.setdefault(rank, []).append((start, step))
    lookup = {rank: (np.array([s for s, _ in sorted(v)], np.int64), [step for _, step in sorted(v)])
              for rank, v in spans.items()}
    per_window: dict[tuple[int, int], list[int]] = {key: [] for key in windows}
    totals: dict[str, int] = {}
    for k, (event, rank) in enumerate(zip(chosen.tolist(), ranks.tolist(), strict=True)):
        found = lookup.get(rank)
        if found is None:
            continue
        j = int(np.searchsorted(found[0], at[k], side="right")) - 1
        if j < 0:
            continue
        step = found[1][j]
        if at[k] >= windows[(rank, step)][1]:
            continue
        per_window[(rank, step)].append(k)
        name = table.string(int(table.name[event]))
        totals[name] = totals.get(name, 0) + int(table.dur_ns[event])
    if not totals:
        return {}, ()
    waits: dict[tuple[int, int], float] = {}
    for key, members in per_window.items():
        idx = np.array(members, np.int64)
        if len(idx) and device[idx].any():
            idx = idx[device[idx]]
        events = chosen[idx]
        waits[key] = _union_ns(table.start_ns[events], table.start_ns[events] + table.dur_ns[events]) / 1e6
    names = tuple(sorted(totals, key=lambda n: (-totals[n], n)))
    return waits, names


def _launch_starts(table: EventTable, events: np.ndarray) -> np.ndarray:
    """Each event's start, or for a device event launched by a host call, the call's start."""
    at: np.ndarray = np.array(table.start_ns[events], dtype=np.int64)
    if len(table.link_dst) and len(events):
        order = np.argsort(table.link_dst, kind="stable")
        dst, src = table.link_dst[order], table.link_src[order]
        pos = np.minimum(np.searchsorted(dst, events), len(dst) - 1)
        hit = dst[pos] == events
        at[hit] = table.start_ns[src[pos[hit]]]
    return at


def _union_ns(starts: np.ndarray, ends: np.ndarray) -> int:
    """Total length of the union of intervals [start, end)."""
    if not len(starts):
        return 0
    order = np.argsort(starts, kind="stable")
    total, cur_start, cur_end = 0, int(starts[order[0]]), int(ends[order[0]])
    for s, e in zip(starts[order[1:]].tolist(), ends[order[1:]].tolist(), strict=True):
        if s > cur_end:
            total += cur_end - cur_start
            cur_start, cur_end = s, e
        else:
            cur_end = max(cur_end, e)
    return total + cur_end - cur_start


def format_table(t: StragglerTable, limit: int = 20) -> str:
    """The table for a terminal: the summary, then the `limit` steps with the largest spread
    (outside warm-up, where there are others), in step order."""
    lines = [t.summary()]
    if not t.rows:
        return lines[0]
    pool = measured(t.rows)  # a warm-up step's spread (imports, compilation) says nothing of stragglers
    shown = sorted(sorted(pool, key=lambda r: (-r.spread_ms, r.step))[:max(0, limit)], key=lambda r: r.step)
    header = ["step", "slowest", "slowest ms", "fastest ms", "spread ms", "spread %"]
    if t.has_waits:
        header += [f"coll. r{r} ms" for r in t.ranks]
    body = [[str(r.step), f"rank {r.slowest_rank}", f"{r.slowest_ms:.2f}", f"{r.fastest_ms:.2f}", f"{r.spread_ms:.2f}",
             _num(r.spread_pct, 1)] + ([_num(w, 2) for w in r.collective_wait_ms] if t.has_waits else [])
            for r in shown]
    widths = [max(len(h), *(len(row[c]) for row in body)) for c, h in enumerate(header)]
    if len(shown) < len(t.rows):
        left_out = " (warm-up left out)" if len(pool) < len(t.rows) else ""
        lines.append(f"The {len(shown)} steps of {len(t.rows)} with the largest spread{left_out}:")
    lines.append("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    lines.extend("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in body)
    if t.has_waits:
        lines.append(f"Collectives counted: {', '.join(t.collectives[:6])}{' …' if len(t.collectives) > 6 else ''}.")
    return "\n".join(lines)


def _num(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "—"
