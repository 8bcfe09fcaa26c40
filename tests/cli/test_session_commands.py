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
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psutil
import pytest

from sessions.stats import compare, median_interval
from sessions.store import Session, SessionError
from tests.conftest import TRACED_STEPS, copy_session, record_cli_run
from tests.sessions.repeated_runs import FakeRun, shifted_repeats, write_session

ROOT = Path(__file__).resolve().parents[2]
V1 = ROOT / "tests" / "data" / "session-v1.stepscope"


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "main.py", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory, traced_run_session: Callable[[str], Path]) -> Path:
    """One session holding a torch and a jax run of the convnet: a copy of the session's shared
    torch run (tests/conftest.py), and a jax run recorded after it."""
    path = copy_session(traced_run_session("torch"), tmp_path_factory.mktemp("sessions") / "two.stepscope")
    record_cli_run(path, "jax")
    return path


def test_report_json_lists_the_recorded_runs(recorded: Path) -> None:
    proc = cli("report", str(recorded), "--json")
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["framework"] for r in rows] == ["torch", "jax"]
    for row in rows:
        assert row["status"] == "ok" and row["steps"] == TRACED_STEPS and row["step_ms_median"] > 0 and row["peak_host_mb"] > 0
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
            assert [line.split(",")[1] for line in lines[1:]].count("measure") == TRACED_STEPS
            assert out.with_name(f"{out.stem}-samples.csv").exists()
        elif fmt == "json":
            data = json.loads(out.read_text())
            assert len([s for s in data["steps"] if s["phase"] == "measure"]) == TRACED_STEPS
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
        seen: dict[str, np.ndarray] = {"index": np.empty(0)}
        while time.monotonic() < deadline and len(seen["index"]) < 200:
            time.sleep(0.3)
            seen = _committed_steps(path)
        assert len(seen["index"]) >= 200, "the run did not stream steps into the session"
        worker_pids = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        last = seen
        while time.monotonic() < deadline and len(last["index"]) <= len(seen["index"]):  # a later commit, however slow
            time.sleep(0.05)
            last = _committed_steps(path)
        proc.send_signal(signal.SIGKILL)  # at once: `last` is what was committed just before the kill
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert len(last["index"]) > len(seen["index"]), "no commit after the first 200 steps"
    with Session.open_readonly(path) as session:
        record = session.runs()[0]
        steps = session.steps(record.run_id)
    assert record.status == "interrupted"
    stored = len(steps["index"])
    assert stored >= len(last["index"])
    assert np.array_equal(steps["index"], np.arange(stored))  # nothing missing in between
    for column in ("index", "step_ms"):  # every step committed before the kill is there, unchanged
        assert np.array_equal(steps[column][: len(last["index"])], last[column])
    # the orphaned worker notices its closed pipe and exits on its own
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
                                               for p in worker_pids):
        time.sleep(0.2)
    assert not any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in worker_pids)


def _committed_steps(path: Path) -> dict[str, np.ndarray]:
    """What a reader sees committed now (nothing while the file is being created)."""
    empty = {"index": np.empty(0), "step_ms": np.empty(0)}
    if not path.exists():
        return empty
    try:
        with Session.open_readonly(path) as session:
            runs = session.runs()
            steps = session.steps(runs[0].run_id) if runs else {}
    except SessionError:
        return empty
    return {key: np.asarray(steps.get(key, ())) for key in ("index", "step_ms")}


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


@pytest.mark.parametrize("make, words", [(_newer_schema, "newer Stepscope"),
                                         (_truncated, "the file is truncated (3000 bytes, its header says 32768)"),
                                         (_random, "not a Stepscope session (not an SQLite database)"),
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
    rows = [{key: row[key] for key in ("run_id", "framework", "status", "steps", "step_ms_median")}
            for row in json.loads(proc.stdout)]
    assert rows == [  # what tests/data/make_session_v1.py stored; its tf run's writer is long gone
        {"run_id": "20250101-120000-aaaaaa", "framework": "torch", "status": "ok", "steps": 12, "step_ms_median": 31.0},
        {"run_id": "20250101-120100-bbbbbb", "framework": "jax", "status": "failed", "steps": 6, "step_ms_median": 31.0},
        {"run_id": "20250101-120200-cccccc", "framework": "tf", "status": "interrupted", "steps": 1, "step_ms_median": 32.0}]


def test_sessions_lists_a_directory(recorded: Path) -> None:
    proc = cli("sessions", "--dir", str(recorded.parent), "--json")
    assert proc.returncode == 0, proc.stderr
    listing = json.loads(proc.stdout)
    assert any(entry["path"] == str(recorded) and len(entry["runs"]) == 2 for entry in listing)


def test_compare_pools_repeats_into_one_column(tmp_path: Path) -> None:
    """Three repeats of one spec against one run of another: one pooled column with its run count and
    run-first interval in the table, the JSON and the Markdown report; the lone run reads as before."""
    rng = np.random.default_rng(5)
    repeats, other = shifted_repeats(rng, (29.0, 31.0, 30.0)), rng.normal(24.0, 0.3, 150)
    path = write_session(tmp_path / "rep.stepscope", [FakeRun(f"rep{i}", steps) for i, steps in enumerate(repeats)]
                         + [FakeRun("other", other, {"variant": "compiled"})])
    proc = cli("compare", str(path), "--json", "--markdown", str(tmp_path / "r.md"), timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)["runs"]
    assert [row["label"] for row in rows] == ["rep.stepscope:rep0 + 2 repeat(s)", "rep.stepscope:other"]
    assert rows[0]["run_count"] == 3 and rows[0]["run_ids"] == ["rep0", "rep1", "rep2"] and "run_count" not in rows[1]
    assert rows[0]["step_ms_median_ci"] == pytest.approx(list(median_interval(repeats) or ()))
    expected = compare(repeats, other)  # the pooled interval, not the first repeat's own
    assert expected is not None and expected != compare(repeats[0], other)
    assert [rows[1]["step_time_vs_baseline"][k] for k in ("ratio", "ci_low", "ci_high", "verdict")] == [
        pytest.approx(expected.ratio), pytest.approx(expected.ci_low), pytest.approx(expected.ci_high), expected.verdict]
    markdown = (tmp_path / "r.md").read_text()
    assert "4 runs compared in 2 groups" in markdown and "| 3 runs, median" in markdown
    text = cli("compare", str(path), timeout=120)
    assert text.returncode == 0, text.stderr
    assert "rep0 + 2 repeat(s)" in text.stdout and "3 runs, median" in text.stdout and "1 run" in text.stdout
