"""A trace file's bytes, gunzipped when it is gzip, with a cap: input is decompressed in
chunks, so a gzip bomb stops at `Limits.max_bytes` instead of filling memory."""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import BinaryIO

from traces.table import Limits, TraceError

CHUNK = 4 << 20
GZIP_MAGIC = b"\x1f\x8b"


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


def _gunzip(f: BinaryIO, path: Path, max_bytes: int) -> bytearray:
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
