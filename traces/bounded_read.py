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

Inflating is ISA-L's (`isal`, a binary wheel) where it is installed: on a Kineto trace's `gzip -1`
it inflates at ~3.6 GB/s of output on one core where zlib gives ~1 GB/s (bench/README.md,
"The GPU-shaped read's time"); zlib, behind the same interface, where it is not.
"""
from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, Protocol

from traces.table import Limits, TraceError

try:
    from isal import igzip_lib
except ImportError:  # not installed: zlib inflates
    igzip_lib = None  # type: ignore[assignment]  # None marks ISA-L missing

OnRead = Callable[[int], None]  # told the file's position (bytes as stored) after each read: a progress bar

CHUNK = 1 << 20  # compressed bytes read at a time
PIECE = 1 << 20  # decompressed bytes produced at a time (zlib briefly holds ~3 of them): what is held beside the buffer
# ISA-L inflates into pieces that stay in the CPU's L2 cache until the reader has copied them: the
# 2 GB Kineto-shaped gzip read 4.84 -> 4.53 CPU-s (medians of 3 pairs); zlib keeps PIECE, as it
# copies the unread input at each call (`decompress(unconsumed_tail, ...)`)
INFLATE_PIECE = 128 << 10 if igzip_lib is not None else PIECE
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


class Member(Protocol):
    """One gzip member being inflated, as ISA-L's `IgzipDecompressor` (and `_ZlibMember`) has
    it: the input it was given is kept inside until `needs_input`."""

    eof: bool
    needs_input: bool
    unused_data: bytes

    def decompress(self, data: bytes, max_length: int) -> bytes: ...


class _ZlibMember:
    """zlib's inflater behind `Member`: what it has not taken yet is fed again before more is read."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(wbits=31)
        self.needs_input = True

    @property
    def eof(self) -> bool:
        return self._d.eof

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data

    def decompress(self, data: bytes, max_length: int) -> bytes:
        piece = self._d.decompress(data or self._d.unconsumed_tail, max_length)
        self.needs_input = not self._d.unconsumed_tail and len(piece) < max_length  # a full piece: more may be pending
        return piece


def new_member() -> Member:
    """An inflater for the next gzip member: ISA-L's where installed (~3.5x zlib's speed), else zlib's."""
    if igzip_lib is None:
        return _ZlibMember()
    return igzip_lib.IgzipDecompressor(flag=igzip_lib.DECOMP_GZIP)


# isal's stub calls IsalError an instance; it is the exception class a damaged member raises
GZIP_ERRORS: tuple[type[Exception], ...] = (zlib.error,) if igzip_lib is None else (zlib.error, igzip_lib.IsalError)  # type: ignore[assignment]


def gunzip_pieces(f: BinaryIO, path: object) -> Iterator[bytes]:
    """The decompressed stream in pieces of at most INFLATE_PIECE bytes, across concatenated gzip members
    (zero padding between or after them skipped, as `gzip` does); `f.tell()` says how far the
    compressed file is read; `path` names the file (or the bytes) in the errors."""
    f.seek(0)
    d: Member | None = None  # the member being inflated; None between members
    data = b""  # compressed bytes read and not yet given to a member
    try:
        while True:
            if d is None:
                data = data.lstrip(b"\x00")
                if not data:
                    if not (data := f.read(CHUNK)):
                        break
                    continue
                if not GZIP_MAGIC.startswith(data[:2]):  # ISA-L would wait for a header's worth of it
                    raise TraceError(path, "is a damaged gzip file (data after a member that is not a gzip member)")
                d = new_member()
            elif d.needs_input and not (data := f.read(CHUNK)):
                break
            piece = d.decompress(data, INFLATE_PIECE)
            data = b""
            if piece:
                yield piece
            if d.eof:
                data, d = d.unused_data, None
    except GZIP_ERRORS as exc:
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
