"""`stepscope capture RUN_ID` from a second terminal (docs/capture.md): against a running `run`, the
window is armed and stored with the run; against an ended, unknown or never-started run, one line
and exit 2."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from sessions.store import Session

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def _capture(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "main.py", "capture", *args], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=120)


def _running_run(path: Path) -> str | None:
    if not path.exists():
        return None
    with Session.open_readonly(path) as session:
        return next((r.run_id for r in session.runs() if r.status == "running" and r.step_count > 0), None)


def test_capture_arms_a_window_in_a_running_run_and_says_why_when_it_cannot(tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    command = [sys.executable, "main.py", "run", "--framework", "torch", "--workload", "mlp", "--batch-size", "8",
               "--steps", "4000", "--trace-steps", "0", "--no-eval", "--session", str(path), "--out-dir", str(tmp_path / "out")]
    with subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            deadline = time.monotonic() + 120
            while (run_id := _running_run(path)) is None and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.3)
            assert run_id is not None, "the run never streamed a step"
            one_process = _capture(run_id, "--steps", "3", "--ranks", "1")
            assert one_process.returncode == 2 and one_process.stderr.strip() == (
                f"stepscope capture: run {run_id} refused the capture: this run is one process (rank 0); it has no rank 1")
            not_ranks = _capture(run_id, "--steps", "3", "--ranks", "one")
            assert not_ranks.returncode == 2 and "--ranks takes rank numbers" in not_ranks.stderr
            armed = _capture(run_id, "--steps", "3", "--session", str(path))
            assert armed.returncode == 0, armed.stderr
            assert f"capture window 1 armed in run {run_id}: the next 3 steps" in armed.stdout
            out, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 0, err
    with Session.open_readonly(path) as session:
        windows = session.trace_windows(run_id)
    assert [(w.window, w.first_step is not None and w.last_step is not None and w.last_step - w.first_step)
            for w in windows] == [(1, 2)]
    ended = _capture(run_id, "--steps", "3", "--session", str(path))
    assert ended.returncode == 2 and ended.stderr.strip() == (
        f"stepscope capture: run {run_id} has ended (ok); a capture can only be armed while a run is running")
    unknown = _capture("20990101-000000-000000", "--seconds", "2", "--session", str(path))
    assert unknown.returncode == 2 and f"is not in {path}" in unknown.stderr
    nowhere = _capture("20990101-000000-000000", "--steps", "2")
    assert nowhere.returncode == 2 and "is not running on this machine" in nowhere.stderr
    assert len(nowhere.stderr.strip().splitlines()) == 1
