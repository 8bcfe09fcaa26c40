"""The live view's "Capture next N steps" (Ctrl+Shift+T): arms the framework's own profiler in the
run that is running now (docs/capture.md); in seconds for a program whose steps are not detected.
The window is stored with the run when it ends and shows under it in the runs list."""
from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QSpinBox, QWidget

from profilers.control_socket import CaptureRefused

SHORTCUT = "Ctrl+Shift+T"


class CaptureTarget(Protocol):
    """What the bar arms a window in: the app's run queue (gui/live/run_queue.py)."""

    @property
    def running(self) -> bool: ...

    def request_capture(self, steps: int | None = None, seconds: float | None = None) -> tuple[str, int]: ...


class CaptureBar(QWidget):
    """An amount, its unit and the button; `captureArmed(run_id, window)` after each armed window."""

    captureArmed = Signal(str, int)

    def __init__(self, target: CaptureTarget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.target = target
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.amount = QSpinBox()
        self.amount.setRange(1, 100_000)
        self.amount.setValue(10)
        self.unit = QComboBox()
        self.unit.addItem("steps", "steps")
        self.unit.addItem("seconds", "seconds")
        self.unit.setToolTip("seconds: for a program whose steps Stepscope does not detect")
        self.button = QPushButton()
        self.status = QLabel()
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for widget in (self.status, self.amount, self.unit, self.button):
            layout.addWidget(widget)
        self.action = QAction("Capture Next Steps", self)
        self.action.setShortcut(QKeySequence(SHORTCUT))
        self.action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.action.triggered.connect(self.capture)
        self.addAction(self.action)
        self.button.clicked.connect(self.capture)
        self.amount.valueChanged.connect(self._relabel)
        self.unit.currentIndexChanged.connect(self._relabel)
        self._relabel()
        self._timer = QTimer(self)  # the queue has no signal for "a run is running": ask it twice a second
        self._timer.timeout.connect(self._sync)
        self._timer.start(500)
        self._sync()

    def _relabel(self) -> None:
        n = self.amount.value()
        text = f"Capture next {n} steps" if self.unit.currentData() == "steps" else f"Capture {n} s"
        self.button.setText(text)
        self.button.setToolTip(f"{text} of the run that is running now with its framework's profiler ({SHORTCUT}); "
                               "the window is stored with the run and opens in the inspector")

    def _sync(self) -> None:
        running = self.target.running
        self.button.setEnabled(running)
        self.action.setEnabled(running)

    def capture(self) -> None:
        n = self.amount.value()
        steps, seconds = (n, None) if self.unit.currentData() == "steps" else (None, float(n))
        try:
            run_id, window = self.target.request_capture(steps=steps, seconds=seconds)
        except CaptureRefused as exc:
            self.status.setText(f"Not armed: {exc}")
            return
        what = f"the next {n} steps" if steps else f"{n} s"
        self.status.setText(f"Capture window {window} armed: {what}")
        self.captureArmed.emit(run_id, window)
