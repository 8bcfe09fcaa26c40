"""File → Import Trace… in the main window: a generated Kineto trace read by a child process into
the open session, listed and inspectable; Cancel during a big read leaves nothing; a bad file is
one line in a notification; a folder of per-rank traces is one run."""
from __future__ import annotations

from pathlib import Path

import psutil
import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog
from pytestqt.qtbot import QtBot

from gui.live.import_dialog import ImportDialog, import_into
from gui.live.main_window import MainWindow
from sessions.store import Session
from sessions.traces import load_trace
from tests.cli.test_import_progress import BIG_OPS_PER_STEP, BIG_STEPS, write_kineto_trace


def _action(window: MainWindow, text: str) -> QAction:
    (action,) = [a for a in window.findChildren(QAction) if a.text() == text]
    return action


def _messages(window: MainWindow) -> list[tuple[str, str]]:
    return [(n.severity, n.message) for n in window.notifications.records]


def _stored_runs(session: Path) -> list[str]:
    if not session.exists():
        return []
    with Session.open_readonly(session) as s:
        return [r.run_id for r in s.runs()]


def test_import_trace_reads_a_file_into_the_open_session_and_lists_it(make_window, qtbot: QtBot, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    trace = tmp_path / "mine.pt.trace.json"
    events = write_kineto_trace(trace, steps=4, ops_per_step=5)
    window = make_window()
    asked: list[str] = []

    def pick(parent: object, caption: str, directory: str, filters: str) -> tuple[str, str]:
        asked.append(filters)
        return str(trace), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", pick)
    action = _action(window, "&Import Trace…")
    assert action.shortcut().toString() == "Ctrl+Shift+I"
    action.trigger()
    assert "*.xplane.pb.gz" in asked[0] and "*.pt.trace.json" in asked[0]
    (dialog,) = window.findChildren(ImportDialog)
    state = dialog.state  # the dialog deletes itself once the import has ended
    qtbot.waitUntil(lambda: bool(window.runs_model.rows), timeout=60_000)
    (row,) = window.runs_model.rows
    assert row.record.kind == "imported" and row.record.status == "ok"
    assert row.figures["steps"] == 4 and row.figures["trace_events"] == events == 24
    assert state.run_id == row.run_id and state.done == state.total == trace.stat().st_size
    assert window.runs_list.tree.topLevelItemCount() == 1 and window.runs_list.selected_ids() == [row.run_id]
    assert ("info", f"Imported 24 events from mine.pt.trace.json as run {row.run_id}.") in _messages(window)
    assert window.inspect_action.isEnabled()
    inspector = window.inspect_trace()
    assert inspector is not None
    inspector.close()
    with Session.open_readonly(window.session_path) as s:
        assert len(load_trace(s, row.run_id)[0]) == events


def test_cancel_during_a_big_read_stops_the_child_and_stores_nothing(make_window, qtbot: QtBot, tmp_path: Path) -> None:
    trace = tmp_path / "big.pt.trace.json.gz"
    write_kineto_trace(trace, BIG_STEPS, BIG_OPS_PER_STEP)
    window = make_window()
    dialog = ImportDialog(trace, window.session_path, window)
    cancelled: list[bool] = []
    dialog.cancelled.connect(lambda: cancelled.append(True))
    dialog.show()
    dialog.start()
    qtbot.waitUntil(lambda: dialog.state.total > 0, timeout=60_000)  # the child is reading
    child = psutil.Process(dialog.process.processId())
    assert dialog.bar.maximum() == 1000 and "of" in dialog.detail_label.text()
    dialog.cancel_button.click()
    qtbot.waitUntil(lambda: bool(cancelled), timeout=30_000)
    assert dialog.state.run_id is None and dialog.state.done < dialog.state.total  # stopped mid-read
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert _stored_runs(window.session_path) == []
    window.runs_model.reload()
    assert window.runs_model.rows == []


def test_a_trace_that_cannot_be_read_is_one_line_in_a_notification(make_window, qtbot: QtBot, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    window = make_window()
    dialog = import_into(window, trace=bad)
    assert dialog is not None
    qtbot.waitUntil(lambda: any(severity == "error" for severity, _ in _messages(window)), timeout=60_000)
    (message,) = [m for severity, m in _messages(window) if severity == "error"]
    assert message.startswith(f"Could not import bad.json: {bad}: ") and "\n" not in message
    assert window.runs_model.rows == []


def test_import_trace_folder_reads_per_rank_traces_as_one_run(make_window, qtbot: QtBot, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "job"
    folder.mkdir()
    counts = [write_kineto_trace(folder / f"rank-{rank}.json", steps=2, ops_per_step=3, rank=rank) for rank in (0, 1)]
    window = make_window()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *args: str(folder))
    _action(window, "Import Trace &Folder…").trigger()
    qtbot.waitUntil(lambda: bool(window.runs_model.rows), timeout=60_000)
    (row,) = window.runs_model.rows
    assert row.figures["trace_events"] == sum(counts) == 16


def test_closing_the_window_stops_a_running_import(make_window, qtbot: QtBot, tmp_path: Path) -> None:
    trace = tmp_path / "big.pt.trace.json.gz"
    write_kineto_trace(trace, BIG_STEPS, BIG_OPS_PER_STEP)
    window = make_window()
    dialog = import_into(window, trace=trace)
    assert dialog is not None
    qtbot.waitUntil(lambda: dialog.state.total > 0, timeout=60_000)
    child = psutil.Process(dialog.process.processId())
    assert window.close()
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    assert _stored_runs(window.session_path) == []
