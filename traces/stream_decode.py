"""Chrome-trace JSON decoded as a stream of pieces (`traces.stream_source`), never held whole:
memory is a few MiB of text plus the columns (`traces.stream_columns`), whatever the file's size.

The walk: the head is checked as the whole-file path checks it (`chrome_reader`); the
traceEvents array is found from the first `"traceEvents": [` (or a leading "[", Chrome's
"JSON array format"), everything before it kept (at most `event_span.MAX_OUTSIDE`); the events
are decoded in chunks of CHUNK_BYTES cut between two events (`json_decoders.SPLIT`), as the
text arrives, a round of a few MiB at a time. A chunk that does not decode was cut inside an
event (a list of objects in its args: it is cut at the next boundary instead) or inside a
string (`"a}, {b"`: after a few of those, twice as long), or holds the array's end. At the
end of the file the array's "]" is found among the last ones and proven as
`event_span.find_events` proves it: the document decoded with a marker in the array's place
must give the marker back as its top-level traceEvents (which also yields the top-level keys
before and after the array), and the events up to it must decode. A cut-off array (no "]")
ends where `decode.closed_array` closes it.

The text lives in one buffer reused in place: a plain file is read straight into it
(`TraceStream.read_into`), other pieces are copied in, and what the rounds consumed is dropped
only when the room runs short, by moving the unread tail (less than a chunk) to the front.
(Appending to a bytearray and deleting its head reallocated and copied the text held at
most steps.)

What the stream cannot read the whole-file path can, or names the problem exactly: anything
odd raises `NeedWhole` (values the typed structs refuse, invalid JSON, a guess that is not
proven, 16 MiB before or after the array, 64 MiB without an event boundary), and the caller
reads the file whole (`chrome_reader`), which costs memory but is never the path of a
well-formed Kineto, jax or Perfetto trace.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from traces.decode import Columns
from traces.event_span import _EVENTS_KEY, _MARK, MAX_OUTSIDE
from traces.json_decoders import CHUNK_BYTES, SPLIT, TOP_KEYS, chunk, msgspec, top_decoder
from traces.stream_columns import NeedWhole, StreamColumns
from traces.stream_events import Text, decode
from traces.table import Limits, TraceError

__all__ = ["NeedWhole", "check_head", "decode_stream"]

ROUND_BYTES = 2 << 20  # text decoded between two rounds (`StreamColumns.end_round`): ~7k Kineto GPU events
# the compiled step's chunks (`StreamColumns.scan`): 8x msgspec's, as its cost per chunk (a call, its
# arrays, the round's lists) is all it saves: 2 GB gzipped Kineto trace, 10 interleaved fresh-process
# pairs, CPU ratio 0.895 (median; every pair lower) against 128 KiB; 2 MiB the same as 1 MiB
SCAN_CHUNK_BYTES = 1 << 20
HOLD_BYTES = 64 << 20  # text held without an event boundary in it before giving up on the stream
LAST_BYTES = 16 << 20  # the events after the last round, decoded as one chunk when no longer than this
RETRIES = 4  # chunks cut at the next boundary before the chunk is made twice as long
ENDS_TRIED = 64  # "]"s from the end tried as the array's end (the whole-file path tries 4, then scans the file)
HEAD_BYTES = 512  # what the head checks look at
BOM = b"\xef\xbb\xbf"
BUFFER_BYTES = 4 << 20  # the text buffer's first size: rounds, the pieces read ahead, a tail moved back
ROOM_BYTES = 1 << 20  # the free room a read into the buffer is given (`TraceStream.read_into` reads a PIECE)
_SPACE = re.compile(rb"[ \t\r\n]*")


def check_head(head: bytes, where: object, complete: bool) -> None:
    """The whole-file path's first checks (`chrome_reader.read_chrome_data`) on the first
    HEADER_BYTES; `complete`: `head` is the whole file. NeedWhole when only the whole file can
    tell (64 bytes of whitespace and more to come)."""
    if complete and (not head or head.isspace()):
        raise TraceError(where, "is empty")
    start = head[:64].lstrip(BOM + b" \t\r\n")
    if start[:1] not in (b"{", b"["):
        if not complete and not head[:64].lstrip(BOM + b" \t\r\n\x0b\x0c"):
            raise NeedWhole("only whitespace in the first 64 bytes")
        kind = "binary data" if b"\x00" in head[:512] else "text that is not JSON"
        raise TraceError(where, f"is not a trace: {kind} (expected Chrome-trace JSON, plain or gzipped, or an .xplane.pb)")


def decode_stream(pieces: Iterable[bytes], where: object, limits: Limits) -> Columns:
    """Columns of the Chrome trace whose decompressed text `pieces` gives; NeedWhole when the
    whole-file path must read it instead."""
    if msgspec is None:
        raise NeedWhole("msgspec is not installed")
    return _Walk(pieces, where, limits).run()


class _Walk:
    def __init__(self, pieces: Iterable[bytes], where: object, limits: Limits) -> None:
        self.pieces = iter(pieces)
        self.read_into: Callable[[memoryview], int | None] | None = getattr(pieces, "read_into", None)
        self.where = where
        self.buf = bytearray(BUFFER_BYTES)  # the text is buf[:end]; the rest is room
        self.end = 0
        self.eof = False
        self.acc = StreamColumns(where, limits.max_events, limits.max_string)
        # read at each call: tests shrink this module's CHUNK_BYTES and SCAN_CHUNK_BYTES
        self.chunk_bytes = CHUNK_BYTES if self.acc.scanner is None else SCAN_CHUNK_BYTES
        self.prefix: bytes | None = None  # the text before the array's "[" (None: the array format)

    def _more(self) -> bool:
        """The next piece appended to the text; False at the end of the file."""
        if self.eof:
            return False
        if self.read_into is not None:
            self._room(ROOM_BYTES)
            with memoryview(self.buf) as view, view[self.end:] as room:
                n = self.read_into(room)
            if n is not None:
                self.end += n
                self.eof = not n
                return bool(n)
            self.read_into = None  # this stream gives pieces
        piece = next(self.pieces, None)
        if piece is None:
            self.eof = True
            return False
        self._room(len(piece))
        self.buf[self.end:self.end + len(piece)] = piece
        self.end += len(piece)
        return True

    def _room(self, n: int) -> None:
        """At least `n` bytes free after the text (the buffer doubled when short)."""
        if self.end + n > len(self.buf):
            self.buf += bytes(max(n, len(self.buf)))

    def _drop(self, n: int) -> None:
        """The text's first `n` bytes dropped: the rest moved to the front."""
        if n:
            with memoryview(self.buf) as view:
                view[:self.end - n] = view[n:self.end]
            self.end -= n

    def _compact(self, pos: int) -> int:
        """The text before `pos` dropped but its last byte (`_chunk` writes a "[" there); where
        `pos` is now."""
        drop = max(pos - 1, 0)
        self._drop(drop)
        return pos - drop

    def _text(self, a: int, b: int) -> bytes:
        return bytes(self.buf[a:min(b, self.end)])

    def run(self) -> Columns:
        pos = self._head()
        need = ROUND_BYTES
        while True:
            while self.end - pos < need and self._more():
                pass
            if self.eof:
                return self._finish(pos)
            pos = _SPACE.match(self.buf, pos, self.end).end()  # type: ignore[union-attr]  # always matches
            before = pos
            pos, ok = self._walk(pos, None)
            self.acc.end_round(self.buf)
            if not ok:
                return self._finish(pos)
            held = self.end - pos
            if held > HOLD_BYTES:
                raise NeedWhole("no event boundary in 64 MiB")
            need = ROUND_BYTES if pos > before else held + 1  # nothing decoded: one event longer than the text held
            if pos + need + ROOM_BYTES > len(self.buf):  # the next round would not fit: the tail to the front
                pos = self._compact(pos)

    def _head(self) -> int:
        """Check the head; keep the text before the array; where the events begin."""
        while self.end < HEAD_BYTES and self._more():
            pass
        check_head(self._text(0, HEAD_BYTES), self.where, self.eof)
        if self._text(0, 3) == BOM:
            self._drop(3)
        if self._text(0, 64).lstrip()[:1] != b"{":
            begin = _SPACE.match(self.buf, 0, self.end).end()  # type: ignore[union-attr]  # always matches
            if self._text(begin, begin + 1) != b"[":
                raise NeedWhole("neither an object nor an array")
            return begin + 1
        while (m := _EVENTS_KEY.search(self.buf, 0, self.end)) is None:
            if self.end > MAX_OUTSIDE or not self._more():
                raise NeedWhole("no traceEvents key near the start")
        self.prefix = bytes(self.buf[:m.end() - 1])
        return m.end()

    def _walk(self, pos: int, end: int | None) -> tuple[int, bool]:
        """Decode chunks from `pos` (an event's start): up to `end`, the array's end, or (None)
        as far as the text read so far holds whole events. (where it stopped, False when a
        chunk would not decode however it was cut.) A chunk that does not decode is cut at the
        next boundary instead (the one tried was inside an event: a list of objects in its
        args), and after RETRIES of those twice as long (a string full of "}, {")."""
        while True:
            limit = self.end if end is None else end
            if limit <= pos:
                return pos, True
            size, tries, after = self.chunk_bytes, 0, pos + self.chunk_bytes
            while True:
                m = SPLIT.search(self.buf, after, limit) if limit > after else None
                if m is None and end is None:
                    if not tries:
                        return pos, True  # the rest waits for more text
                    if limit - pos > HOLD_BYTES or not self._more():
                        return pos, False
                    limit = self.end
                    continue
                cut, nxt = (m.start() + 1, m.end() - 1) if m is not None else (limit, limit)
                got = self._chunk(pos, cut)
                if got:
                    pos = nxt
                    break
                if got is None:
                    raise NeedWhole("values the typed decoder refuses")
                if m is None:
                    return pos, False
                tries += 1
                if tries % RETRIES:
                    after = cut + 1
                else:
                    size *= 2
                    after = max(cut + 1, pos + size)

    def _chunk(self, pos: int, cut: int) -> bool | None:
        """Decode `buf[pos:cut]` into the columns: True; False when it is not valid JSON (cut
        in the wrong place, or bad data), None when its values do not fit the typed structs."""
        buf = self.buf
        if self.acc.scan(buf, pos, cut):  # the compiled step, where it is built and takes the chunk
            return True
        if 0 < pos and cut < len(buf):  # no copy: "[" and "]" written over the bytes around the events, then restored
            around = buf[pos - 1], buf[cut]
            buf[pos - 1], buf[cut] = 0x5B, 0x5D
            try:  # the structs' Raw fields hold the view until they are freed (a context manager would refuse)
                return self._add(memoryview(buf)[pos - 1:cut + 1], pos, cut)
            finally:
                buf[pos - 1], buf[cut] = around
        with memoryview(buf) as view:
            return self._add(chunk(view, pos, cut), pos, cut)

    def _add(self, text: Text, pos: int, cut: int) -> bool | None:
        """`_chunk` for the chunk's text as a JSON array."""
        try:
            events, float_dur = decode(text)
        except msgspec.ValidationError:
            return None
        except msgspec.DecodeError:  # a ValueError too: before it
            return False
        except ValueError:
            return None
        except RecursionError:
            raise TraceError(self.where, "JSON nested too deeply to be a trace") from None
        self.acc.add(events, pos, cut, float_dur)
        return True

    def _finish(self, pos: int) -> Columns:
        """The rest of the file (bounded) is read; the array's end found; the last events decoded."""
        pos = self._compact(pos)
        while self._more():
            if self.end - pos > HOLD_BYTES + MAX_OUTSIDE:
                raise NeedWhole("too much text after the last event boundary")
        ends = [(self._array_end(pos), {})] if self.prefix is None else self._object_ends(pos, self.prefix)
        pos = _SPACE.match(self.buf, pos, self.end).end()  # type: ignore[union-attr]  # always matches
        for end, top in ends:
            if end - pos <= LAST_BYTES:  # one chunk: if it does not decode, that "]" closed something after the array
                got = self._chunk(pos, end)
                if got is None:
                    raise NeedWhole("values the typed decoder refuses")
                if not got:
                    continue
            elif not self._walk(pos, end)[1]:
                raise NeedWhole("a chunk at the end does not decode")
            self.acc.end_round(self.buf)
            return self.acc.columns(top)
        raise NeedWhole("the end of the event array is not proven")

    def _array_end(self, pos: int) -> int:
        """The array format's "]"; for a cut-off array (no "]"), the end of its last event, as
        `decode.closed_array` closes it."""
        rest = self._text(pos, self.end)
        body = rest.rstrip(b" \t\r\n")
        if body[-1:] == b"]":
            return pos + len(body) - 1
        if rest.rstrip()[-1:] == b"]":  # "]" and then a form feed: the whole-file path says what that is
            raise NeedWhole("odd whitespace after the array")
        return pos + len(rest.rstrip().rstrip(b", \t\r\n"))

    def _object_ends(self, pos: int, prefix: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
        """The "]"s that may end the array, last first, each proven with the marker as
        `event_span.find_events` proves its guess, with the top-level keys around it. Tried
        from the end: what follows the array is short, but may hold many "]"."""
        stop = self.end
        for _ in range(ENDS_TRIED):
            end = self.buf.rfind(b"]", pos, stop)
            if end < 0 or len(prefix) + self.end - end > MAX_OUTSIDE:
                return
            stop = end
            suffix = self._text(end + 1, self.end)
            if _MARK in prefix or _MARK in suffix:
                return
            try:
                doc = top_decoder.decode(b"".join((prefix, _MARK, suffix)))
            except (msgspec.DecodeError, ValueError):
                continue  # that "]" was inside something after the array: try the one before
            if bytes(doc.traceEvents) != _MARK:
                return  # the key was not the top-level one (or is there twice)
            yield end, {k: getattr(doc, k) for k in TOP_KEYS}
