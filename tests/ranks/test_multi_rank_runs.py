"""A torchrun job (gloo, 2 ranks) and a JAX job of 2 CPU processes are each ONE run with 2 ranks:
every rank's steps and samples in the session, each trace window one table with a row group per
rank, the summary's `ranks`, and the straggler table over both ranks' steps."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from profilers.program_runner import ProgramController
from sessions.store import Session
from sessions.traces import load_trace
from tests.ranks.harness import JAX_RANKS, TORCH_DDP, rank_groups, record, record_despite_a_torch_crash
from traces.analysis import step_windows
from traces.table import Kind

pytest.importorskip("torch")


def test_torchrun_with_two_gloo_ranks_is_one_run_with_both_ranks(tmp_path: Path) -> None:
    controllers: list[ProgramController] = []
    recorded = record_despite_a_torch_crash(tmp_path, (*TORCH_DDP, "--steps", "10"), steps_window=(5, 7),
                                            controllers=controllers)
    result = recorded.result
    assert result.status == "ok", result.reason
    assert result.summary["ranks"] == 2 and result.summary["steps"] == 10 - 1 - 2  # rank 0's: warm-up and window out
    launcher = controllers[-1].launched_pid
    assert launcher not in {e["pid"] for e in result.events if e["type"] in ("program", "hello")}  # torchrun: silent
    assert all(e.get("rank") in (0, 1) for e in result.events if e["type"] in ("program", "hello", "step", "step_source"))
    artifacts = {e["rank"]: e["path"] for e in result.events if e["type"] == "artifact"}
    assert sorted(artifacts) == [0, 1]
    for rank, path in artifacts.items():  # the file torch wrote, kept: HolisticTraceAnalysis reads its rank there
        with gzip.open(path, "rt") as f:
            info = json.load(f)["distributedInfo"]
        assert (info["rank"], info["world_size"], info["backend"]) == (rank, 2, "gloo")
    with Session.open_readonly(tmp_path / "s.stepscope") as session:
        steps = session.rank_steps(result.run_id)
        assert sorted(steps) == [0, 1] and all(list(s["index"]) == list(range(10)) for s in steps.values())
        assert np.array_equal(session.steps(result.run_id)["t"], steps[0]["t"])
        samples = session.rank_samples(result.run_id)
        assert sorted(samples) == [0, 1] and all(len(s["t"]) > 0 for s in samples.values())
        table, _ = load_trace(session, result.run_id)
    assert rank_groups(table.rows) == {"rank 0", "rank 1"}
    markers = np.flatnonzero(table.kind == Kind.STEP)
    by_rank = {(table.rows[table.row[i]].pid.split(":")[0], int(table.step[i])) for i in markers}
    assert by_rank >= {("rank 0", 5), ("rank 0", 6), ("rank 1", 5), ("rank 1", 6)}


def test_a_jax_job_of_two_cpu_processes_is_one_run_on_one_clock(tmp_path: Path) -> None:
    pytest.importorskip("jax")
    recorded = record(tmp_path, (*JAX_RANKS, "--steps", "10"), steps_window=(5, 7))
    result = recorded.result
    assert result.status == "ok", result.reason
    assert result.summary["ranks"] == 2
    hellos = [e for e in result.events if e["type"] == "hello"]
    assert sorted(e["rank"] for e in hellos) == [0, 1] and all(e["world_size"] == 2 for e in hellos)
    sources = {e["rank"]: e["detail"] for e in result.events if e["type"] == "step_source"}
    assert all(detail.endswith("train_step") for detail in sources.values())  # not JAX's own jitted helpers
    with Session.open_readonly(tmp_path / "s.stepscope") as session:
        steps = session.rank_steps(result.run_id)
        table, _ = load_trace(session, result.run_id)
    assert sorted(steps) == [0, 1] and all(len(s["index"]) == 10 for s in steps.values())
    assert rank_groups(table.rows) == {"rank 0", "rank 1"}
    # One clock: the two ranks' step-6 ends lie as far apart in the merged trace as in their step events
    # (aligned on step 5, the first traced step, so step 6 checks the alignment).
    ends = {}
    numbers, _, hi = step_windows(table)
    for i in np.flatnonzero(table.kind == Kind.STEP):
        if int(table.step[i]) == 6:
            ends[table.rows[table.row[i]].pid.split(":")[0]] = int(table.start_ns[i] + table.dur_ns[i])
    assert len(numbers) and sorted(ends) == ["rank 0", "rank 1"]
    event_t = {r: float(s["t"][list(s["index"]).index(6)]) for r, s in steps.items()}
    assert abs((ends["rank 1"] - ends["rank 0"]) / 1e9 - (event_t[1] - event_t[0])) < 0.05  # (a loaded machine's jitter)
