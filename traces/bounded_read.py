"""A trace file's bytes, gunzipped when it is gzip, with a cap (`Limits.max_bytes`, and
`Limits.max_whole_bytes` for what is held whole), and with memory bounded by what the parser
needs, not by the cap. `gunzip_pieces` is the same decompression one piece at a time, which
the Chrome reader's stream (`traces.stream_source`) consumes.

A reader that needs the whole decompressed text in one buffer (an XPlane for xprof, the Chrome
reader's whole-file path, which decodes it in chunks and may share it with a second process)
gets a buffer sized once, never grown by doubling. Its
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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from traces.table import Limits, TraceError

OnRead = Callable[[int], None]  # told the file's position (bytes as stored) after each read: a progress bar

CHUNK = 1 << 20  # compressed bytes read at a time
PIECE = 1 << 20  # decompressed bytes produced at a time (zlib briefly holds ~3 of them): what is held beside the buffer
GZIP_MAGIC = b"\x1f\x8b"
# Real Chrome-trace JSON compresses 5-30x; deflate cannot pass ~1032x. Above this ratio the
# trailer's size is not trusted for an allocation: the stream is counted first.
TRUSTED_RATIO = 64


def whole_cap(limits: Limits) -> tuple[int, str]:
    """The most a reader may hold whole, and the field that sets it (for "raise Limits.X")."""
    if limits.max_whole_bytes < limits.max_bytes:
        return limits.max_whole_bytes, "max_whole_bytes"
    return limits.max_bytes, "max_bytes"


def over_limit(path: Path, size: int, cap: int, field: str = "max_bytes") -> TraceError:
    return TraceError(path, f"is {size:,} bytes, over the {cap:,}-byte limit (raise Limits.{field})")


def read_bytes(path: Path, limits: Limits, on_read: OnRead | None = None) -> bytes | bytearray:
    """The file's bytes, gunzipped when it is gzip, refusing more than `whole_cap(limits)`."""
    cap, field = whole_cap(limits)
    try:
        with open(path, "rb") as f:
            head = f.read(2)
            f.seek(0)
            if head == GZIP_MAGIC:
                return _gunzip(f, path, cap, field, on_read)
            size = os.fstat(f.fileno()).st_size
            if size > cap:
                raise over_limit(path, size, cap, field)
            data = f.read(cap + 1)
            if on_read is not None:
                on_read(len(data))
            return data
    except OSError as exc:
        raise TraceError(path, f"cannot be read ({exc.strerror or exc})") from None


def gunzip_pieces(f: BinaryIO, path: Path) -> Iterator[bytes]:
    """The decompressed stream in pieces of at most PIECE bytes, across concatenated gzip members
    (zero padding between or after them skipped, as `gzip` does); `f.tell()` says how far the
    compressed file is read."""
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


def bomb(path: Path, max_bytes: int, field: str = "max_bytes") -> TraceError:
    return TraceError(path, f"expands past the {max_bytes:,}-byte limit when decompressed "
                            f"(a gzip bomb, or raise Limits.{field})")


def _count(f: BinaryIO, path: Path, max_bytes: int, field: str) -> int:
    """The decompressed size, one piece held at a time; a bomb is refused once past the cap."""
    total = 0
    for piece in gunzip_pieces(f, path):
        total += len(piece)
        if total > max_bytes:
            raise bomb(path, max_bytes, field)
    return total


def _fill(f: BinaryIO, path: Path, size: int, on_read: OnRead | None) -> bytearray | None:
    """The stream in one buffer of `size` bytes (shrunk if it is shorter); None, the buffer
    dropped, as soon as it is longer: the size was only the trailer's word."""
    out, at = bytearray(size), 0
    for piece in gunzip_pieces(f, path):
        end = at + len(piece)
        if end > size:
            return None
        out[at:end] = piece
        at = end
        if on_read is not None:
            on_read(f.tell())
    del out[at:]  # shrinking does not copy
    return out


def _gunzip(f: BinaryIO, path: Path, max_bytes: int, field: str, on_read: OnRead | None) -> bytearray:
    """Sized once: by the trailer when plausible, else by counting first (see the module docstring)."""
    compressed = os.fstat(f.fileno()).st_size
    f.seek(max(0, compressed - 4))
    trailer = f.read(4)
    isize = struct.unpack("<I", trailer)[0] if len(trailer) == 4 and compressed >= 18 else None
    # A trailer over the cap is not refused at once: a truncated file's last bytes are no trailer.
    if isize is not None and isize <= min(max_bytes, TRUSTED_RATIO * compressed):
        out = _fill(f, path, isize, on_read)
        if out is not None:
            return out
    size = _count(f, path, max_bytes, field)
    out = _fill(f, path, size, on_read)
    if out is None:  # the file changed between the two passes
        raise TraceError(path, "changed while it was being read")
    return out
