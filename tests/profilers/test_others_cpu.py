"""Every figure says whether its machine was quiet: the controller's samples carry `others_cpu` (the
CPU every other process used, % of all cores), the summary its mean over the measured steps, the
session keeps it (v6; NaN for samples from before), and `run` warns when it is above 10 %."""
from __future__ import annotations

import io
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from cli.run import print_busy_machine
from profilers.host_monitor import HostMonitor, OthersCpu
from profilers.summary import others_cpu_percent
from sessions import schema
from sessions.record_run import record_run
from sessions.store import Session
from tests.data.make_session_v5 import RUN_ID as V5_RUN
from tests.data.make_session_v6 import OTHERS_CPU, RUN_ID
from workloads.spec import RunSpec

DATA = Path(__file__).resolve().parents[1] / "data"


def test_a_real_torch_run_beside_a_busy_process_says_the_machine_was_busy(tmp_path: Path) -> None:
    # 600 steps of ~2 ms: a second or more of samples (one each 0.1 s) among the measured steps; 60 had
    # none once torch ran on one thread (tests/conftest.py), where two threads beside the busy process crawled
    spec = RunSpec(framework="torch", workload="mlp", batch_size=8, device="cpu", data="synthetic", steps=600,
                   warmup=2, evaluate=False, trace_steps=0).resolved()
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        recorded = record_run(spec, tmp_path / "s.stepscope", out_dir=tmp_path / "out")
    finally:
        busy.kill()
        busy.wait(timeout=10)
    result = recorded.result
    assert result.status == "ok", result.reason
    others = result.summary["others_cpu_percent"]
    assert others is not None and others > 25, others  # one of the machine's cores (of 2 here) spun throughout
    with Session.open_readonly(tmp_path / "s.stepscope") as session:
        stored = session.samples(result.run_id)["others_cpu"]
        assert stored.size and np.isfinite(stored).all() and ((stored >= 0) & (stored <= 100)).all()
        assert session.run(result.run_id).summary["others_cpu_percent"] == others


def test_the_figure_is_the_machines_busy_time_less_the_measured_processes_clipped(monkeypatch: pytest.MonkeyPatch) -> None:
    busy = iter([100.0, 101.0, 101.1, 104.0])  # busy CPU seconds of the whole machine at each read
    clock = iter([10.0, 11.0, 12.0, 13.0])
    monkeypatch.setattr("profilers.host_monitor.machine_busy_seconds", lambda: next(busy))
    monkeypatch.setattr("profilers.host_monitor.time.perf_counter", lambda: next(clock))
    meter = OthersCpu()
    meter._cores = 2
    assert meter.percent(measured_cpu_percent=50.0) == 25.0  # 1 s busy of 2 core-seconds, half of it measured
    assert meter.percent(measured_cpu_percent=80.0) == 0.0  # the tree's own ticks ran ahead: clipped at 0
    assert meter.percent(measured_cpu_percent=0.0) == 100.0  # more than every core: clipped at 100


def test_a_monitor_adds_the_figure_unless_told_not_to() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        sample = HostMonitor(child.pid, 0.0, period=0.0).sample_if_due()
        assert sample is not None and 0.0 <= sample["others_cpu"] <= 100.0
        remote = HostMonitor(child.pid, 0.0, period=0.0, others=False).sample_if_due()  # a remote shim's, a rank's
        assert remote is not None and "others_cpu" not in remote
    finally:
        child.kill()
        child.wait(timeout=10)


def test_the_summary_averages_only_the_samples_inside_the_measured_steps() -> None:
    events = [{"type": "sample", "t": 0.5, "others_cpu": 90.0},  # compile: not counted
              {"type": "step", "t": 1.1, "phase": "warmup", "step_ms": 100.0},
              {"type": "step", "t": 1.2, "phase": "measure", "step_ms": 100.0},
              {"type": "sample", "t": 1.15, "others_cpu": 20.0},
              {"type": "sample", "t": 1.25, "host_rss": 1},  # no figure (a remote executor's)
              {"type": "step", "t": 1.3, "phase": "measure", "step_ms": 100.0},
              {"type": "sample", "t": 1.3, "others_cpu": 40.0},
              {"type": "sample", "t": 2.0, "others_cpu": 95.0}]  # eval: not counted
    assert others_cpu_percent(events) == 30.0
    assert others_cpu_percent([e for e in events if e["type"] == "step"]) is None


def test_v5_samples_migrate_to_v6_with_no_figure(tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    shutil.copy(DATA / "session-v5.stepscope", path)
    with Session.create_or_open(path):
        pass  # a writer migrates the file in place
    with Session.open_readonly(path) as session:
        assert session.file_version == schema.SCHEMA_VERSION == 6
        samples = session.samples(V5_RUN)
        assert samples["host_rss"].tolist() == [500 << 20] and math.isnan(samples["others_cpu"][0])
        assert all(np.isnan(s["others_cpu"]).all() for s in session.rank_samples(V5_RUN).values())
        assert all(np.isnan(session.samples(r.run_id)["others_cpu"]).all() for r in session.runs())


def test_the_v6_fixture_keeps_its_figures() -> None:
    with Session.open_readonly(DATA / "session-v6.stepscope") as session:
        assert session.file_version == 6
        assert session.samples(RUN_ID)["others_cpu"].tolist() == OTHERS_CPU
        assert session.run(RUN_ID).summary["others_cpu_percent"] == 33.2


@pytest.mark.parametrize("others, said", [(45.0, True), (10.0, False), (None, False)])
def test_run_warns_in_one_line_when_other_processes_were_busy(others: float | None, said: bool) -> None:
    out = io.StringIO()
    print_busy_machine({"others_cpu_percent": others}, Console(file=out, width=200))
    text = out.getvalue()
    assert ("other processes used 45 % of the CPUs" in text) == said and text.count("\n") == (1 if said else 0)


@pytest.mark.parametrize("framework, device, omp, hinted", [
    ("torch", "cpu", None, True), ("torch", "cpu", "2", False), ("torch", "gpu", None, False), ("jax", "cpu", None, False),
])
def test_a_busy_torch_cpu_run_suggests_fewer_threads_unless_they_were_set(
        framework: str, device: str, omp: str | None, hinted: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if omp is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", omp)
    out = io.StringIO()
    print_busy_machine({"others_cpu_percent": 45.0, "framework": framework, "device": device}, Console(file=out, width=200))
    text = out.getvalue()
    assert "busy machine" in text and text.count("\n") == 1
    assert ("OMP_NUM_THREADS=1 before the command" in text) == hinted
