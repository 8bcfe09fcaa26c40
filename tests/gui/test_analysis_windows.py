"""The runs list opens the trace inspector and the comparison view; a run without a trace says
so in a notification instead of failing."""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from gui.live.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "data" / "session-v2.stepscope"  # two of its runs hold parsed traces


def _session_copy(tmp_path: Path) -> Path:
    path = tmp_path / "v2.stepscope"
    shutil.copy(FIXTURE, path)
    return path


def _trace_runs(window: MainWindow) -> tuple[list[str], list[str]]:
    with_trace: list[str] = []
    without: list[str] = []
    for row in window.runs_model.rows:
        has_trace = row.figures.get("trace_events") or _has_trace(window.session_path, row.run_id)
        (with_trace if has_trace else without).append(row.run_id)
    return with_trace, without


def _has_trace(path: Path, run_id: str) -> bool:
    from sessions.store import Session

    with Session.open_readonly(path) as session:
        return session.trace(run_id) is not None


def test_double_click_opens_the_inspector(qtbot: QtBot, make_window: Callable[..., MainWindow], tmp_path: Path) -> None:
    window = make_window(session=_session_copy(tmp_path))
    with_trace, without = _trace_runs(window)
    assert with_trace and without
    item = next(window.runs_list.tree.topLevelItem(i) for i in range(window.runs_list.tree.topLevelItemCount())
                if window.runs_list.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) == with_trace[0])
    with qtbot.waitSignal(window.runs_list.inspectRequested) as signal:
        window.runs_list.tree.itemDoubleClicked.emit(item, 0)
    assert signal.args == [with_trace[0]]
    inspector = window.analysis.views[-1]
    qtbot.waitExposed(inspector)
    qtbot.waitUntil(lambda: inspector.timeline.visible_box_count() > 0, timeout=5_000)  # drawn on the first paint
    assert with_trace[0] in inspector.windowTitle()
    inspector.close()


def test_run_without_trace_is_a_notification(make_window: Callable[..., MainWindow], tmp_path: Path) -> None:
    window = make_window(session=_session_copy(tmp_path))
    _, without = _trace_runs(window)
    before = len(window.notifications.records)
    assert window.inspect_trace(without[0]) is None
    notes = window.notifications.records[before:]
    assert notes and "no parsed trace" in notes[-1].message and notes[-1].severity == "warning"
    assert window.isVisible()


def test_compare_opens_on_the_selection(qtbot: QtBot, make_window: Callable[..., MainWindow], tmp_path: Path) -> None:
    window = make_window(session=_session_copy(tmp_path))
    ids = [row.run_id for row in window.runs_model.rows][:2]
    window.runs_list.select(ids)
    view = window.compare_runs()
    assert view is not None
    qtbot.waitExposed(view)
    assert [entry.key[1] for entry in view.model.chosen()] == ids
    view.close()


def test_inspect_is_enabled_only_for_one_run_with_a_trace(make_window: Callable[..., MainWindow], tmp_path: Path) -> None:
    window = make_window(session=_session_copy(tmp_path))
    with_trace, without = _trace_runs(window)
    action = window.inspect_action
    window.runs_list.select([without[0]])
    assert not action.isEnabled() and "no stored trace" in action.toolTip()
    window.runs_list.select([with_trace[0]])
    assert action.isEnabled()
    window.runs_list.select([with_trace[0], without[0]])
    assert not action.isEnabled() and "Select one run" in action.toolTip()
    window.runs_list.select([with_trace[0]])
    window.runs_list.refresh()  # a reload (after a run) keeps the selection and the state
    assert action.isEnabled()
