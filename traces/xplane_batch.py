"""Many XEvents (and their XStats) decoded at once from protobuf bytes with numpy.

A line holds its events as consecutive `[0x22][length][XEvent]` fields. Only finding where each
one ends is sequential (`walk`, a tight Python loop, ~70 ns an event); everything inside them is
decoded column-wise: each pass of `_peel` reads one field of every event still unfinished, so
the Python work is per field position, not per event. Any field order, missing proto3 fields,
repeated fields (the last wins), unknown fields and over-long varints are read as protobuf
parsers read them; anything else (a length past its message, a group wire type, a varint of
more than 10 bytes) is `Malformed`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from traces.xplane_wire import Malformed

EVENT_KEY = 4 << 3 | 2  # XLine.events
I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
U8 = npt.NDArray[np.uint8]
# XStat value cases (its field numbers); 0: no value
DOUBLE, UINT64, INT64, STR, BYTES, REF = 2, 3, 4, 5, 6, 7


def walk(data: bytes, pos: int, end: int, ends: list[int]) -> int:
    """Append the end of each event field from `pos` on that ends by `end`; return where the
    walk stopped (at `end`, at another field, or at an event that does not fit)."""
    append = ends.append
    try:
        while pos < end and data[pos] == EVENT_KEY:
            n = data[pos + 1]
            if n < 0x80:
                nxt = pos + 2 + n
            else:
                nxt = _long_event(data, pos)
            if nxt > end:
                break
            append(nxt)
            pos = nxt
    except IndexError:  # an event runs past the bytes at hand: it does not fit
        pass
    return pos


def _long_event(data: bytes, pos: int) -> int:
    i, shift, n = pos + 1, 0, 0
    while True:
        b = data[i]
        n |= (b & 0x7F) << shift
        i += 1
        if b < 0x80:
            return i + n
        shift += 7
        if shift > 63:
            raise Malformed("an event's length runs past 10 bytes")


def varints(u8: U8, at: I64) -> tuple[U64, I64]:
    """The varints starting at `at`, and where each ends."""
    x = u8[at]
    value = (x & 0x7F).astype(np.uint64)
    end = at + 1
    more = np.flatnonzero(x >= 0x80)
    shift = 7
    while len(more):
        if shift > 63:
            raise Malformed("a number runs past 10 bytes")
        x = u8[end[more]]
        value[more] |= (x & 0x7F).astype(np.uint64) << np.uint64(shift)
        end[more] += 1
        more = more[x >= 0x80]
        shift += 7
    return value, end


@dataclass
class Peeled:
    """Per message: the last value of each wanted scalar field, which of the `case` fields came
    last; and every length-delimited field wanted, as (message, start, end) rows."""

    scalars: dict[int, U64]
    case: npt.NDArray[np.uint8]
    spans: dict[int, tuple[I64, I64, I64]]
    seen: dict[int, npt.NDArray[np.bool_]] = field(default_factory=dict)  # which messages had each scalar field


def _peel(u8: U8, starts: I64, ends: I64, wires: dict[int, int], spans: tuple[int, ...], case: tuple[int, ...]) -> Peeled:
    """`wires`: the scalar fields wanted and their wire types (0 varint, 1 fixed64); a field
    of another wire type than declared is skipped, as protobuf parsers skip it."""
    n = len(starts)
    values = {f: np.zeros(n, np.uint64) for f in wires}
    seen = {f: np.zeros(n, bool) for f in wires}
    which = np.zeros(n, np.uint8)
    declared = {**{f: 2 for f in spans}, **wires}
    rows: dict[int, list[tuple[I64, I64, I64]]] = {f: [] for f in spans}
    idx = np.flatnonzero(starts < ends)
    cur, end = starts[idx], ends[idx]
    try:
        while len(idx):
            tag, p = varints(u8, cur)
            wire, number = (tag & np.uint64(7)).astype(np.int8), tag >> np.uint64(3)
            if ((wire == 3) | (wire == 4) | (wire >= 6) | (number == 0)).any():
                raise Malformed("a field has an invalid wire type")
            nxt = p.copy()
            val = np.zeros(len(idx), np.uint64)
            sub = np.flatnonzero((wire == 0) | (wire == 2))
            if len(sub):
                val[sub], nxt[sub] = varints(u8, p[sub])
            is_len = wire == 2
            body = nxt.copy()
            nxt[is_len] += val[is_len].astype(np.int64)
            fixed = np.flatnonzero(wire == 1)
            if len(fixed):  # doubles: 8 bytes, little-endian
                bits = np.zeros(len(fixed), np.uint64)
                for k in range(8):
                    bits |= u8[p[fixed] + k].astype(np.uint64) << np.uint64(8 * k)
                val[fixed] = bits
                nxt[fixed] += 8
            nxt[wire == 5] += 4
            if (nxt > end).any():
                raise Malformed("a field runs past the end of its message")
            for f, w in declared.items():
                hit = (number == f) & (wire == w)
                if not hit.any():
                    continue
                if f in case:  # oneof members: which one came last
                    which[idx[hit]] = f
                if f in values:
                    values[f][idx[hit]] = val[hit]
                    seen[f][idx[hit]] = True
                else:
                    rows[f].append((idx[hit], body[hit], nxt[hit]))
            live = nxt < end
            idx, cur, end = idx[live], nxt[live], end[live]
    except IndexError:
        raise Malformed("a field runs past the bytes of its message") from None
    return Peeled(values, which, {f: _rows(parts) for f, parts in rows.items()}, seen)


Step = dict[int, tuple[int, int]]  # key byte -> (field number, wire type)


def _canonical(u8: U8, starts: I64, ends: I64, steps: list[Step], repeat: Step, wires: dict[int, int],
               spans: tuple[int, ...], case: tuple[int, ...]) -> Peeled:
    """`_peel`, taking first the fields in the order protobuf's C++ serializer writes them
    (`steps`, each at most once, then `repeat` any number of times), a few numpy operations per
    field for all messages at once; what follows in another order goes through `_peel`."""
    n = len(starts)
    values = {f: np.zeros(n, np.uint64) for f in wires}
    which = np.zeros(n, np.uint8)
    rows: dict[int, list[tuple[I64, I64, I64]]] = {f: [] for f in spans}
    p = starts.copy()
    last = len(u8) - 1
    for step, again in [(s, False) for s in steps] + [(repeat, True)]:
        while True:
            live = np.flatnonzero(p < ends)
            if not len(live):
                break
            tag = u8[np.minimum(p[live], last)]
            took = 0
            for key, (number, wire) in step.items():
                hit = live[tag == key]
                if not len(hit):
                    continue
                took += len(hit)
                at = p[hit] + 1
                if wire == 1:
                    if (at + 8 > ends[hit]).any():
                        raise Malformed("a field runs past the end of its message")
                    bits = np.zeros(len(hit), np.uint64)
                    for k in range(8):
                        bits |= u8[at + k].astype(np.uint64) << np.uint64(8 * k)
                    values[number][hit], p[hit] = bits, at + 8
                else:
                    value, after = varints(u8, at)
                    if wire == 2:
                        stop = after + value.astype(np.int64)
                        if (stop > ends[hit]).any():
                            raise Malformed("a field runs past the end of its message")
                        rows[number].append((hit, after, stop))
                        p[hit] = stop
                    else:
                        if (after > ends[hit]).any():
                            raise Malformed("a field runs past the end of its message")
                        values[number][hit], p[hit] = value, after
                if number in case:
                    which[hit] = number
            if not again or not took:
                break
    rest = np.flatnonzero(p < ends)
    if len(rest):  # fields in another order: the generic decoder, whose later fields win
        more = _peel(u8, p[rest], ends[rest], wires, spans, case)
        for f in wires:
            got = np.flatnonzero(more.seen[f])
            values[f][rest[got]] = more.scalars[f][got]
        took_case = np.flatnonzero(more.case)
        which[rest[took_case]] = more.case[took_case]
        for f in spans:
            r, b, e = more.spans[f]
            rows[f].append((rest[r], b, e))
    return Peeled(values, which, {f: _rows(parts) for f, parts in rows.items()})


def _rows(parts: list[tuple[I64, I64, I64]]) -> tuple[I64, I64, I64]:
    """The rows of one field, in the order read: within a message, its field order."""
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    owner, begin, end = (np.concatenate([p[i] for p in parts]) for i in range(3))
    return owner, begin, end


EVENT_STEPS: list[Step] = [{0x08: (1, 0)}, {0x10: (2, 0), 0x28: (5, 0)}, {0x18: (3, 0)}]
EVENT_REPEAT: Step = {0x22: (4, 2)}
STAT_STEPS: list[Step] = [{0x08: (1, 0)}, {0x11: (DOUBLE, 1), 0x18: (UINT64, 0), 0x20: (INT64, 0), 0x2A: (STR, 2),
                                           0x32: (BYTES, 2), 0x38: (REF, 0)}]


@dataclass
class EventBatch:
    """Events of one window, in line order, and the stats they carry (in event, then field
    order: a later stat with the same name overrides an earlier one)."""

    metadata_id: I64
    offset_ps: I64
    duration_ps: I64
    stat_event: I64  # per stat row: its event's index in this batch
    stat_id: I64  # its XStatMetadata id
    stat_case: npt.NDArray[np.uint8]  # DOUBLE .. REF, 0: no value
    stat_value: U64  # ints and ref ids as they are; doubles as their bits; str/bytes: start offset
    stat_size: I64  # str/bytes: their length


def event_bodies(u8: U8, starts: I64, ends: I64) -> I64:
    """Where each event's XEvent bytes begin, after its key and length."""
    body = starts + 2
    long = np.flatnonzero(u8[starts + 1] >= 0x80)
    if len(long):
        body[long] = varints(u8, starts[long] + 1)[1]
    return body


def decode_events(u8: U8, starts: I64, ends: I64) -> EventBatch:
    """XEvent fields: metadata_id 1, offset_ps 2 (or num_occurrences 5: offset 0), duration_ps 3, stats 4."""
    try:
        return _decode_events(u8, starts, ends)
    except IndexError:  # a number runs past the bytes at hand
        raise Malformed("a field runs past the bytes of its message") from None


def _decode_events(u8: U8, starts: I64, ends: I64) -> EventBatch:
    ev = _canonical(u8, event_bodies(u8, starts, ends), ends, EVENT_STEPS, EVENT_REPEAT, {1: 0, 2: 0, 3: 0, 5: 0}, (4,),
                    (2, 5))
    stat_event, s_start, s_end = ev.spans[4]
    st = _canonical(u8, s_start, s_end, STAT_STEPS, {}, {1: 0, DOUBLE: 1, UINT64: 0, INT64: 0, REF: 0}, (STR, BYTES),
                    (DOUBLE, UINT64, INT64, STR, BYTES, REF))
    value = np.zeros(len(s_start), np.uint64)
    size = np.zeros(len(s_start), np.int64)
    for f in (DOUBLE, UINT64, INT64, REF):
        hit = st.case == f
        value[hit] = st.scalars[f][hit]
    for f in (STR, BYTES):  # the last one of each stat (a repeated oneof field: the last wins)
        rows, begin, stop = st.spans[f]
        order = np.argsort(rows, kind="stable")
        rows, begin, stop = rows[order], begin[order], stop[order]
        last = np.ones(len(rows), bool)
        last[:-1] = rows[1:] != rows[:-1]
        hit = last & (st.case[rows] == f)
        value[rows[hit]] = begin[hit].astype(np.uint64)
        size[rows[hit]] = stop[hit] - begin[hit]
    offset = np.where(ev.case == 5, np.uint64(0), ev.scalars[2])  # num_occurrences: an aggregate, offset 0
    return EventBatch(ev.scalars[1].view(np.int64), offset.view(np.int64), ev.scalars[3].view(np.int64),
                      stat_event, st.scalars[1].view(np.int64), st.case, value, size)
