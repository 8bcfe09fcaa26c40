"""Sweeps with real workers (torch MLP, a few steps each): a point whose worker dies is recorded
with its reason and the sweep goes on; a sweep killed half-way resumes without rerunning what
finished; a cancelled sweep stops at once and resumes too."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from sessions.store import Session, SessionError
from sessions.sweep_plan import SweepPlan
from sessions.sweep_runner import SweepRunner, SweepStatus

ROOT = Path(__file__).resolve().parents[2]
BASE = {"workload": "mlp", "steps": 3, "warmup": 1, "trace_steps": 0, "evaluate": False}


def test_a_point_whose_worker_dies_fails_alone_and_the_sweep_goes_on(tmp_path: Path) -> None:
    plan = SweepPlan.grid(axes={"framework": ["torch"], "batch_size": [8, 16, 32]}, base=BASE)
    session = tmp_path / "s.stepscope"
    seen: list[SweepStatus] = []
    killed: list[int] = []

    def kill_the_worker() -> None:  # as the kernel's OOM killer would, while it imports its framework
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            for child in psutil.Process().children(recursive=True):
                if "profilers.worker" in " ".join(child.cmdline()):
                    child.kill()
                    killed.append(child.pid)
            time.sleep(0.01)

    def on_status(status: SweepStatus) -> None:
        seen.append(status)
        if status.current is not None and status.current.point == 1 and status.current.status == "running" and not killed:
            threading.Thread(target=kill_the_worker, daemon=True).start()

    runner = SweepRunner(plan, session, runs_dir=tmp_path / "runs", on_status=on_status)
    status = runner.run()
    assert killed and status.stopped is None
    assert [p.status for p in status.points] == ["ok", "failed", "ok"]
    assert status.points[1].reason, status.points[1]
    with Session.open_readonly(session) as s:
        (sweep,) = s.sweeps()
        assert sweep.status == "done" and sweep.sweep_id == status.sweep_id
        runs = {r.run_id: r for r in s.runs()}
        assert [runs[p.run_id].status for p in status.points if p.run_id] == ["ok", "failed", "ok"]
        assert all(runs[p.run_id].spec["batch_size"] == p.spec["batch_size"] for p in status.points if p.run_id)
    assert seen[-1].finished == 3 and seen[-1].seconds_left() == 0.0


def _sweep_cli(session: Path, out: Path) -> list[str]:
    """Two points: the fewest that leave one finished and one not when the sweep is killed."""
    return [sys.executable, str(ROOT / "main.py"), "sweep", "--frameworks", "torch", "--workloads", "mlp", "--batch-sizes",
            "8,16", "--steps", "3", "--warmup", "1", "--no-eval", "--session", str(session), "--out-dir", str(out)]


def _finished_points(session: Path) -> list[tuple[int, str | None]]:
    try:
        with Session.open_readonly(session) as s:
            sweeps = s.sweeps()
            return [(p.point, p.run_id) for p in s.sweep_points(sweeps[0].sweep_id) if p.status == "ok"] if sweeps else []
    except SessionError:  # not there yet, or still being created by the sweep
        return []


def _run_count(session: Path) -> int:
    try:
        with Session.open_readonly(session) as s:
            return len(s.runs())
    except SessionError:
        return 0


def test_a_killed_sweep_resumes_without_rerunning_finished_points(tmp_path: Path) -> None:
    session, out = tmp_path / "s.stepscope", tmp_path / "runs"
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    proc = subprocess.Popen(_sweep_cli(session, out), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 240
    # killed once the first point is done and the second point's run has begun (its worker still
    # importing torch): on a loaded machine the sweep may take a moment between the two
    while time.monotonic() < deadline and not (_finished_points(session) and _run_count(session) == 2) \
            and proc.poll() is None:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker die at once: a crash, no clean-up
    proc.wait(timeout=30)
    before = _finished_points(session)
    assert before and len(before) < 2, before
    again = subprocess.run(_sweep_cli(session, out), env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "resumed sweep" in again.stderr
    after = _finished_points(session)
    assert [p for p, _ in after] == [0, 1]
    assert set(before) <= set(after)  # the same runs kept for the points that had finished
    with Session.open_readonly(session) as s:
        assert len(s.sweeps()) == 1 and s.sweeps()[0].status == "done"
        statuses = sorted(r.status for r in s.runs())
    # the killed point's run reads as interrupted (its writer died); the rerun of it is a new, ok run
    assert statuses.count("ok") == 2 and len(statuses) == 3, statuses
    third = subprocess.run(_sweep_cli(session, out), env=env, capture_output=True, text=True, timeout=300)
    assert third.returncode == 0 and "resumed" not in third.stderr  # a finished sweep is measured anew
    with Session.open_readonly(session) as s:
        assert len(s.sweeps()) == 2


def test_a_cancelled_sweep_stops_and_says_so(tmp_path: Path) -> None:
    plan = SweepPlan.grid(axes={"framework": ["torch"], "batch_size": [8, 16]}, base=BASE)
    runner: SweepRunner

    def on_event(event: dict[str, Any]) -> None:
        if event["type"] == "step":
            runner.cancel()

    runner = SweepRunner(plan, tmp_path / "s.stepscope", runs_dir=tmp_path / "runs", on_event=on_event)
    status = runner.run()
    assert status.stopped == "cancelled"
    assert [p.status for p in status.points] == ["cancelled", "pending"]
    with Session.open_readonly(tmp_path / "s.stepscope") as s:
        assert s.sweeps()[0].status == "stopped"
    again = SweepRunner(plan, tmp_path / "s.stepscope", runs_dir=tmp_path / "runs").run()
    assert again.resumed and [p.status for p in again.points] == ["ok", "ok"] and again.stopped is None
