"""File → Attach…: capture from a running program, in a child process (`main.py attach`,
followed through its JSON lines, gui/live/attach_model.py) under a dialog with the window's
progress and Cancel. HOST:PORT asks the program's profiler server for a trace, stored as a run
of the open session (listed and selected when it comes); a process id samples its Python stacks
with py-spy, shown in a flame view (gui/attach/flame_view.py).

Cancel stops the child (SIGTERM, which the attach takes as Ctrl+C: its capture child is stopped,
nothing is stored), killed if it has not ended a few seconds later (gui.live.child_process). Closing the main window
stops a running attach first.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, QProcess, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.attach.flame_view import FlameWindow
from gui.live.attach_model import EXIT_CANCELLED, ROOT, AttachState, attach_argv, failure_reason, parse_target
from gui.live.child_process import is_running, stop_and_wait, terminate_then_kill, whole_lines
from gui.live.import_dialog import ImportHost
from sessions.locations import default_stacks_dir
from sessions.schema import SessionError
from traces.table import TraceError

STDERR_KEPT = 20_000


class AttachDialog(QDialog):
    """Asks for the target and the window, then runs one attach; one of the four signals ends it."""

    captured = Signal(str, object)  # run id, events
    stacksReady = Signal(object, object)  # stacks path, samples
    failed = Signal(str, str)  # one-line reason, the child's stderr
    cancelled = Signal()

    def __init__(self, session: Path, parent: QWidget | None = None, target: str = "", seconds: float = 3.0,
                 stacks_dir: Path | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.stacks_dir = stacks_dir or default_stacks_dir()  # where a process's sampled stacks go
        self.state: AttachState | None = None
        self.setWindowTitle("Attach to a running program")
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.target_edit = QLineEdit(target)
        self.target_edit.setPlaceholderText("localhost:9999, or a process id")
        self.target_edit.setToolTip("HOST:PORT: the program's profiler server (jax.profiler.start_server(PORT), "
                                    "tf.profiler.experimental.server.start(PORT)); a process id: any Python program, "
                                    "its stacks sampled by py-spy")
        self.seconds_spin = QDoubleSpinBox()
        self.seconds_spin.setRange(0.5, 600.0)
        self.seconds_spin.setDecimals(1)
        self.seconds_spin.setSuffix(" s")
        self.seconds_spin.setValue(seconds)
        self.logdir_edit = QLineEdit()
        self.logdir_edit.setPlaceholderText("optional: a folder both machines share")
        self.logdir_edit.setToolTip("A profiler server saves its capture on its own disk: for a program on another "
                                    "machine, a folder it shares with this one (NFS, a mounted share)")
        form.addRow("Attach to", self.target_edit)
        form.addRow("For", self.seconds_spin)
        form.addRow("Server's folder", self.logdir_edit)
        layout.addLayout(form)
        self.stage_label = QLabel("A profiler server's trace becomes a run of this session; a process's stacks "
                                  "open in a flame view.")
        self.stage_label.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setVisible(False)
        self.detail_label = QLabel("")
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.start_button = QPushButton("Attach")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.cancel_button)
        for widget in (self.stage_label, self.bar, self.detail_label):
            layout.addWidget(widget)
        layout.addLayout(buttons)
        self._stdout = b""
        self._stderr = b""
        self._cancelling = False
        self._ended = False
        self.process = QProcess(self)
        self.process.setWorkingDirectory(str(ROOT))
        self.process.readyReadStandardOutput.connect(self._on_stdout)
        self.process.readyReadStandardError.connect(self._on_stderr)
        self.process.finished.connect(self._on_finished)
        self.process.errorOccurred.connect(self._on_error)
        self._timer = QTimer(self)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self._show)
        if parent is not None:
            parent.installEventFilter(self)

    @property
    def running(self) -> bool:
        return is_running(self.process)

    def start(self) -> bool:
        """Start the capture the form describes; False (the reason shown) when it names no target."""
        try:
            target = parse_target(self.target_edit.text())
        except ValueError as exc:
            self.stage_label.setText(str(exc))
            return False
        seconds = self.seconds_spin.value()
        self.state = AttachState(target, seconds, started=time.monotonic())
        stacks = None
        if target.pid is not None:
            stacks = self.stacks_dir / f"pid{target.pid}-{time.strftime('%Y%m%d-%H%M%S')}.folded"
        shared = self.logdir_edit.text().strip()
        argv = attach_argv(target, seconds, self.session, stacks, Path(shared) if shared else None)
        for field in (self.target_edit, self.seconds_spin, self.logdir_edit):
            field.setEnabled(False)
        self.start_button.setEnabled(False)
        self.bar.setVisible(True)
        self.process.setProgram(argv[0])
        self.process.setArguments(argv[1:])
        self.process.start()
        self._timer.start()
        self._show()
        return True

    def cancel(self) -> None:
        """Before the start: close. While it runs: stop the child, kill it if it will not stop."""
        if self._ended or self._cancelling:
            return
        if self.state is None or not self.running:
            self._end()
            self.cancelled.emit()
            return
        self._cancelling = True
        self.cancel_button.setEnabled(False)
        self.stage_label.setText("Cancelling…")
        terminate_then_kill(self.process)


    def stop_now(self) -> None:
        """Stop the child and wait for it (the window is closing: nothing may outlive it)."""
        if self.running:
            self._cancelling = True
            stop_and_wait(self.process)

    def _on_stdout(self) -> None:
        lines, self._stdout = whole_lines(self._stdout, bytes(self.process.readAllStandardOutput().data()))
        if self.state is not None:
            for line in lines:
                self.state.feed(line.decode("utf-8", "replace"))
        self._show()

    def _on_stderr(self) -> None:
        self._stderr = (self._stderr + bytes(self.process.readAllStandardError().data()))[-STDERR_KEPT:]

    def _show(self) -> None:
        if self._cancelling or self.state is None or self._ended:
            return
        fraction = self.state.fraction
        if fraction is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(round(fraction * 1000))
        self.stage_label.setText(self.state.stage_text())
        self.detail_label.setText(self.state.detail_text())

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._on_stdout()
        self._on_stderr()
        state = self.state
        if state is not None and self._stdout:
            state.feed(self._stdout.decode("utf-8", "replace"))
        stderr = self._stderr.decode("utf-8", "replace")
        self._end()
        normal = exit_code == 0 and exit_status == QProcess.ExitStatus.NormalExit
        if normal and state is not None and state.run_id is not None:
            self.captured.emit(state.run_id, state.events)
        elif normal and state is not None and state.stacks is not None:
            self.stacksReady.emit(state.stacks, state.samples)
        elif self._cancelling or exit_code == EXIT_CANCELLED:
            self.cancelled.emit()
        else:
            self.failed.emit(failure_reason(stderr, exit_code), stderr)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._end()
            self.failed.emit(f"the attach process could not start ({self.process.errorString()})", "")

    def _end(self) -> None:
        self._ended = True
        self._timer.stop()
        parent = self.parent()
        if parent is not None:
            parent.removeEventFilter(self)
        self.close()

    def reject(self) -> None:
        if self._ended:
            super().reject()
        else:
            self.cancel()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._ended:
            super().closeEvent(event)
        else:
            event.ignore()
            self.cancel()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close and watched is self.parent():
            self.stop_now()
        return False


def attach_from(window: ImportHost, target: str = "", seconds: float = 3.0, start: bool = False,
                stacks_dir: Path | None = None) -> AttachDialog:
    """The Attach dialog over `window` (shown; started at once when `start` and a target is given)."""
    parent = window.runs_list.window()
    session = window.session_path
    dialog = AttachDialog(session, parent, target, seconds, stacks_dir)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    notify = window.notifications.notify

    def on_captured(run_id: str, events: int | None) -> None:
        count = f"{events:,} events" if isinstance(events, int) else "a trace"
        notify(f"Attached: {count} stored as run {run_id}.", "info")
        if window.session_path == session:
            _list_new_run(window, run_id)

    def on_stacks(path: Path, samples: int | None) -> None:
        label = dialog.state.target.label if dialog.state is not None else path.stem
        open_flame_view(parent, path, f"{label}, {dialog.seconds_spin.value():g} s", notify)

    dialog.captured.connect(on_captured)
    dialog.stacksReady.connect(on_stacks)
    dialog.failed.connect(lambda reason, stderr: notify(f"Could not attach: {reason}", "error", stderr))
    dialog.show()
    if start and target:
        dialog.start()
    return dialog


def open_flame_view(parent: QWidget, stacks: Path, title: str,
                    notify: Callable[..., object] | None = None) -> FlameWindow | None:
    """A flame view of a stacks file, a window of its own kept by `parent`."""
    try:
        view = FlameWindow(stacks, title, parent)
    except TraceError as exc:
        if notify is not None:
            notify(f"Could not read the stacks: {exc}", "error")
        return None
    view.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    view.show()
    return view


def _list_new_run(window: ImportHost, run_id: str) -> None:
    try:
        window.runs_model.reload()
    except SessionError as exc:
        window.notifications.notify(f"Could not read the session: {exc}", "error")
        return
    window.runs_list.refresh(select=[])
    window.runs_list.select([run_id])


def attacher(window: ImportHost) -> Callable[[], object]:
    """The File menu's Attach slot for `window`."""
    return lambda: attach_from(window)

