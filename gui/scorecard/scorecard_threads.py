"""The Scorecard window's background work, on Python threads so the GUI never waits: the sweep
(a `SweepRunner`, whose points run as worker child processes) and the rebuilds of the
`Scorecard` from the session.

While a sweep runs, the scorecard is rebuilt on the sweep's own thread, between two points
(in the runner's status callback, after a point is stored and before the next worker starts):
a rebuild costs a second of CPU, and run beside a worker it would slow that worker's import,
compilation and steps, which are the figures being measured. The sweep takes that much longer
instead. With no sweep running, `ScorecardLoader` rebuilds on a thread of its own.

Results cross into the GUI thread as queued Qt signals, as the main window's run queue does.
Status objects are copied before they cross: the runner keeps changing its own.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from sessions.schema import SessionError
from sessions.scorecard import build_scorecard
from sessions.sweep_plan import SweepPlan
from sessions.sweep_runner import SweepRunner, SweepStatus

log = logging.getLogger("stepscope.gui")


def _snapshot(status: SweepStatus) -> SweepStatus:
    return dataclasses.replace(status, points=list(status.points), run_ids=list(status.run_ids))


def _emit(signal: Any, value: object) -> None:
    try:
        signal.emit(value)
    except RuntimeError:  # the window is gone (closed while a point or a build ended): nobody to tell
        pass


class ScorecardBuilds(QObject):
    """Builds a Scorecard and tells the window through `loaded` / `loadFailed`."""

    loaded = Signal(object)  # Scorecard
    loadFailed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.last_build_s: float | None = None  # how long the last build took (the window's status line shows it)

    def build_now(self, session_path: Path, sweep_id: str | None) -> None:
        """Build on the calling thread (never the GUI's) and emit the result."""
        started = time.perf_counter()
        try:
            card = build_scorecard(session_path, sweep_id)
        except (SessionError, ValueError) as exc:
            _emit(self.loadFailed, str(exc))
            return
        except Exception as exc:  # a bug in a metric must not end the sweep that feeds it
            log.exception("building the scorecard failed")
            _emit(self.loadFailed, f"the scorecard could not be built: {type(exc).__name__}: {exc}")
            return
        self.last_build_s = time.perf_counter() - started
        _emit(self.loaded, card)


class SweepThread(ScorecardBuilds):
    """Runs one sweep at a time, rebuilding the scorecard between points whenever a point has
    finished or a compatibility probe has been stored. `cancel()` stops the running point and
    starts no other (the sweep stays resumable: the same plan run again continues it)."""

    statusChanged = Signal(object)  # SweepStatus (a copy)
    sweepFinished = Signal(object)  # the last SweepStatus
    sweepFailed = Signal(str)  # the sweep could not run at all (the session cannot be opened)

    def __init__(self, session_path: Path, runs_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session_path, self.runs_dir = session_path, runs_dir
        self._runner: SweepRunner | None = None
        self._thread: threading.Thread | None = None
        self._seen: tuple[int, str | None] = (-1, None)  # points finished and the probe running, as last told
        self._ended = threading.Event()  # set before the last signal: the thread may still be alive as it is handled

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._ended.is_set()

    def start(self, plan: SweepPlan) -> None:
        if self.running:
            raise RuntimeError("a sweep is already running; stop it first")
        self._seen = (-1, None)
        self._ended.clear()
        self._runner = SweepRunner(plan, self.session_path, runs_dir=self.runs_dir, on_status=self._on_status)
        self._thread = threading.Thread(target=self._run, args=(self._runner,), name="stepscope-scorecard-sweep", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        if self._runner is not None:
            self._runner.cancel()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _on_status(self, status: SweepStatus) -> None:
        """On the sweep's thread, with no worker running when a point has just been stored."""
        _emit(self.statusChanged, _snapshot(status))
        finished, probing = self._seen
        self._seen = (status.finished, status.probing)
        if status.finished > finished or (probing is not None and status.probing is None):
            self.build_now(self.session_path, status.sweep_id)

    def _run(self, runner: SweepRunner) -> None:
        signal: Any
        value: object
        try:
            signal, value = self.sweepFinished, _snapshot(runner.run())
        except SessionError as exc:
            signal, value = self.sweepFailed, str(exc)
        except Exception as exc:  # a bug here must not leave the window saying "running" for ever
            log.exception("the scorecard sweep failed inside Stepscope")
            signal, value = self.sweepFailed, f"the sweep failed inside Stepscope: {type(exc).__name__}: {exc}"
        self._ended.set()  # not running from here: the window's handler of the signal asks (Resume or Run)
        _emit(signal, value)


class ScorecardLoader(ScorecardBuilds):
    """Rebuilds the Scorecard on a thread of its own (no sweep running). Requests that arrive
    while one build runs are folded into one more build after it."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lock = threading.Lock()
        self._pending: tuple[Path, str | None] | None = None
        self._thread: threading.Thread | None = None
        self._building = False  # set and cleared under the lock, so no request falls between two builds

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._building

    def request(self, session_path: Path, sweep_id: str | None) -> None:
        with self._lock:
            self._pending = (session_path, sweep_id)
            if self._building:
                return
            self._building = True
            self._thread = threading.Thread(target=self._build_all, name="stepscope-scorecard-build", daemon=True)
            self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _build_all(self) -> None:
        while True:
            with self._lock:
                job, self._pending = self._pending, None
                if job is None:
                    self._building = False
                    return
            self.build_now(*job)
