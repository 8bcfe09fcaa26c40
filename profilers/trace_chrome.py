"""Chrome-trace JSON (PyTorch, xprof's trace_viewer output, anyone's) into a TableBuilder.

Speed: msgspec decodes the events straight into small typed structs that keep only the
fields and the few arguments we use (unknown keys are skipped without building objects);
columns are then built with list comprehensions and numpy in one go. Anything the typed
decoder refuses (odd types, NaN, a truncated array) takes the generic path, which checks
event by event, so junk gives a TraceError naming the problem, never another exception.
Without msgspec installed the generic path (stdlib json) is used for everything, slower.
"""
from __future__ import annotations

import json
import math
from operator import attrgetter
from typing import Any, Union

import numpy as np

from profilers.trace_classify import HAS_HLO, HAS_STEP, HAS_TF_OP, classify, device_line_kind, guess_framework
from profilers.trace_table import INSTANT, Kind, TableBuilder, TraceError, _text

try:
    import msgspec
except ImportError:  # optional speed-up; the stdlib path reads the same traces
    msgspec = None

# arguments read from every event; KEEP are stored with the event, the rest steer the reader
SEL = ("name", "labels", "hlo_op", "hlo_module", "long_name", "tf_op", "Input Dims", "Input type", "grid", "block",
       "step_num", "Total Allocated", "Total Reserved", "Device Id", "Device Type")
KEEP = ("hlo_op", "hlo_module", "long_name", "tf_op", "Input Dims", "Input type", "grid", "block")
_IDX = {k: i for i, k in enumerate(SEL)}
_KEEP_IDX = [_IDX[k] for k in KEEP]
MAX_TS_US = 4.5e15  # |ts| bound: 2**62 ns, so start + duration always fits int64 nanoseconds
# phase -> class: complete, begin, end, instant, async begin, async end, counter, metadata
X, B, E, I, AB, AE, C, M, SKIP = range(9)
PHASES = {"X": X, "B": B, "E": E, "i": I, "I": I, "R": I, "n": I, "b": AB, "e": AE, "C": C, "M": M}
TOP_KEYS = ("schemaVersion", "baseTimeNanoseconds", "displayTimeUnit", "deviceProperties", "otherData")
FIELDS = ("ph", "name", "cat", "pid", "tid", "ts", "dur", "id", "args")

if msgspec is not None:
    _Args = msgspec.defstruct("_Args", [(f"a{i}", Any, None) for i in range(len(SEL))],
                              rename={f"a{i}": k for i, k in enumerate(SEL)}, gc=False)
    _Event = msgspec.defstruct("_Event", [
        ("ph", str, ""), ("name", Union[str, None], None), ("cat", Union[str, None], None),
        ("pid", Union[int, str, None], None), ("tid", Union[int, str, None], None),
        ("ts", float, math.nan), ("dur", float, math.nan), ("id", Any, None), ("args", Union[_Args, None], None),
    ], gc=False)
    _Doc = msgspec.defstruct("_Doc", [("traceEvents", list[_Event]), *[(k, Any, None) for k in TOP_KEYS]])
    _RawEvent = msgspec.defstruct("_RawEvent", [("ph", str, ""), ("args", Any, None)], gc=False)
    _RawDoc = msgspec.defstruct("_RawDoc", [("traceEvents", list[_RawEvent])])
    _typed = msgspec.json.Decoder(Union[_Doc, list[_Event]])
    _raw = msgspec.json.Decoder(Union[_RawDoc, list[_RawEvent]])
    _astuple = msgspec.structs.astuple


class Columns:
    """The decoded events as parallel lists (one entry per traceEvents element) plus the
    top-level keys; `args` holds a tuple of the SEL values or None; `counter_args` the full
    args of counter events."""

    def __init__(self, lists: dict[str, list[Any]], top: dict[str, Any], counter_args: dict[int, Any]) -> None:
        self.lists = lists
        self.top = top
        self.counter_args = counter_args


def decode(data: bytes | bytearray | str, where: object, fast: bool = True) -> Columns:
    """Columns from a Chrome trace's bytes: the typed msgspec path when it accepts the file,
    else the checking generic path."""
    if fast and msgspec is not None:
        try:
            doc = _typed.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError):
            doc = None
        except RecursionError:
            raise TraceError(where, "JSON nested too deeply to be a trace") from None
        if doc is not None:
            return _from_structs(doc, data)
    return _from_generic(_decode_generic(data, where), where)


def _from_structs(doc: Any, data: bytes | bytearray | str) -> Columns:
    events = doc if isinstance(doc, list) else doc.traceEvents
    top = {} if isinstance(doc, list) else {k: getattr(doc, k) for k in TOP_KEYS}
    lists = {f: list(map(attrgetter(f), events)) for f in FIELDS if f != "args"}
    lists["args"] = [None if a is None else _astuple(a) for a in map(attrgetter("args"), events)]
    counter_args: dict[int, Any] = {}
    if "C" in lists["ph"]:  # counters carry arbitrary keys: a second, skipping pass for their args
        raw = _raw.decode(data)
        for i, ev in enumerate(raw if isinstance(raw, list) else raw.traceEvents):
            if ev.ph == "C":
                counter_args[i] = ev.args
    return Columns(lists, top, counter_args)


def _reject_constant(token: str) -> Any:
    raise ValueError(f"the file contains {token}, which is not a JSON number")


def _decode_generic(data: bytes | bytearray | str, where: object) -> Any:
    """Any JSON value, or TraceError. Accepts Chrome's "JSON array format" whose closing
    bracket is missing (a trace cut off while being written)."""
    try:
        return _loads(data)
    except RecursionError:
        raise TraceError(where, "JSON nested too deeply to be a trace") from None
    except ValueError as exc:
        first_error = exc
    text = bytes(data) if not isinstance(data, str) else data.encode("utf-8", "replace")
    stripped = text.strip()
    if stripped.startswith(b"[") and not stripped.endswith(b"]"):
        try:
            return _loads(stripped.rstrip(b", \t\r\n") + b"]")
        except (ValueError, RecursionError):
            pass
    raise TraceError(where, f"not valid JSON ({_short(first_error)})")


def _loads(data: bytes | bytearray | str) -> Any:
    if msgspec is not None:
        try:
            return msgspec.json.decode(data)
        except msgspec.DecodeError:
            pass  # the stdlib says precisely what is wrong (and names NaN / Infinity)
        except msgspec.ValidationError as exc:  # e.g. "Number out of range"
            raise ValueError(str(exc)) from None
    return json.loads(data, parse_constant=_reject_constant)


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:200]


def _number(value: Any) -> float:
    """A finite or infinite float for a JSON number; missing -> NaN; anything else -> inf,
    which the range check then reports."""
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
    return _text(value, 200)


def _from_generic(doc: Any, where: object) -> Columns:
    if isinstance(doc, dict):
        events = doc.get("traceEvents")
        if not isinstance(events, list):
            raise TraceError(where, "JSON but not a Chrome trace (no traceEvents list)")
        top = {k: doc.get(k) for k in TOP_KEYS}
    elif isinstance(doc, list):
        events, top = doc, {}
    else:
        raise TraceError(where, "JSON but not a Chrome trace (neither an object with traceEvents nor a list)")
    lists: dict[str, list[Any]] = {f: [] for f in FIELDS}
    counter_args: dict[int, Any] = {}
    for i, ev in enumerate(events):
        if not isinstance(ev, dict):
            raise TraceError(where, f"event {i} is not a JSON object")
        ph = ev.get("ph")
        lists["ph"].append(ph if isinstance(ph, str) else "")
        name, cat = ev.get("name"), ev.get("cat")
        lists["name"].append(name if name is None or isinstance(name, str) else _text(name, 4096))
        lists["cat"].append(cat if cat is None or isinstance(cat, str) else _text(cat, 4096))
        lists["pid"].append(_label(ev.get("pid")))
        lists["tid"].append(_label(ev.get("tid")))
        lists["ts"].append(_number(ev.get("ts")))
        lists["dur"].append(_number(ev.get("dur")))
        lists["id"].append(ev.get("id"))
        args = ev.get("args")
        if isinstance(args, dict):
            lists["args"].append(tuple(args.get(k) for k in SEL))
            if ph == "C":
                counter_args[i] = args
        else:
            lists["args"].append(None)
    return Columns(lists, top, counter_args)


def _bad(where: object, index: int, name: Any, problem: str) -> TraceError:
    return TraceError(where, f"event {index} ({_text(name, 60)!r}) {problem}")


def _check_times(ts: np.ndarray, dur: np.ndarray, index: np.ndarray, names: list[Any], where: object) -> None:
    bad_ts = ~(np.abs(ts) <= MAX_TS_US)  # catches NaN too
    if bad_ts.any():
        i = int(np.argmax(bad_ts))
        value = "missing" if math.isnan(ts[i]) else "not a number or out of range" if math.isinf(ts[i]) else repr(float(ts[i]))
        raise _bad(where, int(index[i]), names[int(index[i])], f"has no valid ts ({value}; a finite number of µs is needed)")
    if np.isnan(dur).any() or (dur < 0).any() or not (np.abs(dur) <= MAX_TS_US).all():
        i = int(np.argmax(np.isnan(dur) | (dur < 0) | ~(np.abs(dur) <= MAX_TS_US)))
        what = "a negative duration" if dur[i] < 0 else "an invalid duration"
        raise _bad(where, int(index[i]), names[int(index[i])], f"has {what} ({float(dur[i])!r} µs)")


def _ns(us: np.ndarray) -> np.ndarray:
    return np.rint(us * 1000.0).astype(np.int64)


def _take(values: list[Any], index: np.ndarray) -> list[Any]:
    return [values[i] for i in index.tolist()]


class ChromeResult:
    """What a parse found besides the events: the flavour and metadata to describe the source."""

    def __init__(self) -> None:
        self.flavor = "chrome"
        self.top: dict[str, Any] = {}
        self.process_names: dict[Any, str] = {}
        self.names: set[str] = set()
        self.notes: list[str] = []
        self.events = 0


def parse_into(builder: TableBuilder, data: bytes | bytearray | str, where: object, prefix: str = "",
               flavor: str | None = None, fast: bool = True) -> ChromeResult:
    """Decode one Chrome trace and add its events and counters to `builder` (rows keyed by
    `prefix`, so several hosts' traces can share one table)."""
    cols = decode(data, where, fast)
    L = cols.lists
    result = ChromeResult()
    result.top = cols.top
    n = len(L["ph"])
    if n > builder.limits.max_events:
        raise TraceError(where, f"more than {builder.limits.max_events:,} events (raise Limits.max_events to read it)")
    pc = np.fromiter((PHASES.get(p, SKIP) for p in L["ph"]), dtype=np.int8, count=n)
    counts = np.bincount(pc, minlength=SKIP + 1)
    if counts[SKIP]:
        result.notes.append(f"skipped {int(counts[SKIP])} events of unsupported phases (flows, samples, objects)")

    # metadata: process and thread names
    process_names: dict[Any, str] = {}
    thread_names: dict[tuple[Any, Any], str] = {}
    labels: dict[Any, str] = {}
    for i in np.flatnonzero(pc == M).tolist():
        args = L["args"][i]
        kind = L["name"][i]
        if args is None:
            continue
        if kind == "process_labels" and args[_IDX["labels"]] is not None:
            labels[L["pid"][i]] = _text(args[_IDX["labels"]], 100)
        label = args[_IDX["name"]]
        if label is None:
            continue
        if kind == "process_name":
            process_names[L["pid"][i]] = _text(label, 200)
        elif kind == "thread_name":
            thread_names[(L["pid"][i], L["tid"][i])] = _text(label, 200)
    for pid, label in labels.items():  # torch: "python" + "CPU" / "GPU 0"
        process_names[pid] = f"{process_names[pid]} ({label})" if process_names.get(pid) else label
    result.process_names = process_names
    flavor = flavor or _flavor(cols, process_names)
    result.flavor = flavor

    # torch memory instants become counters, not events
    is_mem = (pc == I) & np.fromiter((nm == "[memory]" for nm in L["name"]), dtype=bool, count=n) if counts[I] else np.zeros(n, bool)
    if is_mem.any():
        _memory_counters(builder, L, np.flatnonzero(is_mem), where)
    if counts[C]:
        _chrome_counters(builder, L, cols.counter_args, np.flatnonzero(pc == C), process_names, where)

    mask = ((pc == X) | (pc == I)) & ~is_mem
    keep = np.arange(n) if mask.all() else np.flatnonzero(mask)
    ts = np.array(_take(L["ts"], keep) if len(keep) < n else L["ts"], dtype=np.float64)
    dur = np.array(_take(L["dur"], keep) if len(keep) < n else L["dur"], dtype=np.float64)
    instant = pc[keep] == I
    dur[instant] = 0.0
    dur[np.isnan(dur) & ~instant] = 0.0  # a complete event without "dur" lasts 0
    _check_times(ts, dur, keep, L["name"], where)
    parts = [_columns(builder, L, keep, _ns(ts), _ns(dur), instant.astype(np.uint8) * INSTANT, prefix)]
    if counts[B] or counts[E]:
        parts.append(_pairs(builder, L, pc, B, E, prefix, where, result, async_rows=False))
    if counts[AB] or counts[AE]:
        parts.append(_pairs(builder, L, pc, AB, AE, prefix, where, result, async_rows=True))
    parts = [p for p in parts if p is not None and len(p["name"])]
    builder.name_rows(prefix, process_names, thread_names)
    result.names = {builder.strings[i] for i in np.unique(np.concatenate([p["name"] for p in parts])).tolist()
                    if i >= 0} if parts else set()
    for part in parts:
        argflags = part.pop("argflags")
        kind = classify(part["cat"], part["name"], argflags, builder.strings, flavor)
        _device_rows(builder, part, kind, prefix)
        result.events += len(part["name"])
        builder.add(kind=kind, where=where, **part)
    return result


def _flavor(cols: Columns, process_names: dict[Any, str]) -> str:
    other = cols.top.get("otherData")
    if isinstance(other, dict) and isinstance(other.get("stepscope"), dict):
        flavor = other["stepscope"].get("flavor")
        if flavor in ("torch", "xla", "chrome"):
            return flavor
    if any(str(p).startswith(("/host:", "/device:")) for p in process_names.values()):
        return "xla"
    cats = set(cols.lists["cat"][:20000])
    if "cpu_op" in cats or cols.top.get("schemaVersion") is not None and cols.top.get("deviceProperties") is not None:
        return "torch"
    return "chrome"


def _columns(builder: TableBuilder, L: dict[str, list[Any]], keep: np.ndarray, start: np.ndarray, dur: np.ndarray,
             flags: np.ndarray, prefix: str, rows: list[Any] | None = None) -> dict[str, np.ndarray]:
    """Columns for the events at `keep` (all events when keep covers them in order)."""
    whole = len(keep) == len(L["ph"])
    get = (lambda f: L[f]) if whole else (lambda f: _take(L[f], keep))
    names = [nm if nm is not None else "" for nm in get("name")]
    name = builder.intern_many(names)
    cat = builder.intern_many(get("cat"))
    if rows is None:
        local: dict[Any, int] = {}
        codes = [local.setdefault(k, len(local)) for k in zip(get("pid"), get("tid"))]
        remap = np.array([builder.row(prefix, p, t) for p, t in local], dtype=np.int32)
        row = remap[np.asarray(codes, dtype=np.int64)] if codes else np.empty(0, np.int32)
    else:
        row = np.array([builder.row(prefix, p, t) for p, t in rows], dtype=np.int32)
    args_ids, argflags, step = _args_columns(builder, get("args"))
    return {"name": name, "cat": cat, "row": row, "start_ns": start, "dur_ns": dur, "flags": flags,
            "args": args_ids, "argflags": argflags, "step": step}


def _args_columns(builder: TableBuilder, args: list[Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(args)
    ids = np.full(n, -1, np.int32)
    argflags = np.zeros(n, np.uint8)
    step = np.full(n, -1, np.int32)
    encode = msgspec.json.encode if msgspec is not None else None
    seen: dict[Any, int] = {}
    none_keep = (None,) * len(KEEP)
    i_hlo, i_long, i_tfop, i_step = _IDX["hlo_op"], _IDX["long_name"], _IDX["tf_op"], _IDX["step_num"]
    cap = builder.limits.max_string
    for i, a in enumerate(args):
        if a is None:
            continue
        kept = tuple(a[j] for j in _KEEP_IDX)
        if kept != none_keep:
            try:
                key: Any = encode(kept) if encode is not None else json.dumps(kept, sort_keys=True)
            except (TypeError, ValueError, OverflowError, RecursionError):
                key = repr(kept)[:cap]
            ref = seen.get(key)
            if ref is None:
                ref = seen[key] = builder.intern(_args_json({k: v for k, v in zip(KEEP, kept) if v is not None}, cap))
            ids[i] = ref
        f = 0
        if a[i_hlo] is not None:
            f |= HAS_HLO
        if a[i_long] is not None or a[i_tfop] is not None:
            f |= HAS_TF_OP
        if a[i_step] is not None:
            f |= HAS_STEP
            try:
                number = int(a[i_step])
            except (TypeError, ValueError, OverflowError):
                number = -1
            step[i] = number if 0 <= number < 2**31 - 1 else -1
        argflags[i] = f
    return ids, argflags, step


def _args_json(obj: dict[str, Any], cap: int) -> str:
    """Compact JSON of the kept arguments; an over-long one is kept as a cut string, still JSON."""
    text = _text(obj, 1 << 30)
    if len(text) <= cap:
        return text
    return json.dumps({"truncated": text[: cap - 40]})


def _pairs(builder: TableBuilder, L: dict[str, list[Any]], pc: np.ndarray, begin: int, end: int, prefix: str,
           where: object, result: ChromeResult, async_rows: bool) -> dict[str, np.ndarray] | None:
    """Complete events from B/E pairs (per thread, nested) or async b/e pairs (per id)."""
    idx = np.flatnonzero((pc == begin) | (pc == end))
    ts = np.array(_take(L["ts"], idx), dtype=np.float64)
    _check_times(ts, np.zeros(len(idx)), idx, L["name"], where)
    order = idx[np.lexsort((idx, ts))]
    open_: dict[Any, list[int]] = {}
    starts, ends, rows = [], [], []
    for i in order.tolist():
        if async_rows:
            key: Any = (L["pid"][i], L["cat"][i], _text(L["id"][i], 100))
            row = (L["pid"][i], f"async {L['cat'][i] or ''}".strip())
        else:
            key = row = (L["pid"][i], L["tid"][i])
        if pc[i] == begin:
            open_.setdefault(key, []).append(i)
        elif open_.get(key):
            b = open_[key].pop()
            starts.append(b)
            ends.append(i)
            rows.append(row)
    unmatched = sum(len(v) for v in open_.values())
    what = "async begin/end" if async_rows else "begin/end"
    if unmatched or len(starts) * 2 < len(idx):
        result.notes.append(f"dropped {len(idx) - 2 * len(starts)} unmatched {what} events")
    if not starts:
        return None
    b_idx, e_idx = np.array(starts), np.array(ends)
    b_ts = np.array(_take(L["ts"], b_idx), dtype=np.float64)
    e_ts = np.array(_take(L["ts"], e_idx), dtype=np.float64)
    start = _ns(b_ts)
    return _columns(builder, L, b_idx, start, _ns(e_ts) - start, np.zeros(len(b_idx), np.uint8), prefix, rows=rows)


def _device_rows(builder: TableBuilder, part: dict[str, np.ndarray], kind: np.ndarray, prefix: str) -> None:
    """Mark device rows and apply xprof's device-line kinds in place."""
    rows = part["row"]
    for r in np.unique(rows[np.isin(kind, (Kind.KERNEL, Kind.MEMCPY))]).tolist():
        builder.rows[r]["device"] = True
    device_procs = [r for r in np.unique(rows).tolist() if _is_device_process(builder.rows[r]["process"])]
    for r in device_procs:
        info = builder.rows[r]
        info["device"] = True
        on_row = rows == r
        uniq, inverse = np.unique(part["name"][on_row], return_inverse=True)
        forced = np.array([device_line_kind(info["thread"], builder.strings[u] if u >= 0 else "") for u in uniq.tolist()],
                          dtype=np.uint8)
        kind[on_row] = forced[inverse]


def _is_device_process(process: str) -> bool:
    return process.startswith("/device:") and not process.startswith("/device:CUSTOM")


def _memory_counters(builder: TableBuilder, L: dict[str, list[Any]], idx: np.ndarray, where: object) -> None:
    """torch `[memory]` instants -> "Total Allocated" / "Total Reserved" series per device."""
    ts = np.array(_take(L["ts"], idx), dtype=np.float64)
    _check_times(ts, np.zeros(len(idx)), idx, L["name"], where)
    sids, times, values = [], [], []
    i_alloc, i_res, i_id, i_type = (_IDX[k] for k in ("Total Allocated", "Total Reserved", "Device Id", "Device Type"))
    for pos, i in enumerate(idx.tolist()):
        a = L["args"][i]
        if a is None:
            continue
        device = _torch_device(a[i_type], a[i_id])
        for j, fname in ((i_alloc, "Total Allocated"), (i_res, "Total Reserved")):
            v = _number(a[j])
            if math.isfinite(v):
                sids.append(builder.series(f"[memory] {device}", fname, "bytes", device))
                times.append(ts[pos])
                values.append(v)
    if sids:
        builder.add_counters(np.array(sids), _ns(np.array(times)), np.array(values))


def _torch_device(device_type: Any, device_id: Any) -> str:
    names = {0: "CPU", 1: "CUDA"}
    kind = names.get(device_type, f"device type {device_type}") if isinstance(device_type, int) else "CPU"
    if kind == "CPU":
        return "CPU"
    return f"{kind}:{device_id}" if isinstance(device_id, int) else kind


def _chrome_counters(builder: TableBuilder, L: dict[str, list[Any]], counter_args: dict[int, Any], idx: np.ndarray,
                     process_names: dict[Any, str], where: object) -> None:
    """Chrome "C" events: one series per (track name, argument) of numeric values."""
    ts = np.array(_take(L["ts"], idx), dtype=np.float64)
    _check_times(ts, np.zeros(len(idx)), idx, L["name"], where)
    sids, times, values = [], [], []
    for pos, i in enumerate(idx.tolist()):
        args = counter_args.get(i)
        if not isinstance(args, dict):
            continue
        track = _text(L["name"][i], 200)
        pid = L["pid"][i]
        track_device = process_names.get(pid, _text(pid, 60)) if pid is not None else ""
        memoryish = (L["cat"][i] or "") == "memory" or any(w in track.lower() for w in ("memory", "bytes", "alloc"))
        for key, value in list(args.items())[:64]:
            v = _number(value)
            if not math.isfinite(v):
                continue
            sids.append(builder.series(track, _text(key, 200), "bytes" if memoryish else "", track_device))
            times.append(ts[pos])
            values.append(v)
    if sids:
        builder.add_counters(np.array(sids), _ns(np.array(times)), np.array(values))


def framework_from(result: ChromeResult) -> str | None:
    if result.flavor == "torch":
        return "torch"
    return guess_framework(result.names) if result.flavor == "xla" else None
