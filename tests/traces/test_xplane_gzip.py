"""A gzipped XPlane inflated by the project's one inflater (`traces.bounded_read`): ISA-L where
installed, zlib otherwise, concatenated members and zero padding read as one stream, damage and
truncation one line each, a bomb refused holding a block, not the cap, by both the streaming
reader (`WireStream`) and the HLO modules' reader (`read_hlo_index`)."""
from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.traces.test_xplane_real import canon
from traces import bounded_read
from traces.hlo_modules import read_hlo_index
from traces.table import Limits, TraceError
from traces.xplane_reader import read_xplane
from traces.xplane_write import LEN, key, varint

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "traces"
MiB = 1 << 20
REAL = gzip.decompress((DATA / "jax_mlp.xplane.pb.gz").read_bytes())  # carries HLO modules


def members(data: bytes) -> bytes:
    """`data` as two gzip members cut mid-message, zero padding between and after (as `cat`,
    pigz or bgzip-style writers leave it)."""
    cut = len(data) // 3
    return gzip.compress(data[:cut], 1) + bytes(100) + gzip.compress(data[cut:], 6) + bytes(7)


@pytest.fixture(params=["isal", "zlib"])
def inflater(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test once with ISA-L (where installed) and once with zlib forced, as a machine without `isal` has it."""
    if request.param == "isal" and bounded_read.igzip_lib is None:
        pytest.skip("isal is not installed here")
    if request.param == "zlib":
        monkeypatch.setattr(bounded_read, "igzip_lib", None)
        monkeypatch.setattr(bounded_read, "INFLATE_PIECE", bounded_read.PIECE)
    return str(request.param)


@pytest.fixture
def small_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compressed reads of 1 KiB, so inflated pieces of a few: member boundaries fall inside what
    one `fill` joins, and skipped events span many pieces."""
    monkeypatch.setattr(bounded_read, "CHUNK", 1024)


def one_line_error(read: Callable[[], Any], where: str, match: str) -> str:
    with pytest.raises(TraceError) as info:
        read()
    message = str(info.value)
    assert "\n" not in message and message.startswith(where) and match in message, message
    return message


def test_members_and_padding_read_the_same_table_as_the_plain_file(tmp_path: Path, inflater: str,
                                                                   small_pieces: None) -> None:
    plain, gz = tmp_path / "host.xplane.pb", tmp_path / "host.xplane.pb.gz"
    plain.write_bytes(REAL)
    gz.write_bytes(members(REAL))
    expected = canon(read_xplane(plain))
    assert len(expected) > 100 and canon(read_xplane(gz)) == expected


def test_the_stream_inflates_through_the_one_inflater(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ISA-L's speed (where installed) reaches XPlanes too: every member comes from `new_member`."""
    made: list[object] = []
    original = bounded_read.new_member

    def counted() -> bounded_read.Member:
        made.append(member := original())
        return member

    monkeypatch.setattr(bounded_read, "new_member", counted)
    gz = tmp_path / "host.xplane.pb.gz"
    gz.write_bytes(members(REAL))
    assert len(read_xplane(gz)) > 100
    assert len(made) == 4  # two members, each inflated on both visits (layout, then lines)
    if bounded_read.igzip_lib is not None:
        assert all(isinstance(m, bounded_read.igzip_lib.IgzipDecompressor) for m in made)


def test_hlo_modules_of_members_and_padding_are_the_plain_files(inflater: str) -> None:
    expected = read_hlo_index(REAL)
    assert len(expected) == 519
    got = read_hlo_index(members(REAL))
    assert got.ops == expected.ops and got.modules == expected.modules


def damaged(data: bytes) -> bytes:
    """The last member's CRC broken: every byte inflates, the check at its end fails."""
    raw = bytearray(members(data))
    raw[-7 - 8] ^= 0xFF  # the padding, then the trailer: CRC32 (4 bytes), ISIZE (4 bytes)
    return bytes(raw)


@pytest.mark.parametrize(("mangle", "match"), [
    (lambda data: members(data)[:-300], "is a truncated gzip file (it ends before the end of the compressed data)"),
    (damaged, "is a damaged gzip file ("),
    (lambda data: gzip.compress(data) + b"PK\x03\x04 not gzip", "is a damaged gzip file ("),
])
def test_truncated_and_damaged_xplanes_are_one_line(tmp_path: Path, inflater: str, mangle: Callable[[bytes], bytes],
                                                    match: str) -> None:
    path = tmp_path / "bad.xplane.pb.gz"
    path.write_bytes(mangle(REAL))
    one_line_error(lambda: read_xplane(path), str(path), match)
    one_line_error(lambda: read_hlo_index(path.read_bytes(), "bad.xplane.pb.gz"), "bad.xplane.pb.gz", match)


def big_field_gzip(path: Path, size: int) -> Path:
    """An XSpace of one unknown length-delimited field of `size` zero bytes: valid protobuf all
    the way, so only the decompressed cap stops it (~size / 1000 bytes on disk)."""
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    block = bytes(16 * MiB)
    with open(path, "wb") as f:
        f.write(c.compress(key(9, LEN) + varint(size)))
        for _ in range(size // len(block)):
            f.write(c.compress(block))
        f.write(c.flush())
    return path


def peak_traced(read: Callable[[], Any]) -> tuple[str, int]:
    """The TraceError `read` raises and the peak of Python allocations meanwhile."""
    tracemalloc.start()
    try:
        with pytest.raises(TraceError) as info:
            read()
        return str(info.value), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_bomb_stops_the_stream_holding_a_few_pieces(tmp_path: Path, inflater: str) -> None:
    path = big_field_gzip(tmp_path / "bomb.xplane.pb.gz", 256 * MiB)
    message, peak = peak_traced(lambda: read_xplane(path, Limits(max_bytes=128 * MiB)))
    assert message.startswith(str(path)) and "expands past the 134,217,728-byte limit when decompressed" in message
    # a piece or two and the compressed chunk (~2.3 MB with ISA-L, ~5.3 MB with zlib; 27 MB when
    # pieces were joined into 8 MiB blocks), never the cap
    assert peak < 8 * MiB, f"{peak:,} bytes held to refuse a bomb"


def test_a_bomb_stops_the_hlo_modules_at_the_cap(tmp_path: Path) -> None:
    data = big_field_gzip(tmp_path / "bomb.xplane.pb.gz", 256 * MiB).read_bytes()
    message, peak = peak_traced(lambda: read_hlo_index(data, "bomb.xplane.pb.gz", max_bytes=4 * MiB))
    assert message == "bomb.xplane.pb.gz: expands past the 4,194,304-byte limit when decompressed (a gzip bomb)"
    assert peak < 4 * MiB + 2 * bounded_read.PIECE + 2 * MiB  # the cap and a piece, never the 256 MiB
