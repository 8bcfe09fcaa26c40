"""A trace file's decompressed bytes as a stream of pieces, for the Chrome reader's stream
(`traces.stream_decode`): plain, or gzip across concatenated members (`bounded_read`), never
held whole. The decompressed total is capped by `Limits.max_bytes` (a gzip bomb stops there,
holding one piece), progress is the file's bytes as stored (compressed for a .gz) consumed so
far, and a cancel raises at the next piece. A plain file's bytes can also be read straight
into the reader's buffer (`read_into`), with no piece made and copied: ~0.07 CPU-s less per GB;
so can a gzip's, inflated there by ISA-L (`traces/gzip_into.pyx`) where that module is built.

Inflating (ISA-L's where installed, `bounded_read.new_member`) stays on the reading thread.
Measured with zlib on the 1M-event bench trace gzipped at level 6 (inflating is 0.24 of its
0.85 CPU-s), on 2 cores: a thread inflating a few pieces ahead (zlib releases the GIL inside
inflate) cut the wall time by 1-7 % for 5-10 % more CPU, as msgspec holds the GIL through
every chunk and zlib takes it back between its inflate calls, each time waiting for a switch;
a child process inflating into a pipe made the read 35 % slower (pipe reads and copies on the
decoding side).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from io import BufferedReader
from pathlib import Path
from types import TracebackType

from traces.bounded_read import GZIP_MAGIC, PIECE, bomb, gunzip_pieces, over_limit
from traces.gzip_into_glue import GzipInto, damaged, inflater_into
from traces.progress import Progress
from traces.table import Limits, TraceError


class TraceStream:
    """`for piece in stream` gives the decompressed bytes; use it as a context manager so the
    file is let go however the reading ends."""

    def __init__(self, path: Path, limits: Limits, progress: Progress | None = None) -> None:
        self.path, self.limits, self.progress = path, limits, progress
        self.decompressed = 0
        self._inflater: GzipInto | None = None  # a gzip's, inflating into the reader's buffer
        try:
            self._file: BufferedReader = open(path, "rb")  # closed by close()
            self.size = os.fstat(self._file.fileno()).st_size
            self.gzip = self._file.read(2) == GZIP_MAGIC
            self._file.seek(0)
        except OSError as exc:
            raise TraceError(path, f"cannot be read ({exc.strerror or exc})") from None

    def __enter__(self) -> TraceStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._gunzipped() if self.gzip else self._plain()
        except OSError as exc:
            raise TraceError(self.path, f"cannot be read ({exc.strerror or exc})") from None

    def _plain(self) -> Iterator[bytes]:
        self._check_size()
        while piece := self._file.read(PIECE):
            self._count(len(piece), self._file.tell())
            yield piece

    def read_into(self, room: memoryview) -> int | None:
        """The file's next bytes (at most a PIECE), read or inflated straight into `room`, with
        no piece made and copied: how many (0 at the end). None where the bytes come as pieces
        only: a gzip where `traces/gzip_into.pyx` is not built, or a subclass that gives pieces
        of its own (`__iter__`)."""
        if type(self).__iter__ is not TraceStream.__iter__:
            return None
        if self.gzip and self._inflater is None:
            if self.decompressed or (inflater := inflater_into(self._file.read)) is None:
                return None
            self._inflater = inflater
        if not self.decompressed and not self.gzip:
            self._check_size()
        try:
            with room[:PIECE] as part:
                n = self._inflater.read_into(part) if self._inflater is not None else self._file.readinto(part)
        except OSError as exc:
            raise TraceError(self.path, f"cannot be read ({exc.strerror or exc})") from None
        except ValueError as exc:  # the inflater's GzipDamaged / GzipTruncated
            raise damaged(self.path, exc) from None
        if n:
            self._count(n, self._file.tell())
        return n

    def _check_size(self) -> None:
        if self.size > self.limits.max_bytes:
            raise over_limit(self.path, self.size, self.limits.max_bytes)

    def _gunzipped(self) -> Iterator[bytes]:
        for piece in gunzip_pieces(self._file, self.path):
            self._count(len(piece), self._file.tell())
            yield piece

    def _count(self, n: int, at: int) -> None:
        self.decompressed += n
        if self.decompressed > self.limits.max_bytes:
            raise (bomb(self.path, self.limits.max_bytes) if self.gzip else
                   over_limit(self.path, self.decompressed, self.limits.max_bytes))
        if self.progress is not None:
            self.progress.advance(at, self.path)
