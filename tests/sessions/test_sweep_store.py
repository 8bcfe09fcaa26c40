"""Sweeps in the session file: a v2 file gains the sweep tables, the frozen v3 fixture reads its
sweep back, and a plan opened twice is one sweep until it is done."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sessions.schema import SCHEMA_VERSION
from sessions.store import Session, SessionError
from sessions.sweep_plan import SweepPlan

DATA = Path(__file__).resolve().parents[1] / "data"
PLAN = SweepPlan.grid(axes={"framework": ["torch", "jax"]}, base={"steps": 3}, repeat=2)


def test_a_v2_session_reads_with_no_sweeps_and_takes_one_once_written(tmp_path: Path) -> None:
    path = tmp_path / "v2.stepscope"
    shutil.copy(DATA / "session-v2.stepscope", path)
    with Session.open_readonly(path) as session:
        assert session.file_version == 2 and session.sweeps() == []
    with Session.create_or_open(path) as session:
        sweep_id, resumed = session.open_sweep(PLAN)
        assert not resumed and len(session.runs()) == 3
    with Session.open_readonly(path) as session:
        assert session.file_version == SCHEMA_VERSION and [s.sweep_id for s in session.sweeps()] == [sweep_id]


def test_the_v3_fixture_reads_its_sweep(tmp_path: Path) -> None:
    path = tmp_path / "v3.stepscope"
    shutil.copy(DATA / "session-v3.stepscope", path)
    with Session.open_readonly(path) as session:
        (sweep,) = session.sweeps()
        assert sweep.name == "fixture sweep" and sweep.status == "done" and sweep.plan["grids"][0]["base"]["batch_size"] == 32
        points = session.sweep_points(sweep.sweep_id)
        assert [(p.label, p.status, p.run_id) for p in points] == [
            ("torch eager", "ok", "20250101-120000-aaaaaa"), ("jax compiled", "failed", "20250101-120100-bbbbbb")]
        assert points[1].reason and "NaN" in points[1].reason and all(p.seconds is not None for p in points)


def test_one_plan_is_one_sweep_until_done(tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    with Session.create_or_open(path) as session:
        first, resumed = session.open_sweep(PLAN)
        assert not resumed
        points = session.sweep_points(first)
        assert [(p.label, p.repeat, p.status) for p in points] == [
            ("torch eager", 0, "pending"), ("jax compiled", 0, "pending"), ("torch eager", 1, "pending"),
            ("jax compiled", 1, "pending")]
        session.start_point(first, 0, "run-a")
        session.finish_point(first, 0, "ok", None)
        session.start_point(first, 1, "run-b")  # then the process died: the point stays `running`
        assert session.open_sweep(PLAN) == (first, True)
        assert [p.done for p in session.sweep_points(first)] == [True, False, False, False]
        other, resumed = session.open_sweep(SweepPlan.grid(axes={"framework": ["torch"]}))
        assert other != first and not resumed
        session.end_sweep(first, "done")
        again, resumed = session.open_sweep(PLAN)
        assert again != first and not resumed
        with pytest.raises(SessionError, match="has no point 99"):
            session.finish_point(first, 99, "ok", None)
        with pytest.raises(SessionError, match="no sweep 'nope'"):
            session.sweep("nope")
