"""Chrome-trace JSON bytes already in memory -> `Columns`: per event its (ph, cat, name, pid,
tid) key code, ts and dur in µs, and a reference to its selected arguments; distinct keys and
argument sets are kept once. Files are read as a stream instead (`traces.stream_decode`,
which makes the same `Columns`); this is the whole-file path: for data handed over in memory
(xprof's conversions) and for what the stream cannot decode.

Fast path (msgspec, `traces.json_decoders`): the traceEvents array is located (a proven
guess, else one skipping scan) and decoded in chunks of 128 KiB into small typed structs
holding only the fields used; each chunk becomes numpy columns before the next is decoded, so
memory holds the data plus one chunk of Python objects, and those stay in the CPU cache. A big
array is shared with a second process when a core is idle (`traces.decode_pool`). A chunk
boundary is placed between two events; one that lands inside a string makes that chunk
invalid JSON, and the data is then decoded whole. Anything the typed decoder refuses (odd
types, NaN) takes the checking path (`traces.decode_generic`), which checks event by event
and raises TraceError naming the problem. A cut-off "JSON array format" trace is closed first
(`closed_array`), as the checking path closes it.
"""
from __future__ import annotations

import json
from array import array
from collections.abc import Callable, Mapping
from itertools import accumulate, count
from typing import Any, TypeAlias, TypeVar

import numpy as np
import numpy.typing as npt

from traces import decode_pool
from traces.decode_generic import decode_generic, generic_events
from traces.event_span import events_span
from traces.exact_time import MAX_TS_US, float_ns, parse_chunks
from traces.json_decoders import (
    ARGS,
    CHUNK_BYTES,
    DUR,
    FAST_ERRORS,
    NO_ID,
    TOP_KEYS,
    TS,
    arg_ids,
    chunk,
    decode_range,
    dur_decoder,
    float_dur_decoder,
    flow_ids,
    flows_begin,
    key_firsts,
    msgspec,
    raw_decoder,
    times_text,
    whole_decoder,
)
from traces.table import TraceError

_FAST_ERRORS = FAST_ERRORS
_WHITESPACE = b" \t\n\r\x0b\x0c"  # what bytes.strip() strips
_Item = TypeVar("_Item", bound=np.generic)
Int64s = npt.NDArray[np.int64]
Ids: TypeAlias = "array[int] | bytes"  # int64 link ids per event of a chunk (`flow_ids`), or a worker's block


class Columns:
    """The decoded events. `ukeys[code[i]]` is event i's (ph, cat, name, pid, tid); `ts_ns` /
    `dur_ns` the exact times in ns (`traces.exact_time`; 0 where missing or invalid), `ts` /
    `dur` the same as float µs, for checks and messages (NaN: missing, inf: not a number or
    out of range: only approximate for epoch times); `arg_ref[i]` indexes `arg_keys`, the distinct
    selected-argument sets as compact JSON (-1: none). `data` (the file) serves the rare second
    pass for ids and counter arguments; the generic path and the stream (`traces.stream_columns`)
    pass those in instead, keyed by event index. `links` may be given as a function that makes
    them when first asked for; `xla_links` are xprof's (correlation or correlation_id, flow id,
    bind id) where the decode read them, else None and `launch_links` reads them from `data`."""

    def __init__(self, ukeys: list[tuple[Any, ...]], code: npt.NDArray[np.intp], ts: npt.NDArray[np.float64],
                 dur: npt.NDArray[np.float64], arg_ref: npt.NDArray[np.int32], arg_keys: list[bytes], top: dict[str, Any],
                 data: bytes | bytearray = b"", ids: Mapping[int, Any] | list[Any] | None = None,
                 counter_args: dict[int, Any] | None = None, ts_ns: npt.NDArray[np.int64] | None = None,
                 dur_ns: npt.NDArray[np.int64] | None = None,
                 links: tuple[Int64s, Int64s] | Callable[[], tuple[Int64s, Int64s]] | None = None,
                 xla_links: tuple[Int64s, Int64s, Int64s] | None = None) -> None:
        self.ukeys, self.code, self.ts, self.dur, self.arg_ref, self.arg_keys = ukeys, code, ts, dur, arg_ref, arg_keys
        self.ts_ns = ts_ns if ts_ns is not None else _float_ns(ts)
        self.dur_ns = dur_ns if dur_ns is not None else _float_ns(dur)
        self.top, self._data, self._ids, self._counter_args = top, data, ids, counter_args
        self.n = len(code)
        self._links = links  # per event, its correlation and flow id (-1: none); None: not read (`traces.launch_links`)
        self.xla_links = xla_links
        self._objs: dict[int, dict[str, Any]] = {}

    @property
    def links(self) -> tuple[Int64s, Int64s] | None:
        if callable(self._links):
            self._links = self._links()
        return self._links

    def release(self, *names: str) -> None:
        """Let go of columns the reader has done with ("dur", "dur_ns", "arg_ref", "links"):
        a big trace's read peaks while the table's columns are made beside these."""
        for name in names:
            if name == "links":
                self._links = self.xla_links = None
            else:
                setattr(self, name, np.empty(0, getattr(self, name).dtype))

    @property
    def has_file(self) -> bool:
        """Whether the file is at hand for what the decode did not read (`launch_links`)."""
        return bool(self._data)

    def arg_obj(self, ref: int) -> dict[str, Any]:
        """The selected arguments of argument set `ref` as a dict (empty when unreadable)."""
        got = self._objs.get(ref)
        if got is None:
            try:
                got = json.loads(self.arg_keys[ref]) if ref >= 0 else {}
            except (ValueError, RecursionError):
                got = {}
            self._objs[ref] = got = got if isinstance(got, dict) else {}
        return got

    def arg(self, i: int, key: str) -> Any:
        return self.arg_obj(int(self.arg_ref[i])).get(key)

    def _second_pass(self) -> list[Any]:
        raw = raw_decoder.decode(self._data)
        return raw if isinstance(raw, list) else raw.traceEvents

    def ids_at(self, idx: list[int]) -> list[Any]:
        """Async ids of the events at `idx` (the typed pass skips ids: they are rare)."""
        if self._ids is None:
            self._ids = [ev.id for ev in self._second_pass()]
        ids = self._ids
        return [ids[i] for i in idx]

    def counter_args(self) -> dict[int, Any]:
        """Full args of the "C" events (arbitrary keys, which the typed pass skipped)."""
        if self._counter_args is None:
            self._counter_args = {i: ev.args for i, ev in enumerate(self._second_pass()) if ev.ph == "C"}
        return self._counter_args


class _Acc:
    """Accumulates chunks of events into columns, interning keys and argument sets."""

    def __init__(self, where: object, max_events: int, max_string: int, view: memoryview | None = None) -> None:
        self.where, self.max_events, self.max_string = where, max_events, max_string
        self.keys: dict[tuple[Any, ...], int] = {}
        self.args: dict[bytes, int] = {}
        self.first: list[npt.NDArray[np.int64]] = []
        self.ts: list[tuple[int, int, bytes]] = []  # per chunk: first event, events, their ts as comma-joined JSON texts
        self.dur: list[tuple[int, int, bytes]] = []  # the same for dur, for chunks decoded with dur as text
        self.dur_us: list[npt.NDArray[np.float64]] = []  # per chunk, dur as float (NaN for the text chunks)
        self.bounds: list[tuple[int, int, int]] = []  # per float chunk: first event, its bytes in `view`
        self.view = view
        self.ref: list[npt.NDArray[np.int32]] = []
        self.links: list[tuple[int, Ids | None, Ids | None]] = []  # first event, correlations, flow ids
        self.flows = False  # whether a flow event came yet: ids are read from then on
        self.typed = True  # structs, whose correlations and flow ids are read; the generic path's dicts are not
        self.n = 0

    def add(self, keys: list[tuple[Any, ...]], ts: bytes, dur: bytes, args: list[Any]) -> None:
        """The generic path's columns: keys are (ph, cat, name, pid, tid) tuples, times texts."""
        n = self._count(len(keys))
        self.typed = False
        self.first.append(np.fromiter(map(self.keys.setdefault, keys, count(n)), np.int64, len(keys)))
        self._rest(ts, dur, args)

    def add_structs(self, events: list[Any], pos: int = 0, cut: int = 0) -> None:
        """`chunk_decoder`'s structs (times as text)."""
        self._keys(events)
        self._rest(*times_text(events), list(map(ARGS, events)), flow_ids(events) if self.flows else None)

    def add_float_dur(self, events: list[Any], pos: int, cut: int) -> None:
        """`float_dur_decoder`'s structs of `view[pos:cut]` (dur a float, so a float chunk)."""
        n = len(events)
        self._keys(events)
        if n:
            self.ts.append((self.n, n, b",".join(map(TS, events))))
            self.dur_us.append(np.fromiter(map(DUR, events), np.float64, n))
            self.bounds.append((self.n, pos, cut))
        self._refs(list(map(ARGS, events)), flow_ids(events) if self.flows else None)

    def _keys(self, events: list[Any]) -> None:
        """Intern the events' keys; and note when the first flow appears (`flows_begin`)."""
        before, n = len(self.keys), len(events)
        self.first.append(np.fromiter(key_firsts(self.keys, events, self._count(n)), np.int64, n))
        self.flows = self.flows or (len(self.keys) > before and flows_begin(self.keys, before))

    def _count(self, n: int) -> int:
        if self.n + n > self.max_events:
            raise TraceError(self.where, f"more than {self.max_events:,} events (raise Limits.max_events to read it)")
        return self.n

    def _rest(self, ts: bytes, dur: bytes, args: list[Any], flows: Ids | None = None) -> None:
        self.text_times(ts, dur, len(args))
        self._refs(args, flows)

    def text_times(self, ts: bytes, dur: bytes, n: int) -> None:
        """The next `n` events' times as comma-joined JSON texts."""
        if n:  # an empty chunk's text would read as one token
            self.ts.append((self.n, n, ts))
            self.dur.append((self.n, n, dur))
            self.dur_us.append(np.full(n, np.nan))

    def _refs(self, args: list[Any], flows: Ids | None = None) -> None:
        n = len(args)
        ids, corr = arg_ids(self.args, args, self.max_string)
        if corr is not None or flows is not None:
            self.links.append((self.n, corr, flows))
        self.ref.append(np.full(n, -1, np.int32) if ids is None else np.fromiter(ids, np.int32, n))
        self.n += n

    def columns(self, top: dict[str, Any], **extra: Any) -> Columns:
        firsts = np.fromiter(self.keys.values(), np.int64, len(self.keys))  # increasing: insertion order
        code = np.searchsorted(firsts, _joined(self.first, np.int64))
        ts_ns, ts = parse_chunks(self.ts, self.n)
        dur_ns, dur = self._durations()
        return Columns(list(self.keys), code, ts, dur, _joined(self.ref, np.int32), list(self.args), top, **extra,
                       ts_ns=ts_ns, dur_ns=dur_ns, links=self._links() if self.typed else None)

    def _links(self) -> tuple[Int64s, Int64s]:
        corr, flow = np.full(self.n, NO_ID, np.int64), np.full(self.n, NO_ID, np.int64)
        for start, c, f in self.links:
            for column, values in ((corr, c), (flow, f)):
                if values is not None and len(values):
                    ids = np.frombuffer(values, np.int64)
                    column[start:start + len(ids)] = ids
        return np.maximum(corr, NO_ID), np.maximum(flow, NO_ID)  # negative ids are none

    def _durations(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """(ns, µs) of every event's dur: from the floats where `float_ns` proves them exact,
        else from the text (the text chunks, and the float chunks re-read with `dur_decoder`)."""
        dur = _joined(self.dur_us, np.float64)
        dur_ns, exact = float_ns(dur)
        texts = self.dur
        if self.bounds:  # float chunks: re-read those with a duration `float_ns` cannot prove as text
            first = np.array([b[0] for b in self.bounds], np.int64)
            redo = np.flatnonzero(~exact & ~np.isnan(dur))
            if len(redo) and self.view is not None:
                texts = list(texts)
                for k in np.unique(np.searchsorted(first, redo, side="right") - 1).tolist():
                    start, pos, cut = self.bounds[k]
                    events = dur_decoder.decode(chunk(self.view, pos, cut))
                    texts.append((start, len(events), b",".join(map(DUR, events))))
        if texts:
            idx = np.concatenate([np.arange(a, a + k) for a, k, _ in texts])
            at = accumulate((k for _, k, _ in texts), initial=0)  # numbered as the tokens come, joined
            dur_ns[idx], dur[idx] = parse_chunks([(a, k, t) for a, (_, k, t) in zip(at, texts, strict=False)], len(idx))
        return dur_ns, dur


def _float_ns(us: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """ns from float µs (exact only for times short of ~2**43 ns): for Columns made without
    the exact times."""
    return np.where(np.abs(us) <= MAX_TS_US, np.rint(us * 1000.0), 0.0).astype(np.int64)


def _joined(parts: list[npt.NDArray[_Item]], dtype: type[_Item]) -> npt.NDArray[_Item]:
    """The chunks' column as one array (an empty one of `dtype` when there were none)."""
    return np.concatenate(parts) if parts else np.empty(0, dtype)


def decode(data: bytes | bytearray, where: object, max_events: int, max_string: int, fast: bool = True) -> Columns:
    """Columns from a Chrome trace's bytes: the chunked typed path, else the whole file
    typed, else the checking generic path."""
    if fast and msgspec is not None:
        typed = closed_array(data)
        for attempt in (_chunked, _whole_typed):
            try:
                cols = attempt(typed, where, max_events, max_string)
            except _FAST_ERRORS:
                continue
            except RecursionError:
                raise TraceError(where, "JSON nested too deeply to be a trace") from None
            if cols is not None:
                return cols
    return _generic(decode_generic(data, where), where, max_events, max_string)


def closed_array(data: bytes | bytearray) -> bytes | bytearray:
    """Chrome's "JSON array format" may lack its closing bracket (a trace cut off while being
    written): such data closed as the checking path closes it (`_decode_generic`), so the typed
    paths read it too; anything else as it is. Copies only a cut-off array."""
    end = len(data)
    while end and data[end - 1] in _WHITESPACE:
        end -= 1
    if not bytes(data[:64]).lstrip().startswith(b"[") or data[end - 1:end] == b"]":
        return data
    return bytes(data[:end]).strip().rstrip(b", \t\r\n") + b"]"


def _chunked(data: bytes | bytearray, where: object, max_events: int, max_string: int) -> Columns | None:
    span = events_span(data)
    if span is None:
        return None  # not an array, or a cut-off one: the generic path says which
    view, begin, end, top = span
    acc = _Acc(where, max_events, max_string, view)
    chunk_bytes = CHUNK_BYTES  # read at each call: tests shrink this module's CHUNK_BYTES

    def decode_block(pos: int, stop: int) -> None:
        decode_range(acc.add_float_dur, view, pos, stop, chunk_bytes, float_dur_decoder)

    if decode_pool.usable(end - begin):  # a big array: shared with a second process
        decode_pool.decode_shared(acc, view, begin + 1, end, decode_block, chunk_bytes)
    else:
        decode_block(begin + 1, end)
    return acc.columns(top, data=data)


def _whole_typed(data: bytes | bytearray, where: object, max_events: int, max_string: int) -> Columns:
    doc = whole_decoder.decode(data)
    events = doc if isinstance(doc, list) else doc.traceEvents
    top = {} if isinstance(doc, list) else {k: getattr(doc, k) for k in TOP_KEYS}
    acc = _Acc(where, max_events, max_string)
    acc.add_structs(events)
    return acc.columns(top, data=data)


def _generic(doc: Any, where: object, max_events: int, max_string: int) -> Columns:
    """The checking path's columns (`traces.decode_generic`), interned as the typed paths intern."""
    keys, ts, dur, args, ids, counter_args, top = generic_events(doc, where)
    acc = _Acc(where, max_events, max_string)
    acc.add(keys, ts, dur, args)
    return acc.columns(top, ids=ids, counter_args=counter_args)
