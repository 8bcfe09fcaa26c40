"""Repeats of one spec are one row of a comparison, with their run-first pooled interval: through
`compare_runs`, the JSON, the Markdown report, and what makes two runs repeats (or not)."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from sessions.compare import compare_runs, load_runs
from sessions.compare_report import build_report, to_markdown
from sessions.stats import compare, median_interval
from tests.sessions.repeated_runs import FakeRun, shifted_repeats, write_session

A_MEANS, B_MEANS = (29.0, 31.0, 30.0), (31.0, 29.5, 30.8)


@pytest.fixture
def groups() -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(3)
    return shifted_repeats(rng, A_MEANS), shifted_repeats(rng, B_MEANS), rng.normal(24.0, 0.3, 150)


@pytest.fixture
def session(tmp_path: Path, groups: tuple[list[np.ndarray], list[np.ndarray], np.ndarray]) -> Path:
    """Interleaved like a run queue would leave them: eager and compiled repeats, and a lone seed-1 run."""
    a, b, lone = groups
    runs = []
    for i in range(3):
        runs.append(FakeRun(f"a{i}", a[i], summary={"compile_ms": 10.0 * (i + 1)}))
        runs.append(FakeRun(f"b{i}", b[i], {"variant": "compiled"}))
    runs.append(FakeRun("lone", lone, {"seed": 1}))
    return write_session(tmp_path / "repeats.stepscope", runs)


def test_repeats_pool_into_one_row_with_the_run_first_interval(
        session: Path, groups: tuple[list[np.ndarray], list[np.ndarray], np.ndarray]) -> None:
    a, b, lone = groups
    result = compare_runs(load_runs([str(session)]))
    assert [row.run_count for row in result.runs] == [3, 3, 1]
    assert result.runs[0].record["run_ids"] == ["a0", "a1", "a2"] and result.runs[1].record["run_ids"] == ["b0", "b1", "b2"]
    assert result.runs[0].label == "repeats.stepscope:a0 + 2 repeat(s)" and result.runs[2].label == "repeats.stepscope:lone"
    pooled = result.runs[0].record
    assert pooled["steps"] == 450 and pooled["step_ms_median"] == pytest.approx(float(np.median(np.concatenate(a))))
    assert pooled["step_ms_median_ci"] == pytest.approx(list(median_interval(a) or ()))
    assert pooled["compile_ms"] == 20.0  # per-run figures: the median over the repeats
    expected = compare(a, b)
    assert expected is not None and result.step_time[1] == expected
    assert expected.verdict == "no significant difference"
    one_each = compare(a[0], b[0])  # any single pair of runs would have called a 7 % change
    assert one_each is not None and one_each.verdict == "slower"
    assert result.step_time[2] == compare(a, [lone])
    assert "run_count" not in result.runs[2].record  # a lone run reads as before


def test_json_and_report_show_the_group(session: Path) -> None:
    result = compare_runs(load_runs([str(session)]))
    rows = result.to_dict()["runs"]
    assert [r.get("run_count") for r in rows] == [3, 3, None]
    low, high = rows[1]["step_ms_median_ci"]
    assert low < rows[1]["step_ms_median"] < high
    text = to_markdown(build_report(result))
    assert "7 runs compared in 3 groups" in text
    pooled_row = next(line for line in text.splitlines() if line.startswith("| runs pooled"))
    assert pooled_row.count("3 runs, median") == 2 and "95 % CI" in pooled_row and "| 1 run |" in pooled_row


def test_what_is_not_a_repeat(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    steps = [rng.normal(30, 1, 40) for _ in range(6)]
    path = write_session(tmp_path / "mixed.stepscope", [
        FakeRun("base", steps[0]), FakeRun("same", steps[1]),
        FakeRun("failed", steps[2], status="failed"),  # a cut-short run stands alone
        FakeRun("lr", steps[3], {"learning_rate": 0.01}), FakeRun("trace", steps[4], {"trace_steps": 0}),
        FakeRun("eval", steps[5], {"evaluate": False})])
    copy = tmp_path / "copy.stepscope"
    shutil.copy(path, copy)
    result = compare_runs(load_runs([str(path), f"{copy}:same"]))
    assert [row.record["run_id"] for row in result.runs] == ["base", "failed", "lr", "trace", "eval", "same"]
    assert [row.run_count for row in result.runs] == [2, 1, 1, 1, 1, 1]  # another file's run is not a repeat


def test_repeats_alone_are_compared_run_by_run(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    path = write_session(tmp_path / "three.stepscope", [FakeRun(f"r{i}", rng.normal(30, 1, 40)) for i in range(3)])
    result = compare_runs(load_runs([str(path)]))
    assert [row.run_count for row in result.runs] == [1, 1, 1] and all(c is not None for c in result.step_time[1:])
