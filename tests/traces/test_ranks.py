"""A directory of per-rank Kineto traces imports as one multi-rank table: each rank's rows a
group of their own, every rank on one clock (Kineto's ts counts from each trace's own
baseTimeNanoseconds), ranks known from `distributedInfo.rank` or from the file name."""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np

from traces.readers import read_trace
from traces.table import EventTable

BASE = 1_743_521_598_000_000_000  # ns since the epoch, as Kineto writes it


def rank_trace(rank: int, base_ns: int | None, ts0_us: str, *, info: bool = True) -> dict[str, Any]:
    """One rank's trace: two steps, an op in each, and the step's kernel on the GPU stream."""
    events: list[dict[str, Any]] = [
        {"ph": "M", "name": "process_name", "pid": 100 + rank, "tid": 0, "args": {"name": "python"}},
        {"ph": "M", "name": "thread_name", "pid": 100 + rank, "tid": 7, "args": {"name": "main"}},
        # Kineto's device rows: the device index as pid, the stream as tid
        {"ph": "M", "name": "process_name", "pid": 0, "tid": 0, "args": {"name": "python"}},
        {"ph": "M", "name": "process_labels", "pid": 0, "tid": 0, "args": {"labels": "GPU 0"}},
        {"ph": "M", "name": "thread_name", "pid": 0, "tid": 7, "args": {"name": "stream 7"}},
    ]
    t0 = float(ts0_us)
    for step in (1, 2):
        start = t0 + (step - 1) * 1000
        events.append({"ph": "X", "cat": "user_annotation", "name": f"ProfilerStep#{step}", "pid": 100 + rank, "tid": 7,
                       "ts": start, "dur": 900})
        events.append({"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 100 + rank, "tid": 7,
                       "ts": start + 100, "dur": 500})
        events.append({"ph": "X", "cat": "kernel", "name": "sgemm", "pid": 0, "tid": 7, "ts": start + 200, "dur": 300})
    doc: dict[str, Any] = {"schemaVersion": 1, "traceEvents": events}
    if base_ns is not None:
        doc["baseTimeNanoseconds"] = base_ns
    if info:
        doc = {"distributedInfo": {"backend": "nccl", "rank": rank, "world_size": 2}, **doc}
    return doc


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    return path


def mm_starts(table: EventTable) -> dict[str, list[int]]:
    """aten::mm start times (ns, on the table's clock) by the rank prefix of their row."""
    mm = table.string_id("aten::mm")
    out: dict[str, list[int]] = {}
    for i in np.flatnonzero(table.name == mm):
        label = table.rows[int(table.row[i])].label
        out.setdefault(label.split(":")[0], []).append(int(table.start_ns[i]))
    return out


def test_ranks_from_distributed_info_share_one_clock(tmp_path: Path) -> None:
    # names say nothing about ranks; rank 1's base is 5 ms and 123 ns later than rank 0's
    write(tmp_path / "host_a.1700.pt.trace.json.gz", rank_trace(0, BASE, "10.000"))
    write(tmp_path / "host_b.1700.pt.trace.json.gz", rank_trace(1, BASE + 5_000_123, "10.000"))
    table = read_trace(tmp_path)
    starts = mm_starts(table)
    assert sorted(starts) == ["rank 0", "rank 1"]
    assert starts["rank 0"] == [110_000, 1_110_000]
    assert starts["rank 1"] == [110_000 + 5_000_123, 1_110_000 + 5_000_123]
    assert table.source.time_origin_ns == BASE
    assert any("merged 2 ranks (0, 1; rank from distributedInfo)" in note for note in table.source.notes)
    assert table.source.framework == "torch"
    # every row belongs to one rank's group, each rank's GPU stream a device row of its own
    used = {table.rows[r].label.split(":")[0] for r in np.unique(table.row)}
    assert used == {"rank 0", "rank 1"}
    devices = sorted(row.label for row in table.rows if row.device)
    assert devices == ["rank 0: python (GPU 0) / stream 7", "rank 1: python (GPU 0) / stream 7"]
    assert table.source.device == "gpu"


def test_ranks_from_file_names(tmp_path: Path) -> None:
    for rank in (0, 1, 2):
        write(tmp_path / f"dp0_pp0_tp{rank}_rank{rank}.1700.pt.trace.json.gz",
              rank_trace(rank, BASE + rank * 1000, "1.5", info=False))
    starts = mm_starts(read_trace(tmp_path))
    assert {k: v[0] for k, v in starts.items()} == {"rank 0": 101_500, "rank 1": 102_500, "rank 2": 103_500}


def test_without_bases_each_rank_keeps_its_times_and_says_so(tmp_path: Path) -> None:
    write(tmp_path / "rank-0.json.gz", rank_trace(0, None, "7.25"))
    write(tmp_path / "rank-1.json.gz", rank_trace(1, None, "9.25"))
    table = read_trace(tmp_path)
    assert mm_starts(table) == {"rank 0": [107_250, 1_107_250], "rank 1": [109_250, 1_109_250]}
    assert any("each rank's times are as written" in note for note in table.source.notes)


def test_files_that_are_not_one_jobs_ranks_read_as_before(tmp_path: Path) -> None:
    """Two traces of the same rank (or without ranks) are separate captures: the newest is read."""
    write(tmp_path / "a.json.gz", rank_trace(0, BASE, "1.0"))
    newest = write(tmp_path / "b.json.gz", rank_trace(0, BASE, "2.0"))
    table = read_trace(tmp_path)
    assert list(mm_starts(table)) == [table.rows[0].label.split(":")[0]]  # one group, no rank prefix
    assert not any("merged" in note for note in table.source.notes)
    assert any(newest.name in note for note in table.source.notes)
