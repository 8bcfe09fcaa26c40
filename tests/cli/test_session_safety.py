"""Issue 15 on the command line: `sessions` offers the repair of a crashed session and `sessions
--repair` makes the file alone hold every run; a full disk during `run` is said at once in one
line, and the printed status, the stored status and the exit code all say `failed`."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli import run as run_module
from sessions.store import Session
from tests.sessions.test_disk_full import page_limited
from tests.sessions.test_self_contained import alone, kill_streamer_mid_run, steps_in
from workloads.spec import RunSpec

ROOT = Path(__file__).resolve().parents[2]
FAKE_WORKER = ROOT / "tests" / "profilers" / "fake_worker.py"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "main.py", *args], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=60)


@pytest.mark.timeout(90)
def test_sessions_offers_the_repair_and_repair_makes_the_file_self_contained(tmp_path: Path) -> None:
    path = tmp_path / "crashed.stepscope"
    kill_streamer_mid_run(path)
    stored = steps_in(path, "r1")
    listed = cli("sessions", "--dir", str(tmp_path), "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["needs_repair"] is True
    assert f"--repair {path}" in cli("sessions", "--dir", str(tmp_path)).stdout.replace("\n", "")
    assert f"--repair {path}" in cli("report", str(path)).stdout.replace("\n", "")
    repaired = cli("sessions", "--repair", str(path))
    assert repaired.returncode == 0, repaired.stderr
    assert "marked interrupted: r1" in repaired.stdout and "the file alone now holds every run" in repaired.stdout
    assert steps_in(alone(path, tmp_path / "mailed"), "r1") == stored
    assert json.loads(cli("sessions", "--dir", str(tmp_path), "--json").stdout)[0]["needs_repair"] is False
    missing = cli("sessions", "--repair", str(tmp_path / "missing.stepscope"))
    assert missing.returncode == 2 and "no such file" in missing.stderr and missing.stderr.count("\n") == 1


@pytest.mark.timeout(60)
def test_a_full_disk_during_run_is_said_at_once_and_the_status_and_exit_code_agree(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def command(spec: RunSpec, out_dir: Path, clock_origin: float | None = None) -> list[str]:
        return [sys.executable, str(FAKE_WORKER), "cancel-wait", "20000"]  # then waits a minute for SIGTERM

    monkeypatch.setattr("profilers.runner.worker_command", command)
    path = tmp_path / "s.stepscope"
    page_limited(path, monkeypatch, spare_pages=6)
    code = run_module.run_command(RunSpec(framework="torch", batch_size=8), True, tmp_path / "out", 60.0, path,
                                  repeat=2)  # the second run is not tried: the disk is still full
    out, err = capsys.readouterr()
    reason = f"disk full while writing {path}"
    assert code == run_module.EXIT_FAILED
    [record] = json.loads(out)
    assert (record["status"], record["reason"]) == ("failed", reason)
    warning = [line for line in err.splitlines() if line.startswith("stepscope run: disk full")]
    assert len(warning) == 1 and str(path) in warning[0]  # one line, and before the summary
    assert err.index(warning[0]) < err.index("status")
    assert "status ok" not in " ".join(err.split()) and "failed" in err
    with Session.open_readonly(path) as session:
        assert session.runs()[0].status == "failed"
