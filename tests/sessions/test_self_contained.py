"""The `.stepscope` file alone holds every ended run (issue 15, item 2): copied or mailed
without its `-wal`, nothing is missing. After a normal finish the recorder folds the WAL in even
while another process keeps the session open; after a crash, `repair_session` (the `sessions
--repair` command) and Save As (`copy_to`) make the file self-contained."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sessions.recorder import SessionRecorder
from sessions.repair import repair_session
from sessions.store import Session, SessionError

ROOT = Path(__file__).resolve().parents[2]
STREAMER = Path(__file__).with_name("streaming_writer.py")
HOLD = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('SELECT COUNT(*) FROM runs').fetchall(); "
        "print('ready', flush=True); sys.stdin.read()")


def alone(path: Path, where: Path) -> Path:
    """A copy of the session file alone, without its `-wal`/`-shm` (call with no connection to it
    open in this process: a plain copy closes a descriptor of the file)."""
    where.mkdir()
    return Path(shutil.copy(path, where / path.name))


def steps_in(path: Path, run_id: str) -> list[int]:
    with Session.open_readonly(path) as session:
        return list(session.steps(run_id)["index"].tolist())


def step(i: int) -> dict[str, Any]:
    return {"type": "step", "t": i * 0.01, "index": i, "phase": "measure", "step_ms": 10.0, "samples_per_s": 800.0,
            "loss": 0.5}


def test_after_a_normal_finish_the_file_alone_holds_the_run(tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    Session.create_or_open(path).close()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True, env=env) as holder:  # another window keeps the session open throughout
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
            rec = SessionRecorder(path, "r1", {"framework": "torch"}, flush_interval=0.01)
            for i in range(300):
                rec(step(i))
                if i % 50 == 0:
                    time.sleep(0.03)
            assert rec.finish_with("ok", None, {"steps": 300}, "the log") is None
            copy = alone(path, tmp_path / "mailed")
        finally:
            holder.communicate("")
    with Session.open_readonly(copy) as session:
        assert (session.run("r1").status, session.log("r1")) == ("ok", "the log")
    assert steps_in(copy, "r1") == list(range(300))


def kill_streamer_mid_run(path: Path) -> None:
    """The streaming writer (a recorder, flushing every 0.25 s) killed with SIGKILL after ~60 steps."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with subprocess.Popen([sys.executable, str(STREAMER), str(path), "r1"], stdout=subprocess.PIPE, text=True,
                          cwd=ROOT, env=env) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.strip().isdigit() and int(line) >= 60:
                    break
            time.sleep(0.6)  # a couple of flushes more
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)


def check_holds_every_stored_step(original: list[int], copy: Path) -> None:
    assert len(original) >= 50 and original == list(range(len(original)))
    assert steps_in(copy, "r1") == original
    with Session.open_readonly(copy) as session:
        assert session.run("r1").status == "interrupted"


@pytest.mark.timeout(60)
def test_repair_after_a_kill_makes_the_file_alone_hold_every_step(tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    kill_streamer_mid_run(path)
    with Session.open_readonly(path) as session:  # through SQLite, the -wal beside it is read
        assert session.orphaned_runs() == ["r1"] and session.run("r1").status == "interrupted"
    stored = steps_in(path, "r1")
    try:  # without the repair, the file alone lacks the run: this is what the repair is for
        assert steps_in(alone(path, tmp_path / "before"), "r1") != stored
    except SessionError:
        pass
    done = repair_session(path)
    assert (done.interrupted, done.runs, done.self_contained) == (["r1"], 1, True)
    assert repair_session(path).interrupted == []  # repairing twice changes nothing
    check_holds_every_stored_step(stored, alone(path, tmp_path / "after"))
    with Session.open_readonly(path) as session:
        assert session.orphaned_runs() == [] and "crash" in (session.run("r1").reason or "")


@pytest.mark.timeout(60)
def test_save_as_after_a_kill_is_self_contained(tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    kill_streamer_mid_run(path)
    stored = steps_in(path, "r1")
    with Session.open_readonly(path) as session:
        session.copy_to(tmp_path / "saved.stepscope")
    check_holds_every_stored_step(stored, alone(tmp_path / "saved.stepscope", tmp_path / "mailed"))


def test_repair_never_creates_a_file(tmp_path: Path) -> None:
    with pytest.raises(SessionError, match="no such file"):
        repair_session(tmp_path / "missing.stepscope")
    assert not (tmp_path / "missing.stepscope").exists()
