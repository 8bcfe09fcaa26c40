"""An XPlane file's bytes as a forward-only protobuf stream: plain or gzipped, read in blocks,
never whole, with the decompressed size capped (`Limits.max_bytes`, a gzip bomb stops there).

Why forward-only blocks: a 1 GB XPlane must not be in memory even once. The reader visits a
file twice (`xplane_layout` finds the planes, lines and metadata, skipping the events;
`xplane_lines` then decodes the wanted lines), and each visit reads forward, so a plain file
is read with seeks and a gzipped one is inflated twice rather than kept. Inflating is
`traces.bounded_read.gunzip_pieces`, the project's one inflater (ISA-L where installed, zlib
otherwise; concatenated members, damaged and truncated files as the Chrome reader has them).
`on_read` hears the stored (compressed) bytes read, for progress and cancellation.

This is the project's one protobuf wire decoder, standard library only: `message_fields` and
`varint_at` read messages held in memory (the XPlane layout's metadata, the HLO modules of
`traces.hlo_modules`, the capture checks of `profilers.artifact_checks`), `WireStream` a file.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from traces.bounded_read import GZIP_MAGIC, bomb, gunzip_pieces
from traces.table import TraceError

BLOCK = 8 << 20  # bytes of a plain file read at a time
Buffer = TypeVar("Buffer", bytes, memoryview)  # message_fields' slices are of the type it is given


class Malformed(Exception):
    """Raised inside the decoders; the reader turns it into a TraceError naming the file."""


class WireStream:
    """Decompressed bytes of one file at absolute offsets, `pos` the cursor."""

    def __init__(self, path: Path, max_bytes: int, on_read: Callable[[int], None] | None = None) -> None:
        self.path, self.max_bytes, self.on_read = path, max_bytes, on_read
        try:
            self._f = open(path, "rb")  # noqa: SIM115  (closed by close(), the stream outlives a with block)
            self.stored_size = os.fstat(self._f.fileno()).st_size
            self.gzip = self._f.read(2) == GZIP_MAGIC
            self._f.seek(0)
        except OSError as exc:
            raise TraceError(path, f"cannot be read ({exc.strerror or exc})") from None
        if self.stored_size == 0:
            self.close()
            raise TraceError(path, "is empty")
        if not self.gzip and self.stored_size > max_bytes:
            self.close()
            raise TraceError(path, f"is {self.stored_size:,} bytes, over the {max_bytes:,}-byte limit (raise Limits.max_bytes)")
        self.buf = b""
        self.base = 0  # absolute offset of buf[0]
        self.pos = 0
        self._eof = False
        self._pieces = gunzip_pieces(self._f, path) if self.gzip else None
        self._inflated = 0

    def close(self) -> None:
        self._f.close()

    # -- filling the buffer ------------------------------------------------------------
    def _block(self) -> bytes:
        """The next block of decompressed bytes (b"" at the end): BLOCK bytes of a plain file, one
        inflated piece of a gzipped one (`INFLATE_PIECE`, cache-sized), handed on as it is, since
        `fill` joins what it needs anyway (joining pieces into blocks first cost a second copy)."""
        if self._pieces is None:
            data = self._f.read(BLOCK)
            self.report()
            return data
        piece = next(self._pieces, b"")
        self._inflated += len(piece)
        if self._inflated > self.max_bytes:
            raise bomb(self.path, self.max_bytes)
        self.report()
        return piece

    def report(self) -> None:
        """Tell `on_read` how many stored (compressed) bytes are read so far."""
        if self.on_read is not None:
            self.on_read(self._f.tell())

    def fill(self, n: int) -> bool:
        """Make buf hold [pos, pos + n) if the file has it; False when it ends sooner."""
        have = self.base + len(self.buf) - self.pos
        if have >= n:
            return True
        parts = [self.buf[self.pos - self.base:]] if have > 0 else []
        self.base = self.pos if have > 0 else self.base + len(self.buf)
        while have < n and not self._eof:
            block = self._block()
            if not block:
                self._eof = True
                break
            parts.append(block)
            have += len(block)
        self.buf = b"".join(parts)
        if self.base > self.pos:  # the cursor was past what we had (a skip): drop the bytes before it
            raise AssertionError("cursor behind the buffer")
        return have >= n

    def need(self, n: int) -> None:
        if not self.fill(n):
            raise Malformed("it ends inside a message")

    def at_end(self) -> bool:
        return not self.fill(1)

    # -- moving ------------------------------------------------------------------------
    def skip_to(self, target: int) -> None:
        """Move the cursor forward to `target`, reading past what lies between only when gzipped."""
        if target < self.pos:
            raise Malformed("a length points backwards")
        end = self.base + len(self.buf)
        if target <= end:
            self.pos = target
            return
        if self.gzip:
            self.pos = end
            self.buf, self.base = b"", end
            while self.base < target:
                block = self._block()
                if not block:
                    raise Malformed("it ends inside a message")
                if self.base + len(block) > target:
                    self.buf = block
                    break
                self.base += len(block)
        else:
            if target > self.stored_size:
                raise Malformed("it ends inside a message")
            self._f.seek(target)
            self.buf, self.base = b"", target
            self._eof = False
        self.pos = target

    # -- reading -----------------------------------------------------------------------
    def varint(self) -> int:
        """An unsigned varint at the cursor (up to 10 bytes)."""
        self.fill(10)
        value, after = varint_at(self.buf, self.pos - self.base)
        self.pos = self.base + after
        return value

    def take(self, n: int) -> bytes:
        self.need(n)
        i = self.pos - self.base
        self.pos += n
        return self.buf[i:i + n]

    def fields(self, end: int | None) -> Iterator[tuple[int, int]]:
        """(field number, wire type) of each field until `end` (None: the end of the file); the
        caller reads or skips each value (`value`, `skip_value`) before the next."""
        while (self.pos < end) if end is not None else not self.at_end():
            tag = self.varint()
            number, wire = tag >> 3, tag & 7
            if number == 0 or wire in (3, 4, 6, 7):
                raise Malformed(f"field {number} has wire type {wire}")
            yield number, wire
            if end is not None and self.pos > end:
                raise Malformed("a field runs past the end of its message")

    def length(self, end: int | None) -> int:
        """A length-delimited field's length, checked against the enclosing message's end."""
        n = self.varint()
        if end is not None and self.pos + n > end:
            raise Malformed("a field runs past the end of its message")
        return n

    def field_end(self, end: int | None) -> int:
        """Where the length-delimited field at the cursor ends (the cursor moves past its length)."""
        n = self.length(end)
        return self.pos + n

    def skip_value(self, wire: int, end: int | None) -> None:
        if wire == 0:
            self.varint()
        elif wire == 1:
            self.skip_to(self.pos + 8)
        elif wire == 5:
            self.skip_to(self.pos + 4)
        else:
            self.skip_to(self.field_end(end))


def signed(value: int) -> int:
    """An int64 field's value from its unsigned varint."""
    return value - (1 << 64) if value >= 1 << 63 else value


def message_fields(data: Buffer) -> Iterator[tuple[int, int, int | Buffer]]:
    """(number, wire type, value) of a message held in memory: ints for varint and fixed fields,
    a slice of `data` for length-delimited ones (a memoryview's slices copy nothing, for nested
    messages of a large buffer). One-byte varints, most of them, are read in line."""
    i, n = 0, len(data)
    while i < n:
        tag = data[i]
        tag, i = (tag, i + 1) if tag < 0x80 else varint_at(data, i)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value = data[i] if i < n else 0x80
            value, i = (value, i + 1) if value < 0x80 else varint_at(data, i)
            yield number, wire, value
        elif wire == 2:
            size = data[i] if i < n else 0x80
            size, i = (size, i + 1) if size < 0x80 else varint_at(data, i)
            if i + size > n:
                raise Malformed("a field runs past the end of its message")
            yield number, wire, data[i:i + size]
            i += size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if i + width > n:
                raise Malformed("a field runs past the end of its message")
            yield number, wire, int.from_bytes(data[i:i + width], "little")
            i += width
        else:
            raise Malformed(f"field {number} has wire type {wire}")


def varint_at(data: bytes | memoryview, i: int) -> tuple[int, int]:
    """The unsigned varint at `data[i]` (up to 10 bytes) and the offset just past it."""
    shift = result = 0
    for k in range(10):
        if i + k >= len(data):
            raise Malformed("it ends inside a number")
        b = data[i + k]
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & ((1 << 64) - 1), i + k + 1
        shift += 7
    raise Malformed("a number runs past 10 bytes")
