"""The engine end to end: real workers running real frameworks on the CPU, tiny sizes."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from profilers.runner import RunController
from workloads.registry import WORKLOADS, model_config
from workloads.spec import FRAMEWORKS, RunSpec

ROOT = Path(__file__).resolve().parents[1]
TRACE_KIND = {"torch": "chrome-trace", "jax": "xplane", "tf": "xplane"}


@pytest.mark.parametrize("mode", ["train", "infer"])
@pytest.mark.parametrize("workload", WORKLOADS)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_worker_runs_every_workload_with_honest_figures(tmp_path: Path, framework: str, workload: str, mode: str) -> None:
    spec = RunSpec(framework=framework, workload=workload, mode=mode, batch_size=8, steps=4, warmup=1, trace_steps=2)
    result = RunController(spec, out_dir=tmp_path, progress_timeout=240).run()
    assert result.status == "ok", f"{result.reason}\n{result.log[-3000:]}"
    s = result.summary
    assert s["steps"] == 4
    step_phases = [e["phase"] for e in result.events if e["type"] == "step"]
    assert step_phases[:5] == ["warmup", "measure", "measure", "measure", "measure"]
    assert s["step_ms_median"] > 0 and s["step_ms_p95"] >= s["step_ms_median"]
    assert s["peak_host_mb"] > 0
    assert math.isfinite(s["final_loss"])
    assert s["param_count"] == model_config(workload).param_count
    assert s["frameworks_loaded"] == [framework], "a worker must hold exactly one framework"
    if framework in ("jax", "tf"):
        assert s["compile_ms"] > 0
    traces = [a for a in s["artifacts"] if a["kind"] == TRACE_KIND[framework]]
    assert traces and all(Path(a["path"]).stat().st_size == a["bytes"] > 0 for a in traces)
    if mode == "train":
        assert 0.0 <= s["accuracy"] <= 1.0 and 0.0 <= s["macro_f1"] <= 1.0
    else:
        assert s["accuracy"] is None
    samples = [e for e in result.events if e["type"] == "sample"]  # the controller's, from outside the worker
    assert samples and all(e["host_rss"] > 0 for e in samples)
    hello = next(e for e in result.events if e["type"] == "hello")
    assert samples[0]["t"] < hello["t"]  # one clock for both: importing the framework is sampled too
    if framework in ("torch", "jax"):  # CPU: no allocator figures, and none invented
        assert all(e["device_in_use"] is None for e in samples)


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "main.py", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=timeout)


def test_cli_run_prints_contract_json(tmp_path: Path) -> None:
    proc = cli("run", "--framework", "torch", "--workload", "convnet", "--steps", "30", "--trace-steps", "5",
               "--warmup", "2", "--json", "--out-dir", str(tmp_path), "--session", str(tmp_path / "s.stepscope"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    record = json.loads(proc.stdout)
    for key in ("run_id", "framework", "workload", "mode", "batch_size", "status", "steps", "step_ms_median", "step_ms_p95",
                "samples_per_s", "compile_ms", "peak_host_mb", "peak_device_mb", "final_loss", "accuracy", "trace_events"):
        assert key in record
    assert record["status"] == "ok" and record["steps"] == 30 and record["framework"] == "torch"
    assert record["step_ms_median"] > 0 and record["samples_per_s"] > 0
    assert "step time median" in proc.stderr  # the summary table


@pytest.mark.parametrize(
    "args, words",
    [
        (["--framework", "torch", "--variant", "warp"], "torch has no variant 'warp'"),
        (["--framework", "jax", "--steps", "0"], "steps must be at least 1"),
        (["--framework", "tf", "--data", "/no/such/mnist.npz"], "no such file"),
        (["--framework", "caffe"], "invalid choice"),
    ],
)
def test_cli_bad_arguments_exit_2_with_a_message(args: list[str], words: str) -> None:
    proc = cli("run", *args, timeout=60)
    assert proc.returncode == 2
    assert words in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_gpu_request_on_a_cpu_machine_fails_cleanly(tmp_path: Path) -> None:
    proc = cli("run", "--framework", "torch", "--device", "gpu", "--steps", "2", "--json", "--out-dir", str(tmp_path),
               "--session", str(tmp_path / "s.stepscope"))
    if proc.returncode == 0:
        pytest.skip("this machine has a GPU")
    assert proc.returncode == 1
    record = json.loads(proc.stdout)
    assert record["status"] == "failed" and "no GPU" in record["reason"]


def test_cli_repeat_runs_fresh_workers_into_one_session(tmp_path: Path) -> None:
    session = tmp_path / "repeat.stepscope"
    proc = cli("run", "--framework", "torch", "--workload", "mlp", "--steps", "3", "--trace-steps", "0", "--repeat", "2",
               "--json", "--out-dir", str(tmp_path), "--session", str(session))
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = json.loads(proc.stdout)
    assert len(records) == 2 and records[0]["run_id"] != records[1]["run_id"]
    report = json.loads(cli("report", str(session), "--json").stdout)
    assert [r["run_id"] for r in report] == [r["run_id"] for r in records]
    assert all(r["framework"] == "torch" and r["steps"] == 3 for r in report)
    from sessions.store import Session

    with Session.open_readonly(session) as opened:
        pids = {run.environment["pid"] for run in opened.runs()}
    assert len(pids) == 2, "each repeat must run in a fresh worker"


def test_env_quick_lists_every_framework() -> None:
    proc = cli("env", "--quick", "--json")
    assert proc.returncode == 0, proc.stderr
    reports = {r["framework"]: r for r in json.loads(proc.stdout)}
    assert set(reports) == set(FRAMEWORKS)
    for report in reports.values():
        assert report["imports"] and report["version"] and report["devices"]
