"""A run's trace window in the session: parse its profiler artifact once into the event table,
store the table (compressed columns, no pickle), and read it back for top ops and exports.

Parsing happens after the run, in the recording process, so the worker's steps never pay for it.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from profilers.artifact_checks import artifact_problem
from profilers.hooks import Artifact
from profilers.runner import new_run_id
from sessions.blob_store import TraceWindow
from sessions.store import Session, SessionError
from traces.progress import ReadCancelled, ReadProgress
from traces.readers import read_trace
from traces.table import EventTable, TraceError, table_from_blobs, table_to_blobs

# Which artifact carries the most for each framework: XPlanes hold memory profiles and thread pools.
PREFERRED_KIND = {"torch": ("chrome-trace",), "jax": ("xplane", "chrome-trace"), "tf": ("xplane",)}


class EmptyTraceError(TraceError):
    """A trace that holds not a single event: nothing ran while the profiler listened."""


def pick_artifact(framework: str | None, artifacts: list[Artifact]) -> Artifact | None:
    for kind in PREFERRED_KIND.get(framework or "", ("chrome-trace", "xplane")):
        for artifact in artifacts:
            if artifact.kind == kind:
                return artifact
    return artifacts[0] if artifacts else None


def ingest_trace(session_path: Path, run_id: str, framework: str | None, artifacts: list[Artifact],
                 window: TraceWindow | None = None) -> tuple[EventTable, str]:
    """Parse the run's trace artifact and store it (as `window`: default the run's window 0); TraceError
    or SessionError on failure. A file that is not a whole trace (0 bytes, cut off, capped:
    `artifact_problem`) is passed over for the next one, and its reason is the error when none is
    left; a trace without a single event is never stored as one."""
    from traces.analysis import describe_source

    candidates = list(artifacts)
    problems = []
    while (artifact := pick_artifact(framework, candidates)) is not None:
        candidates.remove(artifact)
        problem = artifact_problem(artifact.kind, artifact.path)
        if problem:
            problems.append(problem)
            continue
        table = read_trace(artifact.path, framework=framework)
        if not len(table):
            raise TraceError(artifact.path, "holds no trace events: the profiler recorded nothing in its window")
        description = describe_source(table)
        with Session.create_or_open(session_path) as session:
            session.store_trace(run_id, table_to_blobs(table), len(table), description, str(artifact.path),
                                window if window is None else replace(window, events=len(table)))
        return table, description
    raise TraceError(f"run {run_id}", "; ".join(problems) or "has no trace artifact")


def ingest_result(session_path: Path, result: Any) -> tuple[int | None, str | None]:
    """After a run (a profilers.runner.RunResult, a worker's or a program's): parse each of its trace
    windows into the session (docs/capture.md). Returns the first stored window's event count, or the
    problem sentences; a trace that cannot be read never fails the run."""
    events = getattr(result, "events", None) or []
    artifact_events = [e for e in events if e.get("type") == "artifact"] or result.summary.get("artifacts") or []
    if result.status != "ok" or not artifact_events:
        return None, None
    # A program's spec names no framework (workloads.program): the agent said which it imported.
    framework = getattr(result.spec, "framework", None) or result.summary.get("framework")
    if any(e.get("rank") is not None for e in artifact_events):  # a multi-rank program: one table per window
        from sessions.rank_traces import ingest_ranked

        return ingest_ranked(session_path, result.run_id, framework, events)
    count: int | None = None
    problems = []
    for window, artifacts in result_windows(events, artifact_events):
        try:
            table, _ = ingest_trace(session_path, result.run_id, framework, artifacts, window)
        except (TraceError, SessionError, OSError) as exc:
            problems.append(str(exc) if window.window == 0 else f"{window.title}: {exc}")
            continue
        count = len(table) if count is None else count
    return count, "; ".join(problems) or None


def result_windows(events: list[dict[str, Any]],
                   artifact_events: list[dict[str, Any]]) -> list[tuple[TraceWindow, list[Artifact]]]:
    """The run's trace windows, each with its artifacts: an artifact's `window` (0 when it names
    none), labelled by the window's `capture` event (docs/capture.md)."""
    captures = {e["window"]: e for e in events if e.get("type") == "capture"}
    grouped: dict[int, list[Artifact]] = {}
    for event in artifact_events:
        grouped.setdefault(int(event.get("window") or 0), []).append(Artifact(event["kind"], Path(event["path"])))
    windows = []
    for number in sorted(grouped):
        capture = captures.get(number, {})
        windows.append((TraceWindow(number, str(capture.get("label") or ""), capture.get("first_step"),
                                    capture.get("last_step"), 0), grouped[number]))
    return windows


def load_trace(session: Session, run_id: str, window: int | None = None) -> tuple[EventTable, str]:
    """The stored event table of a run's trace window (None: its first), or SessionError saying it has none."""
    stored = session.trace(run_id, window)
    if stored is None and window is not None and session.trace(run_id) is not None:
        raise SessionError(f"{session.path}: run {run_id} has no trace window {window}")
    if stored is None:
        raise SessionError(f"{session.path}: run {run_id} has no parsed trace (it ran without a trace window, "
                           "or its trace could not be read)")
    blobs, _, description = stored
    try:
        return table_from_blobs(blobs), description
    except TraceError as exc:
        raise SessionError(f"{session.path}: the stored trace of run {run_id} is damaged ({exc})") from None


def step_events(table: EventTable) -> list[dict[str, Any]]:
    """The trace's step windows (ProfilerStep#N, xprof step markers) as measured `step` events:
    a window's duration is that step's time as the profiler measured it, so an imported run's
    step statistics come from them (`t`: seconds from the first window's start)."""
    from traces.analysis import step_windows

    numbers, lo, hi = step_windows(table)
    if not len(numbers):
        return []
    first = int(lo[0])
    return [{"type": "step", "t": (int(a) - first) / 1e9, "index": int(n), "phase": "measure", "step_ms": (int(b) - int(a)) / 1e6,
             "samples_per_s": None, "loss": None} for n, a, b in zip(numbers.tolist(), lo.tolist(), hi.tolist(), strict=True)]


def import_trace(session_path: Path, path: Path, framework: str | None = None, progress: ReadProgress | None = None,
                 on_stage: Callable[[str], object] | None = None,
                 origin: dict[str, Any] | None = None) -> tuple[str, EventTable, str]:
    """Add an outside trace (file or profile log directory) as a run of kind `imported`; its step
    windows become the run's measured steps (the summary's `steps_from` says so). `progress`
    follows the read and cancels it: a cancel seen before the commit raises ReadCancelled, and
    the run, its steps and its trace are written in one transaction, so nothing of it is stored.
    `on_stage` hears "summarising" once the file is read, then "storing". `origin` replaces the
    spec's `imported_from` path where the trace came from elsewhere (`attach`: the server's address)."""
    from traces.analysis import describe_source

    table = read_trace(path, framework=framework, progress=progress)
    _stop_if_cancelled(progress, path)
    if not len(table):  # as ingest_trace: a trace without a single event is never stored as one
        raise EmptyTraceError(path, "holds no trace events: the profiler recorded nothing in its window")
    if on_stage is not None:
        on_stage("summarising")
    description = describe_source(table)
    run_id = new_run_id()
    detected = framework or table.source.framework or "unknown"
    spec = {"framework": detected, "workload": "imported", "mode": None, "variant": None, "batch_size": None,
            "imported_from": str(path.resolve())}
    spec.update(origin or {})
    steps = step_events(table)
    summary: dict[str, Any] = {"framework": detected, "workload": "imported", "trace_events": len(table),
                               "device": table.source.device}
    if steps:
        summary["steps_from"] = f"the trace's {len(steps)} step windows (ProfilerStep#N / step markers)"
    blobs = table_to_blobs(table)
    _stop_if_cancelled(progress, path)
    if on_stage is not None:
        on_stage("storing")
    with Session.create_or_open(session_path) as session, session.transaction(f"import {path.name}"):
        session.begin_run(run_id, spec, kind="imported")
        if steps:
            session.append_events(run_id, steps)
        session.finish_run(run_id, "ok", None, summary, f"imported from {spec['imported_from']}\n{description}\n")
        session.store_trace(run_id, blobs, len(table), description, str(path.resolve()))
        _stop_if_cancelled(progress, path)  # the last moment a cancel still takes everything back
    return run_id, table, description


def _stop_if_cancelled(progress: ReadProgress | None, path: Path) -> None:
    if progress is not None and progress.cancelled:
        raise ReadCancelled(path, "the import was cancelled; nothing was stored")
