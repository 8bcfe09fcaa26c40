"""XPlanes (`.xplane.pb`, also gzipped) -> EventTable through xprof's conversions: the
trace_viewer Chrome trace for the events, memory_profile for allocator counters, and xprof's
own analyses (`read_xprof_tool`) for showing beside Stepscope's numbers. xprof converts
without importing TensorFlow."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from traces.bounded_read import GZIP_MAGIC, read_bytes
from traces.chrome import parse_into
from traces.classify import finish_table, guess_device, guess_framework
from traces.table import EventTable, Limits, SourceInfo, TraceError
from traces.table_builder import TableBuilder


def read_xplane(path: str | os.PathLike[str], limits: Limits | None = None, framework: str | None = None) -> EventTable:
    """One XPlane (`.xplane.pb`, or gzipped `.xplane.pb.gz`) through xprof's trace_viewer and
    memory_profile conversions."""
    return read_xplanes([Path(path)], limits or Limits(), framework)


def read_xplanes(paths: list[Path], limits: Limits, framework: str | None, notes: list[str] | None = None) -> EventTable:
    """Several hosts' XPlanes of one run merged into one table, rows prefixed by host."""
    builder = TableBuilder(SourceInfo(path=str(paths[0]) if len(paths) == 1 else str(paths[0].parent), format="xplane",
                                      producer="XPlane via xprof"), limits)
    names: set[str] = set()
    for p in paths:
        prefix = f"{_host(p)}: " if len(paths) > 1 else ""
        with _plain_xplane(p, limits) as plain:
            trace = _xprof(plain, "trace_viewer", p, limits)
            result = parse_into(builder, trace, p, prefix=prefix, flavor="xla")
            del trace
            builder.source.notes.extend(result.notes)
            names |= result.names
            _memory_profile(builder, plain, p, limits)
    if notes:
        builder.source.notes.extend(notes)
    if len(paths) > 1:
        builder.source.notes.append(f"merged {len(paths)} hosts' XPlanes; each host's times count from its own profile start")
    table = finish_table(builder, None)
    src = table.source
    src.framework = framework or guess_framework(names)
    src.producer = {"jax": "jax.profiler", "tf": "tf.profiler"}.get(src.framework or "", "XLA profiler") + " XPlane via xprof"
    src.device = guess_device(table, None, "xla")
    return table


def _host(p: Path) -> str:
    return p.name.removesuffix(".gz").removesuffix(".xplane.pb")


class _plain_xplane:
    """A path xprof can open: the file itself, or a bounded gunzip into a temporary folder."""

    def __init__(self, path: Path, limits: Limits) -> None:
        self.path, self.limits = path, limits
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> Path:
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as f:
                head = f.read(2)
        except OSError as exc:
            raise TraceError(self.path, f"cannot be read ({exc.strerror or exc})") from None
        if size == 0:
            raise TraceError(self.path, "is empty")
        if head != GZIP_MAGIC:
            if size > self.limits.max_bytes:
                raise TraceError(self.path, f"is {size:,} bytes, over the {self.limits.max_bytes:,}-byte limit")
            return self.path
        data = read_bytes(self.path, self.limits)
        self._tmp = tempfile.TemporaryDirectory(prefix="stepscope-xplane-")
        plain = Path(self._tmp.name) / f"{_host(self.path)}.xplane.pb"
        plain.write_bytes(data)
        return plain

    def __exit__(self, *exc: object) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def _xprof(plain: Path, tool: str, shown: Path, limits: Limits) -> str | bytes:
    """xprof's conversion of one XPlane (`use_saved_result: False`: no cache files beside it)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # xprof's C++ logging, before its first import
    try:
        from xprof.convert import raw_to_tool_data
    except ImportError as exc:
        raise TraceError(shown, f"needs xprof to read XPlanes ({exc})") from None
    try:
        out = raw_to_tool_data.xspace_to_tool_data([str(plain)], tool, {"use_saved_result": False})
    except Exception as exc:  # xprof raises whatever its C++ side reports
        raise TraceError(shown, f"xprof could not convert it ({type(exc).__name__}: {exc})") from None
    data = out[0] if isinstance(out, tuple) else out
    if not isinstance(data, (str, bytes)):  # None: xprof found nothing it could read
        raise TraceError(shown, "xprof could not read this XPlane (not an XPlane, truncated, or from an incompatible version)")
    if len(data) > limits.max_bytes:
        raise TraceError(shown, f"converts to more than {limits.max_bytes:,} bytes (raise Limits.max_bytes)")
    return data


XPROF_TOOLS = ("framework_op_stats", "input_pipeline_analyzer", "memory_profile", "overview_page", "op_profile", "hlo_stats")


def read_xprof_tool(path: str | os.PathLike[str], tool: str, limits: Limits | None = None) -> Any:
    """xprof's own analysis of one XPlane as parsed JSON (e.g. "input_pipeline_analyzer":
    its per-step table; "framework_op_stats": TensorFlow op statistics), for showing beside
    Stepscope's numbers. On CPU several are empty (op_profile, hlo_stats)."""
    if tool not in XPROF_TOOLS:
        raise ValueError(f"tool must be one of {', '.join(XPROF_TOOLS)}")
    p, limits = Path(path), limits or Limits()
    with _plain_xplane(p, limits) as plain:
        raw = _xprof(plain, tool, p, limits)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise TraceError(p, f"xprof's {tool} output is not JSON ({exc})") from None


def _memory_profile(builder: TableBuilder, plain: Path, shown: Path, limits: Limits) -> None:
    """xprof's memory_profile snapshots as counter series (heap / stack / free bytes per
    allocator). Empty on CPU for JAX and for TensorFlow in these versions; kept when present."""
    try:
        raw = _xprof(plain, "memory_profile", shown, limits)
        doc = json.loads(raw)
    except (TraceError, ValueError) as exc:
        builder.source.notes.append(f"memory_profile unavailable ({exc})")
        return
    per = doc.get("memoryProfilePerAllocator") if isinstance(doc, dict) else None
    if not isinstance(per, dict) or not per:
        builder.source.notes.append("memory_profile is empty: the profiler recorded no allocator activity")
        return
    fields = {"heapAllocatedBytes": "heap allocated", "stackReservedBytes": "stack reserved", "freeMemoryBytes": "free"}
    sids, times, values = [], [], []
    for allocator, profile in list(per.items())[:64]:
        snaps = profile.get("memoryProfileSnapshots") if isinstance(profile, dict) else None
        for snap in snaps if isinstance(snaps, list) else []:
            if not isinstance(snap, dict) or not isinstance(snap.get("aggregationStats"), dict):
                continue
            try:
                t_ns = int(snap.get("timeOffsetPs", 0)) // 1000
            except (TypeError, ValueError):
                continue
            for key, label in fields.items():
                try:
                    v = float(snap["aggregationStats"].get(key, 0))
                except (TypeError, ValueError):
                    continue
                sids.append(builder.series(f"allocator {allocator}", label, "bytes", str(allocator)))
                times.append(t_ns)
                values.append(v)
    if sids:
        builder.add_counters(np.array(sids), np.array(times, dtype=np.int64), np.array(values))
