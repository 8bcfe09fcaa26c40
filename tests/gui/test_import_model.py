"""The import dialog's Qt-free state: the child's JSON lines in, bytes of the total, the rate,
the time left and the stage out, in words; the child's command line; its failure line."""
from __future__ import annotations

import sys
from pathlib import Path

from gui.live.import_model import ROOT, ImportState, failure_reason, format_bytes, format_seconds, import_argv


def test_lines_become_bytes_rate_and_time_left() -> None:
    state = ImportState(Path("/data/big.pt.trace.json.gz"), Path("/s/cnn.stepscope"))
    assert state.stage_text() == "Reading the trace…" and state.fraction is None
    state.feed('{"done": 0, "total": 2000000000}', now=10.0)
    assert state.detail_text() == "0 bytes of 2.0 GB" and state.rate() is None
    state.feed('{"done": 500000000, "total": 2000000000}', now=12.0)  # 250 MB/s
    assert state.fraction == 0.25
    assert state.rate() == 250e6 and state.seconds_left() == 6.0
    assert state.detail_text() == "500 MB of 2.0 GB · 250 MB/s · about 6 s left"
    state.feed('{"done": 2000000000, "total": 2000000000}', now=20.0)
    assert state.stage_text() == "Finishing the parse…" and state.detail_text() == "2.0 GB of 2.0 GB"
    state.feed('{"stage": "storing"}')
    assert state.stage_text() == "Storing the run in cnn.stepscope…"
    state.feed('{"run_id": "20261201-101010-abcdef", "events": 1234, "session": "/s/cnn.stepscope", "description": "d"}')
    assert (state.run_id, state.events, state.description) == ("20261201-101010-abcdef", 1234, "d")


def test_the_rate_follows_the_last_seconds_only() -> None:
    state = ImportState(Path("t.json"), Path("s.stepscope"))
    for t, done in ((0.0, 0), (1.0, 1_000), (10.0, 2_000), (12.0, 202_000)):
        state.feed(f'{{"done": {done}, "total": 1000000}}', now=t)
    assert state.rate() == 100_000  # 10 s -> 12 s: the first seconds have left the window
    assert state.seconds_left() == (1_000_000 - 202_000) / 100_000


def test_unknown_total_and_lines_that_are_not_ours() -> None:
    state = ImportState(Path("logdir"), Path("s.stepscope"))
    for line in ("", "hello from a library", "[1, 2]", '{"done": "x", "total": 3}', '{"done": 5000, "total": 0}'):
        state.feed(line, now=1.0)
    assert (state.done, state.total, state.fraction) == (5000, 0, None)
    assert state.detail_text() == "5.0 kB read"


def test_formatting() -> None:
    assert [format_bytes(n) for n in (999, 1_500, 12_345_678, 2.5e9)] == ["999 bytes", "1.5 kB", "12 MB", "2.5 GB"]
    assert [format_seconds(s) for s in (0.2, 59.4, 61, 3_725)] == ["1 s", "59 s", "1 min 01 s", "1 h 02 min"]


def test_the_child_command_and_its_failure_line() -> None:
    argv = import_argv(Path("/t/x.json"), Path("/s/a.stepscope"), "jax")
    assert argv == [sys.executable, str(ROOT / "main.py"), "import", "/t/x.json", "--session", "/s/a.stepscope",
                    "--progress-jsonl", "--framework", "jax"]
    assert failure_reason("warning: noise\nstepscope import: /t/x.json: is not a trace\n", 2) == "/t/x.json: is not a trace"
    assert failure_reason("Traceback ...\nMemoryError\n", 1) == "MemoryError"
    assert failure_reason("", -9) == "the import process ended with exit code -9"
