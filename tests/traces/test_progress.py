"""Progress and Cancel of a trace read (`traces.progress`) through `read_trace`: bytes of the
files as stored (compressed for a .gz) consumed, one bar over a directory's files, and a
cancel that stops the read at its next piece with ReadCancelled."""
from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

from tests.traces.test_ranks import rank_trace
from traces import bounded_read, progress, stream_source
from traces.progress import OffsetProgress, ReadCancelled, ReadProgress
from traces.readers import read_trace

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "traces"
BASE = 1_743_521_598_000_000_000


@pytest.fixture(autouse=True)
def small_pieces() -> Iterator[None]:
    """Pieces of 8 KiB and every update reported, so a small file shows a read's whole course."""
    with mock.patch.object(stream_source, "PIECE", 8192), mock.patch.object(bounded_read, "PIECE", 8192), \
            mock.patch.object(bounded_read, "INFLATE_PIECE", 8192), mock.patch.object(bounded_read, "CHUNK", 8192), \
            mock.patch.object(progress, "UPDATE_EVERY_S", 0):
        yield


def trace_bytes(events: int) -> bytes:
    return json.dumps({"traceEvents": [{"ph": "X", "name": f"op{i % 9}", "cat": "cpu_op", "ts": 1000.5 + i, "dur": 0.25,
                                       "pid": 1, "tid": 1, "args": {"External id": i}} for i in range(events)]}).encode()


def recorded(path: Path) -> tuple[list[tuple[int, int]], int]:
    seen: list[tuple[int, int]] = []
    table = read_trace(path, progress=ReadProgress(lambda done, total: seen.append((done, total))))
    return seen, len(table)


def check_course(seen: list[tuple[int, int]], total: int, steps: int = 3) -> None:
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert all(t == total for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert len({d for d, _ in seen if 0 < d < total}) >= steps  # moved along the file, not only at its ends


@pytest.mark.parametrize("compressed", [False, True])
def test_a_file_reports_its_bytes_as_stored(tmp_path: Path, compressed: bool) -> None:
    data = trace_bytes(20_000)
    path = tmp_path / ("t.json.gz" if compressed else "t.json")
    path.write_bytes(gzip.compress(data, 1) if compressed else data)
    seen, n = recorded(path)
    assert n == 20_000
    check_course(seen, path.stat().st_size)


def test_ranks_of_a_directory_add_up_under_one_bar(tmp_path: Path) -> None:
    for rank in range(3):
        doc = rank_trace(rank, BASE + rank * 1000, "5000.250")
        doc["traceEvents"] += json.loads(trace_bytes(400))["traceEvents"]
        (tmp_path / f"rank-{rank}.json.gz").write_bytes(gzip.compress(json.dumps(doc).encode()))
    seen, n = recorded(tmp_path)
    assert n == 3 * (6 + 400)
    sizes = [(tmp_path / f"rank-{rank}.json.gz").stat().st_size for rank in range(3)]
    check_course(seen, sum(sizes), steps=2)
    assert {d for d, _ in seen} >= {sizes[0], sizes[0] + sizes[1]}  # each file's end, the ones before it added


def test_a_folder_of_traces_counts_only_the_one_it_reads(tmp_path: Path) -> None:
    shutil.copy(DATA / "torch_convnet.trace.json.gz", tmp_path / "w.1.pt.trace.json.gz")
    newest = tmp_path / "w.2.pt.trace.json"
    newest.write_bytes(trace_bytes(2000))
    (tmp_path / "w.1.pt.trace.json.gz").touch()
    newest.touch()
    seen, n = recorded(tmp_path)
    assert n == 2000
    check_course(seen, newest.stat().st_size)


@pytest.mark.parametrize("name", ["t.json", "t.json.gz", "ranks"])
def test_cancel_stops_the_read(tmp_path: Path, name: str) -> None:
    data = trace_bytes(5000)
    if name == "ranks":
        for rank in range(2):
            (tmp_path / f"rank-{rank}.json").write_bytes(json.dumps(rank_trace(rank, BASE, "5.0")).encode()[:-1]
                                                          + b', "x": ' + data + b"}")
        path = tmp_path
    else:
        path = tmp_path / name
        path.write_bytes(gzip.compress(data, 1) if name.endswith(".gz") else data)
    seen: list[int] = []

    def update(done: int, total: int) -> None:
        seen.append(done)
        if 0 < done < total:
            reading.cancel()  # as the app's Cancel button does, between two pieces

    reading = ReadProgress(update)
    with pytest.raises(ReadCancelled, match="reading was cancelled"):
        read_trace(path, progress=reading)
    assert reading.cancelled and max(seen) < reading.total


def test_offset_progress_puts_a_file_after_the_ones_before_it() -> None:
    seen: list[tuple[int, int]] = []
    whole = ReadProgress(lambda done, total: seen.append((done, total)))
    whole.start(300)
    OffsetProgress(whole, 100).advance(50)
    OffsetProgress(whole, 200).advance(100)
    assert seen == [(0, 300), (150, 300), (300, 300)]
    whole.cancel()
    with pytest.raises(ReadCancelled):
        OffsetProgress(whole, 200).advance(10, "rank-1.json")
