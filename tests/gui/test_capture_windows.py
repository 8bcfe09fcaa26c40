"""Capture on demand in the app (docs/capture.md): a run's trace windows as rows under it in the runs
list, each opening its own window in the inspector (the v4 fixture: window 0 and a capture of steps
6-7), and the live view's "Capture next N steps" button and shortcut against a run queue."""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt
from pytestqt.qtbot import QtBot

from gui.live.capture_bar import CaptureBar
from gui.live.main_window import MainWindow
from gui.live.runs_list import WINDOW_ROLE
from profilers.control_socket import CaptureRefused

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "data" / "session-v4.stepscope"
RUN_ID = "20250101-120000-aaaaaa"  # its torch run: two trace windows


def test_a_runs_windows_are_rows_under_it_and_each_opens_in_the_inspector(
        qtbot: QtBot, make_window: Callable[..., MainWindow], tmp_path: Path) -> None:
    path = tmp_path / "v4.stepscope"
    shutil.copy(FIXTURE, path)
    window = make_window(session=path)
    tree = window.runs_list.tree
    items = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    parent = next(i for i in items if i is not None and i.data(0, Qt.ItemDataRole.UserRole) == RUN_ID)
    children = [child for k in range(parent.childCount()) if (child := parent.child(k)) is not None]
    assert [c.text(0) for c in children] == ["Trace window 0: trace window (693 events)",
                                             "Trace window 1: steps 6–7 (693 events)"]
    assert sum(i.childCount() for i in items if i is not None) == 2  # runs without captures have no window rows
    tree.clearSelection()
    children[1].setSelected(True)
    assert window.runs_list.selected_ids() == [RUN_ID]
    with qtbot.waitSignal(window.runs_list.inspectWindowRequested) as signal:
        tree.itemDoubleClicked.emit(children[1], 0)
    assert signal.args == [RUN_ID, 1] and children[1].data(0, WINDOW_ROLE) == 1
    inspector = window.analysis.views[-1]
    qtbot.waitExposed(inspector)
    assert f"{RUN_ID} — steps 6–7" in inspector.windowTitle()
    inspector.close()


class FakeQueue:
    """The run queue's side of the bar: whether a run runs, and what it answers."""

    def __init__(self) -> None:
        self.running = False
        self.asked: list[tuple[int | None, float | None]] = []

    def request_capture(self, steps: int | None = None, seconds: float | None = None) -> tuple[str, int]:
        if not self.running:
            raise CaptureRefused("no run is running")
        self.asked.append((steps, seconds))
        return "run-1", len(self.asked)


def test_the_button_and_its_shortcut_arm_a_window_in_the_running_run(qtbot: QtBot) -> None:
    queue = FakeQueue()
    bar = CaptureBar(queue)
    qtbot.addWidget(bar)
    bar.show()
    assert not bar.button.isEnabled() and bar.button.text() == "Capture next 10 steps"
    bar.capture()
    assert bar.status.text() == "Not armed: no run is running"
    queue.running = True
    qtbot.waitUntil(bar.button.isEnabled, timeout=2_000)
    bar.amount.setValue(25)
    with qtbot.waitSignal(bar.captureArmed) as signal:
        bar.action.trigger()  # what Ctrl+Shift+T does
    assert signal.args == ["run-1", 1] and queue.asked == [(25, None)]
    assert bar.status.text() == "Capture window 1 armed: the next 25 steps"
    bar.unit.setCurrentIndex(1)
    assert bar.button.text() == "Capture 25 s"
    bar.button.click()
    assert queue.asked[-1] == (None, 25.0)
    assert bar.action.shortcut().toString() == "Ctrl+Shift+T"
