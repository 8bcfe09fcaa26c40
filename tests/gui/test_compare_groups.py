"""Repeats of one spec in the comparison window: one column with its run count and run-first
pooled interval, in the model, the summary table and the saved report."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pytestqt.qtbot import QtBot

from gui.compare.compare_model import CompareModel
from gui.compare.compare_view import CompareWindow
from sessions.stats import compare, median_interval
from tests.sessions.repeated_runs import FakeRun, shifted_repeats, write_session


def session(tmp_path: Path) -> tuple[Path, list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(7)
    repeats, other = shifted_repeats(rng, (29.0, 31.0, 30.0)), rng.normal(24.0, 0.3, 150)
    path = write_session(tmp_path / "rep.stepscope", [FakeRun(f"rep{i}", s) for i, s in enumerate(repeats)]
                         + [FakeRun("other", other, {"variant": "compiled"})])
    return path, repeats, other


def test_model_pools_repeats_into_one_column(tmp_path: Path) -> None:
    path, repeats, other = session(tmp_path)
    model = CompareModel.for_session(path)
    comparison = model.comparison()
    assert comparison is not None and [row.run_count for row in comparison.runs] == [3, 1]
    assert comparison.step_time[1] == compare(repeats, other)
    assert comparison.runs[0].record["step_ms_median_ci"] == list(median_interval(repeats) or ())
    rows = model.row_entries()
    assert [(e.run_id, e.repeats) for e in rows] == [("rep0", 3), ("other", 1)]
    assert rows[0].title.endswith("rep0 + 2 repeat(s)") and rows[1].title.endswith("other")
    model.set_baseline(model.entries[3].key)  # the lone run as baseline: the group moves, still pooled
    assert [(e.run_id, e.repeats) for e in model.row_entries()] == [("other", 1), ("rep0", 3)]
    model.set_checked(model.entries[1].key, False)
    assert [(e.run_id, e.repeats) for e in model.row_entries()] == [("other", 1), ("rep0", 2)]


def test_window_shows_one_column_per_group(tmp_path: Path, qtbot: QtBot) -> None:
    path, _, _ = session(tmp_path)
    win = CompareWindow.open(path)
    qtbot.addWidget(win)
    table = win.summary_table
    assert table.columnCount() == 3  # metric, the pooled repeats, the lone run
    headers = [table.horizontalHeaderItem(c).text() for c in range(3)]
    assert "rep0 + 2 repeat(s)" in headers[1] and "baseline" in headers[1] and "other" in headers[2]
    first_row = [table.item(0, c).text() for c in range(3)]
    assert first_row[0].startswith("runs pooled") and first_row[1].startswith("3 runs, median") and "95 % CI" in first_row[1]
    assert first_row[2] == "1 run"
    report = win.model.report()
    assert report is not None and "3 runs, median" in win.model.save_report(tmp_path / "r.md").read_text()
