"""The second visit to an XPlane file: each shown plane's lines, read window by window
(`xplane_batch`, `xplane_window`) into the TableBuilder, so what is held is the table being
built plus one line's columns, never the file.

A line's own fields settle its events: its timestamp (the events' offsets count from it),
its row (pid: the plane's trace_viewer device id; tid: the line's display id, or id, as a
uint32, as xprof writes them) and its display name ("Async XLA Ops" lines are not shown).
Protobuf may write them after the events, so a line's columns wait for its end.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from traces.classify import classify
from traces.devices import mark_device_rows
from traces.exact_time import MAX_TS_US
from traces.table import INSTANT, TraceError
from traces.table_builder import TableBuilder
from traces.xplane_batch import EVENT_KEY, decode_events, walk
from traces.xplane_layout import PlaneLayout, text
from traces.xplane_stats import Texts, cap, distinct
from traces.xplane_window import PlaneContext, Window, convert
from traces.xplane_wire import Malformed, WireStream, signed

WINDOW = 8 << 20  # bytes of events decoded at a time
ASYNC_OPS = "Async XLA Ops"  # tsl kXlaAsyncOpLineName: trace_viewer leaves its events out
REGION = "ThreadpoolListener::Region"
MAX_NS = int(MAX_TS_US * 1000)  # |time| the table takes, as the Chrome reader bounds it
I64 = npt.NDArray[np.int64]


@dataclass
class ReadState:
    """What one file's read shares across its planes and lines."""

    builder: TableBuilder
    where: Path
    prefix: str
    texts: Texts
    preprocess: bool  # xprof's preprocessing runs (the file was not grouped already)
    links: bool  # the read has GPU planes: correlation ids link launches to kernels
    tick: Callable[[], None]  # progress and cancellation, once per window
    roots: list[dict[str, Any]] = field(default_factory=list)  # grouping roots, named at the file's end
    memory: list[dict[str, np.ndarray]] = field(default_factory=list)
    loops: list[dict[str, np.ndarray]] = field(default_factory=list)
    tf_data: list[np.ndarray] = field(default_factory=list)
    names: set[int] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)


def read_plane(stream: WireStream, plane: PlaneLayout, pid: int, host: bool, state: ReadState) -> None:
    ctx = PlaneContext(plane, state.builder, state.texts, state.preprocess, state.links, host)
    for number, (start, end) in enumerate(plane.lines):
        stream.skip_to(start)
        _line(stream, end, ctx, pid, state, number)


def _line(stream: WireStream, end: int, ctx: PlaneContext, pid: int, state: ReadState, number: int) -> None:
    head: dict[int, int | str] = {1: 0, 3: 0, 10: 0, 2: "", 11: ""}
    windows: list[Window] = []
    count = 0
    for field_number, wire in stream.fields(end):
        if field_number == 4 and wire == 2:
            stream.need(0)
            if stream.buf[stream.pos - 1 - stream.base] != EVENT_KEY:
                raise Malformed("an event's key is not written in one byte")
            count = _events(stream, stream.pos - 1, end, ctx, windows, count, state)
        elif field_number in (1, 3, 10) and wire == 0:
            head[field_number] = signed(stream.varint())
        elif field_number in (2, 11) and wire == 2:
            head[field_number] = text(stream.take(stream.length(end)))
        else:
            stream.skip_value(wire, end)
    label = str(head[11] or head[2])
    if label == ASYNC_OPS or not windows:
        return
    line_id = int(head[10] or head[1])
    _finish(windows, int(head[3]), line_id & 0xFFFFFFFF, label, ctx, pid, state, (ctx.plane.order, number))


def _events(stream: WireStream, pos: int, end: int, ctx: PlaneContext, windows: list[Window], count: int,
            state: ReadState) -> int:
    """Consecutive events from `pos` (an event's key), a window at a time; returns the line's
    event count so far and leaves the stream after the last one."""
    want = WINDOW
    while pos < end:
        stream.pos = pos
        want = min(end - pos, want)
        stream.need(want)
        data, base = stream.buf, stream.base
        rel = pos - base
        ends: list[int] = []
        stop = walk(data, rel, rel + want, ends)
        if not ends:
            if data[rel] != EVENT_KEY:
                break
            size = _event_size(data, rel, end - pos)  # one event bigger than a window
            if size <= want:
                raise Malformed("an event's length does not add up")
            want = size
            continue
        u8 = np.frombuffer(data, np.uint8)
        stops = np.array(ends, np.int64)
        starts = np.empty_like(stops)
        starts[0], starts[1:] = rel, stops[:-1]
        windows.append(convert(ctx, decode_events(u8, starts, stops), data, count))
        count += len(stops)
        pos = base + ends[-1]
        want = WINDOW
        state.tick()
        if pos < end and stop < rel + want and data[stop] != EVENT_KEY:
            break  # another of the line's fields follows the events
    stream.pos = pos
    return count


def _event_size(data: bytes, rel: int, room: int) -> int:
    shift = size = 0
    i = rel + 1
    while True:
        if i >= len(data) or shift > 63:
            raise Malformed("an event's length is cut or too long")
        b = data[i]
        size |= (b & 0x7F) << shift
        i += 1
        if b < 0x80:
            break
        shift += 7
    total = i - rel + size
    if total > room:
        raise Malformed("an event runs past the end of its line")
    return total


def to_ns(base_ns: int, offset_ps: I64, where: Path) -> I64:
    """Exact ns of `base_ns` + `offset_ps`: the ps rounded to the nearest ns, ties away from
    zero, as the Chrome reader rounds the µs text xprof writes (no float in between)."""
    if abs(base_ns) > MAX_NS:
        raise TraceError(where, f"a line's timestamp ({base_ns:,} ns) is out of range")
    out = (offset_ps + 500) // 1000 + base_ns
    below = -base_ns * 1000  # offsets under this put the event before time 0: round towards -inf the other way
    if below > -(1 << 63):
        neg = np.flatnonzero(offset_ps < below)
        out[neg] = base_ns - (500 - offset_ps[neg]) // 1000
    if len(out) and (np.abs(out).max() > MAX_NS):
        raise TraceError(where, "an event's time is out of range")
    return out


def _finish(windows: list[Window], base_ns: int, tid: int, label: str, ctx: PlaneContext, pid: int, state: ReadState,
            line: tuple[int, int]) -> None:
    """A line's windows into the builder, once its time base, row and name are known."""
    builder = state.builder
    row = builder.row(state.prefix, pid, tid)
    builder.rows[row]["process"] = ctx.plane.name
    builder.rows[row]["thread"] = label
    regions, memory = [], []
    while windows:
        w = windows.pop(0)
        if len(w.duration_ps) and w.duration_ps.min() < 0:
            raise TraceError(state.where, f"an event has a negative duration ({int(w.duration_ps.min()):,} ps)")
        start = to_ns(base_ns, w.offset_ps, state.where)
        dur = (w.duration_ps + 500) // 1000
        flags = np.where(w.duration_ps == 0, np.uint8(INSTANT), np.uint8(0))
        if w.roots:
            index = w.roots.pop("index")
            state.roots.append({**w.roots, "line": line, "row": row, "name": w.name[index], "args": w.args[index],
                                "argflags": w.argflags[index], "step": w.step[index], "start_ns": start[index],
                                "dur_ns": dur[index], "flags": flags[index],
                                "start_ps": [base_ns * 1000 + int(o) for o in w.offset_ps[index].tolist()],
                                "dur_ps": w.duration_ps[index], "link": None if w.link is None else w.link[index],
                                "labels": [ctx.meta_names[int(m)] for m in w.roots["meta"].tolist()]})
            keep = np.ones(len(start), bool)
            keep[index] = False
            start, dur, flags = start[keep], dur[keep], flags[keep]
            w.name, w.args, w.argflags, w.step = w.name[keep], w.args[keep], w.argflags[keep], w.step[keep]
            if w.link is not None:
                w.link = w.link[keep]
        add(state, row, w.name, w.args, w.argflags, w.step, start, dur, flags, w.link)
        if w.regions:
            regions.append(w.regions)
        if w.memory:
            memory.append(w.memory)
        if w.loops:
            state.loops.append(w.loops)
        if w.tf_data is not None:
            state.tf_data.append(w.tf_data)
    if regions:
        _regions(regions, base_ns, row, state)
    for m in memory:
        state.memory.append({**m, "ts_ns": to_ns(base_ns, m["offset_ps"], state.where)})


def add(state: ReadState, row: int | npt.NDArray[np.int32], name: npt.NDArray[np.int32], args: npt.NDArray[np.int32],
        argflags: npt.NDArray[np.uint8], step: npt.NDArray[np.int32], start: I64, dur: I64, flags: npt.NDArray[np.uint8],
        link: I64 | None) -> None:
    """One chunk of events on `row` (or rows, an array) into the builder, classified."""
    if not len(name):
        return
    builder = state.builder
    rows = np.full(len(name), row, np.int32) if isinstance(row, int) else row
    part: dict[str, np.ndarray] = {"name": name, "cat": np.full(len(name), -1, np.int32), "row": rows, "start_ns": start,
                                   "dur_ns": dur, "flags": flags, "args": args, "step": step}
    first, number = distinct(name.astype(np.int64) * 8 + argflags, 8 * len(builder.strings))
    kind = classify(part["cat"][first], name[first], argflags[first], builder.strings, "xla")[number]
    mark_device_rows(builder, part, kind)
    state.names.update(name[first].tolist())
    builder.add(kind=kind, where=state.where, link=link, **part)


def _regions(marks: list[dict[str, np.ndarray]], base_ns: int, row: int, state: ReadState) -> None:
    """tsl's ThreadpoolLineMutator: in line order, each StopRegion after a StartRegion that
    carries a consumer id (`_c`) closes a "ThreadpoolListener::Region" from that start (the
    latest such start, whose absolute time must not be 0) to the stop."""
    order = np.concatenate([m["order"] for m in marks])
    kind = np.concatenate([m["kind"] for m in marks])
    offset = np.concatenate([m["offset_ps"] for m in marks])
    consumer = np.concatenate([m["consumer"] for m in marks])
    starts = np.flatnonzero((kind == 1) & consumer)
    stops = np.flatnonzero(kind == 2)
    if not len(starts) or not len(stops):
        return
    before = np.searchsorted(order[starts], order[stops]) - 1
    ok = before >= 0
    begin = offset[starts[before[ok]]]
    stop = offset[stops[ok]]
    valid = begin != -base_ns * 1000  # tsl checks the start's absolute time is not 0
    begin, stop = begin[valid], stop[valid]
    backwards = stop < begin
    if backwards.any():
        state.notes.append(f"left out {int(backwards.sum())} thread-pool regions that stop before they start")
        begin, stop = begin[~backwards], stop[~backwards]
    n = len(begin)
    name = state.builder.intern(cap(REGION, state.builder))
    dur_ps = stop - begin
    add(state, row, np.full(n, name, np.int32), np.full(n, -1, np.int32), np.zeros(n, np.uint8), np.full(n, -1, np.int32),
        to_ns(base_ns, begin, state.where), (dur_ps + 500) // 1000,
        np.where(dur_ps == 0, np.uint8(INSTANT), np.uint8(0)), np.full(n, -1, np.int64) if state.links else None)
