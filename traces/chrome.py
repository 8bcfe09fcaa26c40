"""Decoded Chrome-trace columns (`traces.decode`) into a TableBuilder: phases, process and
thread names, torch memory instants and "C" counters as counter series, begin/end pairs,
kinds, device rows.

Everything per event is numpy over key codes: the few Python loops run per distinct
(ph, cat, name, pid, tid) key, per distinct argument set, or over the rare phases (metadata,
counters, begin/end pairs). The columns come from the whole file in memory (`parse_into`) or
from a stream (`parse_stream_into`); a big read peaks while the table's columns are made, so
what is done with is let go first (`Columns.release`) and the times are checked in blocks.
"""
from __future__ import annotations

import gc
import json
import math
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from traces.chrome_counters import chrome_counters, memory_counters
from traces.classify import HAS_HLO, HAS_STEP, HAS_TF_OP, classify, guess_framework
from traces.decode import Columns, decode
from traces.devices import mark_device_rows
from traces.exact_time import MAX_TS_US
from traces.kineto import is_kineto
from traces.launch_links import add_launch_links, wanted
from traces.stream_decode import NeedWhole, decode_stream
from traces.table import INSTANT, TraceError, label_text
from traces.table_builder import TableBuilder

KEEP = ("hlo_op", "hlo_module", "long_name", "tf_op", "Input Dims", "Input type", "grid", "block")  # stored per event
# phase -> class: complete, begin, end, instant, async begin, async end, counter, metadata, other
X, B, E, INST, AB, AE, C, M, SKIP = range(9)
PHASES = {"X": X, "B": B, "E": E, "i": INST, "I": INST, "R": INST, "n": INST, "b": AB, "e": AE, "C": C, "M": M}
Codes = npt.NDArray[np.intp]  # per event, its key's index in `Columns.ukeys`
CHECK_BLOCK = 1 << 16  # events whose times are checked at a time
ArgColumns = tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8], npt.NDArray[np.int32]]  # kept-args string id, flags, step


class _ArgSets(NamedTuple):
    """Per distinct argument set (the last slot: no arguments) its `ArgColumns` values, and per
    event its set (`ref`): the events' columns are taken for the events a part keeps only."""

    ids: npt.NDArray[np.int32]
    flags: npt.NDArray[np.uint8]
    step: npt.NDArray[np.int32]
    ref: npt.NDArray[np.int32]


class _Names:
    """Event index -> name, for error messages."""

    def __init__(self, ukeys: list[tuple[Any, ...]], code: Codes) -> None:
        self.ukeys, self.code = ukeys, code

    def __call__(self, index: int) -> str:
        name = self.ukeys[int(self.code[index])][2]
        return f" ({label_text(name, 60)!r})" if name else ""


def _check_times(ts: npt.NDArray[np.float64], dur: npt.NDArray[np.float64], index: npt.NDArray[np.intp] | None,
                 where: object, names: _Names) -> None:
    """TraceError for the first event (`index`: their event numbers; None: 0, 1, ...) without a
    usable ts or dur; in blocks, so the checks' temporaries stay small."""
    for lo in range(0, len(ts), CHECK_BLOCK):
        bad_ts = ~(np.abs(ts[lo:lo + CHECK_BLOCK]) <= MAX_TS_US)  # catches NaN too
        if bad_ts.any():
            i = lo + int(np.argmax(bad_ts))
            value = ("missing" if math.isnan(ts[i]) else "not a number or out of range" if math.isinf(ts[i])
                     else repr(float(ts[i])))
            j = i if index is None else int(index[i])
            raise TraceError(where, f"event {j}{names(j)} has no valid ts ({value}; a finite number of µs is needed)")
    for lo in range(0, len(dur), CHECK_BLOCK):
        block = dur[lo:lo + CHECK_BLOCK]
        bad_dur = np.isnan(block) | (block < 0) | ~(np.abs(block) <= MAX_TS_US)
        if bad_dur.any():
            i = lo + int(np.argmax(bad_dur))
            what = "a negative duration" if dur[i] < 0 else "an invalid duration"
            j = i if index is None else int(index[i])
            raise TraceError(where, f"event {j}{names(j)} has {what} ({float(dur[i])!r} µs)")


def _check_kept_times(cols: Columns, keep: npt.NDArray[np.intp] | None, instant: npt.NDArray[np.bool_], where: object,
                      names: _Names) -> None:
    """The times of the events the table keeps (`keep`; None: all): an instant's dur is not
    read, a complete event without one lasts 0."""
    n = len(instant)
    for times in ("ts", "dur"):  # every ts first, as one check of the whole would find them
        for lo in range(0, n, CHECK_BLOCK):  # in blocks: no column-sized temporaries
            at = np.arange(lo, min(n, lo + CHECK_BLOCK)) if keep is None else keep[lo:lo + CHECK_BLOCK]
            if times == "ts":
                _check_times(cols.ts[at], np.zeros(len(at)), at, where, names)
            else:
                dur = cols.dur[at]
                dur[instant[lo:lo + CHECK_BLOCK]] = 0.0
                dur[np.isnan(dur)] = 0.0
                _check_times(np.zeros(len(at)), dur, at, where, names)


class ChromeResult:
    """What a parse found besides the events: the flavour and metadata to describe the source."""

    def __init__(self) -> None:
        self.flavor = "chrome"
        self.top: dict[str, Any] = {}
        self.names: set[str] = set()
        self.notes: list[str] = []
        self.events = 0


def parse_into(builder: TableBuilder, data: bytes | bytearray | str, where: object, prefix: str = "",
               flavor: str | None = None, fast: bool = True) -> ChromeResult:
    """Decode one Chrome trace and add its events and counters to `builder` (rows keyed by
    `prefix`, so several hosts' traces can share one table)."""
    if isinstance(data, str):  # xprof hands back str
        data = data.encode("utf-8", "replace")
    with _gc_paused():
        limits = builder.limits
        return _parse_into(builder, decode(data, where, limits.max_events, limits.max_string, fast), data, where, prefix,
                           flavor)


def parse_stream_into(builder: TableBuilder, pieces: Iterable[bytes], where: object, prefix: str = "") -> ChromeResult:
    """`parse_into` for a Chrome trace read as a stream of decompressed pieces, never held
    whole (`traces.stream_decode`); raises NeedWhole, having added nothing to `builder`, when
    the caller must read the file whole instead."""
    with _gc_paused():
        return _parse_into(builder, decode_stream(pieces, where, builder.limits), b"", where, prefix, None)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic GC while a million short-lived objects come and go (none of them can form a
    cycle); it would rescan the growing heap again and again. Streamed 1M-event bench trace,
    one core, median of 5: 0.69 CPU-s paused, 0.72 with the GC on (most structs are gc=False
    already); restored however the parse ends."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _parse_into(builder: TableBuilder, cols: Columns, data: bytes | bytearray, where: object, prefix: str,
                flavor: str | None) -> ChromeResult:
    n, ukeys, code = cols.n, cols.ukeys, cols.code
    result = ChromeResult()
    result.top = cols.top
    u_pc = np.array([PHASES.get(k[0], SKIP) for k in ukeys], np.int8)
    pc = u_pc[code] if n else np.zeros(0, np.int8)
    per_key = np.bincount(code, minlength=len(ukeys))  # counted per key, then per phase: one pass over the events
    counts = np.bincount(u_pc, weights=per_key, minlength=SKIP + 1).astype(np.int64) if len(ukeys) \
        else np.zeros(SKIP + 1, np.int64)
    if counts[SKIP]:
        u_blank = np.array([not k[0] for k in ukeys], bool)  # no "ph" at all: xprof ends its list with {}
        shown = int(counts[SKIP] - per_key[u_blank].sum())
        if shown:
            result.notes.append(f"skipped {shown} events of phases Stepscope does not show (flows, samples, objects)")
    names = _Names(ukeys, code)
    process_names, thread_names = _metadata(ukeys, code, pc, cols)
    if cols.xla_links is None and not cols.has_file and wanted(ukeys, process_names) \
            and any(str(p).startswith(("/host:", "/device:")) for p in process_names.values()):
        raise NeedWhole("xprof's launch links were not read from the start of the stream")
    flavor = flavor or _flavor(cols, ukeys, process_names)
    result.flavor = flavor

    is_mem = np.zeros(n, bool)
    if counts[INST]:
        u_mem = np.array([k[0] in ("i", "I") and k[2] == "[memory]" for k in ukeys], bool)
        is_mem = u_mem[code]
        if is_mem.any():
            idx = np.flatnonzero(is_mem)
            _check_times(cols.ts[idx], np.zeros(len(idx)), idx, where, names)
            memory_counters(builder, cols, idx)
    if counts[C]:
        idx = np.flatnonzero(pc == C)
        _check_times(cols.ts[idx], np.zeros(len(idx)), idx, where, names)
        chrome_counters(builder, cols, idx, process_names)

    mask = ((pc == X) | (pc == INST)) & ~is_mem
    keep = None if mask.all() else np.flatnonzero(mask)
    del mask, is_mem
    instant = pc == INST if keep is None else pc[keep] == INST
    _check_kept_times(cols, keep, instant, where, names)
    # the launch links before the events' columns: the two are the biggest passing needs of a read
    linked = {"name": instant, "flags": instant.astype(np.uint8) * INSTANT}  # what add_launch_links reads of a part
    add_launch_links(builder, data, cols, keep, process_names, linked, result.notes)
    dur_ns = (cols.dur_ns if keep is None else cols.dur_ns[keep]).copy()  # exact: traces.exact_time
    dur_ns[instant] = 0
    del instant
    keys = _Keys(builder, ukeys, prefix, flavor)
    args = _args_columns(builder, cols)
    cols.release("dur", "dur_ns", "arg_ref", "links")
    first = _part(keys, code if keep is None else code[keep], cols.ts_ns if keep is None else cols.ts_ns[keep], dur_ns,
                  linked["flags"], _take(args, keep))
    if "link" in linked:
        first["link"] = linked["link"]
    parts: list[dict[str, np.ndarray] | None] = [first]
    del linked, dur_ns, first
    if counts[B] or counts[E]:
        parts.append(_pairs(keys, cols, code, pc, B, E, where, result, names, args))
    if counts[AB] or counts[AE]:
        parts.append(_pairs(keys, cols, code, pc, AB, AE, where, result, names, args))
    builder.name_rows(prefix, process_names, thread_names)
    used = np.zeros(len(ukeys), bool)
    for part in [p for p in parts if p is not None and len(p["name"])]:
        argflags, part_code = part.pop("argflags"), part.pop("code")
        used[part_code] = True
        kind = keys.kinds(part_code, argflags)
        mark_device_rows(builder, part, kind)
        result.events += len(part["name"])
        builder.add(kind=kind, where=where, **part)
    result.names = {builder.strings[i] for i in set(keys.name[used].tolist())}  # np.unique would import numpy.ma: 20 ms
    return result


def _metadata(ukeys: list[tuple[Any, ...]], code: Codes, pc: npt.NDArray[np.int8], cols: Columns
              ) -> tuple[dict[Any, str], dict[tuple[Any, Any], str]]:
    """process_name / thread_name / process_labels metadata."""
    process_names: dict[Any, str] = {}
    thread_names: dict[tuple[Any, Any], str] = {}
    labels: dict[Any, str] = {}
    for i in np.flatnonzero(pc == M).tolist():
        _, _, kind, pid, tid = ukeys[code[i]]
        if kind == "process_labels" and cols.arg(i, "labels") is not None:
            labels[pid] = label_text(cols.arg(i, "labels"), 100)
        label = cols.arg(i, "name")
        if label is None:
            continue
        if kind == "process_name":
            process_names[pid] = label_text(label, 200)
        elif kind == "thread_name":
            thread_names[(pid, tid)] = label_text(label, 200)
    for pid, label in labels.items():  # torch: "python" + "CPU" / "GPU 0"
        process_names[pid] = f"{process_names[pid]} ({label})" if process_names.get(pid) else label
    return process_names, thread_names


def _flavor(cols: Columns, ukeys: list[tuple[Any, ...]], process_names: dict[Any, str]) -> str:
    """torch / xla (TSL profiler output: JAX and TensorFlow) / chrome (anything else)."""
    other = cols.top.get("otherData")
    if isinstance(other, dict) and isinstance(other.get("stepscope"), dict):
        flavor = other["stepscope"].get("flavor")
        if isinstance(flavor, str) and flavor in ("torch", "xla", "chrome"):
            return flavor
    if any(str(p).startswith(("/host:", "/device:")) for p in process_names.values()):
        return "xla"
    if is_kineto({k[1] for k in ukeys if isinstance(k[1], str)}, (k[2] for k in ukeys if isinstance(k[2], str)), cols.top):
        return "torch"  # Kineto's categories, old or new, its step markers or its header (traces.kineto)
    return "chrome"


class _Keys:
    """Per distinct (ph, cat, name, pid, tid) key: string ids, row ids (made on first use, so
    metadata events create no rows) and kinds."""

    def __init__(self, builder: TableBuilder, ukeys: list[tuple[Any, ...]], prefix: str, flavor: str) -> None:
        self.builder, self.ukeys, self.prefix, self.flavor = builder, ukeys, prefix, flavor
        self.name = np.array([builder.intern(_cap(k[2] or "", builder)) for k in ukeys], np.int32)
        self.cat = np.array([-1 if k[1] is None else builder.intern(_cap(k[1], builder)) for k in ukeys], np.int32)
        self._row = np.full(len(ukeys), -1, np.int32)
        self._kind: npt.NDArray[np.uint8] | None = None

    def rows(self, code: Codes) -> npt.NDArray[np.int32]:
        present = np.bincount(code, minlength=len(self.ukeys)) > 0  # np.unique of 1M codes: 4x slower
        need = np.flatnonzero(present & (self._row < 0))
        for u in need.tolist():
            self._row[u] = self.builder.row(self.prefix, self.ukeys[u][3], self.ukeys[u][4])
        return self._row[code]

    def kinds(self, code: Codes, argflags: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        if self._kind is None:
            self._kind = classify(self.cat, self.name, np.zeros(len(self.ukeys), np.uint8), self.builder.strings, self.flavor)
        kind = self._kind[code]
        flagged = np.flatnonzero(argflags)
        if len(flagged):
            kind[flagged] = classify(self.cat[code[flagged]], self.name[code[flagged]], argflags[flagged],
                                     self.builder.strings, self.flavor)
        return kind


def _part(keys: _Keys, code: Codes, start: npt.NDArray[np.int64], dur: npt.NDArray[np.int64], flags: npt.NDArray[np.uint8],
          args: ArgColumns, rows: list[Any] | None = None) -> dict[str, np.ndarray]:
    """Table columns for events given by their key codes and argument columns."""
    if rows is None:
        row = keys.rows(code)
    else:
        row = np.array([keys.builder.row(keys.prefix, p, t) for p, t in rows], dtype=np.int32)
    args_ids, argflags, step = args
    return {"name": keys.name[code], "cat": keys.cat[code], "row": row, "start_ns": start, "dur_ns": dur,
            "flags": flags, "args": args_ids, "argflags": argflags, "step": step, "code": code}


def _cap(text: str, builder: TableBuilder) -> str:
    """`text` whole up to Limits.max_string (1 MiB); cut past that, and noted in the source."""
    cap = builder.limits.max_string
    if len(text) <= cap:
        return text
    note = f"cut names, categories or arguments longer than {cap:,} characters (Limits.max_string)"
    if note not in builder.source.notes:
        builder.source.notes.append(note)
    return text[: cap - 3] + "..."


def _args_columns(builder: TableBuilder, cols: Columns) -> _ArgSets:
    """Per event (through its set, `_take`): the string id of its kept arguments (compact
    JSON), the classification flags and the step number they imply; computed once per
    distinct argument set."""
    n_sets = len(cols.arg_keys)
    u_id = np.full(n_sets + 1, -1, np.int32)  # the last slot serves events without arguments (-1)
    u_flags = np.zeros(n_sets + 1, np.uint8)
    u_step = np.full(n_sets + 1, -1, np.int32)
    cap = builder.limits.max_string
    for j in range(n_sets):
        obj = cols.arg_obj(j)
        kept = {k: v for k, v in obj.items() if k in KEEP and v is not None}
        if kept:
            u_id[j] = builder.intern(_args_text(kept, cap, builder))
        f = 0
        if obj.get("hlo_op") is not None:
            f |= HAS_HLO
        if obj.get("long_name") is not None or obj.get("tf_op") is not None:
            f |= HAS_TF_OP
        if obj.get("step_num") is not None:
            f |= HAS_STEP
            try:
                number = int(obj["step_num"])
            except (TypeError, ValueError, OverflowError):
                number = -1
            u_step[j] = number if 0 <= number < 2**31 - 1 else -1
        u_flags[j] = f
    return _ArgSets(u_id, u_flags, u_step, cols.arg_ref)


def _args_text(kept: dict[str, Any], cap: int, builder: TableBuilder) -> str:
    """Compact JSON; an over-long one is kept as a cut string, still valid JSON."""
    try:
        text = json.dumps(kept, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = json.dumps({"unparsed": repr(kept)[:cap]})
    return text if len(text) <= cap else json.dumps({"truncated": _cap(text, builder)[: cap - 40]})


def _pairs(keys: _Keys, cols: Columns, code: Codes, pc: npt.NDArray[np.int8], begin: int, end: int, where: object,
           result: ChromeResult, names: _Names, args: _ArgSets) -> dict[str, np.ndarray] | None:
    """Complete events from B/E pairs (per thread, nested) or async b/e pairs (per id)."""
    async_rows = begin == AB
    idx = np.flatnonzero((pc == begin) | (pc == end))
    _check_times(cols.ts[idx], np.zeros(len(idx)), idx, where, names)
    order = idx[np.lexsort((idx, cols.ts_ns[idx]))]  # exact times: float epoch µs would reorder close events
    ids = dict(zip(order.tolist(), cols.ids_at(order.tolist()), strict=True)) if async_rows else {}
    open_: dict[Any, list[int]] = {}
    starts, ends, rows = [], [], []
    for i in order.tolist():
        _, cat, _, pid, tid = keys.ukeys[code[i]]
        if async_rows:
            key: Any = (pid, cat, label_text(ids[i], 100))
            row: Any = (pid, f"async {cat or ''}".strip())
        else:
            key = row = (pid, tid)
        if pc[i] == begin:
            open_.setdefault(key, []).append(i)
        elif open_.get(key):
            starts.append(open_[key].pop())
            ends.append(i)
            rows.append(row)
    dropped = len(idx) - 2 * len(starts)
    if dropped:
        result.notes.append(f"dropped {dropped} unmatched {'async ' if async_rows else ''}begin/end events")
    if not starts:
        return None
    b_idx, e_idx = np.array(starts), np.array(ends)
    start = cols.ts_ns[b_idx]
    return _part(keys, code[b_idx], start, cols.ts_ns[e_idx] - start, np.zeros(len(b_idx), np.uint8),
                 _take(args, b_idx), rows=rows)


def _take(args: _ArgSets, idx: npt.NDArray[np.intp] | None) -> ArgColumns:
    """The argument columns of the events at `idx` (None: all)."""
    ref = args.ref if idx is None else args.ref[idx]
    return args.ids[ref], args.flags[ref], args.step[ref]


def framework_from(result: ChromeResult) -> str | None:
    if result.flavor == "torch":
        return "torch"
    return guess_framework(result.names) if result.flavor == "xla" else None
