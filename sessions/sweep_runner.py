"""Runs a sweep: each point a fresh worker recorded into the session (`record_run`), the
sweep's bookkeeping beside it (`sweep_store`), so a crash, a Ctrl+C or a failing point never
loses what finished and a rerun of the same plan picks up where it stopped.

A point that fails (a worker crash, an out-of-memory, a variant this machine cannot run) is
recorded with its reason and the sweep goes on; only a session that cannot be written any
more (a full disk) stops it, since every later point would fail the same way. A point whose
node or connection was lost (a remote executor) is recorded `interrupted`, not finished: the
sweep then ends `stopped`, so the same command again reruns just those points.

Points run one at a time, except on an executor that runs several at once (Ray: `slots()` by
the cluster's resources), where that many run side by side, each on a thread of its own.
"""
from __future__ import annotations

import logging
import statistics
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from profilers.executors.base import Executor
from profilers.framework_check import probe_framework
from profilers.runner import DEFAULT_PROGRESS_TIMEOUT_S, RunController, new_run_id
from sessions.record_run import RecordedRun, record_run
from sessions.store import PointRecord, Session, SessionError
from sessions.sweep_plan import SweepPlan
from workloads.spec import MODES, RunSpec

log = logging.getLogger("stepscope.sessions")


@runtime_checkable
class SharedExecutor(Protocol):
    """An executor that runs several runs at once (a Ray cluster)."""

    def slots(self) -> int:
        """How many runs it holds at once."""

    def for_run(self) -> Executor:
        """An executor for one run, whose placement names where that run went."""


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
    running: list[PointRecord] = field(default_factory=list)  # points whose workers run now
    slots: int = 1  # how many points run at once

    @property
    def interrupted(self) -> list[PointRecord]:
        """Points whose node or connection was lost: a rerun of the sweep measures them."""
        return [p for p in self.points if p.status == "interrupted"]

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
        return left / max(1, min(self.slots, self.total - self.finished))


class SweepRunner:
    """One invocation of a sweep. `on_status` hears each change (a point starting or ending),
    `on_event` every worker event of the running points (from their reader threads);
    `cancel()` (any thread) stops the running points and starts no other, leaving the sweep
    resumable. `executor` says where the workers run (default: here, one at a time)."""

    def __init__(self, plan: SweepPlan, session_path: Path, *, runs_dir: Path,
                 on_status: Callable[[SweepStatus], None] | None = None,
                 on_event: Callable[[dict[str, Any]], None] | None = None,
                 progress_timeout: float = DEFAULT_PROGRESS_TIMEOUT_S, executor: Executor | None = None) -> None:
        self.plan, self.session_path, self.runs_dir = plan, session_path, runs_dir
        self._on_status, self._on_event, self._timeout = on_status, on_event, progress_timeout
        self.executor = executor
        self._cancelled = threading.Event()
        self._controllers: dict[int, RunController[Any]] = {}  # point -> its running controller
        self._lock = threading.Lock()
        self._status_lock = threading.RLock()  # the session's point rows and the status, changed together

    def cancel(self) -> None:
        self._cancelled.set()
        with self._lock:
            for controller in self._controllers.values():
                controller.cancel()

    def run(self) -> SweepStatus:
        """Run every unfinished point; raises SessionError only when the session cannot be opened."""
        with Session.create_or_open(self.session_path) as session:
            sweep_id, resumed = session.open_sweep(self.plan)
            status = SweepStatus(sweep_id, resumed, session.sweep_points(sweep_id))
            probed = set(session.sweep_probes(sweep_id))
        self._tell(status)
        status.stopped = self._run_probes(status, probed)
        todo = [] if status.stopped else [p for p in status.points if not p.done]
        status.slots = self.executor.slots() if isinstance(self.executor, SharedExecutor) else 1
        if status.slots > 1 and len(todo) > 1:
            status.stopped = self._run_side_by_side(status, todo)
        else:
            status.stopped = self._run_in_turn(status, todo)
        try:
            with Session.create_or_open(self.session_path) as session:
                status.points = session.sweep_points(sweep_id)
                unfinished = status.stopped or any(not p.done for p in status.points)
                session.end_sweep(sweep_id, "stopped" if unfinished else "done")
        except SessionError as exc:
            status.stopped = status.stopped or str(exc)
        status.current = None
        self._tell(status)
        return status

    def _run_in_turn(self, status: SweepStatus, todo: list[PointRecord]) -> str | None:
        """One point after another; why the sweep stopped early, or None."""
        for point in todo:
            if self._cancelled.is_set():
                return "cancelled"
            stop = self._run_point(status, point)
            if stop is not None:
                return stop
        return None

    def _run_side_by_side(self, status: SweepStatus, todo: list[PointRecord]) -> str | None:
        """`status.slots` points at a time, each thread taking the next point as its last ends;
        a reason to stop (a full session, a cancel) starts no further point."""
        queue = list(todo)
        stops: list[str] = []

        def take() -> PointRecord | None:
            with self._lock:
                return queue.pop(0) if queue and not stops and not self._cancelled.is_set() else None

        def work() -> None:
            while (point := take()) is not None:
                try:
                    stop = self._run_point(status, point)
                except SessionError as exc:  # the session cannot be written: no further point
                    stop = str(exc)
                if stop is not None:
                    with self._lock:
                        stops.append(stop)

        threads = [threading.Thread(target=work, name=f"stepscope-sweep-{n}", daemon=True)
                   for n in range(min(status.slots, len(todo)))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if stops:
            return stops[0]
        return "cancelled" if self._cancelled.is_set() else None

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
        with self._status_lock:
            with Session.create_or_open(self.session_path) as session:
                session.start_point(status.sweep_id, point.point, run_id)
                status.points = session.sweep_points(status.sweep_id)
            status.current = next(p for p in status.points if p.point == point.point)
            status.running.append(status.current)
            self._tell(status)

        def started(controller: RunController[Any]) -> None:
            with self._lock:
                self._controllers[point.point] = controller
            if self._cancelled.is_set():
                controller.cancel()

        executor = self.executor.for_run() if isinstance(self.executor, SharedExecutor) else self.executor
        recorded: RecordedRun | None = None
        reason: str | None
        try:
            recorded = record_run(RunSpec.from_dict(point.spec), self.session_path, out_dir=self.runs_dir / run_id,
                                  on_event=self._on_event, on_started=started, progress_timeout=self._timeout, run_id=run_id,
                                  executor=executor)
            outcome, reason = recorded.result.status, recorded.result.reason
        except Exception as exc:  # a spec the worker refuses, an unexpected controller error: this point only
            log.exception("sweep point %s failed to start", point.label)
            outcome, reason = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            with self._lock:
                self._controllers.pop(point.point, None)
        if outcome == "cancelled" and not self._cancelled.is_set():
            outcome = "failed"  # cancelled by the session (a full disk), not by the user
        with self._status_lock:
            status.run_ids.append(run_id)
            status.running = [p for p in status.running if p.point != point.point]
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
