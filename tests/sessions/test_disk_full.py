"""A full disk stops the run cleanly (issue 15, item 3): the recorder reports it at once, the
worker is cancelled, the steps of earlier flushes stay, and the run ends `failed` with the reason.
The disk is filled with SQLite's own page limit (session_file.MAX_PAGES_ENV, which makes SQLite
raise SQLITE_FULL exactly as a full disk does) and, where this test may mount, a real tmpfs."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sessions import recorder as recorder_module
from sessions.record_run import record_run
from sessions.recorder import SessionRecorder
from sessions.session_file import MAX_PAGES_ENV
from sessions.store import Session
from workloads.spec import RunSpec

ROOT = Path(__file__).resolve().parents[2]
FAKE_WORKER = ROOT / "tests" / "profilers" / "fake_worker.py"


def step(i: int) -> dict[str, Any]:
    return {"type": "step", "t": i * 0.01, "index": i, "phase": "measure", "step_ms": 10.0, "samples_per_s": 800.0,
            "loss": 0.5}


def page_limited(path: Path, monkeypatch: pytest.MonkeyPatch, spare_pages: int) -> None:
    """A session whose writers may add only `spare_pages` pages: then SQLite says the disk is full."""
    Session.create_or_open(path).close()
    conn = sqlite3.connect(path)
    try:
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    finally:
        conn.close()
    monkeypatch.setenv(MAX_PAGES_ENV, str(pages + spare_pages))


def integrity(path: Path) -> list[tuple[str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()


def stream_until_stopped(path: Path, limit_s: float = 20.0) -> tuple[SessionRecorder, list[str], int]:
    """Feed a recorder 20 steps every 20 ms until it reports a problem; returns it, the problems
    reported before finish() was called, and how many steps were handed over."""
    problems: list[str] = []
    rec = SessionRecorder(path, "r1", {"framework": "torch"}, flush_interval=0.02, on_problem=problems.append)
    handed, deadline = 0, time.monotonic() + limit_s
    while not problems and time.monotonic() < deadline:
        for _ in range(20):
            rec(step(handed))
            handed += 1
        time.sleep(0.02)
    return rec, list(problems), handed


def check_stopped_run(path: Path, rec: SessionRecorder, problems: list[str], handed: int) -> None:
    stop_reason = f"disk full while writing {path}"
    assert len(problems) == 1 and problems[0].startswith(stop_reason), problems  # said at once, while streaming
    problem = rec.finish_with("ok", None, {"steps": handed}, "the log")
    assert rec.stop_reason == stop_reason
    assert problem is not None and "events not stored" in problem and "interrupted" not in problem, problem
    assert integrity(path) == [("ok",)]
    with Session.open_readonly(path) as session:
        record = session.run("r1")
        assert (record.status, record.reason) == ("failed", stop_reason)
        kept = session.steps("r1")["index"].tolist()
        assert 0 < len(kept) < handed and kept == list(range(len(kept)))  # earlier flushes kept, in order


def test_a_full_disk_stops_the_recorder_at_once_keeps_earlier_flushes_and_fails_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.stepscope"
    page_limited(path, monkeypatch, spare_pages=4)
    monkeypatch.setattr(recorder_module, "RETRY_S", 0.02)  # retrying would not help anyway: it must not
    rec, problems, handed = stream_until_stopped(path)
    flushes = rec.stats["flushes"]
    time.sleep(0.2)
    assert rec.stats["flushes"] == flushes, "the recorder kept writing after the disk filled"
    check_stopped_run(path, rec, problems, handed)


@pytest.mark.timeout(60)
def test_record_run_cancels_the_worker_when_the_disk_fills(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def command(spec: RunSpec, out_dir: Path, clock_origin: float | None = None) -> list[str]:
        return [sys.executable, str(FAKE_WORKER), "cancel-wait", "20000"]  # then waits a minute for SIGTERM

    monkeypatch.setattr("profilers.runner.worker_command", command)
    path = tmp_path / "s.stepscope"
    page_limited(path, monkeypatch, spare_pages=6)
    problems: list[str] = []
    began = time.monotonic()
    recorded = record_run(RunSpec(framework="torch", batch_size=8), path, out_dir=tmp_path / "out",
                          on_problem=problems.append)
    assert time.monotonic() - began < 30.0, "the worker was not cancelled when the disk filled"
    reason = f"disk full while writing {path}"
    assert len(problems) == 1 and problems[0].startswith(reason)
    assert (recorded.result.status, recorded.result.reason) == ("failed", reason)
    assert recorded.session_problem is not None and recorded.trace_events is None
    with Session.open_readonly(path) as session:
        record = session.run(recorded.run_id)
        assert (record.status, record.reason) == ("failed", reason)
        kept = session.steps(recorded.run_id)["index"].tolist()
        assert kept == list(range(len(kept)))
    assert integrity(path) == [("ok",)]


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Any:
    """A 1 MiB tmpfs that really fills; skipped where this test may not mount (not root)."""
    mount = tmp_path / "small"
    mount.mkdir()
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True,
                              text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a tmpfs here: {exc}")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=10, check=False)


def test_a_really_full_disk_stops_the_run_the_same_way(small_tmpfs: Path) -> None:
    path = small_tmpfs / "s.stepscope"
    Session.create_or_open(path).close()
    rec, problems, handed = stream_until_stopped(path)
    check_stopped_run(path, rec, problems, handed)
