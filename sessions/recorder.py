"""SessionRecorder: streams one run into a session file while it runs.

It is the RunController's `on_event` callback, which runs on the controller's reader thread;
that thread only appends to a queue. A writer thread of the recorder's own, with its own SQLite
connection, stores the queue every FLUSH_INTERVAL_S in one transaction, so a killed app or
worker loses at most the last flush and the run later reads as `interrupted`.

Write failures (disk full, file locked, ...) never reach the controller: the events stay queued
and are retried every RETRY_S, and each failure is kept in `errors`. `finish()` stores all it
can, closes the file, and returns a one-line problem (naming the file) only if something is
missing in the end (events or the run's outcome), else None; it does not raise, because by then
the run is over and its result is still good. A failure a later retry made good stays in `errors`.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sessions.store import Session, SessionError

if TYPE_CHECKING:
    from profilers.runner import RunResult

log = logging.getLogger("stepscope.sessions")

FLUSH_INTERVAL_S = 0.25  # at most this often, so a fast stream costs few transactions
HEARTBEAT_S = 5.0  # with nothing to store, mark the run alive this often (read by other hosts)
RETRY_S = 1.0  # after a failed write, wait this long before trying again
FINISH_TIMEOUT_S = 120.0


class SessionRecorder:
    """Records run `run_id` into the session at `path`. Call `on_event` (or the recorder itself)
    for each event, then `finish(result)` once. Opening the session happens in the constructor,
    so a file that is not a session (or a newer one) raises SessionError before the run starts."""

    def __init__(self, path: Path | str, run_id: str, spec_dict: dict[str, Any], kind: str = "run",
                 flush_interval: float = FLUSH_INTERVAL_S) -> None:
        self.path = Path(path)
        self.run_id = run_id
        self.flush_interval = flush_interval
        self.errors: list[str] = []  # distinct write failures so far, oldest first (a GUI may show them live)
        self.error_count = 0
        self.problem: str | None = None  # what finish() found missing, if anything
        self.stats = {"flushes": 0, "events": 0, "flush_cpu_s": 0.0, "thread_cpu_s": 0.0}
        self._queue: collections.deque[dict[str, Any]] = collections.deque()
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._outcome: tuple[str, str | None, dict[str, Any], str] | None = None
        self._open_error: BaseException | None = None
        self._finished = False
        self._unstored = 0
        self._complete = False  # set by the writer once events and outcome are all stored
        self._thread = threading.Thread(target=self._writer, args=(spec_dict, kind), daemon=True,
                                        name=f"stepscope-recorder-{run_id}")
        self._thread.start()
        self._ready.wait()
        if self._open_error is not None:
            self._thread.join()
            raise self._open_error

    def on_event(self, event: dict[str, Any]) -> None:
        """Queue one event; cheap and never raises, whatever state the file is in."""
        if not self._finished:
            self._queue.append(event)

    __call__ = on_event

    def finish(self, result: RunResult) -> str | None:
        """Store what is queued, then the run's status, reason, summary and log, and close.
        Returns None when all of it is in the file, else what is missing, in one line."""
        return self.finish_with(result.status, result.reason, result.summary, result.log)

    def finish_with(self, status: str, reason: str | None, summary: dict[str, Any], log_text: str) -> str | None:
        """`finish` for callers that have the outcome but no RunResult (tests, imports)."""
        if self._finished:
            return self.problem
        self._finished = True
        self._outcome = (status, reason, summary, log_text)
        self._stop.set()
        self._thread.join(FINISH_TIMEOUT_S)
        if self._thread.is_alive():
            self.errors.append(f"the writer did not finish within {FINISH_TIMEOUT_S:.0f} s")
        if not self._complete:
            lost = f"; {self._unstored} events not stored" if self._unstored else ""
            self.problem = (f"{self.path}: run {self.run_id} was not fully recorded ({self.error_count} failed "
                            f"writes{lost}); first: {(self.errors or ['unknown'])[0]}")
        return self.problem

    # -- the writer thread -----------------------------------------------------------
    def _writer(self, spec_dict: dict[str, Any], kind: str) -> None:
        try:
            session = Session.create_or_open(self.path)
            try:
                session.begin_run(self.run_id, spec_dict, kind)
            except BaseException:
                session.close()
                raise
        except BaseException as exc:
            self._open_error = exc if isinstance(exc, SessionError) else SessionError(f"{self.path}: {exc}")
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop(session)
        except Exception as exc:  # a bug here must still surface in finish(), not vanish with the thread
            log.exception("the recorder of run %s stopped", self.run_id)
            self._record_error(exc)
        finally:
            session.close()
            self.stats["thread_cpu_s"] = time.thread_time()

    def _loop(self, session: Session) -> None:
        pending: list[dict[str, Any]] = []
        next_flush = time.monotonic() + self.flush_interval
        last_write = time.monotonic()
        retry_at = 0.0
        while True:
            stopping = self._stop.wait(max(0.0, next_flush - time.monotonic()))
            next_flush = max(next_flush + self.flush_interval, time.monotonic())
            while self._queue:
                pending.append(self._queue.popleft())
            now = time.monotonic()
            due = pending or now - last_write >= HEARTBEAT_S
            if due and (now >= retry_at or stopping) and self._flush(session, pending):
                pending, last_write = [], now
            elif due and now >= retry_at:
                retry_at = now + RETRY_S
            if stopping:
                break
        self._unstored = len(pending)
        assert self._outcome is not None
        status, reason, summary, log_text = self._outcome
        try:
            session.finish_run(self.run_id, status, reason, summary, log_text)
            self._complete = not pending
        except SessionError as exc:
            self._record_error(exc)

    def _flush(self, session: Session, pending: list[dict[str, Any]]) -> bool:
        cpu = time.thread_time()
        try:
            session.append_events(self.run_id, pending)
        except SessionError as exc:
            self._record_error(exc)
            return False
        finally:
            self.stats["flush_cpu_s"] += time.thread_time() - cpu
        self.stats["flushes"] += 1
        self.stats["events"] += len(pending)
        return True

    def _record_error(self, exc: BaseException) -> None:
        self.error_count += 1
        message = (str(exc) or type(exc).__name__).removeprefix(f"{self.path}: ")
        if message not in self.errors[-1:] and len(self.errors) < 50:
            log.warning("recording run %s: %s", self.run_id, message)
            self.errors.append(message)
