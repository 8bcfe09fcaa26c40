"""Op diffs over the stored real torch trace, edited in known ways (an op made faster, one
renamed), and over small hand-made traces with known per-step answers."""
from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from traces.chrome_reader import read_chrome_data
from traces.op_diff import STATUSES, op_diff
from traces.readers import read_trace
from traces.table import EventTable

TRACE = Path(__file__).resolve().parents[2] / "tests" / "data" / "traces" / "torch_convnet.trace.json.gz"


def edited(edit: dict[str, Any]) -> EventTable:
    """The stored torch trace with some ops' durations scaled ({name: factor}) or renamed ({name: "new"})."""
    data = json.loads(gzip.decompress(TRACE.read_bytes()))
    for event in data["traceEvents"]:
        change = edit.get(event.get("name"))
        if isinstance(change, str):
            event["name"] = change
        elif change is not None and "dur" in event:
            event["dur"] = event["dur"] * change
    return read_chrome_data(json.dumps(data).encode(), where=TRACE.name)


def x(name: str, ts: float, dur: float, cat: str = "cpu_op") -> dict[str, Any]:
    return {"ph": "X", "name": name, "cat": cat, "ts": ts, "dur": dur, "pid": 1, "tid": 1}


def steps_of(ops: list[tuple[str, float]], steps: int, markers: bool = True) -> EventTable:
    """`steps` identical steps of 1000 µs, each running `ops` (name, µs) back to back."""
    events = []
    for s in range(steps):
        t0 = s * 1000.0
        if markers:
            events.append(x(f"ProfilerStep#{s}", t0, 1000, cat="user_annotation"))
        t = t0 + 1
        for name, dur in ops:
            events.append(x(name, t, dur))
            t += dur + 1
    return read_chrome_data(json.dumps({"traceEvents": events}).encode())


def test_a_trace_against_itself_is_all_unchanged() -> None:
    table = read_trace(TRACE)
    diff = op_diff(table, table)
    assert diff.rows and diff.counts() == {"added": 0, "removed": 0, "slower": 0, "faster": 0, "unchanged": len(diff.rows)}
    assert diff.baseline_steps == diff.other_steps == 2
    assert all(r.delta_ns == 0 for r in diff.rows)


def test_real_trace_added_removed_slower_faster() -> None:
    # baseline: sqrt at half its time; other: addcdiv_ at half its time and lerp_ renamed.
    baseline = edited({"aten::sqrt": 0.5})
    other = edited({"aten::addcdiv_": 0.5, "aten::lerp_": "aten::lerp_renamed"})
    diff = op_diff(baseline, other, baseline_label="A", other_label="B")
    assert [r.name for r in diff.slower] == ["aten::sqrt"]
    assert [r.name for r in diff.faster] == ["aten::addcdiv_"]
    assert [r.name for r in diff.removed] == ["aten::lerp_"]
    assert [r.name for r in diff.added] == ["aten::lerp_renamed"]
    sqrt = diff.slower[0]
    assert sqrt.delta_percent == pytest.approx(100.0, rel=1e-3)
    assert sqrt.base_count == sqrt.other_count == 6  # 12 calls over 2 steps
    lerp = diff.removed[0]
    assert lerp.other_count == 0 and lerp.base_ns > 0 and lerp.delta_ns == -lerp.base_ns
    assert diff.added[0].delta_percent is None
    # the largest changes come first; the rest did not move
    assert abs(diff.changed()[0].delta_ns) >= abs(diff.changed()[-1].delta_ns)
    assert len(diff.unchanged) == len(diff.rows) - 4
    assert "per step over 2 step(s)" in diff.basis
    as_dict = diff.to_dict()
    assert as_dict["counts"]["slower"] == 1 and {op["status"] for op in as_dict["ops"]} <= set(STATUSES)


def test_figures_are_per_step_whatever_the_window_length() -> None:
    two = steps_of([("aten::mm", 100), ("aten::relu", 20)], steps=2)
    five = steps_of([("aten::mm", 100), ("aten::relu", 20)], steps=5)
    diff = op_diff(two, five)
    assert (diff.baseline_steps, diff.other_steps) == (2, 5)
    assert diff.counts()["unchanged"] == 2 and not diff.changed()
    mm = next(r for r in diff.rows if r.name == "aten::mm")
    assert mm.base_count == mm.other_count == 1.0
    assert mm.base_self_ns == pytest.approx(100_000) and mm.other_total_ns == pytest.approx(100_000)


def test_without_step_markers_figures_are_per_trace() -> None:
    base = steps_of([("aten::mm", 100)], steps=2, markers=False)
    other = steps_of([("aten::mm", 100)], steps=1, markers=False)
    diff = op_diff(base, other)
    assert (diff.baseline_steps, diff.other_steps) == (0, 0)
    assert "per trace" in diff.basis
    assert [r.status for r in diff.rows] == ["faster"] and diff.rows[0].delta_ns == pytest.approx(-100_000)


def test_noise_under_the_threshold_is_unchanged() -> None:
    base = steps_of([("aten::mm", 100.0), ("aten::tiny", 1.0)], steps=2)
    other = steps_of([("aten::mm", 105.0), ("aten::tiny", 1.5)], steps=2)  # +5 %, and +50 % of 1 µs
    assert op_diff(base, other).counts()["unchanged"] == 2
    strict = op_diff(base, other, rel_threshold=0.01, abs_threshold_ns=0)
    assert [r.name for r in strict.slower] == ["aten::mm", "aten::tiny"]


def test_total_time_measure_and_bad_arguments() -> None:
    # linear wraps addmm: making addmm slower changes linear's total time but not its self time
    def nested(addmm_us: float) -> EventTable:
        return read_chrome_data(json.dumps({"traceEvents": [
            x("ProfilerStep#1", 0, 1000, cat="user_annotation"), x("aten::linear", 10, 500), x("aten::addmm", 20, addmm_us),
        ]}).encode())

    by_self = op_diff(nested(100), nested(400))
    by_total = op_diff(nested(100), nested(400), measure="total")
    assert {r.name: r.status for r in by_self.rows} == {"aten::addmm": "slower", "aten::linear": "faster"}
    assert {r.name: r.status for r in by_total.rows} == {"aten::addmm": "slower", "aten::linear": "unchanged"}
    with pytest.raises(ValueError, match="measure"):
        op_diff(nested(1), nested(1), measure="mean")
    with pytest.raises(ValueError, match="status"):
        by_self.by_status("gone")


def test_different_frameworks_share_no_ops() -> None:
    torch_table = read_trace(TRACE)
    jax_table = read_trace(TRACE.with_name("jax_mlp.xplane.pb.gz"))
    diff = op_diff(torch_table, jax_table)
    counts = diff.counts()
    assert counts["added"] > 0 and counts["removed"] > 0 and counts["added"] + counts["removed"] == len(diff.rows)
    assert {r.kind for r in diff.added} == {"hlo_op"}
