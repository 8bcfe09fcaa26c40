"""Runs a sweep: each point a fresh worker recorded into the session (`record_run`), the
sweep's bookkeeping beside it (`sweep_store`), so a crash, a Ctrl+C or a failing point never
loses what finished and a rerun of the same plan picks up where it stopped.

A point that fails (a worker crash, an out-of-memory, a variant this machine cannot run) is
recorded with its reason and the sweep goes on; only a session that cannot be written any
more (a full disk) stops it, since every later point would fail the same way.
"""
from __future__ import annotations

import logging
import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from profilers.framework_check import probe_framework
from profilers.runner import DEFAULT_PROGRESS_TIMEOUT_S, RunController, new_run_id
from sessions.record_run import RecordedRun, record_run
from sessions.store import PointRecord, Session, SessionError
from sessions.sweep_plan import SweepPlan
from workloads.spec import MODES, RunSpec

log = logging.getLogger("stepscope.sessions")


@dataclass
class SweepStatus:
    """Where a sweep stands, for a progress bar: points finished of all, and time left, estimated
    from how long finished points of the same cell (else of the same framework, else any) took."""

    sweep_id: str
    resumed: bool
    points: list[PointRecord]
    current: PointRecord | None = None
    probing: str | None = None  # the framework whose compatibility probe runs now (before the points)
    stopped: str | None = None  # why the sweep stopped early (cancelled, the session is full)
    run_ids: list[str] = field(default_factory=list)  # runs this invocation recorded

    @property
    def total(self) -> int:
        return len(self.points)

    @property
    def finished(self) -> int:
        return sum(p.done for p in self.points)

    @property
    def failed(self) -> list[PointRecord]:
        return [p for p in self.points if p.status == "failed"]

    def seconds_left(self) -> float | None:
        durations = {p.point: p.seconds for p in self.points if p.done and p.seconds is not None}
        if not durations:
            return None
        overall = statistics.median(durations.values())
        left = 0.0
        for p in self.points:
            if p.done:
                continue
            same_cell = [d for q in self.points if q.cell == p.cell and (d := durations.get(q.point)) is not None]
            same_framework = [d for q in self.points if q.spec.get("framework") == p.spec.get("framework")
                              and (d := durations.get(q.point)) is not None]
            left += statistics.median(same_cell or same_framework or [overall])
        return left


class SweepRunner:
    """One invocation of a sweep. `on_status` hears each change (a point starting or ending),
    `on_event` every worker event of the current point; `cancel()` (any thread) stops the
    running point and starts no other, leaving the sweep resumable."""

    def __init__(self, plan: SweepPlan, session_path: Path, *, runs_dir: Path,
                 on_status: Callable[[SweepStatus], None] | None = None,
                 on_event: Callable[[dict[str, Any]], None] | None = None,
                 progress_timeout: float = DEFAULT_PROGRESS_TIMEOUT_S) -> None:
        self.plan, self.session_path, self.runs_dir = plan, session_path, runs_dir
        self._on_status, self._on_event, self._timeout = on_status, on_event, progress_timeout
        self._cancelled = threading.Event()
        self._controller: RunController[Any] | None = None
        self._lock = threading.Lock()

    def cancel(self) -> None:
        self._cancelled.set()
        with self._lock:
            if self._controller is not None:
                self._controller.cancel()

    def run(self) -> SweepStatus:
        """Run every unfinished point; raises SessionError only when the session cannot be opened."""
        with Session.create_or_open(self.session_path) as session:
            sweep_id, resumed = session.open_sweep(self.plan)
            status = SweepStatus(sweep_id, resumed, session.sweep_points(sweep_id))
            probed = set(session.sweep_probes(sweep_id))
        self._tell(status)
        status.stopped = self._run_probes(status, probed)
        for point in [] if status.stopped else [p for p in status.points if not p.done]:
            if self._cancelled.is_set():
                status.stopped = "cancelled"
                break
            stop = self._run_point(status, point)
            if stop is not None:
                status.stopped = stop
                break
        try:
            with Session.create_or_open(self.session_path) as session:
                status.points = session.sweep_points(sweep_id)
                session.end_sweep(sweep_id, "stopped" if status.stopped else "done")
        except SessionError as exc:
            status.stopped = status.stopped or str(exc)
        status.current = None
        self._tell(status)
        return status

    def _run_probes(self, status: SweepStatus, probed: set[str]) -> str | None:
        """The plan's compatibility probes not yet stored (a resume skips those), each kept with the
        sweep as it ends; the reason the sweep must stop, or None. A probe cut short by Ctrl+C is
        not stored, so the next run probes that framework again."""
        for framework in [fw for fw in self.plan.probe if fw not in probed]:
            if self._cancelled.is_set():
                return "cancelled"
            status.probing = framework
            self._tell(status)
            report = probe_framework(framework, quick=False, modes=MODES, devices="all",
                                     workloads=self.plan.probe_workloads)
            status.probing = None
            if self._cancelled.is_set():
                return "cancelled"
            try:
                with Session.create_or_open(self.session_path) as session:
                    session.store_probe(status.sweep_id, framework, report.to_dict())
            except SessionError as exc:
                return str(exc)
        return None

    def _run_point(self, status: SweepStatus, point: PointRecord) -> str | None:
        """One point; the reason the sweep must stop, or None to go on."""
        run_id = new_run_id()
        with Session.create_or_open(self.session_path) as session:
            session.start_point(status.sweep_id, point.point, run_id)
            status.points = session.sweep_points(status.sweep_id)
        status.current = next(p for p in status.points if p.point == point.point)
        self._tell(status)

        def started(controller: RunController[Any]) -> None:
            with self._lock:
                self._controller = controller
            if self._cancelled.is_set():
                controller.cancel()

        recorded: RecordedRun | None = None
        reason: str | None
        try:
            recorded = record_run(RunSpec.from_dict(point.spec), self.session_path, out_dir=self.runs_dir / run_id,
                                  on_event=self._on_event, on_started=started, progress_timeout=self._timeout, run_id=run_id)
            outcome, reason = recorded.result.status, recorded.result.reason
        except Exception as exc:  # a spec the worker refuses, an unexpected controller error: this point only
            log.exception("sweep point %s failed to start", point.label)
            outcome, reason = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                self._controller = None
        if outcome == "cancelled" and not self._cancelled.is_set():
            outcome = "failed"  # cancelled by the session (a full disk), not by the user
        status.run_ids.append(run_id)
        try:
            with Session.create_or_open(self.session_path) as session:
                session.finish_point(status.sweep_id, point.point, outcome, reason)
                status.points = session.sweep_points(status.sweep_id)
        except SessionError as exc:  # the point reads `running`, so a resume reruns it
            return str(exc)
        self._tell(status)
        if recorded is not None and recorded.stop_reason is not None:
            return recorded.stop_reason
        return "cancelled" if self._cancelled.is_set() else None

    def _tell(self, status: SweepStatus) -> None:
        if self._on_status is not None:
            self._on_status(status)
