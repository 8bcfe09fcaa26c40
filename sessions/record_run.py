"""Record one run into a session: new run id → recorder → controller → finish → trace ingest.

The one path both the desktop app's run queue and `stepscope run` take, so a run recorded by
either reads the same. Callers watch through `on_event` (every event, on the controller's
reader thread) and `on_started` (the controller, once its worker is spawned: keep it to cancel).
`on_problem` hears at once (on the recorder's thread) when the session cannot take the run any
more (a full disk): the worker is then cancelled and the run ends `failed` with that reason.
A ProgramSpec (the user's own program, docs/programs.md) takes the same path through a
ProgramController, recorded as a run of kind `program`. `executor` says where a worker runs
(docs/executors.md; a program always runs here): its placement reaches the session with the
`hello` event, and a run whose connection was lost ends `interrupted` with its streamed steps.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, overload

from profilers.executors.base import Executor
from profilers.program_runner import ON_OUTPUT, ProgramController
from profilers.runner import DEFAULT_PROGRESS_TIMEOUT_S, RunController, RunResult, SpecT, new_run_id
from sessions.recorder import SessionRecorder
from sessions.traces import ingest_result
from workloads.program import ProgramSpec
from workloads.spec import RunSpec

log = logging.getLogger("stepscope.sessions")


@dataclass(frozen=True)
class RecordedRun(Generic[SpecT]):
    """How the run ended, and what reached the session."""

    result: RunResult[SpecT]
    session_problem: str | None  # a sentence when the session misses something of the run
    trace_events: int | None  # events of the stored trace window, None when none was stored
    trace_problem: str | None  # why a trace artifact could not be parsed; the run is still good
    stop_reason: str | None = None  # why the session stopped the run (a full disk): later runs would fail too

    @property
    def run_id(self) -> str:
        return self.result.run_id


@overload
def record_run(
    spec: RunSpec, session_path: Path, *, out_dir: Path | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    on_started: Callable[[RunController], None] | None = None,
    on_problem: Callable[[str], None] | None = None,
    progress_timeout: float = DEFAULT_PROGRESS_TIMEOUT_S, run_id: str | None = None,
    executor: Executor | None = None,
) -> RecordedRun: ...


@overload
def record_run(
    spec: ProgramSpec, session_path: Path, *, out_dir: Path | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    on_started: Callable[[ProgramController], None] | None = None,
    on_problem: Callable[[str], None] | None = None,
    progress_timeout: float = DEFAULT_PROGRESS_TIMEOUT_S, run_id: str | None = None,
    on_stdout: ON_OUTPUT | None = None, on_stderr: ON_OUTPUT | None = None, stdin_devnull: bool = False,
) -> RecordedRun[ProgramSpec]: ...


def record_run(
    spec: RunSpec | ProgramSpec, session_path: Path, *, out_dir: Path | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    on_started: Callable[[Any], None] | None = None,
    on_problem: Callable[[str], None] | None = None,
    progress_timeout: float = DEFAULT_PROGRESS_TIMEOUT_S, run_id: str | None = None,
    on_stdout: ON_OUTPUT | None = None, on_stderr: ON_OUTPUT | None = None, stdin_devnull: bool = False,
    executor: Executor | None = None,
) -> RecordedRun[Any]:
    """Run `spec` in a fresh worker (a ProgramSpec: the user's program, its output passed to
    `on_stdout` / `on_stderr`, its stdin the caller's unless `stdin_devnull`), streaming every
    event into the session as it arrives.

    Raises SessionError (before any worker starts) when the session cannot be written; after
    that nothing raises: problems are in the returned record."""
    run_id = run_id or new_run_id()
    spec = spec.resolved()
    stopped = threading.Event()
    controllers: list[RunController[Any]] = []

    def stop(message: str) -> None:
        stopped.set()
        for running in list(controllers):
            running.cancel()
        if on_problem is not None:
            on_problem(message)

    kind = "program" if isinstance(spec, ProgramSpec) else "run"
    recorder = SessionRecorder(session_path, run_id, spec.to_dict(), kind=kind, on_problem=stop)

    def deliver(event: dict[str, Any]) -> None:
        recorder.on_event(event)
        if on_event is not None:
            on_event(event)

    controller: RunController[Any]
    if isinstance(spec, ProgramSpec):
        controller = ProgramController(spec, out_dir=out_dir, on_event=deliver, progress_timeout=progress_timeout,
                                       run_id=run_id, on_stdout=on_stdout, on_stderr=on_stderr, stdin_devnull=stdin_devnull)
    else:
        controller = RunController(spec, out_dir=out_dir, on_event=deliver, progress_timeout=progress_timeout, run_id=run_id,
                                   executor=executor)
    controllers.append(controller)
    controller.start()
    if stopped.is_set():  # the disk filled before the worker was there to cancel
        controller.cancel()
    if on_started is not None:
        on_started(controller)
    result = controller.wait()
    session_problem = recorder.finish_with(result.status, result.reason, result.summary, result.log)
    if recorder.stop_reason is not None:  # what the session says, and what the caller prints, agree
        result = dataclasses.replace(result, status="failed", reason=recorder.stop_reason)
    trace_events, trace_problem = (None, None) if session_problem else ingest_result(session_path, result)
    if trace_problem:
        log.warning("trace of run %s not parsed: %s", run_id, trace_problem)
    return RecordedRun(result, session_problem, trace_events, trace_problem, recorder.stop_reason)
