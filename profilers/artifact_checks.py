"""Is a profiler's file a whole trace? Checks that catch what the profilers themselves report as success.

Why: tsl's `WriteBinaryProto` ignores protobuf's refusal to serialize an XSpace over 2 GiB and writes
a 0-byte XPlane; a killed export leaves a gzip without its end-of-stream marker or a Chrome JSON
cut off mid-array; jaxlib's `trace.json.gz` silently keeps only the first 1,000,000 events. Each
would otherwise reach the session as an empty or short trace. `artifact_problem` says which, in one
sentence, or None; `count_xplane` and `count_chrome` count what a (small) sizing capture holds.

Standard library only and framework-free: the worker, the controller and the session's ingest use it.
The protobuf wire format is read with the XPlane reader's decoder (`traces.xplane_wire`, standard
library only too).
"""
from __future__ import annotations

import gzip
import io
import json
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from traces.bounded_read import GZIP_MAGIC
from traces.table import TraceError
from traces.xplane_wire import Malformed, WireStream, message_fields

PROTOBUF_MAX_BYTES = 2**31 - 1  # a serialized protobuf message must fit in an int32 (INT_MAX): 2 GiB - 1
TRACE_VIEWER_CAP_ENV = "TF_PROFILER_TRACE_VIEWER_MAX_EVENTS"  # tsl's own override of the converters' event caps
JAX_TRACE_JSON_CAP = 1_000_000  # jaxlib 0.10.2's `<host>.trace.json.gz`: measured, see profilers/capture_guard.py
_CHUNK = 1 << 20
_COMPLETE = b'{"ph":"X"'  # how tsl's TraceContainerToJson starts each complete event (jaxlib's trace.json.gz)
_EMPTY_XPLANE = ("is 0 bytes: the profiler could not serialize its XSpace (protobuf refuses a message over 2 GiB, "
                 "and tsl then writes an empty file and reports success); trace fewer steps")


def trace_json_cap() -> int:
    """The event cap tsl's XSpace-to-JSON conversion applies here (its env override, else jaxlib's default)."""
    value = os.environ.get(TRACE_VIEWER_CAP_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else JAX_TRACE_JSON_CAP


def artifact_problem(kind: str, path: Path) -> str | None:
    """Why the file at `path` is not a whole trace of `kind` (`xplane`, `chrome-trace`), or None.
    Reads a gzip through to its end (CRC and length checked), a plain JSON only at its end, an XPlane
    only at its top level, so the cost stays small beside the export that wrote it."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror or exc})"
    if size == 0:
        return f"{path} {_EMPTY_XPLANE}" if kind == "xplane" else f"{path} is 0 bytes: the profiler wrote no events"
    try:
        if kind == "xplane":
            return _xplane_problem(path, size)
        return _chrome_problem(path)
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror or exc})"


def _xplane_problem(path: Path, size: int) -> str | None:
    if size >= PROTOBUF_MAX_BYTES:
        return (f"{path} is {size:,} bytes, at or over protobuf's 2 GiB message limit: no protobuf reader "
                "(TensorBoard's included) can load it; trace fewer steps")
    try:
        _walk_top_level(path)
    except Malformed as exc:
        return f"{path} is not a whole XPlane ({exc}): the file was cut off or is not a protobuf XSpace"
    except TraceError as exc:
        return f"{path} is not a whole XPlane: it {exc.problem}"
    return None


def _open(path: Path) -> io.BufferedIOBase:
    """Gzipped or not by the file's first bytes, as the XPlane check reads it, not by its name."""
    with open(path, "rb") as f:
        gzipped = f.read(2) == GZIP_MAGIC
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def _walk_top_level(path: Path) -> None:
    """Step over an XSpace's top-level fields without holding them: a cut-off file ends inside one.
    A plane is read past with seek (a gzip is inflated block by block, never held)."""
    stream = WireStream(path, PROTOBUF_MAX_BYTES)
    try:
        planes = 0
        for number, wire in stream.fields(None):
            planes += number == 1 and wire == 2
            try:
                stream.skip_value(wire, None)
            except Malformed:
                raise Malformed(f"field {number} runs past the end") from None
        if not planes:
            raise Malformed("no planes")
    finally:
        stream.close()


def _chrome_problem(path: Path) -> str | None:
    if not path.name.endswith(".gz"):
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - 64))
            tail = f.read()
        return None if _ends_whole(tail) else f"{path} {_CUT_JSON}"
    completes, tail = 0, b""
    inflate = zlib.decompressobj(wbits=31)
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            out = inflate.decompress(chunk)
            while inflate.unused_data and inflate.eof:  # a multi-member gzip: the next member begins
                rest = inflate.unused_data
                inflate = zlib.decompressobj(wbits=31)
                out += inflate.decompress(rest)
            window = tail[-(len(_COMPLETE) - 1):] + out
            completes += window.count(_COMPLETE)
            tail = (tail + out)[-64:]
    if not inflate.eof:
        return (f"{path} is a truncated gzip (no end-of-stream marker): the export was cut off, so the "
                "trace is incomplete")
    if not _ends_whole(tail):
        return f"{path} {_CUT_JSON}"
    cap = trace_json_cap()
    if path.name.endswith(".trace.json.gz") and completes >= cap:
        set_by = f", as {TRACE_VIEWER_CAP_ENV} sets it" if os.environ.get(TRACE_VIEWER_CAP_ENV) else ""
        return (f"{path} holds {completes:,} events, the cap of the XSpace-to-JSON conversion that wrote it "
                f"({cap:,}{set_by}): later events were dropped (the XPlane beside it holds them all)")
    return None


_CUT_JSON = "ends mid-JSON (no closing bracket): the export was cut off, so the trace is incomplete"


def _ends_whole(tail: bytes) -> bool:
    """A Chrome trace is a JSON object or array: a whole one ends with `}` or `]` (then whitespace)."""
    return tail.rstrip()[-1:] in (b"}", b"]")


def count_xplane(path: Path) -> int:
    """Every XEvent of a (small) XSpace file: XSpace.planes (1) > XPlane.lines (3) > XLine.events (4);
    ValueError for a file that is not a whole XSpace."""
    with _open(path) as stream:
        data = memoryview(stream.read())
    events = 0
    try:
        for plane in _messages(data, 1):
            for line in _messages(plane, 3):
                events += sum(1 for n, w, _ in message_fields(line) if n == 4 and w == 2)
    except Malformed as exc:
        raise ValueError(str(exc)) from None
    return events


def _messages(data: memoryview, number: int) -> Iterator[memoryview]:
    """The length-delimited fields `number` of one message (sub-messages, as views: nothing copied)."""
    return (value for n, _, value in message_fields(data) if n == number and not isinstance(value, int))


# Kineto's categories for what CUPTI records on the device side (kernels, copies, runtime and driver calls).
CUPTI_CATEGORIES = frozenset({"kernel", "gpu_memcpy", "gpu_memset", "cuda_runtime", "cuda_driver", "cuda_sync",
                              "overhead", "cuda_profiler_range"})


@dataclass(frozen=True)
class ChromeCount:
    events: int  # complete ("X") events: what the converters' caps count
    device_records: int  # of those, the ones CUPTI recorded (Kineto's categories above)


def count_chrome(path: Path) -> ChromeCount:
    """Complete events of a (small) Chrome trace, and how many of them CUPTI recorded."""
    with _open(path) as stream:
        doc = json.loads(stream.read())
    events = doc.get("traceEvents", []) if isinstance(doc, dict) else doc
    complete = [e for e in events if isinstance(e, dict) and e.get("ph") == "X"]
    device = sum(1 for e in complete if str(e.get("cat", "")).lower() in CUPTI_CATEGORIES)
    return ChromeCount(len(complete), device)
