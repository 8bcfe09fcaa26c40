"""Chrome-trace JSON files -> EventTable: torch.profiler's export, the `.trace.json.gz`
jax.profiler writes, Perfetto/chrome://tracing JSON, and Stepscope's own export (whose
`otherData.stepscope` header restores the source description and the time offset)."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from traces.bounded_read import read_bytes
from traces.chrome import ChromeResult, framework_from, parse_into, parse_stream_into
from traces.classify import finish_table, guess_device
from traces.progress import Progress
from traces.stream_decode import NeedWhole
from traces.stream_source import TraceStream
from traces.table import EventTable, Limits, SourceInfo, TraceError
from traces.table_builder import TableBuilder

log = logging.getLogger("stepscope.traces")


def read_chrome_trace(path: str | os.PathLike[str], limits: Limits | None = None, framework: str | None = None,
                      fast: bool = True, progress: Progress | None = None) -> EventTable:
    """A Chrome-trace JSON file (plain or gzipped): torch.profiler's export, the
    `.trace.json.gz` jax.profiler writes, Perfetto/chrome://tracing JSON, a Stepscope export.
    Read as a stream (`traces.stream_decode`), so memory does not grow with the file; what the
    stream cannot decode is read whole, which gives the exact error for a file that is not a
    trace. `progress` hears the bytes of the file as stored (compressed for a .gz) consumed;
    `fast=False` reads whole with the checking decoder."""
    p = Path(path)
    limits = limits or Limits()
    if fast:
        try:
            with TraceStream(p, limits, progress) as stream:
                builder = TableBuilder(SourceInfo(path=str(p), format="chrome"), limits)
                result = parse_stream_into(builder, stream, p)
            return _finish(builder, result, p, framework)
        except NeedWhole as why:
            log.info("%s: read whole, the stream could not decode it (%s)", p, why)
    on_read = None if progress is None else (lambda at: progress.advance(at, p))
    return read_chrome_data(read_bytes(p, limits, on_read), p, limits, framework=framework, fast=fast)


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
    return _finish(builder, result, where, framework)


def _finish(builder: TableBuilder, result: ChromeResult, where: object, framework: str | None) -> EventTable:
    """The table of one parsed file, its source described (a Stepscope export's header restored)."""
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
    table = finish_table(builder, framework)
    if not restored:
        table.source.device = guess_device(table, result.top.get("deviceProperties"), result.flavor)
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
