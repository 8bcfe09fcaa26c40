"""Sessions through the command line: real runs recorded, reported, compared, exported; a
killed app loses at most the last second; unreadable files exit 2 with one line."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from sessions.store import Session

ROOT = Path(__file__).resolve().parents[2]
V1 = ROOT / "tests" / "data" / "session-v1.stepscope"


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "main.py", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One session holding a torch and a jax run of the convnet."""
    path = tmp_path_factory.mktemp("sessions") / "two.stepscope"
    for framework in ("torch", "jax"):
        proc = cli("run", "--framework", framework, "--steps", "20", "--warmup", "2", "--trace-steps", "2",
                   "--batch-size", "16", "--session", str(path), "--out-dir", str(path.parent / framework))
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert f"session: {path}" in proc.stderr
    return path


def test_report_json_lists_the_recorded_runs(recorded: Path) -> None:
    proc = cli("report", str(recorded), "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["framework"] for r in rows] == ["torch", "jax"]
    for row in rows:
        assert row["status"] == "ok" and row["steps"] == 20 and row["step_ms_median"] > 0 and row["peak_host_mb"] > 0
    assert rows[1]["compile_ms"] > 0 and rows[0]["compile_ms"] is None


def test_compare_gives_deltas_intervals_and_verdicts(recorded: Path) -> None:
    proc = cli("compare", str(recorded), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    other = result["runs"][1]["step_time_vs_baseline"]
    assert other["ci_low"] <= other["ratio"] <= other["ci_high"]
    assert other["verdict"] in ("faster", "slower", "no significant difference")
    assert result["environment_differences"]["framework"] == ["torch", "jax"]
    text = cli("compare", str(recorded))
    assert text.returncode == 0 and "95 % CI" in text.stdout and "Environment differences" in text.stdout


def test_compare_by_run_id_across_files(recorded: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.stepscope"
    with Session.open_readonly(recorded) as session:
        session.copy_to(copy)
        torch_id, jax_id = [r.run_id for r in session.runs()]
    proc = cli("compare", f"{copy}:{jax_id}", f"{recorded}:{torch_id}", "--json")
    assert proc.returncode == 0, proc.stderr
    assert [r["framework"] for r in json.loads(proc.stdout)["runs"]] == ["jax", "torch"]


@pytest.mark.parametrize("fmt", ["csv", "json", "chrome"])
def test_export_each_format(recorded: Path, tmp_path: Path, fmt: str) -> None:
    with Session.open_readonly(recorded) as session:
        run_ids = [r.run_id for r in session.runs()]
    for run_id in run_ids:
        out = tmp_path / f"{run_id}.{fmt}"
        proc = cli("export", str(recorded), "--run", run_id, "--format", fmt, "--out", str(out))
        assert proc.returncode == 0, proc.stderr
        if fmt == "csv":
            lines = out.read_text().splitlines()
            assert lines[0].startswith("index,phase,t,step_ms")
            assert [line.split(",")[1] for line in lines[1:]].count("measure") == 20
            assert out.with_name(f"{out.stem}-samples.csv").exists()
        elif fmt == "json":
            data = json.loads(out.read_text())
            assert len([s for s in data["steps"] if s["phase"] == "measure"]) == 20
        else:
            data = json.loads(out.read_text())
            events = data["traceEvents"] if isinstance(data, dict) else data
            assert len(events) > 100


def test_kill_9_of_the_app_mid_run_keeps_steps_and_reads_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "killed.stepscope"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "main.py", "run", "--framework", "torch", "--workload", "mlp", "--steps", "100000",
                             "--trace-steps", "0", "--session", str(path), "--out-dir", str(tmp_path / "out")],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        seen = 0
        while time.monotonic() < deadline and seen < 200:
            time.sleep(0.3)
            if path.exists():
                try:
                    with Session.open_readonly(path) as session:
                        runs = session.runs()
                        seen = len(session.steps(runs[0].run_id)["index"]) if runs else 0
                except Exception:
                    seen = 0
        assert seen >= 200, "the run did not stream steps into the session"
        worker_pids = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        time.sleep(1.5)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    with Session.open_readonly(path) as session:
        record = session.runs()[0]
        stored = len(session.steps(record.run_id)["index"])
    assert record.status == "interrupted"
    assert stored >= seen  # everything committed more than a second before the kill is there
    # the orphaned worker notices its closed pipe and exits on its own
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                                               for p in worker_pids):
        time.sleep(0.2)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in worker_pids)


def _newer_schema(tmp_path: Path) -> Path:
    path = tmp_path / "newer.stepscope"
    shutil.copy(V1, path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    return path


def _truncated(tmp_path: Path) -> Path:
    path = tmp_path / "truncated.stepscope"
    path.write_bytes(V1.read_bytes()[:3000])
    return path


def _random(tmp_path: Path) -> Path:
    path = tmp_path / "random.stepscope"
    path.write_bytes(os.urandom(8192))
    return path


def _other_sqlite(tmp_path: Path) -> Path:
    path = tmp_path / "other.stepscope"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE recipes (name TEXT)")
    return path


@pytest.mark.parametrize("make, words", [(_newer_schema, "newer Stepscope"), (_truncated, ""), (_random, ""),
                                         (_other_sqlite, "not a Stepscope session")])
@pytest.mark.parametrize("command", ["report", "compare", "export"])
def test_unreadable_files_exit_2_with_one_line(tmp_path: Path, make, words: str, command: str) -> None:
    path = make(tmp_path)
    args = {"report": ["report", str(path)], "compare": ["compare", str(path), str(V1)],
            "export": ["export", str(path), "--run", "x", "--format", "csv", "--out", str(tmp_path / "x.csv")]}[command]
    proc = cli(*args, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and words in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_stored_v1_session_reports(tmp_path: Path) -> None:
    copy = tmp_path / "v1.stepscope"
    shutil.copy(V1, copy)
    proc = cli("report", str(copy), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)


def test_sessions_lists_a_directory(recorded: Path) -> None:
    proc = cli("sessions", "--dir", str(recorded.parent), "--json")
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert any(entry["path"] == str(recorded) and len(entry["runs"]) == 2 for entry in listing)
