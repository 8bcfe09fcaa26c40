"""The checking decode of Chrome-trace JSON (split from `traces.decode`): any JSON value through
msgspec without types (or the standard library), every float keeping its text so times stay
exact (`exact_time.ExactFloat`), then event by event with a TraceError naming what is wrong.
The typed paths (`decode`, `stream_decode`) are tried first; this one reads what they refuse
(odd types, NaN, a cut-off array) and gives the exact message for what is no trace.
"""
from __future__ import annotations

import json
import math
from typing import Any

from traces.exact_time import exact_float, number_text
from traces.json_decoders import SEL, TOP_KEYS, msgspec
from traces.table import TraceError, label_text

_EXACT_DECODER = msgspec.json.Decoder(float_hook=exact_float) if msgspec is not None else None
GenericEvents = tuple[list[tuple[Any, ...]], bytes, bytes, list[Any], list[Any], dict[int, Any], dict[str, Any]]


def _reject_constant(token: str) -> Any:
    raise ValueError(f"the file contains {token}, which is not a JSON number")


def decode_generic(data: bytes | bytearray, where: object) -> Any:
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
    """Any JSON value; every float keeps its text (`exact_time.ExactFloat`), so times stay exact."""
    if msgspec is not None:
        try:
            return _EXACT_DECODER.decode(data)
        except msgspec.DecodeError:
            pass  # the stdlib says precisely what is wrong (and names NaN / Infinity)
        except msgspec.ValidationError as exc:  # e.g. "Number out of range"
            raise ValueError(str(exc)) from None
    return json.loads(data, parse_constant=_reject_constant, parse_float=exact_float)


def number(value: Any) -> float:
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


def generic_events(doc: Any, where: object) -> GenericEvents:
    """From a decoded document: per event its (ph, cat, name, pid, tid) key, its ts and dur as
    comma-joined number texts, its selected arguments; every event's id, the full arguments
    of the counters ("C") by event index; and the top-level keys. TraceError for what is no
    Chrome trace."""
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
    ts: list[bytes] = []
    dur: list[bytes] = []
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
        ts.append(number_text(ev.get("ts")))
        dur.append(number_text(ev.get("dur")))
        ids.append(ev.get("id"))
        args = ev.get("args")
        if isinstance(args, dict):
            args_col.append({k: args[k] for k in SEL if args.get(k) is not None} or None)
            if ph == "C":
                counter_args[i] = args
        else:
            args_col.append(None)
    return keys, b",".join(ts), b",".join(dur), args_col, ids, counter_args, top
