"""The main window's rough edges of issue 15, items 7 and 8, driven by a framework-free worker
(tests/gui/streaming_worker.py): the first-run hint, frameworks preselected and Start waiting
for their check, the runs list and status bar while and after a queue runs, and why device
memory is empty on a CPU."""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from gui.live.main_window import MainWindow
from gui.live.runs_model import COLUMNS
from profilers.framework_check import FrameworkReport
from tests.gui.conftest import small_torch_settings

WORKER = Path(__file__).resolve().parent / "streaming_worker.py"
COLUMN = {key: k for k, (key, _, _) in enumerate(COLUMNS)}


def fake_worker(monkeypatch: pytest.MonkeyPatch, behaviour: str = "ok", steps: int = 30, pause: float = 0.05) -> None:
    monkeypatch.setattr("profilers.runner.worker_command", lambda spec, out_dir, clock_origin=None: [
        sys.executable, str(WORKER), behaviour, str(steps), str(pause)])


class SilentProbe:
    """Stands in for the framework check; the test answers for it through frameworkReported."""

    def __init__(self, frameworks: object, on_report: object) -> None:
        pass

    def start(self) -> None:
        pass


def test_first_run_hints_what_to_do_and_preselects_every_framework_that_imports(
        make_window: Callable[..., MainWindow], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gui.live.main_window.FrameworkProbe", SilentProbe)
    window = make_window(probe=("jax", "torch", "tf"))
    view = window.live_view
    assert view.pages.currentWidget() is view.hint  # no empty 0-1 axes
    assert "preset" in view.hint.text() and "Start" in view.hint.text()
    assert window.run_panel.start_button.isEnabled()  # still checking: Start would wait, not refuse
    for fw, imports in (("torch", True), ("jax", True), ("tf", False)):
        window.frameworkReported.emit(FrameworkReport(fw, imports, "1.0" if imports else None,
                                                      None if imports else "No module named 'tensorflow'"))
    assert window.panel_model.chosen == {"jax": True, "torch": True, "tf": False}
    assert [check.isChecked() for check in window.run_panel.checks.values()] == [True, True, False]


def test_start_while_the_check_runs_waits_for_it_then_starts(
        make_window: Callable[..., MainWindow], qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gui.live.main_window.FrameworkProbe", SilentProbe)
    fake_worker(monkeypatch, steps=3, pause=0.01)
    window = make_window(probe=("torch",))
    small_torch_settings(window)
    window.start_action.trigger()
    assert window.busy and not window.queue.running and "Waiting for the check of PyTorch" in window.status_label.text()
    window.frameworkReported.emit(FrameworkReport("torch", True, "2.0"))
    qtbot.waitUntil(lambda: window.queue.running or bool(window.runs_model.rows), timeout=10_000)
    qtbot.waitUntil(lambda: not window.busy, timeout=30_000)
    assert [r.record.status for r in window.runs_model.rows] == ["ok"]


def test_the_runs_list_and_status_bar_follow_a_streaming_run_and_its_end(
        make_window: Callable[..., MainWindow], qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_worker(monkeypatch, steps=40, pause=0.05)
    window = make_window()
    small_torch_settings(window)
    window.start_runs()
    tree = window.runs_list.tree

    def live_cells() -> tuple[str, str]:
        item = tree.topLevelItem(0)
        return ("", "") if item is None else (item.text(COLUMN["steps"]), item.text(COLUMN["step_ms_median"]))

    qtbot.waitUntil(lambda: "/" in live_cells()[0] and live_cells()[1] != "—", timeout=20_000)
    assert window.queue.running  # seen while it streams, not only once it has ended
    assert "left" in window.time_label.text() or "elapsed" in window.time_label.text()
    note = window.live_view.plots["device_mb"].note
    qtbot.waitUntil(note.isVisible, timeout=5_000)
    assert "CPU" in note.text()
    qtbot.waitUntil(lambda: not window.busy, timeout=30_000)
    assert window.time_label.text() == ""  # no "time left" after the queue ended
    assert "1 ok" in window.status_label.text()
    assert live_cells()[0] == "40"  # the stored figure replaces the live count


def test_a_failed_run_says_failed_in_the_status_bar(
        make_window: Callable[..., MainWindow], qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_worker(monkeypatch, behaviour="fail", steps=3, pause=0.01)
    window = make_window()
    small_torch_settings(window)
    window.start_runs()
    qtbot.waitUntil(lambda: not window.busy, timeout=30_000)
    assert "1 failed" in window.status_label.text() and window.time_label.text() == ""
    qtbot.waitUntil(lambda: window.banner.current is not None and window.banner.current.severity == "error",
                    timeout=2_000)


def test_stopping_clears_the_time_left(
        make_window: Callable[..., MainWindow], qtbot: QtBot, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_worker(monkeypatch, steps=10_000, pause=0.02)
    window = make_window()
    small_torch_settings(window)
    window.start_runs()
    qtbot.waitUntil(lambda: "left" in window.time_label.text(), timeout=20_000)
    window.stop_runs()
    qtbot.waitUntil(lambda: not window.busy, timeout=30_000)
    assert window.time_label.text() == "" and window.status_label.text().startswith("Stopped")
