"""The typed msgspec decoding of Chrome-trace events, without numpy: the structs holding only
the fields the reader uses, the chunk loop, and how keys and argument sets are interned.

Kept apart from `traces.decode` so the second process of `traces.decode_pool` starts in tens
of ms (numpy alone takes ~0.15 s to import) and interns exactly as this process does: the two
accumulators (numpy columns in `decode`, `array` columns in `decode_pool`) share these iterators.
"""
from __future__ import annotations

import json
import math
import re
from array import array
from collections import deque
from collections.abc import Callable, Iterator
from itertools import count, islice, repeat
from operator import attrgetter
from typing import Any, Literal

try:
    import msgspec as msgspec  # re-exported: `decode` and `decode_pool` share this optional import
except ImportError:  # optional speed-up; the stdlib path reads the same traces, slower
    msgspec = None  # type: ignore[assignment]  # None marks msgspec missing; callers test `msgspec is not None`

# arguments read from every event; the reader keeps some with the event and uses the others
# (process/thread names, torch memory totals, xprof step numbers)
SEL = ("name", "labels", "hlo_op", "hlo_module", "long_name", "tf_op", "Input Dims", "Input type", "grid", "block",
       "step_num", "Total Allocated", "Total Reserved", "Device Id", "Device Type")
TOP_KEYS = ("schemaVersion", "baseTimeNanoseconds", "displayTimeUnit", "deviceProperties", "otherData")
KNOWN_PHASES = ("X", "B", "E", "i", "I", "R", "n", "b", "e", "C", "M", "s", "t", "f", "P", "N", "O", "D", "V", "v",
                "c", "(", ")", "")
# 128 KiB of JSON (~800 events): the structs a chunk makes fit the CPU's L2 cache and are
# freed before the next chunk is decoded (4 MB chunks read 40 % slower; streamed 1M-event bench
# trace, one core, median CPU-s of 5: 64 KiB 0.71, 128 KiB 0.69, 256 KiB 0.70, 512 KiB 0.70)
CHUNK_BYTES = 128 << 10
SPLIT = re.compile(rb"\}\s*,\s*\{")  # between two events, unless inside a string (then a chunk fails)
KEY5 = attrgetter("ph", "cat", "name", "pid", "tid")
TS, DUR, ARGS, ID = attrgetter("ts"), attrgetter("dur"), attrgetter("args"), attrgetter("id")
NO_ID = -1
FLOW_PHASES = ("s", "t", "f")
# how ids are written: ints (Kineto), text or floats (`link_id`); booleans and objects are refused
LINK_TYPE: Any = int | str | float | None
NOTHING = (b"null", b"{}")  # encoded argument sets that are no arguments


def _plain_float(value: Any) -> float:
    """msgspec encodes no float subclass: the generic path's `exact_time.ExactFloat`s in
    argument sets are written as plain floats."""
    if isinstance(value, float):
        return float(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


if msgspec is not None:
    MISSING = msgspec.Raw(b"null")
    # The structs are built at run time (their fields come from SEL and TOP_KEYS), so mypy
    # cannot know their attributes: they are typed Any.
    # argument values stay raw JSON (no nested lists built for a million "Input Dims")
    # `corr`: Kineto's launch link (`traces.launch_links`), read here instead of in a second pass
    # over the file; `take_correlations` resets it before a set is encoded, or every set would be unique
    Args: Any = msgspec.defstruct("Args", [*[(f"a{i}", msgspec.Raw, None) for i in range(len(SEL))], ("corr", LINK_TYPE, NO_ID)],
                             rename={**{f"a{i}": k for i, k in enumerate(SEL)}, "corr": "correlation"}, gc=False,
                             omit_defaults=True)

    def _event(name: str, dur: Any) -> Any:
        return msgspec.defstruct(name, [
            ("ph", Literal[KNOWN_PHASES], ""), ("name", str | None, None), ("cat", str | None, None),
            ("pid", int | str | None, None), ("tid", int | str | None, None),
            ("ts", msgspec.Raw, MISSING), dur, ("args", Args | None, None), ("id", LINK_TYPE, NO_ID),
        ], gc=False)  # ts stays JSON text: a float64 cannot hold an epoch µs with ns (traces.exact_time)

    Event: Any = _event("Event", ("dur", msgspec.Raw, MISSING))
    # the one-core fast path: dur as a float (exact where `exact_time.float_ns` proves it, the
    # rest re-read as text with `dur_decoder`), ~90 ns per event less than joining and parsing its text
    FloatDurEvent: Any = _event("FloatDurEvent", ("dur", float, math.nan))
    DurText: Any = msgspec.defstruct("DurText", [("dur", msgspec.Raw, MISSING)], gc=False)
    Top: Any = msgspec.defstruct("Top", [("traceEvents", msgspec.Raw), *[(k, Any, None) for k in TOP_KEYS]])
    Doc: Any = msgspec.defstruct("Doc", [("traceEvents", list[Event]), *[(k, Any, None) for k in TOP_KEYS]])
    # second pass, only for files with counters or async events: their ids and full args
    RawEvent: Any = msgspec.defstruct("RawEvent", [("ph", str, ""), ("id", Any, None), ("args", Any, None)], gc=False)
    RawDoc: Any = msgspec.defstruct("RawDoc", [("traceEvents", list[RawEvent])])
    top_decoder = msgspec.json.Decoder(Top)
    chunk_decoder = msgspec.json.Decoder(list[Event])
    float_dur_decoder = msgspec.json.Decoder(list[FloatDurEvent])
    dur_decoder = msgspec.json.Decoder(list[DurText])
    whole_decoder = msgspec.json.Decoder(Doc | list[Event])
    raw_decoder = msgspec.json.Decoder(RawDoc | list[RawEvent])
    FAST_ERRORS: tuple[type[Exception], ...] = (msgspec.ValidationError, msgspec.DecodeError, ValueError)
    encode = msgspec.json.Encoder(enc_hook=_plain_float).encode
else:
    top_decoder = chunk_decoder = float_dur_decoder = dur_decoder = whole_decoder = raw_decoder = None
    FAST_ERRORS = ()

    def encode(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def key_firsts(keys: dict[tuple[Any, ...], int], events: list[Any], n: int) -> Iterator[int]:
    """Per event, the index of the first event with its (ph, cat, name, pid, tid), `n` being
    the index of `events[0]`; new keys are added to `keys` in order of first appearance."""
    return map(keys.setdefault, map(KEY5, events), count(n))


def times_text(events: list[Any]) -> tuple[bytes, bytes]:
    """The events' ts and dur as comma-joined JSON texts (`traces.exact_time.parse_times`
    reads them exactly); one C-level join per column and chunk, no per-event Python."""
    return b",".join(map(TS, events)), b",".join(map(DUR, events))


def arg_ids(ids: dict[bytes, int], args: list[Any], max_string: int) -> tuple[Iterator[int] | None, array[int] | None]:
    """Per event, the id of its encoded argument set in `ids` (-1: none), None when no event
    has any (one C-level encode); and the events' correlation ids (`take_correlations`), None
    when none has one. New sets get the next id in order of first appearance, so the ids do
    not depend on where chunks are cut."""
    try:
        whole: bytes | None = encode(args)  # ~28 ns a set; comparing the sets (15 fields) took ~60 ns
    except (TypeError, ValueError, OverflowError, RecursionError):
        whole = None
    corr = None
    if whole is None or b'"correlation"' in whole:
        corr = take_correlations(args)
        if corr is not None and whole is not None:
            whole = encode(args)
    if whole is not None and b'"' not in whole:  # a set with an argument encodes its key in quotes
        return None, corr
    try:
        encoded = list(map(encode, args))  # None -> b"null", an empty set -> b"{}"
    except (TypeError, ValueError, OverflowError, RecursionError):
        encoded = [_encode_one(a, max_string) for a in args]
    for key in dict.fromkeys(encoded):
        if key not in ids and key not in NOTHING:
            ids[key] = len(ids)
    return map(ids.get, encoded, repeat(-1)), corr


def take_correlations(args: list[Any]) -> array[int] | None:
    """The sets' `correlation`s as ids (`link_ids`; None: no set has one), each reset to the
    default so it is not encoded with the set (the generic path's dicts never hold it)."""
    values = list(map(getattr, args, repeat("corr"), repeat(NO_ID)))
    if values.count(NO_ID) == len(values):
        return None
    deque(map(setattr, filter(None, args), repeat("corr"), repeat(NO_ID)), 0)  # structs: dicts hold no correlation
    return link_ids(values)


def link_id(value: Any) -> int:
    """A non-negative integer id from a JSON value (ints, integral floats, decimal or 0x text); -1 otherwise."""
    if isinstance(value, bool):
        return NO_ID
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value, 0)
        except ValueError:
            return NO_ID
    return value if isinstance(value, int) and 0 <= value < 2**63 else NO_ID


def flows_begin(keys: dict[tuple[Any, ...], int], before: int) -> bool:
    """Whether the keys added since `keys` held `before` include a flow event's: from then on
    the accumulators read the events' ids (`flow_ids`, ~30 ns an event); before it no event is
    a flow, and `traces.launch_links` reads ids only from flows."""
    return any(k[0] in FLOW_PHASES for k in islice(reversed(keys), len(keys) - before))


def flow_ids(events: list[Any]) -> array[int]:
    """The events' `id`s as ids (`link_ids`)."""
    try:
        return array("q", map(ID, events))
    except (TypeError, OverflowError):
        return link_ids(list(map(ID, events)))


def link_ids(values: list[Any]) -> array[int]:
    """Values as `link_id`s, at C speed when all are ints (the typed fields refuse booleans;
    negative ones are `NO_ID` to the reader, which clamps them)."""
    try:
        return array("q", values)
    except (TypeError, OverflowError):  # text, floats, null, past int64
        return array("q", map(link_id, values))


def _encode_one(value: Any, max_string: int) -> bytes:
    try:
        return encode(value)
    except (TypeError, ValueError, OverflowError, RecursionError):
        return json.dumps({"unparsed": repr(value)[:max_string]}).encode()


def chunk(view: memoryview, pos: int, cut: int) -> bytearray:
    """`view[pos:cut]` (whole events and the commas between them) as a JSON array."""
    piece = bytearray(cut - pos + 2)
    piece[0], piece[-1] = 0x5B, 0x5D  # "[" ... "]"
    piece[1:-1] = view[pos:cut]
    return piece


def decode_range(add: Callable[[list[Any], int, int], None], view: memoryview, pos: int, end: int, chunk_bytes: int,
                 decoder: Any = None) -> None:
    """Decode the events in `view[pos:end]` (whole events and the commas between them) a
    chunk at a time, each cut between two events, handing each chunk's structs and bounds to
    `add`. `decoder`: `chunk_decoder` unless given."""
    decoder = decoder or chunk_decoder
    while pos < end:
        cut = nxt = end
        if end - pos > chunk_bytes:
            m = SPLIT.search(view, pos + chunk_bytes, end)
            if m is not None:
                cut, nxt = m.start() + 1, m.end() - 1
        add(decoder.decode(chunk(view, pos, cut)), pos, cut)  # the chunk's structs are freed on return
        pos = nxt
