"""Traces in sessions: parsed tables stored per run, `report --ops`, `import`, chrome export that
reads back with the same event count, and the schema-v2 fixture."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from profilers.hooks import Artifact
from sessions.store import Session
from sessions.traces import ingest_trace, load_trace
from traces.readers import read_trace

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
TRACES = {"torch": DATA / "traces" / "torch_convnet.trace.json.gz", "jax": DATA / "traces" / "jax_mlp.xplane.pb.gz",
          "tf": DATA / "traces" / "tf_mlp.xplane.pb.gz"}


def cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "main.py", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


@pytest.fixture()
def session(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A session with one finished run per framework, each with its stored test trace parsed in."""
    path = tmp_path / "traces.stepscope"
    ids = {}
    with Session.create_or_open(path) as s:
        for framework in TRACES:
            run_id = f"run-{framework}"
            s.begin_run(run_id, {"framework": framework, "workload": "mlp", "mode": "train", "variant": None, "batch_size": 4})
            s.finish_run(run_id, "ok", None, {}, "")
            ids[framework] = run_id
    for framework, trace in TRACES.items():
        ingest_trace(path, ids[framework], framework, [Artifact("xplane" if "xplane" in trace.name else "chrome-trace", trace)])
    return path, ids


def test_stored_tables_match_a_fresh_read(session: tuple[Path, dict[str, str]]) -> None:
    path, ids = session
    with Session.open_readonly(path) as s:
        for framework, trace in TRACES.items():
            table, description = load_trace(s, ids[framework])
            assert len(table) == len(read_trace(trace, framework=framework)) > 0
            assert description
    rows = json.loads(cli("report", str(path), "--json").stdout)
    assert all(row["trace_events"] > 0 for row in rows)


@pytest.mark.parametrize("framework, kind", [("torch", "framework_op"), ("tf", "hlo_op")])
def test_report_ops_lists_top_ops(session: tuple[Path, dict[str, str]], framework: str, kind: str) -> None:
    path, ids = session
    proc = cli("report", str(path), "--ops", ids[framework], "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ops"] and all(op["count"] > 0 and op["self_ms"] >= 0 for op in result["ops"])
    assert kind in {op["kind"].split(".")[-1].lower() for op in result["ops"]}
    text = cli("report", str(path), "--ops", ids[framework])
    assert "Top" in text.stdout and result["ops"][0]["name"] in text.stdout


def test_report_ops_says_what_a_trace_contains(session: tuple[Path, dict[str, str]]) -> None:
    path, ids = session
    proc = cli("report", str(path), "--ops", ids["jax"])
    assert proc.returncode == 0
    assert "on CPU" in proc.stdout and ("per-HLO-op events" in proc.stdout or "runtime" in proc.stdout)


def test_report_ops_of_a_run_without_trace_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "plain.stepscope"
    with Session.create_or_open(path) as s:
        s.begin_run("r", {"framework": "torch"})
        s.finish_run("r", "ok", None, {}, "")
    proc = cli("report", str(path), "--ops", "r")
    assert proc.returncode == 2 and "no parsed trace" in proc.stderr


def test_chrome_export_reads_back_with_the_same_event_count(session: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    path, ids = session
    with Session.open_readonly(path) as s:
        counts = {fw: len(load_trace(s, run_id)[0]) for fw, run_id in ids.items()}
    for framework, run_id in ids.items():
        out = tmp_path / f"{framework}.json"
        assert cli("export", str(path), "--run", run_id, "--format", "chrome", "--out", str(out)).returncode == 0
        assert len(read_trace(out)) == counts[framework]


def test_import_adds_an_imported_run(tmp_path: Path) -> None:
    path = tmp_path / "imported.stepscope"
    proc = cli("import", str(TRACES["torch"]), "--session", str(path))
    assert proc.returncode == 0, proc.stderr
    with Session.open_readonly(path) as s:
        (record,) = s.runs()
        assert record.kind == "imported" and record.spec["framework"] == "torch"
        assert s.trace(record.run_id)[1] == len(read_trace(TRACES["torch"]))


def test_imported_step_windows_are_the_runs_measured_steps(tmp_path: Path) -> None:
    """An old-Kineto trace (capitalised categories, no schemaVersion) with three ProfilerStep#N
    windows of 10, 12 and 30 ms: imported twice, `report` and `compare` take the step times from
    the windows and head the runs "torch (imported)"."""
    steps = [{"ph": "X", "cat": "Operator", "name": f"ProfilerStep#{n}", "ts": ts, "dur": dur, "pid": 7, "tid": "1"}
             for n, ts, dur in ((3, 0, 10_000), (4, 10_000, 12_000), (5, 22_000, 30_000))]
    work = [{"ph": "X", "cat": "Kernel", "name": "void k<float>", "ts": 100, "dur": 50, "pid": 0, "tid": "stream 7"},
            {"ph": "X", "cat": "Runtime", "name": "cudaLaunchKernel", "ts": 90, "dur": 5, "pid": 7, "tid": "1"}]
    trace = tmp_path / "old_kineto.json"
    trace.write_text(json.dumps(steps + work))
    path = tmp_path / "imported.stepscope"
    for _ in range(2):
        proc = cli("import", str(trace), "--session", str(path))
        assert proc.returncode == 0, proc.stderr
    report = cli("report", str(path), "--json")
    assert report.returncode == 0, report.stderr
    rows = json.loads(report.stdout)
    assert [(r["framework"], r["steps"], r["step_ms_median"], r["step_ms_mean"], r["device"]) for r in rows] == \
        [("torch", 3, 12.0, 52 / 3, "gpu")] * 2
    with Session.open_readonly(path) as s:
        assert all("step windows" in r.summary["steps_from"] for r in s.runs())
    compared = cli("compare", str(path))
    assert compared.returncode == 0, compared.stderr
    assert compared.stdout.count("torch (imported)") == 2 and "None" not in compared.stdout
    assert "12.00" in compared.stdout and "no significant difference" in compared.stdout
    as_json = json.loads(cli("compare", str(path), "--json").stdout)
    assert [r["step_ms_median"] for r in as_json["runs"]] == [12.0, 12.0]


@pytest.mark.parametrize("content", [b"not json", b"\x1f\x8b\x08\x00garbage"])
def test_import_of_a_bad_trace_exits_2_with_one_line(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(content)
    proc = cli("import", str(bad), "--session", str(tmp_path / "s.stepscope"))
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and str(bad) in proc.stderr


def test_v2_fixture_opens_with_its_trace(tmp_path: Path) -> None:
    copy = tmp_path / "v2.stepscope"
    shutil.copy(DATA / "session-v2.stepscope", copy)
    with Session.open_readonly(copy) as s:
        assert s.file_version == 2
        torch_run = next(r for r in s.runs() if r.spec.get("framework") == "torch")
        table, _ = load_trace(s, torch_run.run_id)
        assert len(table) == torch_run.summary["trace_events"] > 0


def test_v1_fixture_opens_through_the_v2_migration(tmp_path: Path) -> None:
    copy = tmp_path / "v1.stepscope"
    shutil.copy(DATA / "session-v1.stepscope", copy)
    before = copy.read_bytes()
    with Session.open_readonly(copy) as s:
        assert s.runs() and all(s.trace(r.run_id) is None for r in s.runs())
    assert copy.read_bytes() == before  # a reader never migrates the file in place
