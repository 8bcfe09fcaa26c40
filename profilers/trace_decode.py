"""Chrome-trace JSON bytes -> `Columns`: per event its (ph, cat, name, pid, tid) key code,
ts and dur in µs, and a reference to its selected arguments; distinct keys and argument sets
are kept once.

Fast path (msgspec): one skipping scan finds the traceEvents array, which is then decoded in
chunks of a few MB into small typed structs holding only the fields used; each chunk becomes
numpy columns before the next is decoded, so memory holds the file plus one chunk of Python
objects, not a million of them. A chunk boundary is placed between two events; a boundary
that lands inside a string makes that chunk invalid JSON, and the file is then decoded whole.
Anything the typed decoder refuses (odd types, NaN, a cut-off array) takes the generic path,
which checks event by event and raises TraceError naming the problem.
"""
from __future__ import annotations

import json
import math
import re
from itertools import count
from operator import attrgetter
from typing import Any, Literal

import numpy as np

from profilers.trace_table import TraceError, label_text

try:
    import msgspec
except ImportError:  # optional speed-up; the stdlib path reads the same traces, slower
    msgspec = None

# arguments read from every event; the reader keeps some with the event and uses the others
# (process/thread names, torch memory totals, xprof step numbers)
SEL = ("name", "labels", "hlo_op", "hlo_module", "long_name", "tf_op", "Input Dims", "Input type", "grid", "block",
       "step_num", "Total Allocated", "Total Reserved", "Device Id", "Device Type")
TOP_KEYS = ("schemaVersion", "baseTimeNanoseconds", "displayTimeUnit", "deviceProperties", "otherData")
KNOWN_PHASES = ("X", "B", "E", "i", "I", "R", "n", "b", "e", "C", "M", "s", "t", "f", "P", "N", "O", "D", "V", "v",
                "c", "(", ")", "")
CHUNK_BYTES = 4 << 20
_SPLIT = re.compile(rb"\}\s*,\s*\{")
_KEY5 = attrgetter("ph", "cat", "name", "pid", "tid")
_TS, _DUR, _ARGS = attrgetter("ts"), attrgetter("dur"), attrgetter("args")

if msgspec is not None:
    # argument values stay raw JSON (no nested lists built for a million "Input Dims")
    _Args = msgspec.defstruct("_Args", [(f"a{i}", msgspec.Raw, None) for i in range(len(SEL))],
                              rename={f"a{i}": k for i, k in enumerate(SEL)}, gc=False, omit_defaults=True)
    _EMPTY: Any = _Args()
    _Event = msgspec.defstruct("_Event", [
        ("ph", Literal[KNOWN_PHASES], ""), ("name", str | None, None), ("cat", str | None, None),
        ("pid", int | str | None, None), ("tid", int | str | None, None),
        ("ts", float, math.nan), ("dur", float, math.nan), ("args", _Args | None, None),
    ], gc=False)
    _Top = msgspec.defstruct("_Top", [("traceEvents", msgspec.Raw), *[(k, Any, None) for k in TOP_KEYS]])
    _Doc = msgspec.defstruct("_Doc", [("traceEvents", list[_Event]), *[(k, Any, None) for k in TOP_KEYS]])
    # second pass, only for files with counters or async events: their ids and full args
    _RawEvent = msgspec.defstruct("_RawEvent", [("ph", str, ""), ("id", Any, None), ("args", Any, None)], gc=False)
    _RawDoc = msgspec.defstruct("_RawDoc", [("traceEvents", list[_RawEvent])])
    _top = msgspec.json.Decoder(_Top)
    _chunk = msgspec.json.Decoder(list[_Event])
    _whole = msgspec.json.Decoder(_Doc | list[_Event])
    _raw = msgspec.json.Decoder(_RawDoc | list[_RawEvent])
    _FAST_ERRORS: tuple[type[Exception], ...] = (msgspec.ValidationError, msgspec.DecodeError, ValueError)
    _encode = msgspec.json.encode
else:
    _EMPTY = None
    _FAST_ERRORS = ()

    def _encode(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class Columns:
    """The decoded events. `ukeys[code[i]]` is event i's (ph, cat, name, pid, tid); `ts`/`dur`
    in µs (NaN: missing, inf: not a number); `arg_ref[i]` indexes `arg_keys`, the distinct
    selected-argument sets as compact JSON (-1: none)."""

    def __init__(self, ukeys: list[tuple[Any, ...]], code: np.ndarray, ts: np.ndarray, dur: np.ndarray,
                 arg_ref: np.ndarray, arg_keys: list[bytes], top: dict[str, Any], data: Any = None,
                 ids: list[Any] | None = None, counter_args: dict[int, Any] | None = None) -> None:
        self.ukeys, self.code, self.ts, self.dur, self.arg_ref, self.arg_keys = ukeys, code, ts, dur, arg_ref, arg_keys
        self.top, self._data, self._ids, self._counter_args = top, data, ids, counter_args
        self.n = len(code)
        self._objs: dict[int, dict[str, Any]] = {}

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
        raw = _raw.decode(self._data)
        return raw if isinstance(raw, list) else raw.traceEvents

    def ids_at(self, idx: list[int]) -> list[Any]:
        """Async ids of the events at `idx` (the typed pass skips ids: they are rare)."""
        if self._ids is None:
            self._ids = [ev.id for ev in self._second_pass()]
        return [self._ids[i] for i in idx]

    def counter_args(self) -> dict[int, Any]:
        """Full args of the "C" events (arbitrary keys, which the typed pass skipped)."""
        if self._counter_args is None:
            self._counter_args = {i: ev.args for i, ev in enumerate(self._second_pass()) if ev.ph == "C"}
        return self._counter_args


class _Acc:
    """Accumulates chunks of events into columns, interning keys and argument sets."""

    def __init__(self, where: object, max_events: int, max_string: int) -> None:
        self.where, self.max_events, self.max_string = where, max_events, max_string
        self.keys: dict[tuple[Any, ...], int] = {}
        self.args: dict[bytes, int] = {}
        self.first: list[np.ndarray] = []
        self.ts: list[np.ndarray] = []
        self.dur: list[np.ndarray] = []
        self.ref: list[np.ndarray] = []
        self.n = 0

    def add(self, keys: Any, ts: np.ndarray, dur: np.ndarray, args: list[Any]) -> None:
        n = len(ts)
        if self.n + n > self.max_events:
            raise TraceError(self.where, f"more than {self.max_events:,} events (raise Limits.max_events to read it)")
        self.first.append(np.fromiter(map(self.keys.setdefault, keys, count(self.n)), np.int64, n))
        self.ts.append(ts)
        self.dur.append(dur)
        self.ref.append(self._arg_refs(args))
        self.n += n

    def _arg_refs(self, args: list[Any]) -> np.ndarray:
        """Per event, the id of its encoded argument set (-1: none). One C-level count when
        no event has any; else every set is encoded (C-level map) and interned."""
        n = len(args)
        empty = args.count(None)
        if empty < n and _EMPTY is not None:
            empty += args.count(_EMPTY)
        if empty == n:
            return np.full(n, -1, np.int32)
        try:
            encoded = list(map(_encode, args))  # None -> b"null", an empty set -> b"{}"
        except (TypeError, ValueError, OverflowError, RecursionError):
            encoded = [self._encode_one(a) for a in args]
        for key in dict.fromkeys(encoded):
            if key not in self.args:
                self.args[key] = len(self.args)
        ref = np.fromiter(map(self.args.__getitem__, encoded), np.int32, n)
        for nothing in (b"null", b"{}"):
            if nothing in self.args:
                ref[ref == self.args[nothing]] = -1
        return ref

    def _encode_one(self, a: Any) -> bytes:
        try:
            return _encode(a)
        except (TypeError, ValueError, OverflowError, RecursionError):
            return json.dumps({"unparsed": repr(a)[: self.max_string]}).encode()

    def add_structs(self, events: list[Any]) -> None:
        n = len(events)
        self.add(map(_KEY5, events), np.fromiter(map(_TS, events), np.float64, n),
                 np.fromiter(map(_DUR, events), np.float64, n), list(map(_ARGS, events)))

    def columns(self, top: dict[str, Any], **extra: Any) -> Columns:
        first = np.concatenate(self.first) if self.first else np.empty(0, np.int64)
        firsts = np.fromiter(self.keys.values(), np.int64, len(self.keys))  # increasing: insertion order
        code = np.searchsorted(firsts, first)
        cat = (lambda parts, dtype: np.concatenate(parts) if parts else np.empty(0, dtype))
        return Columns(list(self.keys), code, cat(self.ts, np.float64), cat(self.dur, np.float64),
                       cat(self.ref, np.int32), list(self.args), top, **extra)


def decode(data: bytes | bytearray, where: object, max_events: int, max_string: int, fast: bool = True) -> Columns:
    """Columns from a Chrome trace's bytes: the chunked typed path, else the whole file
    typed, else the checking generic path."""
    if fast and msgspec is not None:
        for attempt in (_chunked, _whole_typed):
            try:
                cols = attempt(data, where, max_events, max_string)
            except _FAST_ERRORS:
                continue
            except RecursionError:
                raise TraceError(where, "JSON nested too deeply to be a trace") from None
            if cols is not None:
                return cols
    return _generic(_decode_generic(data, where), where, max_events, max_string)


def _chunked(data: bytes | bytearray, where: object, max_events: int, max_string: int) -> Columns | None:
    head = bytes(data[:64]).lstrip()
    if head[:1] == b"{":
        doc = _top.decode(data)  # skips through the file without building events
        view, top = memoryview(doc.traceEvents), {k: getattr(doc, k) for k in TOP_KEYS}
    else:
        view, top = memoryview(data), {}
    begin, end = 0, len(view) - 1
    while begin <= end and view[begin] in b" \t\r\n":
        begin += 1
    while end >= begin and view[end] in b" \t\r\n":
        end -= 1
    if end <= begin or view[begin] != ord("[") or view[end] != ord("]"):
        return None  # not an array, or a cut-off one: the generic path says which
    acc = _Acc(where, max_events, max_string)
    pos = begin + 1
    while pos < end:
        cut = nxt = end
        if end - pos > CHUNK_BYTES:
            m = _SPLIT.search(view, pos + CHUNK_BYTES, end)
            if m is not None:
                cut, nxt = m.start() + 1, m.end() - 1
        piece = bytearray(cut - pos + 2)
        piece[0], piece[-1] = 0x5B, 0x5D  # "[" ... "]"
        piece[1:-1] = view[pos:cut]
        events = _chunk.decode(piece)
        del piece
        acc.add_structs(events)
        del events
        pos = nxt
    return acc.columns(top, data=data)


def _whole_typed(data: bytes | bytearray, where: object, max_events: int, max_string: int) -> Columns:
    doc = _whole.decode(data)
    events = doc if isinstance(doc, list) else doc.traceEvents
    top = {} if isinstance(doc, list) else {k: getattr(doc, k) for k in TOP_KEYS}
    acc = _Acc(where, max_events, max_string)
    acc.add_structs(events)
    return acc.columns(top, data=data)


def _reject_constant(token: str) -> Any:
    raise ValueError(f"the file contains {token}, which is not a JSON number")


def _decode_generic(data: bytes | bytearray, where: object) -> Any:
    """Any JSON value, or TraceError. Accepts Chrome's "JSON array format" whose closing
    bracket is missing (a trace cut off while being written)."""
    try:
        return _loads(data)
    except RecursionError:
        raise TraceError(where, "JSON nested too deeply to be a trace") from None
    except ValueError as exc:
        first_error = exc
    stripped = bytes(data).strip()
    if stripped.startswith(b"[") and not stripped.endswith(b"]"):
        try:
            return _loads(stripped.rstrip(b", \t\r\n") + b"]")
        except (ValueError, RecursionError):
            pass
    raise TraceError(where, f"not valid JSON ({' '.join(str(first_error).split())[:200]})")


def _loads(data: bytes | bytearray) -> Any:
    if msgspec is not None:
        try:
            return msgspec.json.decode(data)
        except msgspec.DecodeError:
            pass  # the stdlib says precisely what is wrong (and names NaN / Infinity)
        except msgspec.ValidationError as exc:  # e.g. "Number out of range"
            raise ValueError(str(exc)) from None
    return json.loads(data, parse_constant=_reject_constant)


def _number(value: Any) -> float:
    """A float for a JSON number; missing -> NaN; anything else -> inf (reported as invalid
    if the event needs it)."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.inf
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _label(value: Any) -> Any:
    """pid / tid: ints and strings as they are; integral floats as ints; the rest as text."""
    if value is None or isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return label_text(value, 200)


def _str_or_none(value: Any) -> str | None:
    return value if value is None or isinstance(value, str) else label_text(value, 4096)


def _generic(doc: Any, where: object, max_events: int, max_string: int) -> Columns:
    if isinstance(doc, dict):
        events = doc.get("traceEvents")
        if not isinstance(events, list):
            raise TraceError(where, "JSON but not a Chrome trace (no traceEvents list)")
        top = {k: doc.get(k) for k in TOP_KEYS}
    elif isinstance(doc, list):
        events, top = doc, {}
    else:
        raise TraceError(where, "JSON but not a Chrome trace (neither an object with traceEvents nor a list)")
    keys: list[tuple[Any, ...]] = []
    ts: list[float] = []
    dur: list[float] = []
    args_col: list[Any] = []
    ids: list[Any] = []
    counter_args: dict[int, Any] = {}
    for i, ev in enumerate(events):
        if not isinstance(ev, dict):
            raise TraceError(where, f"event {i} is not a JSON object")
        ph = ev.get("ph")
        ph = ph if isinstance(ph, str) else ""
        keys.append((ph, _str_or_none(ev.get("cat")), _str_or_none(ev.get("name")), _label(ev.get("pid")),
                     _label(ev.get("tid"))))
        ts.append(_number(ev.get("ts")))
        dur.append(_number(ev.get("dur")))
        ids.append(ev.get("id"))
        args = ev.get("args")
        if isinstance(args, dict):
            args_col.append({k: args[k] for k in SEL if args.get(k) is not None} or None)
            if ph == "C":
                counter_args[i] = args
        else:
            args_col.append(None)
    acc = _Acc(where, max_events, max_string)
    acc.add(keys, np.array(ts, np.float64), np.array(dur, np.float64), args_col)
    return acc.columns(top, ids=ids, counter_args=counter_args)
