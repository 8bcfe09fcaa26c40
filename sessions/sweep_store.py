"""Sweeps in the session file: the plan, and per point which run measured it and how it ended.

A point is written `running` (with its run id) before its worker starts and `ok`, `failed` or
`cancelled` after (`interrupted` when a remote executor lost its node or connection), each in
its own transaction, so a sweep killed at any moment leaves a file that says exactly which points
are finished; `open_sweep` on the same plan then resumes it, rerunning only points that never
finished (`pending`, `running` left by a crash, `cancelled`, `interrupted`).
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from sessions.run_tables import json_text
from sessions.session_file import SessionFile
from sessions.sweep_plan import SweepPlan

DONE = ("ok", "failed")  # a point in one of these is never rerun by a resume
POINT_STATES = ("pending", "running", "ok", "failed", "cancelled", "interrupted")


@dataclass(frozen=True)
class PointRecord:
    point: int
    cell: int
    repeat: int
    label: str
    purpose: str  # what the point is measured for ("" in a plain sweep; a scorecard's metric)
    spec: dict[str, Any]
    run_id: str | None
    status: str
    reason: str | None
    started_at: float | None
    finished_at: float | None

    @property
    def done(self) -> bool:
        return self.status in DONE

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


@dataclass(frozen=True)
class SweepRecord:
    sweep_id: str
    name: str
    plan: dict[str, Any]
    plan_key: str
    status: str  # running | done | stopped (what its last runner left; a crash leaves `running`)
    created_at: float
    updated_at: float


class SweepStore(SessionFile):
    """The sweep half of a session (schema v3)."""

    def sweeps(self) -> list[SweepRecord]:
        rows = self._query("SELECT sweep_id, name, plan, plan_key, status, created_at, updated_at FROM sweeps ORDER BY id")
        return [SweepRecord(r[0], r[1], json.loads(r[2]), r[3], r[4], r[5], r[6]) for r in rows]

    def sweep(self, sweep_id: str) -> SweepRecord:
        for record in self.sweeps():
            if record.sweep_id == sweep_id:
                return record
        from sessions.schema import SessionError

        raise SessionError(f"{self.path}: no sweep {sweep_id!r} in this session")

    def open_sweep(self, plan: SweepPlan) -> tuple[str, bool]:
        """The unfinished sweep of this plan (resumed: True), or a new one with every point pending."""
        rows = self._query("SELECT sweep_id FROM sweeps WHERE plan_key = ? AND status != 'done' ORDER BY id DESC LIMIT 1",
                           (plan.key,))
        if rows:
            return rows[0][0], True
        sweep_id = uuid.uuid4().hex[:12]
        points = plan.points()
        now = time.time()

        def work() -> None:
            cur = self._conn.execute(
                "INSERT INTO sweeps (sweep_id, name, plan, plan_key, status, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, 'running', ?, ?)",
                (sweep_id, plan.name or f"sweep of {len(points)} runs", json_text(plan.to_dict()), plan.key, now, now))
            key = cur.lastrowid
            self._conn.executemany(
                "INSERT INTO sweep_points (sweep, point, cell, repeat, label, purpose, spec, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')",
                [(key, p.index, p.cell, p.repeat, p.label, p.purpose, json_text(p.spec.to_dict())) for p in points])

        self._write(f"begin sweep {sweep_id}", work)
        return sweep_id, False

    def sweep_points(self, sweep_id: str) -> list[PointRecord]:
        rows = self._query(
            "SELECT p.point, p.cell, p.repeat, p.label, p.purpose, p.spec, p.run_id, p.status, p.reason, p.started_at, "
            "p.finished_at "
            "FROM sweep_points p JOIN sweeps s ON s.id = p.sweep WHERE s.sweep_id = ? ORDER BY p.point", (sweep_id,))
        return [PointRecord(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), *r[6:]) for r in rows]

    def sweep_probes(self, sweep_id: str) -> dict[str, dict[str, Any]]:
        """The compatibility probes stored with the sweep, by framework (`FrameworkReport.to_dict()`)."""
        rows = self._query("SELECT probes FROM sweeps WHERE sweep_id = ?", (sweep_id,))
        probes: dict[str, dict[str, Any]] = json.loads(rows[0][0]) if rows else {}
        return probes

    def store_probe(self, sweep_id: str, framework: str, report: dict[str, Any]) -> None:
        """Keep one framework's probe with the sweep (a rerun of the same probe replaces it)."""

        def work() -> None:
            rows = self._query("SELECT probes FROM sweeps WHERE sweep_id = ?", (sweep_id,))
            if not rows:
                raise ValueError(f"no sweep {sweep_id!r}")
            probes = {**json.loads(rows[0][0]), framework: report}
            self._conn.execute("UPDATE sweeps SET probes = ?, updated_at = ? WHERE sweep_id = ?",
                               (json_text(probes), time.time(), sweep_id))

        self._write(f"store the {framework} probe of sweep {sweep_id}", work)

    def start_point(self, sweep_id: str, point: int, run_id: str) -> None:
        self._set_point(sweep_id, point, "running", None, run_id=run_id, started=True)

    def finish_point(self, sweep_id: str, point: int, status: str, reason: str | None) -> None:
        self._set_point(sweep_id, point, status, reason, finished=True)

    def end_sweep(self, sweep_id: str, status: str) -> None:
        """`done` once every point is ok or failed; `stopped` when its runner stopped early or left
        a point unfinished (interrupted)."""

        def work() -> None:
            self._conn.execute("UPDATE sweeps SET status = ?, updated_at = ? WHERE sweep_id = ?", (status, time.time(), sweep_id))

        self._write(f"end sweep {sweep_id}", work)

    def _set_point(self, sweep_id: str, point: int, status: str, reason: str | None, run_id: str | None = None,
                   started: bool = False, finished: bool = False) -> None:
        if status not in POINT_STATES:
            raise ValueError(f"unknown point status {status!r}")
        now = time.time()

        def work() -> None:
            key = self._query("SELECT id FROM sweeps WHERE sweep_id = ?", (sweep_id,))
            if not key:
                raise ValueError(f"no sweep {sweep_id!r}")
            sets = ["status = ?", "reason = ?"]
            args: list[Any] = [status, reason]
            if run_id is not None:
                sets.append("run_id = ?")
                args.append(run_id)
            if started:
                sets += ["started_at = ?", "finished_at = NULL"]
                args.append(now)
            if finished:
                sets.append("finished_at = ?")
                args.append(now)
            cur = self._conn.execute(f"UPDATE sweep_points SET {', '.join(sets)} WHERE sweep = ? AND point = ?",
                                     (*args, key[0][0], point))
            if cur.rowcount != 1:
                raise ValueError(f"sweep {sweep_id!r} has no point {point}")
            self._conn.execute("UPDATE sweeps SET updated_at = ?, status = 'running' WHERE id = ?", (now, key[0][0]))

        self._write(f"update point {point} of sweep {sweep_id}", work)
