"""XPlanes (`.xplane.pb`, also gzipped) -> EventTable, read from the protobuf itself: the table
xprof's trace_viewer conversion would give (its rows, names, arguments, step names and
thread-pool regions), without the conversion's JSON (several times the file's size) or its
event cap, with memory bounded by the table being built, progress and cancel.

Two visits per file (`xplane_layout`, then `xplane_lines`): planes, lines and metadata first,
then the events of the planes trace_viewer shows ("/host:CPU", and the GPU planes, else the
TPU ones, else the custom ones). Allocator events (MemoryAllocation / MemoryDeallocation on
the host plane) become counter series, as xprof's memory_profile reads them. Where this
differs from xprof on purpose (no derived device lines, no event cap, exact times): the
tests in tests/traces/test_xplane_*.py name each difference. xprof's own analyses stay
available through `traces.xplane_xprof.read_xprof_tool`.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from traces.classify import finish_table, guess_device, guess_framework
from traces.progress import ReadProgress
from traces.table import EventTable, Limits, SourceInfo, TraceError
from traces.table_builder import TableBuilder
from traces.xplane_groups import LOOP_OPS, finish_roots
from traces.xplane_layout import CUSTOM_PREFIX, GPU_PREFIX, HOST_PLANE, TPU_PREFIX, PlaneLayout, SpaceLayout, check, scan
from traces.xplane_lines import ReadState, read_plane
from traces.xplane_stats import Texts
from traces.xplane_wire import Malformed, WireStream
from traces.xplane_xprof import XPROF_TOOLS, read_xprof_tool

__all__ = ["XPROF_TOOLS", "read_xplane", "read_xplanes", "read_xprof_tool"]

HOST_PID = 701  # tsl kHostThreadsDeviceId; a device plane's pid is 1 + its id (kFirstDeviceId)
LAYOUT_SHARE = 0.25  # of a gzipped file's progress: the first visit inflates it all too
MAX_ALLOCATORS = 64


def read_xplane(path: str | os.PathLike[str], limits: Limits | None = None, framework: str | None = None,
                progress: ReadProgress | None = None) -> EventTable:
    """One XPlane (`.xplane.pb`, or gzipped `.xplane.pb.gz`)."""
    return read_xplanes([Path(path)], limits or Limits(), framework, progress=progress)


def read_xplanes(paths: list[Path], limits: Limits, framework: str | None, notes: list[str] | None = None,
                 progress: ReadProgress | None = None) -> EventTable:
    """Several hosts' XPlanes of one run merged into one table, rows prefixed by host.
    `progress` hears the stored bytes consumed of all of them together."""
    builder = TableBuilder(SourceInfo(path=str(paths[0]) if len(paths) == 1 else str(paths[0].parent), format="xplane",
                                      producer="XPlane"), limits)
    sizes = [_size(p) for p in paths]
    if progress is not None:
        progress.start(sum(sizes))
    names: set[int] = set()
    before = 0
    for p, size in zip(paths, sizes, strict=True):
        prefix = f"{_host(p)}: " if len(paths) > 1 else ""
        names |= _read_one(builder, p, prefix, progress, before, size)
        before += size
    if notes:
        builder.source.notes.extend(notes)
    if len(paths) > 1:
        builder.source.notes.append(f"merged {len(paths)} hosts' XPlanes; each host's times count from its own profile start")
    table = finish_table(builder, None)
    src = table.source
    src.framework = framework or guess_framework(builder.strings[i] for i in names)
    src.producer = {"jax": "jax.profiler", "tf": "tf.profiler"}.get(src.framework or "", "XLA profiler") + " XPlane"
    src.device = guess_device(table, None, "xla")
    if progress is not None:
        progress.finish()
    return table


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError as exc:
        raise TraceError(p, f"cannot be read ({exc.strerror or exc})") from None


def _host(p: Path) -> str:
    return p.name.removesuffix(".gz").removesuffix(".xplane.pb")


def _reporter(progress: ReadProgress | None, where: Path, before: int, size: int, share: tuple[float, float]
              ) -> Callable[[int], None]:
    """Stored bytes consumed in one visit, as absolute progress over all the call's files."""
    def report(stored: int) -> None:
        if progress is not None:
            progress.advance(before + int(size * (share[0] + share[1] * min(stored, size) / size)), where)
    return report


def _read_one(builder: TableBuilder, path: Path, prefix: str, progress: ReadProgress | None, before: int,
              size: int) -> set[int]:
    limits = builder.limits
    layout_stream = WireStream(path, limits.max_bytes)
    layout_share = LAYOUT_SHARE if layout_stream.gzip else 0.0
    # a plain file's first visit seeks past the events: only a gzipped one's counts as progress
    layout_stream.on_read = _reporter(progress, path, before, size, (0.0, layout_share)) if layout_share else (
        lambda _: progress.advance(before, path) if progress is not None else None)
    try:
        space = scan(layout_stream)
        check(space)
    except Malformed as exc:
        raise _unreadable(path, exc) from None
    finally:
        layout_stream.close()
    host, devices = _shown(space)
    grouped = any("group_id" in p.stat_names.values() for p in space.planes)  # tsl IsXSpaceGrouped
    loops = any(m.name in LOOP_OPS for p in space.planes for m in p.events.values())
    stream = WireStream(path, limits.max_bytes, _reporter(progress, path, before, size, (layout_share, 1 - layout_share)))
    state = ReadState(builder, path, prefix, Texts(), preprocess=not grouped, links=any(
        p.name.startswith(GPU_PREFIX) for p in devices), tick=stream.report)
    try:
        for plane, pid in ([(host, HOST_PID)] if host else []) + [(d, (1 + d.id) & 0xFFFFFFFF) for d in devices]:
            read_plane(stream, plane, pid, plane is host, state)
    except Malformed as exc:
        raise _unreadable(path, exc) from None
    finally:
        stream.close()
    finish_roots(state, group=not grouped and not loops)
    _memory_counters(state)
    builder.source.notes.extend(_notes(space, state))
    return state.names


def _unreadable(path: Path, exc: Malformed) -> TraceError:
    return TraceError(path, f"could not read this XPlane: {exc} (not an XPlane, a truncated one, or from an incompatible "
                            "version)")


def _shown(space: SpaceLayout) -> tuple[PlaneLayout | None, list[PlaneLayout]]:
    """The planes trace_viewer converts: the first host plane, and one family of device planes."""
    host = next((p for p in space.planes if p.name == HOST_PLANE), None)
    for prefix in (GPU_PREFIX, TPU_PREFIX, CUSTOM_PREFIX):
        devices = [p for p in space.planes if p.name.startswith(prefix)]
        if devices:
            return host, devices
    return host, []


def _memory_counters(state: ReadState) -> None:
    """Per allocator (xprof's memory id), heap allocated / stack reserved / free bytes at every
    allocator event, on the table's time axis."""
    builder = state.builder
    if not state.memory:
        builder.source.notes.append("memory_profile is empty: the profiler recorded no allocator activity")
        return
    ts = np.concatenate([m["ts_ns"] for m in state.memory])
    ident = np.concatenate([m["id"] for m in state.memory])
    fields = {"allocated": "heap allocated", "reserved": "stack reserved", "available": "free"}
    values = {f: np.concatenate([m[f] for m in state.memory]) for f in fields}
    allocators = list(dict.fromkeys(ident.tolist()))
    if len(allocators) > MAX_ALLOCATORS:
        builder.source.notes.append(f"kept the first {MAX_ALLOCATORS} of {len(allocators)} allocators' memory counters")
    for a in allocators[:MAX_ALLOCATORS]:
        name = state.texts.texts[a] if a >= 0 else ""
        rows = np.flatnonzero(ident == a)
        for f, label in fields.items():
            sid = builder.series(f"allocator {name}", label, "bytes", name)
            builder.add_counters(np.full(len(rows), sid, np.int32), ts[rows], values[f][rows].astype(np.float64))


def _notes(space: SpaceLayout, state: ReadState) -> list[str]:
    notes = list(dict.fromkeys(state.notes))
    for kind, messages in (("error", space.errors), ("warning", space.warnings)):
        for m in messages[:3]:
            notes.append(f"the profiler reported this {kind}: {m[:300]}")
        if len(messages) > 3:
            notes.append(f"... and {len(messages) - 3} more {kind}s")
    return notes
