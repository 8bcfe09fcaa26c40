"""XSpace protobufs written from Python (tsl/profiler/protobuf/xplane.proto's wire format), so
tests and the bench can make XPlanes this machine cannot record: TPU and GPU planes, memory
allocation events, gigabyte files. Nothing reads through this module.

Small planes are built event by event (`PlaneWriter`, `LineWriter.event`); big lines are encoded
column-wise with numpy (`encode_events`), so a 1 GB file takes seconds, not minutes. Fields are
written as the C++ serializer writes them: in field-number order, proto3 scalars left out when
zero, oneof members (`offset_ps`, the stat values) always written.
"""
from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

VARINT, FIXED64, LEN = 0, 1, 2
# XStat value fields (xplane.proto): the oneof member a value is written as
DOUBLE, UINT64, INT64, STR, BYTES, REF = 2, 3, 4, 5, 6, 7
_LIMITS = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)  # a varint of k+1 bytes starts here


@dataclass(frozen=True)
class Ref:
    """A stat value written as `ref_value`: the id of the stat metadata named `name` (how the
    profiler stores repeated strings such as op names)."""

    name: str


@dataclass(frozen=True)
class Uint:
    """A stat value written as `uint64_value` (plain ints are written as `int64_value`)."""

    value: int


StatValue = int | float | str | bytes | Ref | Uint


def varint(value: int) -> bytes:
    """Base-128 varint; negative numbers as their 64-bit two's complement (10 bytes)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def int_field(number: int, value: int, always: bool = False) -> bytes:
    return key(number, VARINT) + varint(value) if value or always else b""


def len_field(number: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return key(number, LEN) + varint(len(data)) + data


def str_field(number: int, text: str) -> bytes:
    return len_field(number, text) if text else b""


class PlaneWriter:
    """One XPlane: its lines, and the event and stat metadata they refer to by id."""

    def __init__(self, plane_id: int, name: str) -> None:
        self.plane_id, self.name = plane_id, name
        self._events: dict[str, int] = {}
        self._event_meta: list[bytes] = []
        self._stats: dict[str, int] = {}
        self._stat_meta: list[bytes] = []
        self.lines: list[LineWriter] = []
        self.plane_stats: list[bytes] = []

    def stat_id(self, name: str) -> int:
        """The id of the stat metadata named `name` (made on first use; ids count from 1)."""
        got = self._stats.get(name)
        if got is None:
            got = self._stats[name] = len(self._stats) + 1
            entry = int_field(1, got) + str_field(2, name)
            self._stat_meta.append(len_field(5, int_field(1, got) + len_field(2, entry)))
        return got

    def event_id(self, name: str, display_name: str = "", stats: dict[str, StatValue] | None = None) -> int:
        """The id of the event metadata named `name`; `display_name` and metadata-level `stats`
        are set when it is made."""
        got = self._events.get(name)
        if got is None:
            got = self._events[name] = len(self._events) + 1
            body = int_field(1, got) + str_field(2, name) + str_field(4, display_name)
            body += b"".join(len_field(5, self.stat(k, v)) for k, v in (stats or {}).items())
            self._event_meta.append(len_field(4, int_field(1, got) + len_field(2, body)))
        return got

    def stat(self, name: str, value: StatValue) -> bytes:
        """One XStat's bytes."""
        head = int_field(1, self.stat_id(name))
        if isinstance(value, Ref):
            return head + int_field(REF, self.stat_id(value.name), always=True)
        if isinstance(value, Uint):
            return head + int_field(UINT64, value.value, always=True)
        if isinstance(value, bool | int):
            return head + int_field(INT64, int(value), always=True)
        if isinstance(value, float):
            return head + key(DOUBLE, FIXED64) + struct.pack("<d", value)
        if isinstance(value, str):
            return head + len_field(STR, value)
        return head + len_field(BYTES, value)

    def line(self, line_id: int, name: str, timestamp_ns: int, display_id: int = 0, display_name: str = "") -> LineWriter:
        line = LineWriter(self, line_id, name, timestamp_ns, display_id, display_name)
        self.lines.append(line)
        return line

    def head(self) -> bytes:
        return int_field(1, self.plane_id) + str_field(2, self.name)

    def tail(self) -> bytes:
        """What protobuf writes after the lines: the metadata maps and the plane's stats."""
        return b"".join(self._event_meta) + b"".join(self._stat_meta) + b"".join(len_field(6, s) for s in self.plane_stats)

    def encode(self) -> bytes:
        return self.head() + b"".join(len_field(3, line.encode()) for line in self.lines) + self.tail()


@dataclass
class LineWriter:
    """One XLine; events are added one at a time or as encoded blocks (`encode_events`)."""

    plane: PlaneWriter
    line_id: int
    name: str
    timestamp_ns: int
    display_id: int = 0
    display_name: str = ""
    duration_ps: int = 0
    blocks: list[bytes] = field(default_factory=list)

    def event(self, name: str, offset_ps: int, duration_ps: int, stats: dict[str, StatValue] | None = None,
              num_occurrences: int | None = None) -> None:
        body = int_field(1, self.plane.event_id(name))
        body += int_field(5, num_occurrences, always=True) if num_occurrences is not None else int_field(2, offset_ps, True)
        body += int_field(3, duration_ps)
        body += b"".join(len_field(4, self.plane.stat(k, v)) for k, v in (stats or {}).items())
        self.blocks.append(len_field(4, body))

    def header(self) -> bytes:
        """The fields before the events (id, name, timestamp)."""
        return int_field(1, self.line_id) + str_field(2, self.name) + int_field(3, self.timestamp_ns)

    def trailer(self) -> bytes:
        """The fields after the events (duration, display id and name)."""
        return int_field(9, self.duration_ps) + int_field(10, self.display_id) + str_field(11, self.display_name)

    def encode(self) -> bytes:
        return self.header() + b"".join(self.blocks) + self.trailer()


def encode_space(planes: list[PlaneWriter], hostnames: tuple[str, ...] = (), errors: tuple[str, ...] = (),
                 warnings: tuple[str, ...] = ()) -> bytes:
    """A whole XSpace."""
    out = [len_field(1, p.encode()) for p in planes]
    out += [len_field(2, e) for e in errors] + [len_field(3, w) for w in warnings] + [len_field(4, h) for h in hostnames]
    return b"".join(out)


# -- column-wise encoding of many events ---------------------------------------------------
U64 = npt.NDArray[np.uint64]


def varint_sizes(values: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
    """Bytes each value's varint takes (negative int64s: 10)."""
    return np.searchsorted(_LIMITS, values.astype(np.int64).view(np.uint64), side="right").astype(np.int64) + 1


def _put_varints(out: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], values: npt.NDArray[np.integer],
                 sizes: npt.NDArray[np.int64]) -> None:
    v = values.astype(np.int64).view(np.uint64)
    for k in range(int(sizes.max(initial=0))):
        live = sizes > k
        byte = (v[live] >> np.uint64(7 * k)) & np.uint64(0x7F)
        byte |= np.where(sizes[live] > k + 1, np.uint64(0x80), np.uint64(0))
        out[at[live] + k] = byte.astype(np.uint8)


@dataclass
class StatColumn:
    """One stat every event of a block carries: its metadata id, the value field (INT64, UINT64
    or REF) and one value per event."""

    metadata_id: int
    value_field: int
    values: npt.NDArray[np.integer]


def _parts(metadata_id: npt.NDArray[np.int64], offset_ps: npt.NDArray[np.int64], duration_ps: npt.NDArray[np.int64],
           stats: list[StatColumn]) -> tuple[list[tuple[int, np.ndarray, npt.NDArray[np.int64], bool]], npt.NDArray[np.int64]]:
    """The (key byte, values, varint sizes, present) parts of each event body, and body sizes."""
    parts: list[tuple[int, np.ndarray, npt.NDArray[np.int64], bool]] = []
    for number, values, always in ((1, metadata_id, False), (2, offset_ps, True), (3, duration_ps, False)):
        sizes = varint_sizes(values)
        present = np.ones(len(values), bool) if always else values != 0
        parts.append((number << 3 | VARINT, values, np.where(present, sizes + 1, 0), True))
    body = sum(p[2] for p in parts)
    for s in stats:
        inner = 1 + len(varint(s.metadata_id)) + 1 + varint_sizes(s.values)
        parts.append((4 << 3 | LEN, inner, 1 + varint_sizes(inner) + inner, False))
        body = body + parts[-1][2]
    return parts, np.asarray(body, np.int64)


def events_size(metadata_id: npt.NDArray[np.int64], offset_ps: npt.NDArray[np.int64], duration_ps: npt.NDArray[np.int64],
                stats: list[StatColumn]) -> int:
    """Bytes `encode_events` will write for these events (to write a line's length first)."""
    body = _parts(metadata_id, offset_ps, duration_ps, stats)[1]
    return int((1 + varint_sizes(body) + body).sum())


def encode_events(metadata_id: npt.NDArray[np.int64], offset_ps: npt.NDArray[np.int64], duration_ps: npt.NDArray[np.int64],
                  stats: list[StatColumn]) -> bytes:
    """Events (XLine field 4, each `[0x22][length][XEvent]`) in one vectorised pass."""
    parts, body = _parts(metadata_id, offset_ps, duration_ps, stats)
    head = 1 + varint_sizes(body)
    total = head + body
    start = np.zeros(len(body), np.int64)
    np.cumsum(total[:-1], out=start[1:])
    out = np.zeros(int(total.sum()), np.uint8)
    out[start] = 4 << 3 | LEN
    _put_varints(out, start + 1, body, head - 1)
    at = start + head
    stat_columns = iter(stats)
    for tag, values, sizes, scalar in parts:
        present = sizes > 0
        if scalar:
            out[at[present]] = tag
            _put_varints(out, at[present] + 1, values[present], sizes[present] - 1)
        else:
            s = next(stat_columns)
            inner = values.astype(np.int64)
            out[at] = tag
            lsize = varint_sizes(inner)
            _put_varints(out, at + 1, inner, lsize)
            p = at + 1 + lsize
            out[p] = 1 << 3 | VARINT
            md = varint(s.metadata_id)
            for k, b in enumerate(md):
                out[p + 1 + k] = b
            p = p + 1 + len(md)
            out[p] = s.value_field << 3 | VARINT
            _put_varints(out, p + 1, s.values, varint_sizes(s.values))
        at = at + sizes
    return out.tobytes()


EventBlock = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64], list[StatColumn]]
BlockSource = Callable[[], Iterator[EventBlock]]  # called twice (sizes, then bytes): must give the same blocks


def write_streamed(out: BinaryIO, planes: list[tuple[PlaneWriter, list[tuple[LineWriter, BlockSource]]]],
                   hostnames: tuple[str, ...] = ()) -> int:
    """An XSpace of big lines written block by block (a gigabyte never in memory): each line's
    length is summed from its blocks first (`events_size`), then the blocks are encoded and
    written. The planes' metadata must be complete before the call. Returns the bytes written."""
    written = 0
    for plane, lines in planes:
        bodies = []
        for line, source in lines:
            size = len(line.header()) + sum(events_size(*block) for block in source()) + len(line.trailer())
            bodies.append(size)
        plane_size = len(plane.head()) + len(plane.tail()) + sum(len(key(3, LEN) + varint(n)) + n for n in bodies)
        parts = [key(1, LEN) + varint(plane_size) + plane.head()]
        out.write(parts[0])
        written += len(parts[0])
        for (line, source), size in zip(lines, bodies, strict=True):
            head = key(3, LEN) + varint(size) + line.header()
            out.write(head)
            written += len(head)
            for block in source():
                data = encode_events(*block)
                out.write(data)
                written += len(data)
            out.write(line.trailer())
            written += len(line.trailer())
        out.write(plane.tail())
        written += len(plane.tail())
    tail = b"".join(len_field(4, h) for h in hostnames)
    out.write(tail)
    return written + len(tail)
