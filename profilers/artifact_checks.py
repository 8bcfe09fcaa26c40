"""Is a profiler's file a whole trace? Checks that catch what the profilers themselves report as success.

Why: tsl's `WriteBinaryProto` ignores protobuf's refusal to serialize an XSpace over 2 GiB and writes
a 0-byte XPlane; a killed export leaves a gzip without its end-of-stream marker or a Chrome JSON
cut off mid-array; jaxlib's `trace.json.gz` silently keeps only the first 1,000,000 events. Each
would otherwise reach the session as an empty or short trace. `artifact_problem` says which, in one
sentence, or None; `count_xplane` and `count_chrome` count what a (small) sizing capture holds.

Standard library only and framework-free: the worker, the controller and the session's ingest use it.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

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
        with _open(path) as stream:
            _walk_top_level(stream)
    except (ValueError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        return f"{path} is not a whole XPlane ({exc}): the file was cut off or is not a protobuf XSpace"
    return None


def _open(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def _walk_top_level(stream: io.BufferedIOBase) -> None:
    """Step over an XSpace's top-level fields without holding them: a cut-off file ends inside one.
    A plane is read past with seek (a gzip inflates as it seeks, never holding more than a chunk)."""
    planes = 0
    while True:
        first = stream.read(1)
        if not first:
            break
        key = _stream_varint(stream, first[0])
        number, wire = key >> 3, key & 7
        if wire == 0:
            _stream_varint(stream, None)
            continue
        if wire not in (1, 2, 5):
            raise ValueError(f"field {number} has wire type {wire}, which XSpace never uses")
        length = 8 if wire == 1 else 4 if wire == 5 else _stream_varint(stream, None)
        before = stream.tell()
        stream.seek(before + length)
        if stream.tell() != before + length or (length and not _readable_to(stream, before + length)):
            raise ValueError(f"field {number} runs past the end")
        planes += number == 1 and wire == 2
    if not planes:
        raise ValueError("no planes")


def _readable_to(stream: io.BufferedIOBase, end: int) -> bool:
    """Whether the byte just before `end` exists (a plain file's seek goes past its end silently)."""
    stream.seek(end - 1)
    return len(stream.read(1)) == 1


def _stream_varint(stream: io.BufferedIOBase, first: int | None) -> int:
    result = shift = 0
    byte = first
    while True:
        if byte is None:
            got = stream.read(1)
            if not got:
                raise ValueError("a varint runs past the end")
            byte = got[0]
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result
        shift += 7
        if shift > 63:
            raise ValueError("a varint is longer than 10 bytes")
        byte = None


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


# -- the protobuf wire format, just enough to walk an XSpace ------------------------------------------
def _varint(data: bytes | memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("a varint runs past the end")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("a varint is longer than 10 bytes")


def _fields(data: bytes | memoryview) -> list[tuple[int, int, int, int]]:
    """(field number, wire type, start, end) of each field of one message; length-delimited fields'
    start..end is their payload. ValueError where a field runs past the end (a cut-off file)."""
    out, pos, size = [], 0, len(data)
    while pos < size:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, end = _varint(data, pos)
            out.append((number, wire, pos, end))
        elif wire == 1 or wire == 5:
            end = pos + (8 if wire == 1 else 4)
            out.append((number, wire, pos, end))
        elif wire == 2:
            length, pos = _varint(data, pos)
            end = pos + length
            out.append((number, wire, pos, end))
        else:
            raise ValueError(f"field {number} has wire type {wire}, which XSpace never uses")
        if end > size:
            raise ValueError(f"field {number} runs {end - size:,} bytes past the end")
        pos = end
    return out


def count_xplane(path: Path) -> int:
    """Every XEvent of a (small) XSpace file: XSpace.planes (1) > XPlane.lines (3) > XLine.events (4);
    ValueError for a file that is not a whole XSpace."""
    with _open(path) as stream:
        data = memoryview(stream.read())
    events = 0
    for number, wire, start, end in _fields(data):
        if number != 1 or wire != 2:
            continue
        for p_number, p_wire, p_start, p_end in _fields(data[start:end]):
            if p_number == 3 and p_wire == 2:
                line = data[start + p_start:start + p_end]
                events += sum(1 for n, w, _, _ in _fields(line) if n == 4 and w == 2)
    return events


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
