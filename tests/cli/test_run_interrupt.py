"""Ctrl-C in `stepscope run`: the worker is stopped, the run is kept as cancelled with the steps
it streamed, and the command exits 130 (the shell's code for an interrupt)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from sessions.store import Session

ROOT = Path(__file__).resolve().parents[2]


def test_ctrl_c_stops_the_worker_keeps_the_run_and_exits_130(tmp_path: Path) -> None:
    path = tmp_path / "interrupted.stepscope"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with subprocess.Popen([sys.executable, "main.py", "run", "--framework", "torch", "--workload", "mlp", "--steps", "100000",
                           "--trace-steps", "0", "--no-eval", "--session", str(path), "--out-dir", str(tmp_path / "out")],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            workers: list[psutil.Process] = []
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not workers:  # the worker's first steps reach the session
                time.sleep(0.5)
                workers = [c for c in psutil.Process(proc.pid).children(recursive=True)
                           if "profilers.worker" in " ".join(c.cmdline())]
            assert workers, "no worker process started"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not _steps(path):
                time.sleep(0.5)
            assert _steps(path) > 0, "the run streamed no steps into the session"
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "cancelled" in err
    _, alive = psutil.wait_procs(workers, timeout=30)
    assert not alive, "the worker outlived the interrupted command"
    with Session.open_readonly(path) as session:
        record = session.runs()[0]
        assert record.status == "cancelled"
        assert len(session.steps(record.run_id)["index"]) > 0


def _steps(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with Session.open_readonly(path) as session:
            runs = session.runs()
            return len(session.steps(runs[0].run_id)["index"]) if runs else 0
    except Exception:  # the file is still being created
        return 0


def test_ctrl_c_as_the_worker_starts_cancels_the_run_without_a_traceback(tmp_path: Path, monkeypatch: Any,
                                                                         capsys: Any) -> None:
    """The SIGINT lands after the worker is launched and before the controller is handed back (a
    loaded machine makes that window long): the run is cancelled and `run` exits 130."""
    from cli.commands import dispatch
    from cli.parser import build_parser
    from profilers.runner import RunController

    start = RunController.start

    def start_then_ctrl_c(self: RunController) -> None:
        start(self)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(RunController, "start", start_then_ctrl_c)
    path = tmp_path / "s.stepscope"
    code = dispatch(build_parser().parse_args(["run", "--framework", "torch", "--workload", "mlp", "--steps", "100000",
                                               "--trace-steps", "0", "--no-eval", "--session", str(path),
                                               "--out-dir", str(tmp_path / "out")]))
    assert code == 130, capsys.readouterr().err
    with Session.open_readonly(path) as session:
        assert session.runs()[0].status == "cancelled"
