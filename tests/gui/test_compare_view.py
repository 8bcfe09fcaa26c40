"""The comparison window over real tiny runs: one per framework (with trace windows) in one
session and a second torch run in another file. Table values and verdicts, overlays, baseline
changes, adding a session file, the op diff of two torch runs, timelines aligned at step
boundaries, the report, and a screenshot that is not blank."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtGui import QColor
from pytestqt.qtbot import QtBot

from gui.compare.compare_view import CompareWindow
from sessions.compare import METRICS
from sessions.schema import SessionError
from sessions.store import Session
from tests.conftest import copy_session, record_cli_run

ROOT = Path(__file__).resolve().parents[2]
V2 = ROOT / "tests" / "data" / "session-v2.stepscope"
VERDICTS = ("faster", "slower", "no significant difference")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory, traced_run_session: Callable[[str], Path]) -> tuple[Path, Path]:
    """(three.stepscope: jax, torch, tf; more.stepscope: torch), all with two-step trace windows.
    The jax run and the lone torch run are copies of the session's shared ones (tests/conftest.py)."""
    folder = tmp_path_factory.mktemp("compare")
    three = copy_session(traced_run_session("jax"), folder / "three.stepscope")
    for framework in ("torch", "tf"):
        record_cli_run(three, framework)
    more = copy_session(traced_run_session("torch"), folder / "more.stepscope")
    return three, more


@pytest.fixture
def window(qtbot: QtBot, sessions: tuple[Path, Path]) -> CompareWindow:
    win = CompareWindow.open(sessions[0])
    qtbot.addWidget(win)
    win.resize(1400, 900)
    win.show()
    return win


def cell(win: CompareWindow, row: int, column: int) -> str:
    item = win.summary_table.item(row, column)
    return item.text() if item is not None else ""


def key_of(win: CompareWindow, framework: str, nth: int = 0) -> tuple[str, str]:
    return [e.key for e in win.model.entries if e.figures["framework"] == framework][nth]


def test_table_verdicts_and_overlays_of_three_frameworks(window: CompareWindow) -> None:
    table = window.summary_table
    assert table.columnCount() == 4 and table.rowCount() == len(METRICS) + 2
    headers = [table.horizontalHeaderItem(c).text() for c in range(1, 4)]
    assert [h.split()[0] for h in headers] == ["jax", "torch", "tf"] and "(baseline)" in headers[0]
    median_row = [cell(window, 0, c) for c in range(1, 4)]
    assert all(float(v.split()[0].replace(",", "")) > 0 for v in median_row)
    assert "%" not in median_row[0] and all("%" in v for v in median_row[1:])
    assert cell(window, len(METRICS), 2).endswith(")") and "×" in cell(window, len(METRICS), 2)
    verdicts = [cell(window, len(METRICS) + 1, c) for c in (2, 3)]
    assert all(v in VERDICTS for v in verdicts), verdicts
    assert window.env_table.rowCount() >= 2  # framework and its version differ at least
    assert window.env_table.item(0, 0).text() == "framework"
    overlays = window.overlays
    for key in ("step_ms", "loss", "memory"):
        assert overlays.curve_points(key) > 0, key
    assert overlays.legend_count("loss") == overlays.legend_count("memory") == 3
    legend = overlays.plots["loss"].getPlotItem().legend
    assert {item[1].text.split(" · ")[0] for item in legend.items} == {"jax compiled", "torch eager", "tf xla"}
    assert not window.banner.isVisible()


def test_baseline_change_recomputes_deltas(window: CompareWindow, qtbot: QtBot) -> None:
    before = cell(window, 0, 2)  # torch's median against jax
    window.baseline_combo.setCurrentIndex(1)  # torch becomes the baseline
    header = window.summary_table.horizontalHeaderItem(1).text()
    assert header.startswith("torch") and "(baseline)" in header
    assert window.model.comparison().runs[0].record["framework"] == "torch"
    assert "%" not in cell(window, 0, 1) and cell(window, 0, 2) != before
    assert cell(window, len(METRICS) + 1, 1) == "baseline"
    assert cell(window, len(METRICS) + 1, 2) in VERDICTS
    assert window.baseline_combo.currentText().startswith("torch")
    window.set_baseline(key_of(window, "tf"))
    assert window.summary_table.horizontalHeaderItem(1).text().startswith("tf")


def test_unticking_a_run_removes_its_column(window: CompareWindow) -> None:
    item = window.run_list.item(2)  # tf
    item.setCheckState(Qt.CheckState.Unchecked)
    assert window.summary_table.columnCount() == 3 and window.overlays.legend_count("loss") == 2
    assert window.baseline_combo.count() == 2


def test_add_session_file(window: CompareWindow, sessions: tuple[Path, Path], tmp_path: Path) -> None:
    assert window.add_session_file(sessions[1])
    assert window.run_list.count() == 4 and window.summary_table.columnCount() == 5
    assert window.overlays.legend_count("loss") == 4
    colours = [e.color for e in window.model.entries]
    assert len(set(colours)) == 4  # the second torch run is a shade of torch's colour
    bad = tmp_path / "bad.stepscope"
    bad.write_text("no")
    assert not window.add_session_file(bad)
    assert window.banner.isVisible() and "bad.stepscope" in window.banner.text() and "Traceback" not in window.banner.text()
    assert window.add_session_file(V2)
    assert window.run_list.count() == 7 and not window.banner.isVisible()


def test_op_diff_of_two_torch_runs(window: CompareWindow, sessions: tuple[Path, Path]) -> None:
    window.add_session_file(sessions[1])
    first, second = key_of(window, "torch", 0), key_of(window, "torch", 1)
    window.model.set_pair(first, second)
    window.tabs.setCurrentIndex(1)
    diff = window.model.op_diff()
    assert not isinstance(diff, str)
    assert not diff.added and not diff.removed  # the same model, the same ops
    changed = diff.changed()
    assert changed, "two real runs on a shared CPU: some op moved by more than 10 %"
    table = window.op_table
    assert table.rowCount() == len(changed)
    assert {table.item(r, 0).text() for r in range(table.rowCount())} <= {"slower", "faster"}
    assert any(table.item(r, 1).text().startswith("aten::") for r in range(table.rowCount()))
    assert "per step over 2 step(s)" in window.op_message.text()
    window.status_checks["unchanged"].setChecked(True)
    assert table.rowCount() == len(diff.rows)
    window.op_pair.second.setCurrentIndex(window.op_pair.first.currentIndex())  # the same run on both sides
    assert "two different runs" in window.op_message.text() and table.rowCount() == 0


def test_op_diff_says_when_a_run_has_no_trace(window: CompareWindow) -> None:
    window.add_session_file(V2)
    no_trace = next(e.key for e in window.model.entries if e.run_id == "20250101-120100-bbbbbb")
    window.model.set_pair(key_of(window, "torch"), no_trace)
    window.tabs.setCurrentIndex(1)
    assert "has no stored trace" in window.op_message.text() and window.op_table.rowCount() == 0
    window.tabs.setCurrentIndex(2)
    assert "No stored trace" in window.timelines.message.text() and not window.timelines.timelines


def test_side_by_side_timelines_align_at_step_boundaries(window: CompareWindow, qtbot: QtBot) -> None:
    window.model.set_pair(key_of(window, "jax"), key_of(window, "torch"))
    window.tabs.setCurrentIndex(2)
    a, b = window.timelines.timelines
    starts_a, starts_b = a.step_starts_ns(), b.step_starts_ns()
    assert len(starts_a) == len(starts_b) == 2
    assert "Aligned at step boundaries" in window.timelines.message.text()
    (lo_a, hi_a), (lo_b, hi_b) = a.view_range(), b.view_range()  # they open on their first steps, same scale
    assert lo_a - starts_a[0] == pytest.approx(lo_b - starts_b[0], abs=1) and hi_a - lo_a == pytest.approx(hi_b - lo_b, abs=1)
    for k in (0, 1):
        a.set_view_range(starts_a[k] + 1_000, starts_a[k] + 301_000)
        lo, hi = b.view_range()
        assert lo == pytest.approx(starts_b[k] + 1_000, abs=1) and hi == pytest.approx(starts_b[k] + 301_000, abs=1)
    b.set_view_range(starts_b[0] + 5_000, starts_b[0] + 105_000)  # and the other way round
    assert a.view_range()[0] == pytest.approx(starts_a[0] + 5_000, abs=1)
    a.set_view_range(starts_a[0], starts_a[1])  # a whole step: boxes on both sides
    for timeline in (a, b):
        timeline.grab()  # paint now
    assert a.visible_box_count() > 0 and b.visible_box_count() > 0


def test_picking_an_op_highlights_it_on_both_timelines(window: CompareWindow, sessions: tuple[Path, Path]) -> None:
    window.add_session_file(sessions[1])
    window.model.set_pair(key_of(window, "torch", 0), key_of(window, "torch", 1))
    window.tabs.setCurrentIndex(2)
    window.tabs.setCurrentIndex(1)
    window.status_checks["unchanged"].setChecked(True)
    row = next(r for r in range(window.op_table.rowCount()) if window.op_table.item(r, 1).text() == "aten::conv2d")
    window.op_table.selectRow(row)
    assert all(t.highlighted_count() > 0 for t in window.timelines.timelines)


def test_save_report_writes_what_the_cli_writes(window: CompareWindow, sessions: tuple[Path, Path], tmp_path: Path) -> None:
    html_path = window.save_report(tmp_path / "report.html")
    md_path = window.save_report(tmp_path / "report.md")
    assert html_path is not None and md_path is not None
    text = md_path.read_text()
    assert text.count("## Op differences:") == 2 and "## Environment differences" in text
    assert html_path.read_text().startswith("<!DOCTYPE html>")
    proc = subprocess.run([sys.executable, "main.py", "compare", str(sessions[0]), "--markdown", str(tmp_path / "cli.md")],
                          check=False, cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cli.md").read_text() == text
    assert window.save_report(tmp_path / "report.pdf") is None and "report" in window.banner.text()


def test_export_actions_on_plots_and_tables(window: CompareWindow) -> None:
    menu = window.overlays.plots["loss"].getPlotItem().getViewBox().menu
    assert {"Export as PNG…", "Export as SVG…"} <= {a.text() for a in menu.actions()}
    for table in (window.summary_table, window.env_table, window.op_table):
        assert "Export as CSV…" in [a.text() for a in table.actions()]
    assert window.report_action.text() == "Save report…"


def test_screenshot_is_not_blank(window: CompareWindow, qtbot: QtBot, tmp_path: Path) -> None:
    qtbot.wait(100)
    path = tmp_path / "compare.png"
    assert window.grab().save(str(path)) and path.stat().st_size > 20_000
    image = window.overlays.plots["loss"].grab().toImage()
    for entry in window.model.chosen():
        want = QColor(entry.color)
        hits = sum(1 for x in range(0, image.width(), 2) for y in range(0, image.height(), 2)
                   if _close(image.pixelColor(x, y), want))
        assert hits > 10, f"no {entry.title} pixels in the loss plot ({hits})"


def _close(a: QColor, b: QColor, tol: int = 40) -> bool:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue()) < tol


def test_open_chooses_the_named_runs_and_refuses_unknown_ones(qtbot: QtBot, sessions: tuple[Path, Path]) -> None:
    with Session.open_readonly(sessions[0]) as session:
        ids = [r.run_id for r in session.runs()]
    win = CompareWindow.open(sessions[0], ids[1:])
    qtbot.addWidget(win)
    assert [e.run_id for e in win.model.chosen()] == ids[1:] and win.run_list.count() == 3
    assert win.run_list.item(0).checkState() == Qt.CheckState.Unchecked
    with pytest.raises(SessionError, match="no run"):
        CompareWindow.open(sessions[0], ["missing"])


def test_op_diff_defaults_to_two_runs_of_one_framework(window: CompareWindow, sessions: tuple[Path, Path]) -> None:
    window.tabs.setCurrentIndex(1)  # jax, torch, tf: no two of one framework, so it says so before any number
    assert window.op_warning.isVisibleTo(window) and "different frameworks (jax and torch)" in window.op_warning.text()
    assert not window.same_pair_button.isVisibleTo(window)
    window.add_session_file(sessions[1])  # a second torch run: the default pair becomes the two torch runs
    assert window.model.pair == (key_of(window, "torch", 0), key_of(window, "torch", 1))
    assert not window.op_warning.isVisibleTo(window) and window.op_table.rowCount() > 0
    window.model.set_pair(key_of(window, "jax"), key_of(window, "tf"))  # a picked pair stays picked …
    assert window.op_warning.isVisibleTo(window) and window.same_pair_button.isVisibleTo(window)
    assert window.same_pair_button.text() == "Compare two torch runs"
    window.same_pair_button.click()  # … until the offered same-framework pair is taken
    assert window.model.pair == (key_of(window, "torch", 0), key_of(window, "torch", 1))
    assert not window.op_warning.isVisibleTo(window)


def test_at_1024_by_700_everything_shows(window: CompareWindow, sessions: tuple[Path, Path], qtbot: QtBot,
                                         tmp_path: Path) -> None:
    window.add_session_file(sessions[1])
    hint = window.minimumSizeHint()
    assert hint.width() <= 1366 and hint.height() <= 768  # it can be made to fit a laptop screen
    window.resize(1024, 700)
    qtbot.wait(100)
    assert window.width() == 1024 and window.height() == 700
    window.grab().save(str(tmp_path / "compare-1024.png"))
    step_plot = window.overlays.plots["step_ms"]
    placed = {key: QRect(plot.mapTo(window, QPoint(0, 0)), plot.size()) for key, plot in window.overlays.plots.items()}
    assert all(window.rect().contains(r) for r in placed.values()), placed  # none runs off the window …
    assert not placed["step_ms"].intersects(placed["loss"]) and not placed["loss"].intersects(placed["memory"])  # nor overlaps
    assert step_plot.height() >= 150
    summary, header = window.summary_table, window.summary_table.horizontalHeader()
    assert header.sectionViewportPosition(4) + header.sectionSize(4) <= summary.viewport().width()  # metric and 4 runs
    (x_lo, x_hi), _ = step_plot.getPlotItem().getViewBox().viewRange()
    assert x_lo <= -0.25 and x_hi >= len(window.model.chosen()) - 0.75  # every run's box is in view
    window.tabs.setCurrentIndex(1)
    window.status_checks["unchanged"].setChecked(True)
    qtbot.wait(50)
    table, header = window.op_table, window.op_table.horizontalHeader()
    window.grab().save(str(tmp_path / "compare-ops-1024.png"))
    key_right = header.sectionViewportPosition(3) + header.sectionSize(3)  # status, op, Δ ms / step, Δ %
    assert key_right <= table.viewport().width(), "the key columns need sideways scrolling"


def test_save_report_says_where_it_wrote(window: CompareWindow, tmp_path: Path) -> None:
    written = window.save_report(tmp_path / "report.md")
    assert written is not None and window.saved.isVisibleTo(window)
    assert str(written.resolve()) in window.saved.text() and "open its folder" in window.saved.text()
    window.run_list.item(2).setCheckState(Qt.CheckState.Unchecked)  # a new choice: the note has been seen
    assert not window.saved.isVisibleTo(window)
