"""The Ray executor on a real local Ray runtime (2 CPUs, started once for this module): a 4-point
sweep runs two points at once, one point's Ray worker is killed mid-run (as a lost node would
end it), that point alone is `interrupted` with a reason and leaves no process behind, and a
rerun of the sweep measures it; a single run streams its events and its trace comes back."""
from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from profilers.executors import ExecutorError, LaunchError, executor_for
from profilers.executors.ray import RayExecutor, leave, parse_target
from profilers.runner import RunController
from sessions.store import Session
from sessions.sweep_plan import SweepPlan
from sessions.sweep_runner import SweepRunner, SweepStatus
from workloads.spec import RunSpec

ROOT = Path(__file__).resolve().parents[2]
BASE = {"framework": "torch", "workload": "mlp", "steps": 3, "warmup": 1, "trace_steps": 0, "evaluate": False}


def test_an_unreachable_cluster_is_one_line(tmp_path: Path) -> None:
    """First in this file, before the module's runtime starts: `ray:auto` finds any Ray running
    on this machine (by its processes), and here none is."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    env.pop("RAY_ADDRESS", None)
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "sweep", "--on", "ray:auto", "--frameworks", "torch",
                           "--workloads", "mlp", "--session", str(tmp_path / "s.stepscope")],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("stepscope sweep:")]
    assert len(errors) == 1 and "cannot reach the Ray cluster at auto" in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    wrong = subprocess.run([sys.executable, str(ROOT / "main.py"), "sweep", "--gpus-per-run", "1", "--frameworks", "torch"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and "needs a Ray target" in wrong.stderr, wrong.stderr
    assert not (tmp_path / "s.stepscope").exists()


@pytest.fixture(scope="module")
def ray_executor() -> Iterator[RayExecutor]:
    """One Ray runtime for the module (its start-up takes seconds), stopped at the end."""
    started = time.perf_counter()
    executor = RayExecutor.from_target("ray", num_cpus=2)
    print(f"Ray runtime started in {time.perf_counter() - started:.1f} s")
    yield executor
    leave()


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _workers_of(batch_size: int) -> list[psutil.Process]:
    """This point's worker processes, found by the batch size in their spec among this test's
    descendants (the Ray runtime it started), so nobody else's worker is touched."""
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            cmdline = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if "profilers.worker" in cmdline and f'"batch_size": {batch_size},' in cmdline and "remote_shim" not in cmdline:
            found.append(proc)
    return found


@pytest.mark.slow
def test_a_lost_ray_worker_interrupts_only_its_point_and_a_rerun_measures_it(
        ray_executor: RayExecutor, tmp_path: Path) -> None:
    plan = SweepPlan.grid(axes={"batch_size": [8, 16, 32, 64]}, base=BASE)
    session = tmp_path / "s.stepscope"
    at_once: list[int] = []  # points running, at each change
    killed: list[psutil.Process] = []  # the point's worker, its shim, and the Ray worker hosting them
    hunting: list[threading.Thread] = []

    def kill_the_ray_worker() -> None:  # as a lost node would end it, while its worker imports torch
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for worker in _workers_of(16):
                shim = worker.parent()
                host = shim.parent() if shim is not None else None
                if host is not None and shim is not None and host.name().startswith("ray::"):
                    killed.extend([worker, shim, host])
                    host.kill()
                    return
            time.sleep(0.05)

    def on_status(status: SweepStatus) -> None:
        at_once.append(len(status.running))
        if any(p.point == 1 for p in status.running) and not hunting:
            hunting.append(threading.Thread(target=kill_the_ray_worker, daemon=True))
            hunting[0].start()

    status = SweepRunner(plan, session, runs_dir=tmp_path / "runs", on_status=on_status,
                         executor=ray_executor).run()
    hunting[0].join(timeout=5)
    assert killed, "the point's worker was never found"
    assert status.slots == 2 and max(at_once) == 2  # two points at once on 2 CPUs
    assert [p.status for p in status.points] == ["ok", "interrupted", "ok", "ok"], status.points
    reason = status.points[1].reason or ""
    assert "Ray actor" in reason and "died" in reason, reason
    deadline = time.monotonic() + 15  # the shim saw its stdin end: it stops the worker, then itself
    while any(_alive(p) for p in killed) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p.pid for p in killed if _alive(p)]
    with Session.open_readonly(session) as s:
        assert s.sweeps()[0].status == "stopped"  # unfinished: the same command resumes it
        runs = {r.run_id: r for r in s.runs()}
        lost = runs[status.points[1].run_id or ""]
        assert lost.status == "interrupted"
        ok = runs[status.points[0].run_id or ""]
        assert ok.environment["placement"]["executor"] == "ray" and ok.environment["placement"]["host"]
        assert s.steps(ok.run_id) is not None

    again = SweepRunner(plan, session, runs_dir=tmp_path / "runs", executor=ray_executor).run()
    assert again.resumed and again.stopped is None
    assert [p.status for p in again.points] == ["ok"] * 4
    assert len(again.run_ids) == 1  # only the interrupted point ran again
    with Session.open_readonly(session) as s:
        assert s.sweeps()[0].status == "done"


@pytest.mark.slow
def test_a_cancel_stops_every_running_point_and_starts_no_other(ray_executor: RayExecutor, tmp_path: Path) -> None:
    plan = SweepPlan.grid(axes={"batch_size": [8, 16, 32, 64]}, base={**BASE, "steps": 2000})
    runner: SweepRunner
    both_running = threading.Event()

    def on_status(status: SweepStatus) -> None:
        if len(status.running) == 2:
            both_running.set()

    def on_event(event: dict[str, object]) -> None:
        if event["type"] == "step" and both_running.is_set():
            runner.cancel()  # as Ctrl+C does

    runner = SweepRunner(plan, tmp_path / "s.stepscope", runs_dir=tmp_path / "runs", on_status=on_status,
                         on_event=on_event, executor=ray_executor)
    status = runner.run()
    assert status.stopped == "cancelled"
    assert [p.status for p in status.points] == ["cancelled", "cancelled", "pending", "pending"]
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any("profilers" in " ".join(_cmdline(p)) for p in psutil.Process().children(True)):
        time.sleep(0.2)
    assert not [p.pid for p in psutil.Process().children(True) if "profilers" in " ".join(_cmdline(p))]


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline() if _alive(proc) else []
    except psutil.Error:
        return []


@pytest.mark.slow
def test_a_single_run_on_ray_streams_its_events_and_brings_its_trace_back(ray_executor: RayExecutor,
                                                                          tmp_path: Path) -> None:
    spec = RunSpec.from_dict({**BASE, "batch_size": 8, "trace_steps": 1})
    arrivals: list[tuple[str, float]] = []
    controller = RunController(spec, out_dir=tmp_path / "out", executor=ray_executor.for_run(),
                               on_event=lambda e: arrivals.append((e["type"], time.monotonic())))
    result = controller.run()
    assert result.status == "ok", result.reason
    kinds = [kind for kind, _ in arrivals]
    assert kinds.index("hello") < kinds.index("step") < kinds.index("summary")
    assert "sample" in kinds  # the shim samples the worker on its node
    # a local Ray runtime runs on the controller's machine: its samples say how busy the rest of it was
    samples = [e for e in result.events if e["type"] == "sample"]
    assert any(s.get("others_cpu") is not None for s in samples)
    assert "exit" not in kinds  # the shim's last line is the executor's, never delivered
    (artifact,) = [e for e in result.events if e["type"] == "artifact"]
    local = Path(artifact["path"])
    assert local.is_relative_to(tmp_path / "out") and local.stat().st_size == artifact["bytes"]
    steps = [t for kind, t in arrivals if kind == "step"]
    assert steps[-1] < arrivals[-1][1]  # steps arrived while the run went on, not all at its end


def test_targets_are_parsed_and_a_second_cluster_is_refused(ray_executor: RayExecutor) -> None:
    assert parse_target("ray") is None and parse_target("ray:auto") == "auto"
    assert parse_target("ray://head:10001") == "ray://head:10001"
    with pytest.raises(ExecutorError, match="ray, ray:auto or ray://HOST:PORT"):
        executor_for("ray:head")
    with pytest.raises(ExecutorError, match="already on the Ray cluster"):
        executor_for("ray://127.0.0.1:1")
    assert ray_executor.slots() == 2
    ray_executor.gpus_per_run = 1  # this runtime has no GPU: said at once, not waited for
    try:
        with pytest.raises(LaunchError, match="no node of the local Ray runtime has 1 GPU"):
            ray_executor.launch([sys.executable, "-c", "pass"], env={}, run_id="r", out_dir=Path("/nonexistent"))
    finally:
        ray_executor.gpus_per_run = 0


def test_the_ray_module_is_loaded_only_when_named() -> None:
    code = ("import sys, cli.sweep, cli.run, sessions.sweep_runner, profilers.executors as e; "
            "e.executor_for('local'); print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                         capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr

