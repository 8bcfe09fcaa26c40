"""An XPlane read as a stream: progress in stored bytes (compressed for a .gz, whose two visits
each count), a Cancel that stops it, lines cut into many windows giving the same table, and
memory: a fresh process reading a generated XPlane grows by the table it keeps, under 200
bytes per event, not by the file (xprof's JSON conversion would be several times the file)."""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.xplane_reader import write_xplane
from tests.traces.test_xplane_devices import tpu_space
from tests.traces.test_xplane_real import canon
from traces import bounded_read, progress, xplane_lines, xplane_wire
from traces.progress import ReadCancelled, ReadProgress
from traces.readers import read_trace
from traces.table import Limits
from traces.xplane_reader import read_xplane, read_xplanes
from traces.xplane_write import INT64, PlaneWriter, StatColumn, encode_events, encode_space

ROOT = Path(__file__).resolve().parents[2]


def many_events(n: int) -> bytes:
    plane = PlaneWriter(0, "/host:CPU")
    names = np.array([plane.event_id(f"op{i}") for i in range(50)], np.int64)
    line = plane.line(1, "python", 1000)
    rng = np.random.default_rng(5)
    line.blocks.append(encode_events(names[rng.integers(0, 50, n)], np.arange(n, dtype=np.int64) * 1_000_000,
                                     np.full(n, 500_000, np.int64),
                                     [StatColumn(plane.stat_id("step_num"), INT64, np.arange(n) // 100)]))
    return encode_space([plane])


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks and windows of a few KiB, every progress update reported: a small file shows a
    whole read's course, and events straddle windows."""
    monkeypatch.setattr(xplane_wire, "BLOCK", 4096)
    monkeypatch.setattr(bounded_read, "CHUNK", 1024)  # compressed bytes read at a time
    monkeypatch.setattr(xplane_lines, "WINDOW", 3000)
    monkeypatch.setattr(progress, "UPDATE_EVERY_S", 0)


def updates(path: Path) -> tuple[list[tuple[int, int]], int]:
    seen: list[tuple[int, int]] = []
    table = read_trace(path, progress=ReadProgress(lambda done, total: seen.append((done, total))))
    return seen, len(table)


@pytest.mark.parametrize("gzipped", [False, True])
def test_progress_counts_stored_bytes_to_the_end(tmp_path: Path, small_blocks: None, gzipped: bool) -> None:
    data = many_events(5000)
    path = tmp_path / ("vm.xplane.pb.gz" if gzipped else "vm.xplane.pb")
    path.write_bytes(gzip.compress(data, 1) if gzipped else data)
    size = path.stat().st_size
    seen, n = updates(path)
    assert n == 5000
    done = [d for d, _ in seen]
    assert {t for _, t in seen} == {size} and done == sorted(done) and done[-1] == size
    assert len(set(done)) > 10  # many steps along the way, not just start and end


def test_several_hosts_share_one_bar(tmp_path: Path, small_blocks: None) -> None:
    run = tmp_path / "plugins" / "profile" / "2026_01_01_00_00_00"
    run.mkdir(parents=True)
    for host in ("alpha", "beta"):
        (run / f"{host}.xplane.pb").write_bytes(many_events(2000))
    total = sum(p.stat().st_size for p in run.iterdir())
    seen, n = updates(tmp_path)
    assert n == 4000 and seen[-1] == (total, total) and [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_cancel_stops_the_read(tmp_path: Path, small_blocks: None) -> None:
    path = tmp_path / "vm.xplane.pb"
    path.write_bytes(many_events(5000))
    bar = ReadProgress(lambda done, total: bar.cancel() if done > total // 3 else None)
    with pytest.raises(ReadCancelled, match="reading was cancelled"):
        read_xplane(path, progress=bar)
    assert bar.done < path.stat().st_size


def test_small_windows_read_the_same_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "vm.xplane.pb"
    path.write_bytes(tpu_space())
    (tmp_path / "big.xplane.pb").write_bytes(many_events(3000))
    whole = [canon(read_xplane(p)) for p in (path, tmp_path / "big.xplane.pb")]
    monkeypatch.setattr(xplane_lines, "WINDOW", 50)  # a window smaller than one event: grown to fit it
    monkeypatch.setattr(xplane_wire, "BLOCK", 64)
    assert [canon(read_xplane(p)) for p in (path, tmp_path / "big.xplane.pb")] == whole
    merged = read_xplanes([path, tmp_path / "big.xplane.pb"], Limits(), None)
    assert len(merged) == sum(len(w) for w in whole)
    assert {r.pid.split(":")[0] for r in merged.rows} == {"vm", "big"}


# The peak is VmHWM reset just before the read (bench.trace_reader): a child's ru_maxrss starts at
# its parent's RSS, so inside a big test process it read 1,300 bytes per event of nothing.
READ = """
import gc, json, sys
from bench.trace_reader import peak_rss, reset_peak_rss
from traces.xplane_reader import read_xplane
gc.collect()
before = reset_peak_rss()
table = read_xplane(sys.argv[1])
print(json.dumps({"events": len(table), "growth": max(peak_rss(), before) - before}))
"""


def test_a_read_grows_by_the_table_not_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bench.xplane.pb"
    written = write_xplane(path, 1_500_000)
    proc = subprocess.run([sys.executable, "-c", READ, str(path)], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["events"] == written["events_written"]
    assert got["growth"] / got["events"] < 200, f"{got['growth'] / got['events']:.0f} bytes per event kept"
