"""A trace file's bytes, gunzipped when it is gzip, with a cap (`Limits.max_bytes`), and with
memory bounded by what the parser needs, not by the cap.

The Chrome reader needs the whole decompressed text in one buffer (it decodes it in chunks and
may share it with a second process), so the buffer is sized once, never grown by doubling. Its
size comes from the gzip trailer (ISIZE, the size mod 2**32) when that is plausible for the
compressed size; otherwise (a ratio only a bomb or a lying trailer has) the stream is first
decompressed piece by piece and counted, holding one piece at a time, and a bomb is refused
as soon as the count passes the cap. A trailer that lies is caught the same way: output beyond
the buffer is counted, never kept.
"""
from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from traces.table import Limits, TraceError

CHUNK = 1 << 20  # compressed bytes read at a time
PIECE = 1 << 20  # decompressed bytes produced at a time (zlib briefly holds ~3 of them): what is held beside the buffer
GZIP_MAGIC = b"\x1f\x8b"
# Real Chrome-trace JSON compresses 5-30x; deflate cannot pass ~1032x. Above this ratio the
# trailer's size is not trusted for an allocation: the stream is counted first.
TRUSTED_RATIO = 64


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


def _pieces(f: BinaryIO, path: Path) -> Iterator[bytes]:
    """The decompressed stream in pieces of at most PIECE bytes, across concatenated gzip members
    (zero padding between or after them skipped, as `gzip` does)."""
    f.seek(0)
    d: zlib._Decompress | None = None  # the member being inflated; None between members
    try:
        while data := f.read(CHUNK):
            more = True
            while more:
                if d is None:
                    data = data.lstrip(b"\x00")
                    if not data:
                        break
                    d = zlib.decompressobj(wbits=31)
                piece = d.decompress(data, PIECE)
                if piece:
                    yield piece
                if d.eof:
                    data, d = d.unused_data, None
                    more = bool(data)
                else:
                    data = d.unconsumed_tail
                    more = bool(data) or len(piece) == PIECE  # a full piece: more output may be pending
    except zlib.error as exc:
        raise TraceError(path, f"is a damaged gzip file ({exc})") from None
    if d is not None:
        raise TraceError(path, "is a truncated gzip file (it ends before the end of the compressed data)")


def _bomb(path: Path, max_bytes: int) -> TraceError:
    return TraceError(path, f"expands past the {max_bytes:,}-byte limit when decompressed "
                            "(a gzip bomb, or raise Limits.max_bytes)")


def _count(f: BinaryIO, path: Path, max_bytes: int) -> int:
    """The decompressed size, one piece held at a time; a bomb is refused once past the cap."""
    total = 0
    for piece in _pieces(f, path):
        total += len(piece)
        if total > max_bytes:
            raise _bomb(path, max_bytes)
    return total


def _fill(f: BinaryIO, path: Path, size: int) -> bytearray | None:
    """The stream in one buffer of `size` bytes (shrunk if it is shorter); None, the buffer
    dropped, as soon as it is longer: the size was only the trailer's word."""
    out, at = bytearray(size), 0
    for piece in _pieces(f, path):
        end = at + len(piece)
        if end > size:
            return None
        out[at:end] = piece
        at = end
    del out[at:]  # shrinking does not copy
    return out


def _gunzip(f: BinaryIO, path: Path, max_bytes: int) -> bytearray:
    """Sized once: by the trailer when plausible, else by counting first (see the module docstring)."""
    compressed = os.fstat(f.fileno()).st_size
    f.seek(max(0, compressed - 4))
    trailer = f.read(4)
    isize = struct.unpack("<I", trailer)[0] if len(trailer) == 4 and compressed >= 18 else None
    # A trailer over the cap is not refused at once: a truncated file's last bytes are no trailer.
    if isize is not None and isize <= min(max_bytes, TRUSTED_RATIO * compressed):
        out = _fill(f, path, isize)
        if out is not None:
            return out
    size = _count(f, path, max_bytes)
    out = _fill(f, path, size)
    if out is None:  # the file changed between the two passes
        raise TraceError(path, "changed while it was being read")
    return out
