"""The user's own program from the app: the "Your program" form (Ctrl+Shift+P) hands a ProgramSpec
to the run queue, and a real program (tests/gui/fake_user_program.py, the agent's side of the
contract by hand) runs through it into the session, the live plots, the runs list and the
comparison view; Stop ends it like a built-in run."""
from __future__ import annotations

import shlex
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings, Qt
from pytestqt.qtbot import QtBot

from gui.compare.compare_model import CompareModel
from gui.live.live_model import FRAMEWORK_COLORS, LiveModel
from gui.live.program_panel import ProgramPanel
from gui.live.program_panel_model import EMPTY_COMMAND
from gui.live.run_queue import QueueCallbacks, RunQueue
from gui.live.runs_model import COLUMNS, RunsModel
from sessions.store import Session
from workloads.program import ProgramSpec

FAKE_PROGRAM = Path(__file__).resolve().with_name("fake_user_program.py")


def fake_command(*args: str) -> str:
    return shlex.join([sys.executable, str(FAKE_PROGRAM), *args])


def test_the_form_hands_a_program_spec_to_the_queue(make_window: Any, qtbot: QtBot, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    window = make_window()
    started: list[list[Any]] = []
    monkeypatch.setattr(window.queue, "start", lambda specs: started.append(list(specs)))
    assert not window.run_tabs.program_shown
    assert "Ctrl+Shift+P" in window.run_tabs.tabToolTip(1)
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)  # shortcuts go to the active window
    qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert window.run_tabs.program_shown and window.program_panel.command.hasFocus()
    panel = window.program_panel
    panel.window_box.setCurrentIndex(panel.window_box.findData("time"))
    assert not panel.steps_from.isVisibleTo(panel) and panel.trace_at.isVisibleTo(panel)
    panel.start_button.click()  # nothing typed yet: one sentence under the form, nothing queued
    assert panel.error_label.isVisible() and panel.error_label.text() == EMPTY_COMMAND and not started
    qtbot.keyClicks(panel.command, 'python train.py --name "a b"')
    panel.cwd.setText(str(tmp_path))
    panel.env.setPlainText("OMP_NUM_THREADS=2\n")
    qtbot.keyClicks(panel.name, "mine")
    panel.batch.setValue(32)
    panel.trace_at.setValue(4.0)
    panel.trace_for.setValue(1.0)
    window.start_action.trigger()  # Ctrl+R starts what the shown tab holds
    assert not panel.error_label.isVisible()
    assert started == [[ProgramSpec(command=("python", "train.py", "--name", "a b"), cwd=str(tmp_path),
                                    env={"OMP_NUM_THREADS": "2"}, name="mine", trace_at=4.0, trace_for=1.0,
                                    batch_size=32)]]
    assert window.busy and not panel.command.isEnabled() and panel.stop_button.isEnabled()
    again = ProgramPanel(window.settings)  # the next start of the app offers it again, form and all
    qtbot.addWidget(again)
    assert again.recent_box.count() == 2 and again.command.text() == 'python train.py --name "a b"'
    assert (again.cwd.text(), again.name.text(), again.batch.value(), again.window_box.currentData()) == (
        str(tmp_path), "mine", 32, "time")


def test_a_program_runs_through_the_queue_into_the_session_and_the_live_model(tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    live = LiveModel()
    notices: list[str] = []
    results: list[Any] = []
    finished = threading.Event()
    callbacks = QueueCallbacks(run_started=lambda run_id, spec, index, total: live.announce(run_id, "", spec.label, 0),
                               event=live.post, notice=lambda run_id, message: notices.append(message),
                               run_finished=lambda run_id, result, problem: results.append((result, problem)),
                               queue_finished=lambda cancelled: finished.set())
    spec = ProgramSpec(command=(sys.executable, str(FAKE_PROGRAM), "6", "0.01"), cwd=str(tmp_path))
    RunQueue(path, callbacks).start([spec])
    assert finished.wait(60)
    (result, problem), = results
    assert (result.status, result.reason, problem) == ("ok", None, None), result.log[-2000:]
    assert notices == ["The fake program runs no real framework."]
    live.drain()
    run = live.runs[result.run_id]
    assert run.steps_done == 6 and run.framework == "torch" and run.step_source is not None
    assert len(run.series["samples_per_s"]) == 0 and run.median_step_ms() is not None
    with Session.open_readonly(path) as session:
        record = session.run(result.run_id)
        assert (record.kind, record.status, record.step_count) == ("program", "ok", 6)
        assert "fake training starts" in session.log(result.run_id)
    model = RunsModel(path)
    model.reload()
    figures = model.rows[0].figures
    assert (figures["framework"], figures["workload"], figures["steps"]) == ("torch", "fake_user_program.py", 5)
    assert figures["samples_per_s"] is None


def test_a_program_run_from_the_window_is_listed_plotted_and_comparable(make_window: Any, qtbot: QtBot,
                                                                         tmp_path: Path) -> None:
    window = make_window()
    window.run_tabs.show_program()
    window.program_panel.command.setText(fake_command("8", "0.01"))
    window.program_panel.cwd.setText(str(tmp_path))
    window.program_panel.start_button.click()
    qtbot.waitUntil(lambda: not window.busy, timeout=60_000)
    row = window.runs_model.rows[-1]
    assert row.record.status == "ok", row.record.reason
    item = window.runs_list.tree.topLevelItem(0)
    assert item is not None
    keys = [key for key, _, _ in COLUMNS]
    assert item.text(keys.index("framework")) == "torch" and item.text(keys.index("workload")) == "fake_user_program.py"
    assert any(n.severity == "info" and "no real framework" in n.message for n in window.notifications.records)
    run = next(iter(window.live_model.runs.values()))
    qtbot.waitUntil(lambda: run.steps_done == 8, timeout=5_000)  # the plots' timer drains the last events
    assert run.color == FRAMEWORK_COLORS["torch"]
    qtbot.waitUntil(lambda: window.program_panel.status_label.text() == "fake_user_program.py: PyTorch 2.0 · steps from "
                    "torch.optim", timeout=5_000)  # the status tick, twice a second
    window.runs_list.select([])
    window.runs_list.select([row.run_id])  # shown again from the file, named as a program run
    qtbot.waitUntil(lambda: bool(window.live_view.legend_labels()), timeout=5_000)
    assert window.live_view.legend_labels()[0].startswith("fake_user_program.py (PyTorch)")
    compare = CompareModel.for_session(window.session_path)
    assert compare.entries[0].figures["framework"] == "torch"
    assert compare.entries[0].title.startswith("torch fake_user_program.py")


def test_stop_ends_a_program_run_and_keeps_it_as_cancelled(make_window: Any, qtbot: QtBot, tmp_path: Path) -> None:
    window = make_window()
    window.run_tabs.show_program()
    window.program_panel.command.setText(fake_command("3", "0.01", "--wait"))
    window.program_panel.cwd.setText(str(tmp_path))
    window.start_action.trigger()
    qtbot.waitUntil(lambda: any(r.steps_done >= 3 for r in window.live_model.runs.values()), timeout=60_000)
    window.stop_action.trigger()
    qtbot.waitUntil(lambda: not window.busy, timeout=30_000)
    row = window.runs_model.rows[-1]
    assert row.record.status == "cancelled" and row.record.step_count == 3
    assert window.program_panel.start_button.isEnabled()


def test_a_program_panel_blocked_without_a_session_refuses_start(qtbot: QtBot, tmp_path: Path) -> None:
    panel = ProgramPanel(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(panel)
    panel.set_blocked("No session is open.")
    assert not panel.start_button.isEnabled() and panel.error_label.text() == "No session is open."
    panel.set_blocked(None)
    assert panel.start_button.isEnabled() and not panel.error_label.text()


def test_a_command_that_is_not_there_fails_with_a_notification(make_window: Any, qtbot: QtBot, tmp_path: Path) -> None:
    window = make_window()
    window.run_tabs.show_program()
    window.program_panel.command.setText("no-such-program-for-stepscope --flag")
    window.program_panel.cwd.setText(str(tmp_path))
    window.start_program()
    qtbot.waitUntil(lambda: not window.busy, timeout=30_000)
    note = [n for n in window.notifications.records if n.severity == "error"][-1]
    assert note.message.startswith("The no-such-program-for-stepscope run failed") and "not found" in note.message
    assert window.runs_model.rows[-1].record.status == "failed"
    assert window.program_panel.start_button.isEnabled()
