"""Stopping a dialog's child process (`main.py import`, `attach`, `env --on`, `remote setup`): the
GUI runs such work in a QProcess so nothing heavy or blocking enters its own process, and every
such dialog stops its child the same way: asked first (SIGTERM lets it clean up and commit
nothing), killed if it has not ended KILL_AFTER_MS later; and when the window closes, waited for,
so nothing outlives it."""
from __future__ import annotations

from PySide6.QtCore import QProcess, QTimer

KILL_AFTER_MS = 5000


def is_running(process: QProcess) -> bool:
    return process.state() != QProcess.ProcessState.NotRunning


def terminate_then_kill(process: QProcess, after_ms: int = KILL_AFTER_MS) -> None:
    """Ask the child to stop now; kill it if it is still running `after_ms` later (without waiting)."""
    process.terminate()
    QTimer.singleShot(after_ms, process, lambda: process.kill() if is_running(process) else None)


def stop_and_wait(process: QProcess, after_ms: int = KILL_AFTER_MS) -> None:
    """Stop the child and wait for it: asked, then killed if it does not end within `after_ms`."""
    if not is_running(process):
        return
    process.terminate()
    if not process.waitForFinished(after_ms):
        process.kill()
        process.waitForFinished(after_ms)


def whole_lines(pending: bytes, data: bytes) -> tuple[list[bytes], bytes]:
    """The complete lines in `pending + data`, and the unfinished rest to keep for the next read."""
    *lines, rest = (pending + data).split(b"\n")
    return lines, rest
