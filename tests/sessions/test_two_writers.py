"""Two processes recording into one session while each re-reads it (two app windows, or the app
and `run --session`) keep every step of every run: issue 15, item 1. Before the fix, opening the
file with plain Python I/O to check its header dropped the process's SQLite locks, so the other
process checkpointed and deleted the WAL under a live writer ('database disk image is malformed')."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sessions.store import Session, SessionError, list_sessions

ROOT = Path(__file__).resolve().parents[2]
RACER = Path(__file__).with_name("racing_writer.py")
ROUNDS, STEPS = 12, 60


@pytest.mark.timeout(120)
def test_two_processes_writing_and_rereading_one_session_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.stepscope"
    Session.create_or_open(path).close()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    racers = [subprocess.Popen([sys.executable, str(RACER), str(path), name, str(ROUNDS), str(STEPS)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
              for name in ("a", "b")]
    read_errors: list[str] = []
    try:
        while any(p.poll() is None for p in racers):  # the test process lists and re-reads too
            try:
                list_sessions(tmp_path)
                with Session.open_readonly(path) as session:
                    for record in session.runs():
                        session.steps(record.run_id)
            except SessionError as exc:
                read_errors.append(str(exc))
            time.sleep(0.01)
        outputs = [p.communicate(timeout=60) for p in racers]
    finally:
        for p in racers:
            if p.poll() is None:
                p.kill()
                p.communicate()
    lines = [line for out, _ in outputs for line in out.splitlines()]
    problems = [line for line in lines if line.startswith("read-error") or (line.startswith("run") and not line.endswith(" -"))]
    assert all(p.returncode == 0 for p in racers), [err[-2000:] for _, err in outputs]
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        conn.close()
    with Session.open_readonly(path) as session:
        runs = {r.run_id: r for r in session.runs()}
        expected = {f"{name}-{r}" for name in ("a", "b") for r in range(ROUNDS)}
        assert set(runs) == expected
        for run_id in sorted(expected):
            assert (runs[run_id].status, runs[run_id].step_count) == ("ok", STEPS), run_id
            assert session.steps(run_id)["index"].tolist() == list(range(STEPS)), run_id
            assert session.log(run_id) == f"log of {run_id}"
    assert not problems and not read_errors, (problems + read_errors)[:5]
