"""File → Import Trace…: a trace file or folder read into the open session by a child process
(`main.py import`, followed through its JSON lines, gui/live/import_model.py), under a dialog
that shows bytes read of the total, the rate and the time left, with Cancel.

Cancel asks the child to stop (SIGTERM, which the import takes as Ctrl+C: the reader stops at
its next chunk) and kills it if it has not ended a few seconds later (gui.live.child_process); either way nothing is
stored, because the import writes its run in one transaction. On success the new run is listed
and selected (its trace then opens in the inspector); a failure is the child's one line, in a
notification. Closing the main window stops a running import first.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from PySide6.QtCore import QEvent, QObject, QProcess, Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import QDialog, QFileDialog, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from gui.live.child_process import is_running, stop_and_wait, terminate_then_kill, whole_lines
from gui.live.import_model import EXIT_CANCELLED, ROOT, TRACE_FILES, ImportState, failure_reason, import_argv
from gui.live.runs_list import RunsListPanel
from gui.live.runs_model import RunsModel
from gui.notifications import NotificationManager
from sessions.schema import SessionError

STDERR_KEPT = 20_000  # characters of the child's stderr kept for a failure's detail


class ImportHost(Protocol):
    """What an import needs of the main window."""

    session_path: Path
    notifications: NotificationManager
    runs_model: RunsModel
    runs_list: RunsListPanel


class ImportDialog(QDialog):
    """One import in its child process; `start()` it, then one of the three signals ends it."""

    imported = Signal(str, object)  # run id, events (int or None)
    failed = Signal(str, str)  # one-line reason, the child's stderr
    cancelled = Signal()

    def __init__(self, trace: Path, session: Path, parent: QWidget | None = None, framework: str | None = None) -> None:
        super().__init__(parent)
        self.state = ImportState(Path(trace), Path(session))
        self.setWindowTitle("Import trace")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        heading = QLabel(f"Importing <b>{self.state.trace.name}</b> into <b>{self.state.session.name}</b>")
        heading.setTextFormat(Qt.TextFormat.RichText)
        heading.setToolTip(str(self.state.trace))
        self.stage_label = QLabel(self.state.stage_text())
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)  # busy until the child says how many bytes there are
        self.detail_label = QLabel("starting…")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        for widget in (heading, self.stage_label, self.bar, self.detail_label):
            layout.addWidget(widget)
        layout.addWidget(self.cancel_button, alignment=Qt.AlignmentFlag.AlignRight)
        self._stdout = b""
        self._stderr = b""
        self._cancelling = False
        self._ended = False
        self.process = QProcess(self)
        self.process.setWorkingDirectory(str(ROOT))
        argv = import_argv(self.state.trace, self.state.session, framework)
        self.process.setProgram(argv[0])
        self.process.setArguments(argv[1:])
        self.process.readyReadStandardOutput.connect(self._on_stdout)
        self.process.readyReadStandardError.connect(self._on_stderr)
        self.process.finished.connect(self._on_finished)
        self.process.errorOccurred.connect(self._on_error)
        if parent is not None:
            parent.installEventFilter(self)  # its close stops the child first

    def start(self) -> None:
        self.process.start()

    @property
    def running(self) -> bool:
        return is_running(self.process)

    def cancel(self) -> None:
        """Ask the child to stop; kill it if it does not within a few seconds."""
        if self._ended or self._cancelling:
            return
        self._cancelling = True
        self.cancel_button.setEnabled(False)
        self.stage_label.setText("Cancelling…")
        if self.running:
            terminate_then_kill(self.process)
        else:
            self._end()
            self.cancelled.emit()


    def stop_now(self) -> None:
        """Stop the child and wait for it (the window is closing: nothing may outlive it)."""
        if self.running:
            self._cancelling = True
            stop_and_wait(self.process)

    # -- the child's output ---------------------------------------------------------------
    def _on_stdout(self) -> None:
        lines, self._stdout = whole_lines(self._stdout, bytes(self.process.readAllStandardOutput().data()))
        for line in lines:
            self.state.feed(line.decode("utf-8", "replace"))
        self._show()

    def _on_stderr(self) -> None:
        self._stderr = (self._stderr + bytes(self.process.readAllStandardError().data()))[-STDERR_KEPT:]

    def _show(self) -> None:
        if self._cancelling:
            return
        fraction = self.state.fraction
        if fraction is None or self.state.stage != "reading":
            self.bar.setRange(0, 0)  # no byte count, or the work after the read: busy
        else:
            self.bar.setRange(0, 1000)
            self.bar.setValue(round(fraction * 1000))
        self.stage_label.setText(self.state.stage_text())
        self.detail_label.setText(self.state.detail_text())

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._on_stdout()
        self._on_stderr()
        if self._stdout:  # a last line without its newline
            self.state.feed(self._stdout.decode("utf-8", "replace"))
        stderr = self._stderr.decode("utf-8", "replace")
        self._end()
        if exit_code == 0 and exit_status == QProcess.ExitStatus.NormalExit and self.state.run_id is not None:
            self.imported.emit(self.state.run_id, self.state.events)
        elif self._cancelling or exit_code == EXIT_CANCELLED:
            self.cancelled.emit()
        else:
            self.failed.emit(failure_reason(stderr, exit_code), stderr)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self._end()
            self.failed.emit(f"the import process could not start ({self.process.errorString()})", "")

    def _end(self) -> None:
        self._ended = True
        parent = self.parent()
        if parent is not None:
            parent.removeEventFilter(self)
        self.close()

    # -- Esc, the title bar's close and the parent's close ----------------------------------
    def reject(self) -> None:
        if self._ended:
            super().reject()
        else:
            self.cancel()  # Esc or the close button mean Cancel; the dialog goes once the child has

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


def choose_trace(parent: QWidget, start: Path, folder: bool) -> Path | None:
    """A trace file, or a folder (a profile log directory, or one job's per-rank traces)."""
    if folder:
        name = QFileDialog.getExistingDirectory(parent, "Import trace folder", str(start))
    else:
        name, _ = QFileDialog.getOpenFileName(parent, "Import trace", str(start), TRACE_FILES)
    return Path(name) if name else None


def import_into(window: ImportHost, folder: bool = False, trace: Path | None = None) -> ImportDialog | None:
    """Import a trace (chosen here unless given) into the window's open session; the dialog is
    returned, already started, or None when nothing was chosen."""
    parent = window.runs_list.window()  # the main window: the dialog's parent, whose close stops the child
    trace = trace or choose_trace(parent, window.session_path.parent, folder)
    if trace is None:
        return None
    session = window.session_path
    dialog = ImportDialog(trace, session, parent)
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    notify = window.notifications.notify

    def on_imported(run_id: str, events: int | None) -> None:
        count = f"{events:,} events" if isinstance(events, int) else "the trace"
        notify(f"Imported {count} from {trace.name} as run {run_id}.", "info")
        if window.session_path == session:
            _list_new_run(window, run_id)

    dialog.imported.connect(on_imported)
    dialog.failed.connect(lambda reason, stderr: notify(f"Could not import {trace.name}: {reason}", "error", stderr))
    dialog.cancelled.connect(lambda: notify(f"The import of {trace.name} was cancelled; nothing was stored.", "info"))
    dialog.show()
    dialog.start()
    return dialog


def _list_new_run(window: ImportHost, run_id: str) -> None:
    try:
        window.runs_model.reload()
    except SessionError as exc:
        window.notifications.notify(f"Could not read the session: {exc}", "error")
        return
    window.runs_list.refresh(select=[])
    window.runs_list.select([run_id])  # its curves show, and Inspect Trace opens its trace


def importer(window: ImportHost) -> Callable[[bool], object]:
    """The File menu's Import slot for `window`: folder=True asks for a folder instead of a file."""
    return lambda folder: import_into(window, folder)
