"""gzip inflated by ISA-L straight into the stream's buffer (`traces/gzip_into.pyx`) gives the
bytes and the refusals that inflating in pieces (`bounded_read.gunzip_pieces`) gives, for every
way a file's members, padding, headers and damage can fall across reads and buffers."""
from __future__ import annotations

import gzip
import io
import os
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traces import gzip_into_glue
from traces.bounded_read import gunzip_pieces
from traces.readers import read_trace
from traces.table import TraceError

pytestmark = pytest.mark.skipif(gzip_into_glue.gzip_into is None, reason="traces/gzip_into.pyx is not built here")


def pieces_path(data: bytes) -> bytes | str:
    """What inflating in pieces gives: the bytes, or the error's words."""
    try:
        return b"".join(gunzip_pieces(io.BytesIO(data), Path("t.gz")))
    except TraceError as exc:
        return str(exc)


def into_path(data: bytes, read_size: int = 1 << 20, room: int = 1 << 20) -> bytes | str:
    """What inflating into a buffer gives, reading `read_size` compressed bytes at a time into
    rooms of `room` bytes: the bytes, or the error's words."""
    f = io.BytesIO(data)
    inflater = gzip_into_glue.gzip_into.GzipInto(f.read, read_size)
    buf, out = bytearray(room), bytearray()
    try:
        while n := inflater.read_into(buf):
            assert 0 < n <= room
            out += buf[:n]
    except ValueError as exc:
        return str(gzip_into_glue.damaged(Path("t.gz"), exc))
    return bytes(out)


def header_with_every_flag(payload: bytes) -> bytes:
    """A gzip member whose header has FEXTRA, FNAME, FCOMMENT and FHCRC (what `gzip` never writes)."""
    extra = b"AB" + struct.pack("<H", 3) + b"xyz"
    head = b"\x1f\x8b\x08" + bytes([0x02 | 0x04 | 0x08 | 0x10]) + b"\0\0\0\0\0\xff" + struct.pack("<H", len(extra)) + extra
    head += b"trace.json\0" + b"a comment\0"
    head += struct.pack("<H", zlib.crc32(head) & 0xFFFF)
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = c.compress(payload) + c.flush()
    return head + body + struct.pack("<II", zlib.crc32(payload), len(payload) & 0xFFFFFFFF)


TEXT = b"".join(b'{"ph": "X", "name": "op%d", "ts": %d.123, "dur": 3},\n' % (i % 97, i) for i in range(20_000))
NOISE = os.urandom(300_000)


def shapes(text: bytes, noise: bytes) -> dict[str, bytes]:
    return {
        "one member": gzip.compress(text),
        "members and padding": gzip.compress(text[:5000]) + b"\0" * 100 + gzip.compress(noise) + gzip.compress(b"") + b"\0" * 7,
        "every header flag": header_with_every_flag(text) + gzip.compress(b"tail"),
        "many small members": b"".join(gzip.compress(text[i:i + 700]) for i in range(0, min(len(text), 60_000), 700)),
        "stored blocks": gzip.compress(noise, 0),
    }


SHAPES = shapes(TEXT, NOISE)
SMALL_SHAPES = shapes(TEXT[:20_000], NOISE[:30_000])  # for the byte-at-a-time rooms


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize(("read_size", "room"), [(1 << 20, 1 << 20), (1, 1 << 16), (7, 5), (4096, 1)])
def test_the_same_bytes_however_reads_and_buffers_fall(shape: str, read_size: int, room: int) -> None:
    data = (SMALL_SHAPES if room < 16 else SHAPES)[shape]
    want = pieces_path(data)
    assert isinstance(want, bytes)
    assert into_path(data, read_size, room) == want


@pytest.mark.parametrize("damage", ["cut in the body", "cut in the trailer", "cut after a magic byte", "crc flipped",
                                    "length flipped", "body flipped", "junk after a member", "a bare magic"])
def test_the_same_refusal_for_the_same_damage(damage: str) -> None:
    good = gzip.compress(TEXT) + gzip.compress(b"second")
    first = len(gzip.compress(TEXT))
    data = bytearray(good)
    if damage == "cut in the body":
        data = data[:first // 2]
    elif damage == "cut in the trailer":
        data = data[:first - 3]
    elif damage == "cut after a magic byte":
        data = data[:first + 1]
    elif damage == "crc flipped":
        data[first - 8] ^= 0xFF
    elif damage == "length flipped":
        data[first - 2] ^= 0x01
    elif damage == "body flipped":
        data[first // 3] ^= 0xFF
    elif damage == "junk after a member":
        data = data[:first] + b"PK\x03\x04 not gzip"
    else:
        data = b"\x1f\x8b"
    want, got = pieces_path(bytes(data)), into_path(bytes(data), 4096, 1 << 16)
    assert isinstance(want, str) and isinstance(got, str), (want, got)
    kind = "truncated gzip" if "truncated" in want else "damaged gzip"
    assert kind in got, (want, got)
    if "truncated" in want or "not a gzip member" in want:
        assert got == want


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400), st.integers(1, 64), st.integers(1, 64))
def test_random_bytes_after_a_magic_never_crash(payload: bytes, read_size: int, room: int) -> None:
    got = into_path(b"\x1f\x8b" + payload, read_size, room)
    want = pieces_path(b"\x1f\x8b" + payload)
    assert isinstance(got, str) == isinstance(want, str), (got, want)
    if isinstance(want, bytes):
        assert got == want


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=3000), min_size=1, max_size=4), st.integers(0, 3), st.data())
def test_random_members_with_padding_read_as_one_stream(parts: list[bytes], pad: int, data: st.DataObject) -> None:
    raw = b"".join(gzip.compress(p, data.draw(st.integers(0, 9))) + b"\0" * pad for p in parts)
    got = into_path(raw, data.draw(st.integers(1, 300)), data.draw(st.integers(1, 5000)))
    assert got == b"".join(parts)


def test_a_gzipped_trace_reads_the_same_table_either_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    events = b",".join(b'{"ph": "X", "cat": "kernel", "name": "k%d", "pid": 0, "tid": 7, "ts": 1697051443%06d.%03d, '
                       b'"dur": 2.5, "args": {"correlation": %d}}' % (i % 13, i, i % 1000, i) for i in range(40_000))
    text = b'{"traceEvents": [' + events + b"]}"
    path = tmp_path / "t.json.gz"
    path.write_bytes(gzip.compress(text[:len(text) // 2], 1) + gzip.compress(text[len(text) // 2:], 9))
    direct = read_trace(path)
    monkeypatch.setattr(gzip_into_glue, "ENABLED", False)
    pieces = read_trace(path)
    assert len(direct) == len(pieces) == 40_000 and direct.strings == pieces.strings
    for column in ("start_ns", "dur_ns", "name", "row", "args", "link_src", "link_dst"):
        assert (getattr(direct, column) == getattr(pieces, column)).all(), column
