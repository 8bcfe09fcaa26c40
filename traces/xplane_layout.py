"""The first visit to an XPlane file: its planes, where each plane's lines lie, and the event and
stat metadata they refer to, without decoding a single event.

Why a separate visit: protobuf writes a plane's metadata maps after its lines, and an event is
only a metadata id, so a reader that went once through the file would have to keep every
event's raw fields until its plane's end (a 1 GB plane: gigabytes). Knowing the names first,
`xplane_lines` turns each window of events into table columns at once and keeps only those.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

from traces.xplane_wire import Malformed, WireStream, message_fields, signed

HOST_PLANE = "/host:CPU"  # tsl's kHostThreadsPlaneName
GPU_PREFIX, TPU_PREFIX, CUSTOM_PREFIX = "/device:GPU:", "/device:TPU:", "/device:CUSTOM:"
MetaValue = int | float | str | bytes
SMALL = 1 << 16  # an event metadata entry this long is read whole; longer ones field by field


@dataclass
class EventMeta:
    """One XEventMetadata: names, and its metadata-level stats as (stat id, case, value)."""

    name: str
    display_name: str = ""
    stats: list[tuple[int, int, MetaValue]] = field(default_factory=list)


@dataclass
class PlaneLayout:
    """One XPlane as the first visit found it."""

    order: int
    id: int = 0
    name: str = ""
    lines: list[tuple[int, int]] = field(default_factory=list)  # (start, end) of each XLine's bytes
    events: dict[int, EventMeta] = field(default_factory=dict)
    stat_names: dict[int, str] = field(default_factory=dict)


@dataclass
class SpaceLayout:
    planes: list[PlaneLayout] = field(default_factory=list)
    hostnames: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unknown_fields: int = 0


def wanted(name: str) -> bool:
    """The planes xprof's trace_viewer conversion shows: the host threads and the devices."""
    return name == HOST_PLANE or name.startswith((GPU_PREFIX, TPU_PREFIX, CUSTOM_PREFIX))


def text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def scan(stream: WireStream) -> SpaceLayout:
    """The XSpace's planes (lines located, metadata read) and its host names and messages."""
    space = SpaceLayout()
    for number, wire in stream.fields(None):
        if wire != 2:
            space.unknown_fields += 1
            stream.skip_value(wire, None)
        elif number == 1:
            end = stream.field_end(None)
            space.planes.append(_plane(stream, end, len(space.planes)))
        elif number in (2, 3, 4):
            value = text(stream.take(stream.length(None)))
            (space.errors, space.warnings, space.hostnames)[number - 2].append(value)
        else:
            space.unknown_fields += 1
            stream.skip_value(wire, None)
    return space


def _plane(stream: WireStream, end: int, order: int) -> PlaneLayout:
    plane = PlaneLayout(order)
    for number, wire in stream.fields(end):
        if number == 1 and wire == 0:
            plane.id = signed(stream.varint())
        elif number == 2 and wire == 2:
            plane.name = text(stream.take(stream.length(end)))
        elif number == 3 and wire == 2:
            line_end = stream.field_end(end)  # located and skipped, not read
            plane.lines.append((stream.pos, line_end))
            stream.skip_to(line_end)
        elif number == 4 and wire == 2:
            entry_end = stream.field_end(end)
            if entry_end - stream.pos <= SMALL:
                _event_entry_bytes(stream.take(entry_end - stream.pos), plane)
            else:
                _event_entry(stream, entry_end, plane)
        elif number == 5 and wire == 2:
            key, entry = _map_entry(stream.take(stream.length(end)))
            for n, w, v in message_fields(entry):
                if n == 2 and w == 2 and isinstance(v, bytes):
                    plane.stat_names[key] = text(v)
        else:
            stream.skip_value(wire, end)
    if not wanted(plane.name):
        for meta in plane.events.values():
            meta.stats.clear()
    return plane


def _map_entry(data: bytes) -> tuple[int, bytes]:
    key, value = 0, b""
    for n, w, v in message_fields(data):
        if n == 1 and w == 0 and isinstance(v, int):
            key = signed(v)
        elif n == 2 and w == 2 and isinstance(v, bytes):
            value = v
    return key, value


def _event_entry(stream: WireStream, end: int, plane: PlaneLayout) -> None:
    """One event_metadata map entry, read field by field: its `metadata` bytes (an HLO module
    on the metadata plane, megabytes) are skipped, never held."""
    key, meta = 0, EventMeta("")
    for number, wire in stream.fields(end):
        if number == 1 and wire == 0:
            key = signed(stream.varint())
        elif number == 2 and wire == 2:
            value_end = stream.field_end(end)
            for n, w in stream.fields(value_end):
                if n == 2 and w == 2:
                    meta.name = text(stream.take(stream.length(value_end)))
                elif n == 4 and w == 2:
                    meta.display_name = text(stream.take(stream.length(value_end)))
                elif n == 5 and w == 2 and _keeps_stats(plane):
                    size = stream.length(value_end)
                    if size <= SMALL:  # an HLO module as a bytes stat is never needed
                        meta.stats.append(stat_value(stream.take(size)))
                    else:
                        stream.skip_to(stream.pos + size)
                else:
                    stream.skip_value(w, value_end)
        else:
            stream.skip_value(wire, end)
    plane.events[key] = meta


def _event_entry_bytes(data: bytes, plane: PlaneLayout) -> None:
    """`_event_entry` for an entry small enough to hold (nearly all of them)."""
    key, value = _map_entry(data)
    meta = EventMeta("")
    for n, w, v in message_fields(value):
        if not isinstance(v, bytes) or w != 2:
            continue
        if n == 2:
            meta.name = text(v)
        elif n == 4:
            meta.display_name = text(v)
        elif n == 5 and _keeps_stats(plane):
            meta.stats.append(stat_value(v))
    plane.events[key] = meta


def _keeps_stats(plane: PlaneLayout) -> bool:
    """Metadata-level stats matter on the planes shown, or on one whose name comes later."""
    return not plane.name or wanted(plane.name)


def stat_value(data: bytes) -> tuple[int, int, MetaValue]:
    """(stat metadata id, value case, value) of one XStat held in memory."""
    stat_id, case = 0, 0
    got: MetaValue = 0
    for n, w, v in message_fields(data):
        if n == 1 and w == 0 and isinstance(v, int):
            stat_id = signed(v)
        elif n == 2 and w == 1 and isinstance(v, int):
            case, got = 2, struct.unpack("<d", v.to_bytes(8, "little"))[0]
        elif n in (3, 7) and w == 0 and isinstance(v, int):
            case, got = n, v
        elif n == 4 and w == 0 and isinstance(v, int):
            case, got = 4, signed(v)
        elif n == 5 and w == 2 and isinstance(v, bytes):
            case, got = 5, text(v)
        elif n == 6 and w == 2 and isinstance(v, bytes):
            case, got = 6, v
    return stat_id, case, got


def check(space: SpaceLayout) -> None:
    """An XSpace must hold at least one plane; random bytes can pass for a few unknown fields."""
    if not space.planes:
        raise Malformed("it holds no XPlane")
