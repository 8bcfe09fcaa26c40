"""Run → Machines…: the SSH machines a run can go to (gui/live/machines_model.py), kept in
QSettings as a list of targets, with each one's last test (which the run panel's rows show).
Add (checked by the executors' parser), Remove, "Test connection" and "Set up…", each in a child
process (`main.py env --on TARGET --quick --json`, `main.py remote setup TARGET`), so the window
never waits on a network or loads a framework; the set-up's output streams into the dialog, and
Cancel stops whichever child runs (SIGTERM, then SIGKILL).

No password is asked for or kept: SSH signs in with the user's agent, keys and ~/.ssh/config.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Protocol

from PySide6.QtCore import QEvent, QObject, QProcess, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QColor, QFont
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.live.child_process import is_running, stop_and_wait, terminate_then_kill
from gui.live.machines_model import (
    HINT,
    ROOT,
    CheckResult,
    MachinesModel,
    check_argv,
    failure_line,
    setup_argv,
    summarize_env,
)
from gui.live.run_panel import RunPanel

SETTINGS_KEY = "machines"
TESTS_KEY = "machine_tests"  # each machine's last connection test, as MachinesModel.results_to_dict()
OUTPUT_KEPT = 200_000
STATE_COLORS = {"ok": "#2e9d4a", "failed": "#d0392b", "no-environment": "#b7791f", "testing": "#2f7ed8"}
STATE_MARKS = {"ok": "✓", "failed": "✗", "no-environment": "!", "testing": "…"}  # readable when selected too
TARGET_ROLE = Qt.ItemDataRole.UserRole


def load_machines(settings: QSettings) -> MachinesModel:
    """The machines kept in `settings` (a JSON list of targets) and their last tests; unreadable
    entries are dropped."""
    stored, tests = (_stored_json(settings, key, empty) for key, empty in ((SETTINGS_KEY, "[]"), (TESTS_KEY, "{}")))
    model = MachinesModel([str(t) for t in stored] if isinstance(stored, list) else [])
    model.load_results(tests)
    return model


def _stored_json(settings: QSettings, key: str, empty: str) -> object:
    try:
        return json.loads(str(settings.value(key, empty) or empty))
    except ValueError:
        return None


def save_machines(settings: QSettings, model: MachinesModel) -> None:
    settings.setValue(SETTINGS_KEY, json.dumps(model.to_list()))
    settings.setValue(TESTS_KEY, json.dumps(model.results_to_dict()))
    settings.sync()


class MachinesDialog(QDialog):
    """The list and its buttons; one child (a test or a set-up) at a time."""

    changed = Signal()  # a machine was added or removed
    checked = Signal(str, object)  # target, CheckResult: a connection test ended
    setupFinished = Signal(str, bool)  # target, succeeded

    def __init__(self, model: MachinesModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setWindowTitle("Machines")
        self.setMinimumWidth(620)
        layout = QVBoxLayout(self)
        intro = QLabel("Machines a built-in workload can run on, over SSH. Sign-in is your own SSH set-up "
                       "(ssh-agent, keys, ~/.ssh/config); Stepscope asks for and stores no password.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.list = QListWidget()
        self.list.setAlternatingRowColors(True)
        self.list.currentRowChanged.connect(lambda _row: self._sync_buttons())
        layout.addWidget(self.list, 1)
        add_row = QHBoxLayout()
        self.add_edit = QLineEdit()
        self.add_edit.setPlaceholderText("ssh://user@gpu-box:22, or ssh://ALIAS of ~/.ssh/config")
        self.add_edit.setToolTip(HINT)
        self.add_edit.returnPressed.connect(self.add)
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self.add)
        add_row.addWidget(self.add_edit, 1)
        add_row.addWidget(self.add_button)
        layout.addLayout(add_row)
        self.add_message = QLabel("")
        self.add_message.setStyleSheet("color: #d0392b")
        self.add_message.setWordWrap(True)
        self.add_message.setVisible(False)
        self.add_edit.textChanged.connect(lambda _text: self.add_message.setVisible(False))
        layout.addWidget(self.add_message)
        actions = QHBoxLayout()
        self.test_button = QPushButton("Test connection")
        self.test_button.setToolTip("Reach the machine over SSH and list the frameworks and GPUs of its worker "
                                    "environment (`env --on TARGET --quick`)")
        self.test_button.clicked.connect(lambda: self.test())
        self.setup_button = QPushButton("Set up…")
        self.setup_button.setToolTip("Install this version's worker environment there (`remote setup TARGET`): "
                                     "the code over SFTP, a venv at requirements.txt's pins under ~/.stepscope")
        self.setup_button.clicked.connect(lambda: self.set_up())
        self.python_edit = QLineEdit()
        self.python_edit.setPlaceholderText("Python there (optional)")
        self.python_edit.setToolTip("An interpreter on that machine that already has the frameworks: Set up… uses "
                                    "it as it is and installs nothing (`remote setup --python PATH`)")
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove)
        for widget in (self.test_button, self.setup_button, self.python_edit, self.remove_button):
            actions.addWidget(widget)
        layout.addLayout(actions)
        self.status = QLabel("Select a machine to test it or set it up.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)
        self.output = QPlainTextEdit()
        self.output.setReadOnly(True)
        self.output.setFont(QFont("monospace", 8))
        self.output.setPlaceholderText("Set up…'s output")
        self.output.setVisible(False)
        layout.addWidget(self.output, 1)
        bottom = QHBoxLayout()
        bottom.addStretch(1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the running test or set-up")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        bottom.addWidget(self.cancel_button)
        bottom.addWidget(self.close_button)
        layout.addLayout(bottom)
        self.job: tuple[str, str] | None = None  # ("test" or "setup", target) while a child runs
        self._started = 0.0
        self._stdout = b""
        self._stderr = b""
        self.process = QProcess(self)
        self.process.setWorkingDirectory(str(ROOT))
        self.process.readyReadStandardOutput.connect(self._on_stdout)
        self.process.readyReadStandardError.connect(self._on_stderr)
        self.process.finished.connect(self._on_finished)
        self.process.errorOccurred.connect(self._on_error)
        self._timer = QTimer(self)
        self._timer.setInterval(500)
        self._timer.timeout.connect(self._show_elapsed)
        if parent is not None:
            parent.installEventFilter(self)  # the main window's close stops a running child
        listener = self._on_result
        model.connect(listener)  # a test from the run panel shows here too
        self.destroyed.connect(lambda: model.disconnect(listener))
        self.refresh()

    # -- the list ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Rebuild the rows from the model, keeping the selection."""
        current = self.selected()
        self.list.clear()
        for target in self.model.targets:
            result = self.model.results.get(target)
            mark = STATE_MARKS.get(result.state, "") if result is not None else ""
            item = QListWidgetItem(target if result is None else f"{target}\n    {mark} {result.line}")
            item.setData(TARGET_ROLE, target)
            if result is not None:
                item.setForeground(QColor(STATE_COLORS.get(result.state, "#888888")))
                item.setToolTip(result.line)
            self.list.addItem(item)
            if target == current:
                self.list.setCurrentItem(item)
        if self.list.currentRow() < 0 and self.list.count():
            self.list.setCurrentRow(self.list.count() - 1)
        self._sync_buttons()

    def selected(self) -> str | None:
        item = self.list.currentItem()
        return str(item.data(TARGET_ROLE)) if item is not None else None

    def select(self, target: str) -> None:
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item is not None and item.data(TARGET_ROLE) == target:
                self.list.setCurrentItem(item)

    def add(self) -> str | None:
        """Add what the line edit names; the reason under it when it cannot."""
        try:
            target = self.model.add(self.add_edit.text())
        except ValueError as exc:
            self.add_message.setText(str(exc))
            self.add_message.setVisible(True)
            return None
        self.add_edit.clear()
        self.refresh()
        self.select(target)
        self.status.setText(f"Added {target}: test the connection, or set it up once.")
        self.changed.emit()
        return target

    def remove(self) -> None:
        target = self.selected()
        if target is None or (self.job is not None and self.job[1] == target):
            return
        self.model.remove(target)
        self.refresh()
        self.changed.emit()

    # -- children ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return is_running(self.process)

    def test(self, target: str | None = None) -> bool:
        """Test `target` (default: the selected machine) in a child; False when one already runs."""
        target = target or self.selected()
        if target is None or self.job is not None:
            return False
        self.model.record(target, CheckResult("testing", "testing the connection…"))
        self._start("test", target, check_argv(target))
        return True

    def set_up(self, target: str | None = None) -> bool:
        """Run `remote setup` for `target` in a child, its output streamed below; False when busy."""
        target = target or self.selected()
        if target is None or self.job is not None:
            return False
        self.output.clear()
        self.output.setVisible(True)
        self._start("setup", target, setup_argv(target, self.python_edit.text().strip() or None))
        return True

    def _start(self, kind: str, target: str, argv: list[str]) -> None:
        self.job = (kind, target)
        self._stdout = self._stderr = b""
        self._started = time.monotonic()
        self.process.setProgram(argv[0])
        self.process.setArguments(argv[1:])
        self.process.start()
        self._timer.start()
        self._show_elapsed()
        self._sync_buttons()

    def cancel(self) -> None:
        """Stop the running child (its result is dropped); killed if it has not ended a few seconds later."""
        if not self.running:
            return
        self.status.setText("Cancelling…")
        terminate_then_kill(self.process)


    def stop_now(self) -> None:
        """Stop the child and wait for it: nothing outlives the dialog."""
        if self.running:
            stop_and_wait(self.process)

    def _on_stdout(self) -> None:
        data = bytes(self.process.readAllStandardOutput().data())
        self._stdout = (self._stdout + data)[-OUTPUT_KEPT:]
        if self.job is not None and self.job[0] == "setup":
            self._append(data)

    def _on_stderr(self) -> None:
        data = bytes(self.process.readAllStandardError().data())
        self._stderr = (self._stderr + data)[-OUTPUT_KEPT:]
        if self.job is not None and self.job[0] == "setup":
            self._append(data)

    def _append(self, data: bytes) -> None:
        text = data.decode("utf-8", "replace").rstrip("\n")
        if text:
            self.output.appendPlainText(text)

    def _show_elapsed(self) -> None:
        if self.job is None:
            return
        kind, target = self.job
        what = "Testing the connection to" if kind == "test" else "Setting up"
        self.status.setText(f"{what} {target}… {time.monotonic() - self._started:.0f} s")

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        self._on_stdout()
        self._on_stderr()
        self._timer.stop()
        if self.job is None:
            return
        kind, target = self.job
        self.job = None
        stdout, stderr = (b.decode("utf-8", "replace") for b in (self._stdout, self._stderr))
        normal = exit_status == QProcess.ExitStatus.NormalExit
        if kind == "test":
            result = summarize_env(exit_code if normal else -1, stdout, stderr) if normal else \
                CheckResult("failed", "the test was stopped")
            self._tested(target, result)
        else:
            ok = normal and exit_code == 0
            self.status.setText(f"{target} is set up." if ok else f"Set-up of {target} failed: "
                                f"{failure_line(stderr, exit_code) if normal else 'stopped'}")
            self.setupFinished.emit(target, ok)
            if ok:
                self.test(target)  # show what the environment there holds
        self._sync_buttons()

    def _on_result(self, target: str) -> None:
        self.refresh()

    def _tested(self, target: str, result: CheckResult) -> None:
        self.model.record(target, result)  # refreshes the list (a machine removed meanwhile keeps nothing)
        self.status.setText(f"{target}: {result.line}")
        self.checked.emit(target, result)

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self.job is not None:
            kind, target = self.job
            self.job = None
            self._timer.stop()
            reason = f"the {kind} process could not start ({self.process.errorString()})"
            if kind == "test":
                self._tested(target, CheckResult("failed", reason))
            else:
                self.status.setText(reason)
                self.setupFinished.emit(target, False)
            self._sync_buttons()

    def _sync_buttons(self) -> None:
        idle, chosen = self.job is None, self.selected() is not None
        for button in (self.test_button, self.setup_button, self.remove_button):
            button.setEnabled(idle and chosen)
        self.cancel_button.setEnabled(not idle)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.stop_now()
        super().closeEvent(event)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Close and watched is self.parent():
            self.stop_now()
        return False

    def reject(self) -> None:  # Esc: close, stopping a child first
        self.stop_now()
        super().reject()


class MachinesHost(Protocol):
    """What the dialog needs of the main window."""

    settings: QSettings
    machines: MachinesModel
    run_panel: RunPanel


def opener(window: MachinesHost, parent: QWidget) -> Callable[[], MachinesDialog]:
    """The Run menu's Machines… slot: one dialog at a time, over `parent`; every change is saved,
    a test's result too (whether the dialog or the run panel ran it)."""
    window.machines.connect(lambda _target: save_machines(window.settings, window.machines))

    def open_dialog() -> MachinesDialog:
        for existing in parent.findChildren(MachinesDialog):
            if existing.isVisible():
                existing.raise_()
                existing.activateWindow()
                return existing
        dialog = MachinesDialog(window.machines, parent)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def on_changed() -> None:
            save_machines(window.settings, window.machines)
            window.run_panel.refresh_machines()
        dialog.changed.connect(on_changed)
        dialog.show()
        return dialog
    return open_dialog
