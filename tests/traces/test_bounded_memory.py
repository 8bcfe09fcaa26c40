"""Decompression with memory bounded by what the parser needs: a gzip bomb is refused holding
one piece, not the cap; a lying trailer cannot make it allocate more; a real file lands in one
buffer sized once, across concatenated members and padding."""
from __future__ import annotations

import gzip
import os
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from traces.bounded_read import PIECE, read_bytes
from traces.table import Limits, TraceError

MiB = 1 << 20
T = TypeVar("T")


def peak_traced(fn: Callable[[], T]) -> tuple[T | TraceError, int]:
    """What `fn` returns (or the TraceError it raises) and the peak of Python allocations meanwhile."""
    tracemalloc.start()
    try:
        try:
            result: T | TraceError = fn()
        except TraceError as exc:
            result = exc
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def zeros_gzip(path: Path, size: int) -> Path:
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    block = bytes(16 * MiB)
    with open(path, "wb") as f:
        for _ in range(size // len(block)):
            f.write(c.compress(block))
        f.write(c.flush())
    return path


def test_a_bomb_is_refused_with_one_piece_in_memory(tmp_path: Path) -> None:
    bomb = zeros_gzip(tmp_path / "bomb.json.gz", 512 * MiB)  # ~0.5 MB on disk
    cap = 128 * MiB
    result, peak = peak_traced(lambda: read_bytes(bomb, Limits(max_bytes=cap)))
    assert isinstance(result, TraceError) and "expands past the 134,217,728-byte limit" in str(result)
    assert peak < 8 * MiB, f"{peak:,} bytes held to refuse a bomb"  # before: the whole cap (134 MB here)


def test_a_lying_trailer_is_only_a_hint(tmp_path: Path) -> None:
    data = os.urandom(12 * MiB)  # incompressible: a plausible ratio for the trailer's size
    raw = bytearray(gzip.compress(data, 1))
    raw[-4:] = (1 * MiB).to_bytes(4, "little")  # the trailer claims 1 MiB
    path = tmp_path / "liar.json.gz"
    path.write_bytes(bytes(raw))
    result, peak = peak_traced(lambda: read_bytes(path, Limits(max_bytes=8 * MiB)))
    assert isinstance(result, TraceError) and "expands past" in str(result)
    assert peak < 1 * MiB + 6 * PIECE  # the claimed buffer and the pieces zlib holds, never the 12 MB
    with pytest.raises(TraceError, match="damaged gzip"):  # under the cap: counted, read, then the length check fails
        read_bytes(path, Limits(max_bytes=64 * MiB))


def test_members_and_padding_read_whole_in_one_buffer(tmp_path: Path) -> None:
    first = b"".join(b'{"name": "op%d", "ts": %d, "dur": 3},' % (i % 977, i) for i in range(300_000))
    second = os.urandom(3 * MiB)
    path = tmp_path / "two.json.gz"
    path.write_bytes(gzip.compress(first) + b"\x00" * 100 + gzip.compress(second) + b"\x00" * 7)
    result, peak = peak_traced(lambda: read_bytes(path, Limits()))
    assert result == first + second
    assert peak < len(first) + len(second) + 6 * PIECE  # one buffer, never grown by doubling


@pytest.mark.parametrize("cut", [10, 1000])
def test_truncated_members_are_reported_as_truncated(tmp_path: Path, cut: int) -> None:
    whole = gzip.compress(b"[" + b'{"ph": "X"},' * 50_000 + b"{}]")
    path = tmp_path / "cut.json.gz"
    path.write_bytes(gzip.compress(b"[]") + whole[:-cut])
    with pytest.raises(TraceError, match="truncated gzip"):
        read_bytes(path, Limits())


@pytest.mark.parametrize("inflater", ["isal", "zlib"])
def test_both_inflaters_read_members_padding_and_damage_alike(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              inflater: str) -> None:
    """ISA-L where installed, zlib where not: the same bytes, the same one-line refusals."""
    from traces import bounded_read
    if inflater == "isal" and bounded_read.igzip_lib is None:
        pytest.skip("isal is not installed here")
    if inflater == "zlib":
        monkeypatch.setattr(bounded_read, "igzip_lib", None)
        monkeypatch.setattr(bounded_read, "INFLATE_PIECE", bounded_read.PIECE)
    first = b"".join(b'{"name": "op%d", "ts": %d, "dur": 3},' % (i % 977, i) for i in range(100_000))
    second = os.urandom(2 * MiB)
    good = gzip.compress(first) + b"\x00" * 100 + gzip.compress(second) + b"\x00" * 7
    path = tmp_path / "two.json.gz"
    path.write_bytes(good)
    assert read_bytes(path, Limits()) == first + second
    path.write_bytes(good[:-200])
    with pytest.raises(TraceError, match="truncated gzip"):
        read_bytes(path, Limits())
    damaged = bytearray(gzip.compress(first))
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    with pytest.raises(TraceError, match="damaged gzip"):
        read_bytes(path, Limits())
