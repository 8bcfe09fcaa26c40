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

A full disk is the exception to retrying (issue 15): no retry can help, and every step streamed
meanwhile would be lost. At the first flush that fails with SQLITE_FULL the recorder stops writing
events, reports at once through `on_problem` (record_run cancels the worker with it), and ends the
run `failed` with `stop_reason` ("disk full while writing FILE"): all of `finish_run` if it still
fits, else that one small UPDATE; if even that fails, the run reads `interrupted` and `problem`
says so. Earlier flushes are kept. After the outcome is stored the WAL is folded into the main
file (`checkpoint`), so the `.stepscope` file alone holds the ended run.
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sessions.schema import DiskFull
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
                 flush_interval: float = FLUSH_INTERVAL_S, on_problem: Callable[[str], None] | None = None) -> None:
        self.path = Path(path)
        self.run_id = run_id
        self.flush_interval = flush_interval
        self.on_problem = on_problem  # called once, on the writer thread, when the recorder has to stop the run
        self.stop_reason: str | None = None  # why the run was stopped (a full disk); it then ends `failed`
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
        self._outcome_stored = False
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
            ended = "" if self._outcome_stored else "; its outcome is not stored either, so it reads as interrupted"
            self.problem = (f"{self.path}: run {self.run_id} was not fully recorded ({self.error_count} failed "
                            f"writes{lost}{ended}); first: {(self.errors or ['unknown'])[0]}")
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
            due = (pending or now - last_write >= HEARTBEAT_S) and self.stop_reason is None
            if due and (now >= retry_at or stopping) and self._flush(session, pending):
                pending, last_write = [], now
            elif due and now >= retry_at:
                retry_at = now + RETRY_S
            if stopping:
                break
        self._unstored = len(pending)
        assert self._outcome is not None
        status, reason, summary, log_text = self._outcome
        if self.stop_reason is not None:
            status, reason = "failed", self.stop_reason
        try:
            session.finish_run(self.run_id, status, reason, summary, log_text)
            self._outcome_stored = True
        except DiskFull as exc:
            self._record_error(exc)
            try:  # the outcome alone is one small UPDATE, which often still fits
                session.mark_ended(self.run_id, status, reason)
                self._outcome_stored = True
            except SessionError as again:
                self._record_error(again)
        except SessionError as exc:
            self._record_error(exc)
        self._complete = self._outcome_stored and not pending and self.stop_reason is None
        if self._outcome_stored:
            self._fold_wal(session)

    def _fold_wal(self, session: Session) -> None:
        """Fold the WAL into the main file now the run has ended; a reader still on an older
        snapshot may hold some frames back, so try a few times, briefly (PASSIVE never waits)."""
        for _ in range(5):
            try:
                if session.checkpoint():
                    return
            except SessionError as exc:
                log.warning("%s", exc)
                return
            time.sleep(0.02)

    def _flush(self, session: Session, pending: list[dict[str, Any]]) -> bool:
        cpu = time.thread_time()
        try:
            session.append_events(self.run_id, pending)
        except DiskFull as exc:
            self._record_error(exc, quiet=True)  # said once, by _stop_for
            self._stop_for(exc)
            return False
        except SessionError as exc:
            self._record_error(exc)
            return False
        finally:
            self.stats["flush_cpu_s"] += time.thread_time() - cpu
        self.stats["flushes"] += 1
        self.stats["events"] += len(pending)
        return True

    def _stop_for(self, exc: DiskFull) -> None:
        """Stop writing events and say so at once: the disk will not empty itself."""
        if self.stop_reason is not None:
            return
        self.stop_reason = f"disk full while writing {self.path}"
        message = f"{self.stop_reason}; the run is stopped and what was written before is kept"
        if self.on_problem is None:
            log.error("recording run %s: %s (%s)", self.run_id, message, exc)
            return
        try:
            self.on_problem(message)
        except Exception:  # a broken listener must not stop the recorder from ending the run
            log.exception("the problem listener of run %s failed", self.run_id)

    def _record_error(self, exc: BaseException, quiet: bool = False) -> None:
        self.error_count += 1
        message = (str(exc) or type(exc).__name__).removeprefix(f"{self.path}: ")
        if message not in self.errors[-1:] and len(self.errors) < 50:
            if not quiet:
                log.warning("recording run %s: %s", self.run_id, message)
            self.errors.append(message)
