"""EventTable -> Chrome-trace JSON that Perfetto and chrome://tracing load, and that
`read_chrome_trace` reads back to the same events (count, times, kinds, rows, steps, and the
launch links, as `correlation` arguments or "ac2g" flows, whichever they were read from).

Rows become process/thread metadata, events "X" (or "i" for instants) with the kept
arguments, counters "C" events; a `otherData.stepscope` header restores the source
description on re-import.
"""
from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from traces.json_decoders import msgspec
from traces.launch_links import VIA_FLOW
from traces.table import INSTANT, EventTable, Kind


def _us(ns: npt.NDArray[np.int64], offset: int) -> list[float]:
    """ns -> µs floats relative to `offset` (the first event: exported times are short even
    for an epoch-µs trace). Exact back to the nanosecond while the trace spans less than 2**41
    µs (25 days): such a float's shortest text, which msgspec and json write, is the decimal
    "12.345" itself, and `traces.exact_time` reads that exactly."""
    us: list[float] = ((ns - offset) / 1000.0).tolist()
    return us


def _flavor(table: EventTable) -> str:
    if table.source.framework == "torch":
        return "torch"
    if table.source.format == "xplane" or any(r.process.startswith(("/host:", "/device:")) for r in table.rows):
        return "xla"
    return "chrome"


class _Ids:
    """Integer pids/tids for the export (Perfetto wants numbers): the trace's own where they
    are numbers and unique, fresh ones otherwise."""

    def __init__(self) -> None:
        self.ids: dict[object, int] = {}
        self.used: set[int] = set()

    def get(self, key: object, label: str) -> int:
        got = self.ids.get(key)
        if got is None:
            want = int(label) if label.isdigit() and len(label) < 10 else None
            if want is None or want in self.used:
                want = max(self.used, default=0) + 1
            got = self.ids[key] = want
            self.used.add(want)
        return got


def chrome_trace_dict(table: EventTable) -> dict[str, Any]:
    """The export as a JSON-ready dict (the whole trace in memory: ~300 bytes per event)."""
    pids, tids = _Ids(), _Ids()
    events: list[dict[str, Any]] = []
    row_pid, row_tid = [], []
    for r in table.rows:
        new = r.pid not in pids.ids
        pid = pids.get(r.pid, r.pid)
        if new:
            events.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": r.process or r.pid}})
        tid = tids.get((pid, r.tid), r.tid)
        events.append({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid, "args": {"name": r.thread or r.tid}})
        row_pid.append(pid)
        row_tid.append(tid)
    first, _ = table.span_ns()
    if len(table.counter_ts_ns):
        first = min(first, int(table.counter_ts_ns.min())) if len(table) else int(table.counter_ts_ns.min())
    strings = table.strings
    starts, durs = _us(table.start_ns, first), _us(table.dur_ns, 0)
    rp, rt = np.array(row_pid, np.int64), np.array(row_tid, np.int64)
    pid_col = rp[table.row].tolist() if len(table) else []
    tid_col = rt[table.row].tolist() if len(table) else []
    correlation = _correlations(table)
    columns = zip(table.name.tolist(), table.cat.tolist(), table.kind.tolist(), table.flags.tolist(), table.args.tolist(),
                  table.step.tolist(), pid_col, tid_col, starts, durs, correlation.tolist(), strict=True)
    for n, c, k, f, a, s, pid, tid, ts, dur, corr in columns:
        ev: dict[str, Any] = {"name": strings[n] if n >= 0 else "", "pid": pid, "tid": tid, "ts": ts}
        if f & INSTANT:
            ev["ph"], ev["s"] = "i", "t"
        else:
            ev["ph"], ev["dur"] = "X", dur
        if c >= 0:
            ev["cat"] = strings[c]
        args = json.loads(strings[a]) if a >= 0 else {}
        if k == Kind.STEP:
            args["step_num"] = s
        if corr >= 0:
            args["correlation"] = corr
        if args:
            ev["args"] = args
        events.append(ev)
    events.extend(_flow_events(table, pid_col, tid_col, starts))
    events.extend(_counter_events(table, pids, first))
    src = table.source
    header = {"flavor": _flavor(table), "producer": src.producer, "framework": src.framework, "device": src.device,
              "time_origin_ns": src.time_origin_ns, "ts_offset_ns": first, "notes": list(src.notes), "original": src.path}
    return {"traceEvents": events, "displayTimeUnit": "ns", "otherData": {"stepscope": header}}


def _correlations(table: EventTable) -> npt.NDArray[np.int64]:
    """Per event, the `correlation` argument that rebuilds its launch link on re-import (the
    launch's index; -1: none), for the links read from correlation arguments."""
    out = np.full(len(table), -1, np.int64)
    by_arg = (table.flags[table.link_dst] & VIA_FLOW) == 0
    out[table.link_dst[by_arg]] = table.link_src[by_arg]
    out[table.link_src[by_arg]] = table.link_src[by_arg]
    return out


def _flow_events(table: EventTable, pid_col: list[int], tid_col: list[int], starts: list[float]) -> list[dict[str, Any]]:
    """Kineto's "ac2g" flow events for the launch links read from flows, so they read back as flows."""
    out: list[dict[str, Any]] = []
    by_flow = (table.flags[table.link_dst] & VIA_FLOW) != 0
    src, dst = table.link_src[by_flow].tolist(), table.link_dst[by_flow].tolist()
    for i in sorted(set(src)):
        out.append({"ph": "s", "id": i, "pid": pid_col[i], "tid": tid_col[i], "ts": starts[i], "cat": "ac2g", "name": "ac2g"})
    for i, j in zip(src, dst, strict=True):
        out.append({"ph": "f", "id": i, "pid": pid_col[j], "tid": tid_col[j], "ts": starts[j], "cat": "ac2g", "name": "ac2g",
                    "bp": "e"})
    return out


def _counter_events(table: EventTable, pids: _Ids, offset: int) -> list[dict[str, Any]]:
    """One "C" event per sample, in a process per device named after it (so the series'
    device reads back); memory series carry cat "memory" so they read back in bytes."""
    out: list[dict[str, Any]] = []
    times = _us(table.counter_ts_ns, offset)
    values = table.counter_value.tolist()
    for i, sid in enumerate(table.counter_series.tolist()):
        s = table.series[sid]
        key = ("counters", s.device)
        new = key not in pids.ids
        pid = pids.get(key, "")
        if new:
            out.append({"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": s.device}})
        ev = {"ph": "C", "name": s.track, "pid": pid, "tid": 0, "ts": times[i], "args": {s.field: values[i]}}
        if s.unit == "bytes":
            ev["cat"] = "memory"
        out.append(ev)
    return out


def write_chrome_trace(table: EventTable, path: str | os.PathLike[str]) -> Path:
    """Write `table` as Chrome-trace JSON (gzipped when the name ends in .gz); returns the path."""
    p = Path(path)
    doc = chrome_trace_dict(table)
    data = msgspec.json.encode(doc) if msgspec is not None else json.dumps(doc, separators=(",", ":")).encode()
    tmp = p.with_name(p.name + ".part")
    if p.name.endswith(".gz"):
        with gzip.open(tmp, "wb", compresslevel=6) as f:
            f.write(data)
    else:
        tmp.write_bytes(data)
    os.replace(tmp, p)
    return p
