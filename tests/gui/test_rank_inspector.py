"""Issue 17, item 3, in the inspector: a job's per-rank traces, merged as traces/rank_reader.py
merges them, show as one row group per rank on one clock, and the Stragglers tab gives each step's
slowest rank, the spread and each rank's time in gloo collectives; sortable, exported to CSV."""
from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from gui.inspector.straggler_panel import StragglerPanel
from gui.inspector.trace_inspector import TraceInspectorWindow
from gui.view_export import export_table_csv
from traces.readers import read_trace
from traces.table import EventTable

BASE = 1_743_521_598_000_000_000  # ns since the epoch, as Kineto writes it
# per rank: (step ms, gloo:all_reduce ms) for steps 1-3; rank 1 is slow in step 2, rank 0 in step 3
STEPS = {0: [(10, 6), (10, 7), (14, 1)], 1: [(10, 5), (13, 1), (11, 4)]}


def rank_trace(rank: int) -> dict[str, Any]:
    """What torch.profiler writes on one gloo rank: ProfilerStep#N on the main thread, the c10d op
    and record_param_comms there, gloo's own span on its worker thread."""
    pid = 200 + rank
    events: list[dict[str, Any]] = [
        {"ph": "M", "name": "process_name", "pid": pid, "tid": 0, "args": {"name": "python"}},
        {"ph": "M", "name": "thread_name", "pid": pid, "tid": 1, "args": {"name": "main"}},
        {"ph": "M", "name": "thread_name", "pid": pid, "tid": 2, "args": {"name": "gloo"}},
    ]
    start = 0.0
    for number, (step_ms, wait_ms) in enumerate(STEPS[rank], start=1):
        us = step_ms * 1000.0
        events += [
            {"ph": "X", "cat": "user_annotation", "name": f"ProfilerStep#{number}", "pid": pid, "tid": 1,
             "ts": start, "dur": us},
            {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": pid, "tid": 1, "ts": start + 100, "dur": 500},
            {"ph": "X", "cat": "cpu_op", "name": "c10d::allreduce_", "pid": pid, "tid": 1, "ts": start + 1000, "dur": 50},
            {"ph": "X", "cat": "cpu_op", "name": "record_param_comms", "pid": pid, "tid": 1, "ts": start + 1010,
             "dur": 30},
            {"ph": "X", "cat": "user_annotation", "name": "gloo:all_reduce", "pid": pid, "tid": 2, "ts": start + 1000,
             "dur": wait_ms * 1000.0},
        ]
        start += us
    return {"distributedInfo": {"backend": "gloo", "rank": rank, "world_size": 2}, "schemaVersion": 1,
            "baseTimeNanoseconds": BASE + rank * 2_000_000, "traceEvents": events}


@pytest.fixture(scope="module")
def merged(tmp_path_factory: pytest.TempPathFactory) -> EventTable:
    folder = tmp_path_factory.mktemp("ranks")
    for rank in STEPS:
        (folder / f"worker{rank}.pt.trace.json.gz").write_bytes(gzip.compress(json.dumps(rank_trace(rank)).encode()))
    return read_trace(folder)


@pytest.fixture
def window(qtbot: QtBot, merged: EventTable) -> TraceInspectorWindow:
    win = TraceInspectorWindow(merged, "torch ddp", "2 ranks")
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.analysesReady, timeout=20_000):
        win.show()
    return win


def test_each_rank_is_a_row_group_on_one_clock(window: TraceInspectorWindow, merged: EventTable) -> None:
    titles = [t for r, t in enumerate(window.timeline.row_titles) if window.timeline.lod.lanes[r]]
    groups = [t.split(":")[0] for t in titles]
    assert groups == sorted(groups) and set(groups) == {"rank 0", "rank 1"}  # each rank's rows together, in order
    assert "rank 0: python / main" in titles and "rank 1: python / gloo" in titles
    # one clock: rank 1's trace started 2 ms after rank 0's, so its first step does too
    first = {g: min(int(merged.start_ns[i]) for i in np.flatnonzero(merged.name == merged.string_id("ProfilerStep#1"))
                    if merged.rows[int(merged.row[i])].label.startswith(g)) for g in ("rank 0", "rank 1")}
    assert first["rank 1"] - first["rank 0"] == 2_000_000


def test_stragglers_tab_fills_from_the_trace(window: TraceInspectorWindow, tmp_path: Path) -> None:
    titles = [window.tabs.tabText(k) for k in range(window.tabs.count())]
    assert "Stragglers (2 ranks)" in titles
    panel = window.stragglers
    assert isinstance(panel, StragglerPanel)
    table = panel.model.table
    assert table.source == "trace" and table.ranks == (0, 1) and table.trace_ranks == (0, 1)
    assert [(r.step, r.slowest_rank, r.spread_ms) for r in table.rows] == [(1, 0, 0.0), (2, 1, 3.0), (3, 0, 3.0)]
    assert [r.collective_wait_ms for r in table.rows] == [(6.0, 5.0), (7.0, 1.0), (1.0, 4.0)]
    assert table.collectives[0] == "gloo:all_reduce"
    out = export_table_csv(panel.proxy, tmp_path / "stragglers.csv")
    rows = list(csv.reader(out.read_text(encoding="utf-8").splitlines()))
    assert rows[0][:3] == ["Step", "Phase", "Slowest rank"] and rows[0][-2:] == [
        "In collectives, rank 0 (ms)", "In collectives, rank 1 (ms)"]
    assert [r[0] for r in rows[1:]] == ["1", "2", "3"]
    assert rows[2][2] == "rank 1" and rows[2][-2:] == ["7.00", "1.00"]
    # sorted by the spread, largest first: by its number, not its text
    panel.view.sortByColumn(5, Qt.SortOrder.DescendingOrder)
    assert [panel.table_row(k).step for k in range(3)] == [2, 3, 1]


def test_choosing_a_step_shows_it_on_the_timeline(window: TraceInspectorWindow) -> None:
    panel = window.stragglers
    assert panel is not None
    panel.view.selectRow([panel.table_row(k).step for k in range(3)].index(2))
    lo, hi = window.timeline.view_range()
    # step 2: rank 0 from 10 to 20 ms, rank 1 (2 ms later) from 12 to 25 ms, with a 3 % margin
    assert lo == pytest.approx(10e6 - 0.45e6) and hi == pytest.approx(25e6 + 0.45e6)
    assert not window.show_step(99)


def test_recorded_steps_win_over_the_markers(qtbot: QtBot, merged: EventTable) -> None:
    steps = {r: {"index": np.array([1, 2, 3, 4]), "step_ms": np.array([20.0, 20.0, 20.0, 20.0 + r]),
                 "phase": np.array(["measure"] * 4)} for r in (0, 1)}
    win = TraceInspectorWindow(merged, "torch ddp", "2 ranks", rank_steps=steps)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.analysesReady, timeout=20_000):
        win.show()
    assert win.stragglers is not None
    table = win.stragglers.model.table
    assert table.source == "session" and [r.step for r in table.rows] == [1, 2, 3, 4]
    assert table.rows[3].slowest_rank == 1 and np.isnan(table.rows[3].collective_wait_ms).all()  # step 4: not traced
    assert "every rank's recorded steps" in win.stragglers.note.text()


def test_a_single_rank_trace_has_no_stragglers_tab(qtbot: QtBot, tmp_path: Path) -> None:
    doc = rank_trace(0)
    del doc["distributedInfo"]
    path = tmp_path / "one.pt.trace.json.gz"
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    win = TraceInspectorWindow(read_trace(path), "torch", "one rank")
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.analysesReady, timeout=20_000):
        win.show()
    assert win.stragglers is None
    assert not any(win.tabs.tabText(k).startswith("Stragglers") for k in range(win.tabs.count()))


def test_a_capture_of_one_rank_still_compares_the_recorded_steps(qtbot: QtBot, tmp_path: Path) -> None:
    """`capture --ranks 0`: the trace holds rank 0 only, the session every rank's steps."""
    doc = rank_trace(0)
    del doc["distributedInfo"]
    path = tmp_path / "one.pt.trace.json.gz"
    path.write_bytes(gzip.compress(json.dumps(doc).encode()))
    steps = {r: {"index": np.array([1, 2]), "step_ms": np.array([10.0, 10.0 + r])} for r in (0, 1)}
    win = TraceInspectorWindow(read_trace(path), "torch", "rank 0 only", rank_steps=steps)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.analysesReady, timeout=20_000):
        win.show()
    assert win.stragglers is not None
    table = win.stragglers.model.table
    assert [(r.step, r.slowest_rank) for r in table.rows] == [(1, 0), (2, 1)] and not table.has_waits
    assert table.trace_ranks == () and "not grouped by rank" in win.stragglers.note.text()
