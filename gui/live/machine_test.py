"""A machine's connection test run from the run panel: the same child the Machines dialog runs
(`check_argv`: `main.py env --on TARGET --quick --json`), so the GUI process never imports a
framework or waits on the network. Its result goes to the machines model (`record`), where the
dialog and the panel both read it; the child is stopped when the app quits, so nothing outlives it.
"""
from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QObject, QProcess, Signal

from gui.live.child_process import is_running, stop_and_wait
from gui.live.machines_model import ROOT, CheckResult, MachinesModel, check_argv, summarize_env


class MachineTest(QObject):
    """One test at a time; `finished(target, CheckResult)` once it ends, however it ends."""

    finished = Signal(str, object)

    def __init__(self, machines: MachinesModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.machines = machines
        self.target: str | None = None
        self.process = QProcess(self)
        self.process.setWorkingDirectory(str(ROOT))
        self.process.finished.connect(self._on_finished)
        self.process.errorOccurred.connect(self._on_error)
        app = QCoreApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(self.stop_now)

    @property
    def running(self) -> bool:
        return self.target is not None

    def start(self, target: str) -> bool:
        """Test `target` in a child; False when a test already runs."""
        if self.running:
            return False
        self.target = target
        self.machines.record(target, CheckResult("testing", "testing the connection…"))
        argv = check_argv(target)
        self.process.setProgram(argv[0])
        self.process.setArguments(argv[1:])
        self.process.start()
        return True

    def stop_now(self) -> None:
        """Stop the child and wait for it (the app is quitting): its result is dropped."""
        if is_running(self.process):
            stop_and_wait(self.process)

    def _on_finished(self, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        stdout = bytes(self.process.readAllStandardOutput().data()).decode("utf-8", "replace")
        stderr = bytes(self.process.readAllStandardError().data()).decode("utf-8", "replace")
        if exit_status == QProcess.ExitStatus.NormalExit:
            self._done(summarize_env(exit_code, stdout, stderr))
        else:
            self._done(CheckResult("failed", "the test was stopped"))

    def _on_error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self.running:
            self._done(CheckResult("failed", f"the test process could not start ({self.process.errorString()})"))

    def _done(self, result: CheckResult) -> None:
        target, self.target = self.target, None
        if target is not None:
            self.machines.record(target, result)
            self.finished.emit(target, result)
