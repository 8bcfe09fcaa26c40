"""Runs over SSH against a real OpenSSH server on 127.0.0.1 (tests/executors/sshd.py): `remote
setup`, a run and `env` through the command line, and a connection cut mid-run (the server's
processes killed) that ends the run `interrupted`, keeps its streamed steps and leaves no worker.
The remote environment is this checkout's interpreter (`remote setup --python`), so nothing is
installed."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from profilers.executors import executor_for
from profilers.executors.ssh_setup import environment_id
from sessions.record_run import RecordedRun, record_run
from sessions.store import Session
from tests.executors.sshd import SshServer
from workloads.spec import FRAMEWORKS, RunSpec

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--framework", "torch", "--workload", "mlp", "--batch-size", "8", "--data", "synthetic", "--warmup", "1",
        "--steps", "3", "--trace-steps", "2", "--no-eval"]
pytestmark = pytest.mark.timeout(300)


def stepscope(server: SshServer, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    env = dict(server.env(), PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def on_remote(server: SshServer, *args: str) -> subprocess.CompletedProcess[str]:
    """A command that needs the remote environment. The environment's id hashes the worker code,
    which other work in this checkout may change meanwhile: then it is set up once more."""
    done = stepscope(server, *args)
    if "no Stepscope worker environment for this version" in done.stdout + done.stderr:
        setup(server)
        done = stepscope(server, *args)
    return done


def setup(server: SshServer, target: str | None = None) -> dict[str, Any]:
    done = stepscope(server, "remote", "setup", target or server.target, "--python", sys.executable, "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout))


def test_remote_setup_copies_the_worker_code_and_reports_what_is_there(sshd: SshServer) -> None:
    report = setup(sshd, sshd.url)  # by user@address:port this time, not the ~/.ssh/config alias
    env_dir = sshd.remote_root / environment_id()
    assert report["env_dir"] == str(env_dir) and not report["venv_created"]
    assert report["packages"]["torch"].startswith("2.") and report["packages"]["numpy"]
    shim = Path("profilers") / "remote_shim.py"
    assert (env_dir / "code" / shim).read_bytes() == (ROOT / shim).read_bytes()
    assert json.loads((env_dir / "ready.json").read_text())["python"] == sys.executable


def test_a_run_without_the_remote_environment_names_the_setup_command(sshd: SshServer, tmp_path: Path) -> None:
    done = stepscope(sshd, "run", "--on", sshd.target, *TINY, "--session", str(tmp_path / "s.stepscope"), "--json")
    record = json.loads(done.stdout)
    assert done.returncode == 1 and record["status"] == "failed"
    assert f"./stepscope remote setup {sshd.target}" in record["reason"]


def test_a_run_over_ssh_gives_a_local_runs_fields_and_its_trace(sshd: SshServer, tmp_path: Path) -> None:
    setup(sshd)
    session = tmp_path / "s.stepscope"
    records = {}
    for on in (sshd.target, "local"):
        done = on_remote(sshd, "run", "--on", on, *TINY, "--session", str(session), "--out-dir", str(tmp_path / on[:5]),
                         "--json")
        assert done.returncode == 0, done.stderr[-3000:]
        records[on] = json.loads(done.stdout)
    local, remote = records["local"], records[sshd.target]
    # others_cpu_percent is the controller's machine's alone (a remote one's other processes are not
    # ours to judge), and a local run of 3 steps has it only when a sample lands among them
    local_fields = {k for k, v in local.items() if v is not None} - {"others_cpu_percent"}
    assert {k for k, v in remote.items() if v is not None} == local_fields and remote["others_cpu_percent"] is None
    assert remote["steps"] == local["steps"] == 3 and remote["peak_host_mb"] > 0  # the shim's samples
    artifact = Path(remote["artifacts"][0]["path"])
    assert artifact.is_relative_to(tmp_path / "ssh:") and artifact.stat().st_size == remote["artifacts"][0]["bytes"]
    assert remote["trace_events"] and remote["trace_events"] > 0  # parsed into the session: the inspector opens it
    with Session.open_readonly(session) as opened:
        placements = {r.run_id: (r.environment or {}).get("placement") or {} for r in opened.runs()}
    assert placements[remote["run_id"]]["executor"] == "ssh" and placements[local["run_id"]]["executor"] == "local"
    assert not list((sshd.remote_root / "runs").iterdir())  # the remote run directory went once copied


def test_env_over_ssh_probes_the_remote_environment(sshd: SshServer) -> None:
    setup(sshd)
    done = on_remote(sshd, "env", "--on", sshd.target, "--quick", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    reports = {r["framework"]: r for r in json.loads(done.stdout)}
    assert set(reports) == set(FRAMEWORKS)
    assert reports["torch"]["imports"] and reports["torch"]["version"].startswith("2.")
    # the Python there, asked of the environment's interpreter (this one, set up with --python)
    assert {r["python_version"] for r in reports.values()} == {platform.python_version()}


def test_a_cut_connection_ends_the_run_interrupted_keeps_its_steps_and_leaves_no_worker(
        sshd: SshServer, tmp_path: Path) -> None:
    setup(sshd)
    spec = RunSpec(framework="torch", workload="mlp", batch_size=8, device="cpu", data="synthetic", steps=100000,
                   warmup=1, evaluate=False, trace_steps=0)
    steps: list[dict[str, Any]] = []
    outcome: list[RecordedRun] = []
    session = tmp_path / "cut.stepscope"

    def on_event(event: dict[str, Any]) -> None:
        if event["type"] == "step":
            steps.append(event)

    runner = threading.Thread(target=lambda: outcome.append(record_run(
        spec, session, out_dir=tmp_path / "out", on_event=on_event, executor=executor_for(sshd.target))))
    runner.start()
    deadline = time.monotonic() + 120
    while len(steps) < 3 and time.monotonic() < deadline and runner.is_alive():
        time.sleep(0.1)
    assert len(steps) >= 3, "no steps came over SSH"
    far_side = _far_side_processes(sshd)
    assert far_side, "the shim and its worker were not found"
    sshd.kill()
    runner.join(60)
    result = outcome[0].result
    assert result.status == "interrupted" and "SSH connection" in str(result.reason)
    _, alive = psutil.wait_procs(far_side, timeout=15)
    assert not alive, f"left running on the far side: {[p.pid for p in alive]}"
    with Session.open_readonly(session) as opened:
        record = opened.runs()[0]
        assert record.status == "interrupted"
        assert len(opened.steps(record.run_id)["index"]) >= len(steps) - 1 >= 2


def _far_side_processes(server: SshServer) -> list[psutil.Process]:
    """The shim and worker of a run on `server`: their argv names its remote root."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if str(server.remote_root) in " ".join(process.info["cmdline"] or []) and process.pid != os.getpid():
            found.append(process)
    return found


def test_a_cancel_reaches_the_remote_worker_and_keeps_the_run(sshd: SshServer, tmp_path: Path) -> None:
    setup(sshd)
    spec = RunSpec(framework="torch", workload="mlp", batch_size=8, device="cpu", data="synthetic", steps=100000,
                   warmup=1, evaluate=False, trace_steps=0)
    steps: list[dict[str, Any]] = []
    controllers: list[Any] = []
    outcome: list[RecordedRun] = []
    runner = threading.Thread(target=lambda: outcome.append(record_run(
        spec, tmp_path / "cancel.stepscope", out_dir=tmp_path / "out", executor=executor_for(sshd.target),
        on_started=controllers.append, on_event=lambda e: steps.append(e) if e["type"] == "step" else None)))
    runner.start()
    deadline = time.monotonic() + 120
    while len(steps) < 3 and time.monotonic() < deadline and runner.is_alive():
        time.sleep(0.1)
    far_side = _far_side_processes(sshd)
    assert len(steps) >= 3 and far_side
    controllers[0].cancel()  # SIGTERM to the worker's group, through the shim's stdin
    runner.join(60)
    result = outcome[0].result
    assert result.status == "cancelled" and len([e for e in result.events if e["type"] == "step"]) >= 3
    _, alive = psutil.wait_procs(far_side, timeout=15)
    assert not alive and sshd.proc.poll() is None  # the worker went; the server stayed
