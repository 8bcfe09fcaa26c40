"""Trace files -> EventTable: PyTorch Chrome traces (.json / .json.gz), XPlanes (.xplane.pb,
also gzipped) converted by xprof, TensorBoard profile log directories, and anyone's Chrome
trace. `read_trace(path)` recognises which it is.

Every failure a file can cause is a TraceError with one line naming the file and the problem;
input is decompressed in chunks with a cap (`Limits.max_bytes`), so a gzip bomb stops at the
cap instead of filling memory. Framework-free: xprof converts XPlanes without importing
TensorFlow, and nothing here imports torch, jax or tensorflow.
"""
from __future__ import annotations

import gzip
import json
import logging
import os
import re
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from traces.chrome import framework_from, parse_into
from traces.classify import assign_steps, guess_framework
from traces.table import EventTable, Kind, Limits, SourceInfo, TableBuilder, TraceError

__all__ = ["Limits", "ProfileRun", "TraceError", "find_profile_runs", "read_chrome_data", "read_chrome_trace", "read_logdir",
           "read_trace", "read_xplane", "read_xprof_tool"]

log = logging.getLogger("stepscope.traces")
CHUNK = 4 << 20
GZIP_MAGIC = b"\x1f\x8b"


def read_trace(path: str | os.PathLike[str], limits: Limits | None = None, framework: str | None = None) -> EventTable:
    """Read any supported trace: a directory is a profile log directory (XPlanes under
    plugins/profile/<run>/, or Chrome traces); `*.xplane.pb[.gz]` goes through xprof; other
    files are Chrome-trace JSON, plain or gzipped. `framework` ("torch", "jax", "tf") overrides
    the guess recorded in `table.source`."""
    p = Path(path)
    limits = limits or Limits()
    if not p.exists():
        raise TraceError(p, "no such file or directory")
    try:
        if p.is_dir():
            return read_logdir(p, limits, framework=framework)
        if _is_xplane_name(p):
            return read_xplane(p, limits, framework=framework)
        return read_chrome_trace(p, limits, framework=framework)
    except TraceError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError) as exc:
        # a reader bug must not take the app down with it: report it as this file's problem
        log.exception("internal error reading %s", p)
        raise TraceError(p, f"internal error while reading ({type(exc).__name__}: {exc}); please report it") from exc


def _is_xplane_name(p: Path) -> bool:
    return p.name.endswith((".xplane.pb", ".xplane.pb.gz"))


# -- bounded loading ---------------------------------------------------------------------
def read_bytes(path: Path, limits: Limits) -> bytes | bytearray:
    """The file's bytes, gunzipped when it is gzip, refusing more than `limits.max_bytes`."""
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            if head == GZIP_MAGIC:
                return _gunzip(f, path, limits.max_bytes)
            size = os.fstat(f.fileno()).st_size
            if size > limits.max_bytes:
                raise TraceError(path, f"is {size:,} bytes, over the {limits.max_bytes:,}-byte limit (raise Limits.max_bytes)")
            return f.read(limits.max_bytes + 1)
    except OSError as exc:
        raise TraceError(path, f"cannot be read ({exc.strerror or exc})") from None


def _gunzip(f: Any, path: Path, max_bytes: int) -> bytearray:
    out = bytearray()
    try:
        with gzip.GzipFile(fileobj=f) as gz:
            while True:
                chunk = gz.read(CHUNK)
                if not chunk:
                    break
                out += chunk
                if len(out) > max_bytes:
                    raise TraceError(path, f"expands past the {max_bytes:,}-byte limit when decompressed "
                                           "(a gzip bomb, or raise Limits.max_bytes)")
    except EOFError:
        raise TraceError(path, "is a truncated gzip file (it ends before the end of the compressed data)") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise TraceError(path, f"is a damaged gzip file ({exc})") from None
    return out


# -- Chrome traces -----------------------------------------------------------------------
def read_chrome_trace(path: str | os.PathLike[str], limits: Limits | None = None, framework: str | None = None,
                      fast: bool = True) -> EventTable:
    """A Chrome-trace JSON file (plain or gzipped): torch.profiler's export, the
    `.trace.json.gz` jax.profiler writes, Perfetto/chrome://tracing JSON, a Stepscope export."""
    p = Path(path)
    limits = limits or Limits()
    return read_chrome_data(read_bytes(p, limits), p, limits, framework=framework, fast=fast)


def read_chrome_data(data: bytes | bytearray | str, where: str | os.PathLike[str] = "<memory>", limits: Limits | None = None,
                     framework: str | None = None, fast: bool = True) -> EventTable:
    """Chrome-trace JSON already in memory (decompressed); `where` names it in errors."""
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise TraceError(where, f"is {len(data):,} bytes, over the {limits.max_bytes:,}-byte limit (raise Limits.max_bytes)")
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if not data or data.isspace():
        raise TraceError(where, "is empty")
    start = bytes(data[:64]).lstrip(b"\xef\xbb\xbf \t\r\n")
    if start[:1] not in (b"{", b"["):
        kind = "binary data" if b"\x00" in bytes(data[:512]) else "text that is not JSON"
        raise TraceError(where, f"is not a trace: {kind} (expected Chrome-trace JSON, plain or gzipped, or an .xplane.pb)")
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    builder = TableBuilder(SourceInfo(path=str(where), format="chrome"), limits)
    result = parse_into(builder, data, where, fast=fast)
    del data
    src = builder.source
    src.notes.extend(result.notes)
    restored = _stepscope_header(result.top)
    if restored:
        for key in ("producer", "framework", "device", "time_origin_ns"):
            if key in restored:
                setattr(src, key, restored[key])
        src.format = "stepscope-chrome"
        src.notes.extend(str(n) for n in restored.get("notes", []) if isinstance(n, str))
    else:
        src.framework = framework_from(result)
        src.producer = {"torch": "torch.profiler", "xla": "XLA profiler (TSL) Chrome trace"}.get(result.flavor,
                                                                                                  "Chrome trace")
        base = result.top.get("baseTimeNanoseconds")
        if isinstance(base, int) and not isinstance(base, bool) and 0 <= base < 2**62:
            src.time_origin_ns = base
    table = _finish(builder, framework)
    if not restored:
        table.source.device = _device(table, result.top.get("deviceProperties"), result.flavor)
    offset = restored.get("ts_offset_ns", 0)
    if offset:  # a Stepscope export writes times relative to its first event, to keep every nanosecond
        lo, hi = (int(table.start_ns.min()), int(table.end_ns.max())) if len(table) else (0, 0)
        if not (abs(lo + offset) < 2**62 and abs(hi + offset) < 2**62):
            raise TraceError(where, "ts_offset_ns puts events outside the representable time range")
        table.start_ns += offset
        table.counter_ts_ns += offset
    return table


def _stepscope_header(top: dict[str, Any]) -> dict[str, Any]:
    other = top.get("otherData")
    if isinstance(other, dict) and isinstance(other.get("stepscope"), dict):
        header = other["stepscope"]
        out: dict[str, Any] = {k: v for k, v in header.items()
                               if k in ("producer", "framework", "device") and (v is None or isinstance(v, str))}
        if isinstance(header.get("notes"), list):
            out["notes"] = header["notes"]
        for key in ("time_origin_ns", "ts_offset_ns"):
            value = header.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**62:
                out[key] = value
        return out
    return {}


def _finish(builder: TableBuilder, framework: str | None) -> EventTable:
    table = builder.finish()
    assign_steps(table)
    if framework:
        table.source.framework = framework
    return table


def _device(table: EventTable, device_properties: Any, flavor: str) -> str | None:
    procs = {r.process for r in table.rows}
    if any(p.startswith("/device:TPU") for p in procs):
        return "tpu"
    if any(p.startswith("/device:GPU") for p in procs) or (table.kind == Kind.KERNEL).any() or device_properties:
        return "gpu"
    return "cpu" if flavor in ("torch", "xla") else None


# -- XPlanes -----------------------------------------------------------------------------
def read_xplane(path: str | os.PathLike[str], limits: Limits | None = None, framework: str | None = None) -> EventTable:
    """One XPlane (`.xplane.pb`, or gzipped `.xplane.pb.gz`) through xprof's trace_viewer and
    memory_profile conversions."""
    return _read_xplanes([Path(path)], limits or Limits(), framework)


def _read_xplanes(paths: list[Path], limits: Limits, framework: str | None, notes: list[str] | None = None) -> EventTable:
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
    table = _finish(builder, None)
    src = table.source
    src.framework = framework or guess_framework(names)
    src.producer = {"jax": "jax.profiler", "tf": "tf.profiler"}.get(src.framework or "", "XLA profiler") + " XPlane via xprof"
    src.device = _device(table, None, "xla")
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
    except Exception as exc:  # noqa: BLE001 - xprof raises whatever its C++ side reports
        raise TraceError(shown, f"xprof could not convert it ({type(exc).__name__}: {exc})") from None
    data = out[0] if isinstance(out, tuple) else out
    if data is None:
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


# -- log directories ---------------------------------------------------------------------
@dataclass
class ProfileRun:
    """One profile run folder (plugins/profile/<run>/) and the trace files in it."""

    path: Path
    xplanes: list[Path] = field(default_factory=list)
    chrome: list[Path] = field(default_factory=list)


XPLANE_GLOBS = ("*.xplane.pb", "*.xplane.pb.gz")
CHROME_GLOBS = ("*.json", "*.json.gz")


def find_profile_runs(root: str | os.PathLike[str]) -> list[ProfileRun]:
    """Profile runs under `root`, oldest first: a TensorBoard log directory (plugins/profile/
    <run>/), the plugins/profile folder itself, a run folder, or a folder of Chrome traces
    (torch's tensorboard_trace_handler writes `<worker>.<time>.pt.trace.json`)."""
    root = Path(root)
    candidates = [root / "plugins" / "profile", root / "profile", root]
    runs: list[ProfileRun] = []
    for base in candidates:
        if base.is_dir():
            runs = [_run(d) for d in sorted(base.iterdir()) if d.is_dir()]
            runs = [r for r in runs if r.xplanes or r.chrome]
            if runs:
                break
    if not runs:
        here = _run(root)
        if here.xplanes or here.chrome:
            runs = [here]
    return sorted(runs, key=lambda r: (r.path.name if _is_timestamp(r.path.name) else "", _mtime(r)))


def _run(d: Path) -> ProfileRun:
    files = [f for f in d.iterdir() if f.is_file()] if d.is_dir() else []
    xplanes = sorted(f for f in files if any(f.match(g) for g in XPLANE_GLOBS))
    chrome = sorted(f for f in files if any(f.match(g) for g in CHROME_GLOBS))
    return ProfileRun(d, xplanes, chrome)


def _is_timestamp(name: str) -> bool:
    return re.fullmatch(r"\d{4}_\d{2}_\d{2}_\d{2}_\d{2}_\d{2}", name) is not None


def _mtime(run: ProfileRun) -> float:
    files = run.xplanes + run.chrome
    return max((f.stat().st_mtime for f in files), default=0.0)


def read_logdir(root: str | os.PathLike[str], limits: Limits | None = None, run: str | None = None,
                framework: str | None = None) -> EventTable:
    """The newest profile run under `root` (or the one named `run`): its XPlanes (several
    hosts' merged, rows prefixed by host) when it has any, which carry more than the Chrome
    trace JAX writes beside them (step markers, hlo_op arguments); else its newest Chrome trace."""
    root = Path(root)
    limits = limits or Limits()
    runs = find_profile_runs(root)
    if not runs:
        raise TraceError(root, "holds no profile: no plugins/profile/<run>/*.xplane.pb and no Chrome-trace JSON")
    if run is not None:
        chosen = [r for r in runs if r.path.name == run]
        if not chosen:
            raise TraceError(root, f"has no profile run {run!r} (runs: {', '.join(r.path.name for r in runs)})")
        pick = chosen[0]
    else:
        pick = runs[-1]
    notes = [f"read run {pick.path.name!r}, the newest of {len(runs)}"] if len(runs) > 1 and run is None else []
    if pick.xplanes:
        if pick.chrome:
            notes.append(f"read the XPlane; ignored {len(pick.chrome)} Chrome trace(s) beside it")
        return _read_xplanes(pick.xplanes, limits, framework, notes)
    newest = max(pick.chrome, key=lambda f: (f.stat().st_mtime, f.name))
    table = read_chrome_trace(newest, limits, framework=framework)
    if len(pick.chrome) > 1:
        table.source.notes.append(f"read {newest.name}, the newest of {len(pick.chrome)} Chrome traces in {pick.path}")
    table.source.notes.extend(notes)
    return table
