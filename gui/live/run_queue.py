"""Runs queued specs one after another in a background thread (`sessions.record_run`): built-in
workloads (RunSpec) and the user's own program (ProgramSpec, its stdin /dev/null: the app has no
terminal to give it) alike.

Qt-free: it reports through plain callbacks, called on its own thread, so the window decides how
to cross into the GUI thread. Each run streams into the session file (the recorder) and into the
caller's live model (`on_event`) at once, and a program's `notice` events are also handed to
`notice`. `cancel()` stops the running worker or program and drops the rest.
A queue started `on` a machine (an `--on` target, docs/executors.md) hands each built-in run
`executor_for(on)`; the user's own program always runs here.
When the session can take no more of a run (a full disk), `error` is called at once, while the
run is being stopped, not only when it has ended.
"""
from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gui.live.run_names import AnySpec
from profilers.control_socket import CaptureRefused
from profilers.executors import ExecutorError, executor_for
from profilers.runner import RunController, RunResult, new_run_id
from sessions.record_run import RecordedRun, record_run
from sessions.schema import SessionError
from workloads.program import ProgramSpec

log = logging.getLogger("stepscope.gui")


def display_name(spec: AnySpec) -> str:
    """The run in the queue's messages: "The torch run …", "The train.py run …"."""
    return spec.label if isinstance(spec, ProgramSpec) else spec.framework


@dataclass
class QueueCallbacks:
    """What the queue reports; every callback runs on the queue's thread."""

    run_started: Callable[[str, AnySpec, int, int], None] = lambda run_id, spec, index, total: None
    event: Callable[[str, dict[str, Any]], None] = lambda run_id, event: None
    notice: Callable[[str, str], object] = lambda run_id, message: None  # a program's `notice` event
    run_finished: Callable[[str, RunResult[Any], str | None], None] = lambda run_id, result, problem: None
    queue_finished: Callable[[bool], None] = lambda cancelled: None
    error: Callable[[str, str], None] = lambda message, detail: None


@dataclass
class RunQueue:
    """One queue at a time; `start` refuses while one is running."""

    session_path: Path
    callbacks: QueueCallbacks = field(default_factory=QueueCallbacks)
    progress_timeout: float = 600.0
    _thread: threading.Thread | None = None
    _controller: RunController[Any] | None = None
    _cancelled: threading.Event = field(default_factory=threading.Event)
    _ended: threading.Event = field(default_factory=threading.Event)  # set before queue_finished is told
    _lock: threading.Lock = field(default_factory=threading.Lock)
    on: str = "local"  # where the next queue's built-in runs go: an `--on` target, read by `start`
    _on: str = "local"

    @property
    def running(self) -> bool:
        """False from the moment `queue_finished` is told: the thread lives on a moment after it, and
        the window's handler of that signal, or a click right after, must not read "still running"."""
        return self._thread is not None and self._thread.is_alive() and not self._ended.is_set()

    def start(self, specs: Sequence[AnySpec]) -> None:
        if self.running:
            raise RuntimeError("a queue is already running; stop it first")
        self._cancelled.clear()
        self._ended.clear()
        self._on = self.on  # this queue's machine, whatever `on` is set to while it runs
        self._thread = threading.Thread(target=self._run_all, args=(list(specs), Path(self.session_path)),
                                        name="stepscope-run-queue", daemon=True)
        self._thread.start()

    def cancel(self) -> None:
        """Stop the current worker (it is kept as cancelled) and skip the runs not yet started."""
        self._cancelled.set()
        with self._lock:
            if self._controller is not None:
                self._controller.cancel()

    def request_capture(self, steps: int | None = None, seconds: float | None = None) -> tuple[str, int]:
        """Arm a capture window in the run now running (docs/capture.md): its run id and the window's
        number; CaptureRefused (one line) when none runs or the run cannot take it."""
        with self._lock:
            controller = self._controller
        if controller is None:
            raise CaptureRefused("no run is running")
        return controller.run_id, controller.request_capture(steps, seconds)

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def _run_all(self, specs: list[AnySpec], session_path: Path) -> None:
        try:
            for index, spec in enumerate(specs):
                if self._cancelled.is_set():
                    break
                try:
                    self._run_one(spec, session_path, index, len(specs))
                except Exception as exc:  # a bug here must not leave the window waiting for ever
                    log.exception("the %s run failed inside Stepscope", display_name(spec))
                    self.callbacks.error(f"The {display_name(spec)} run failed inside Stepscope: {type(exc).__name__}: {exc}",
                                         traceback.format_exc())
        finally:
            self._ended.set()
            self.callbacks.queue_finished(self._cancelled.is_set())

    def _run_one(self, spec: AnySpec, session_path: Path, index: int, total: int) -> None:
        run_id = new_run_id()
        name = display_name(spec)

        def on_event(event: dict[str, Any]) -> None:
            self.callbacks.event(run_id, event)
            if event["type"] == "notice":
                self.callbacks.notice(run_id, str(event.get("message", "")))

        def on_started(controller: RunController[Any]) -> None:
            with self._lock:
                self._controller = controller
            self.callbacks.run_started(run_id, controller.spec, index, total)
            if self._cancelled.is_set():  # cancelled while the worker was being spawned
                controller.cancel()

        def on_problem(message: str) -> None:
            self.callbacks.error(f"The {name} run was stopped: {message}", "")

        try:
            recorded: RecordedRun[Any]
            if isinstance(spec, ProgramSpec):
                recorded = record_run(spec, session_path, on_event=on_event, on_started=on_started, on_problem=on_problem,
                                      progress_timeout=self.progress_timeout, run_id=run_id, stdin_devnull=True)
            else:
                recorded = record_run(spec, session_path, on_event=on_event, on_started=on_started, on_problem=on_problem,
                                      progress_timeout=self.progress_timeout, run_id=run_id,
                                      executor=None if self._on == "local" else executor_for(self._on))
        except (SessionError, ValueError, ExecutorError) as exc:
            self.callbacks.error(f"Could not start the {name} run: {exc}", "")
            return
        finally:
            with self._lock:
                self._controller = None
        self.callbacks.run_finished(run_id, recorded.result, recorded.session_problem)
