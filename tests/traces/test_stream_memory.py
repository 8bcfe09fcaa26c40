"""A Chrome trace read as a stream holds what it keeps, not the file: the peak memory of a
fresh process reading a Kineto-shaped GPU trace grows by well under the file's size (the
whole-file path needs the file and more), measured as the peak RSS (VmHWM, reset before the
read: a child's ru_maxrss starts at its parent's RSS) over the RSS before the read."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.trace_reader import write_kineto_trace

ROOT = Path(__file__).resolve().parents[2]
READ = """
import gc, json, sys
from pathlib import Path
from bench.trace_reader import peak_rss, reset_peak_rss
from traces.readers import read_trace
from traces.chrome_reader import read_chrome_data
from traces.bounded_read import read_bytes
from traces.table import Limits
gc.collect()
before = reset_peak_rss()
table = read_trace(sys.argv[1]) if sys.argv[2] == "stream" else read_chrome_data(read_bytes(Path(sys.argv[1]), Limits()))
print(json.dumps({"events": len(table), "growth": max(peak_rss(), before) - before}))
"""


def peak_growth(path: Path, how: str) -> tuple[int, int]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), STEPSCOPE_TRACE_WORKER="0")
    proc = subprocess.run([sys.executable, "-c", READ, str(path), how], capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    return got["events"], got["growth"]


def test_a_streamed_read_grows_by_less_than_half_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kineto.json"
    write_kineto_trace(path, 100_000)  # 175 MB, 600k events of which 400k are kept
    size = path.stat().st_size
    events, streamed = peak_growth(path, "stream")
    assert events == 400_100
    _, whole = peak_growth(path, "whole")
    assert whole > size  # the whole-file path holds the file and more: what the stream avoids
    assert streamed < size / 2, f"{streamed:,} bytes of peak growth for a {size:,}-byte file"
    assert streamed / events < 250, f"{streamed / events:.0f} bytes per event kept"
