"""The comparison window's Qt-free state over the stored v2 session (a torch run with a trace,
a failed jax run and an interrupted tf run, neither with a trace), and the timeline alignment."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from gui.compare.compare_model import CompareModel, align_range, shade
from gui.live.live_model import FRAMEWORK_COLORS
from sessions.store import SessionError
from traces.op_diff import OpDiff

V2 = Path(__file__).resolve().parents[2] / "tests" / "data" / "session-v2.stepscope"
TORCH, JAX, TF = "20250101-120000-aaaaaa", "20250101-120100-bbbbbb", "20250101-120200-cccccc"


@pytest.fixture
def model() -> CompareModel:
    return CompareModel.for_session(V2)


def test_every_run_offered_and_chosen_first_is_baseline(model: CompareModel) -> None:
    assert [e.run_id for e in model.entries] == [TORCH, JAX, TF]
    assert all(e.checked for e in model.entries)
    assert model.baseline == model.entries[0].key and model.pair == (model.entries[0].key, model.entries[1].key)
    assert [e.color for e in model.entries] == [FRAMEWORK_COLORS[f] for f in ("torch", "jax", "tf")]
    assert [e.has_trace for e in model.entries] == [True, False, False]
    assert model.entries[0].title == "torch eager · batch 32 · aaaaaa"


def test_baseline_and_choice_drive_the_comparison(model: CompareModel) -> None:
    calls: list[int] = []
    model.subscribe(lambda: calls.append(1))
    first = model.comparison()
    assert first is not None and [r.label.split(":")[1] for r in first.runs] == [TORCH, JAX, TF]
    assert model.comparison() is first  # cached while nothing changes
    jax = model.entries[1].key
    model.set_baseline(jax)
    second = model.comparison()
    assert second is not first and second.runs[0].label.endswith(JAX)
    assert [e.run_id for e in model.chosen()] == [JAX, TORCH, TF]
    assert model.pair[0] == jax and calls
    model.set_checked(jax, False)  # unticking the baseline hands the role to the next chosen run
    assert model.baseline == model.entries[0].key and len(model.comparison().runs) == 2
    with pytest.raises(ValueError, match="not among the chosen"):
        model.set_baseline(jax)
    for entry in model.entries:
        model.set_checked(entry.key, False)
    assert model.comparison() is None and model.baseline is None and model.pair == (None, None)


def test_adding_files_never_duplicates_and_errors_are_messages(model: CompareModel, tmp_path: Path) -> None:
    assert model.add_session_file(V2) == [] and len(model.entries) == 3
    copy = tmp_path / "copy.stepscope"
    shutil.copy(V2, copy)
    added = model.add_session_file(copy)
    assert [e.run_id for e in added] == [TORCH, JAX, TF] and len(model.chosen()) == 6
    assert added[0].color == shade(FRAMEWORK_COLORS["torch"], -0.35) != model.entries[0].color
    bad = tmp_path / "broken.stepscope"
    bad.write_bytes(b"not a session")
    seen: list[str | None] = []
    model.subscribe(lambda: seen.append(model.error))
    assert model.add_session_file(bad) == []
    assert model.error and "broken.stepscope" in model.error and "Traceback" not in model.error and seen[-1] == model.error
    assert model.add_session_file(copy) == [] and model.error is None
    with pytest.raises(SessionError, match="no run nope"):
        CompareModel.for_session(V2, ["nope"])


def test_op_diff_needs_two_traced_runs(model: CompareModel) -> None:
    torch_key, jax_key = model.entries[0].key, model.entries[1].key
    message = model.op_diff(torch_key, jax_key)
    assert isinstance(message, str) and "has no stored trace" in message and "jax" in message
    same = model.op_diff(torch_key, torch_key)
    assert isinstance(same, str) and "two different runs" in same
    assert model.trace(torch_key) is not None and model.trace(jax_key) is None


def test_op_diff_of_a_traced_run_with_itself_across_files(model: CompareModel, tmp_path: Path) -> None:
    copy = tmp_path / "copy.stepscope"
    shutil.copy(V2, copy)
    other = model.add_session(copy, [TORCH])[0]
    diff = model.op_diff(model.entries[0].key, other.key)
    assert isinstance(diff, OpDiff) and diff.rows and not diff.changed()


def test_curves_and_report(model: CompareModel, tmp_path: Path) -> None:
    curves = model.curves(model.entries[0].key)
    assert len(curves.step_ms) > 0 and np.all(curves.step_ms > 0)
    assert len(curves.loss) == len(curves.step_index) > 0 and np.isfinite(curves.loss).all()
    assert len(curves.t) == len(curves.host_mb) > 0 and np.nanmax(curves.host_mb) > 1
    path = model.save_report(tmp_path / "r.md")
    text = path.read_text()
    assert "## Step time against the baseline" in text and "has no stored trace" in text
    with pytest.raises(SessionError, match="report"):
        model.save_report(tmp_path / "r.pdf")


def test_align_range_maps_the_same_offset_into_the_same_step() -> None:
    a = np.array([100.0, 1100.0, 2100.0])
    b = np.array([5.0, 505.0])
    assert align_range(1150.0, 1250.0, a, b) == (555.0, 655.0)  # 50 ns into the 2nd step on both
    assert align_range(150.0, 900.0, a, b) == (55.0, 805.0)
    assert align_range(2200.0, 2300.0, a, b) == (605.0, 705.0)  # a 3rd step b lacks: its last step
    assert align_range(10.0, 20.0, a, b) == (-85.0, -75.0)  # before the first step: offset from it
    assert align_range(7.0, 9.0, np.empty(0), b) == (7.0, 9.0)  # no markers: first events align
    assert align_range(7.0, 9.0, a, np.empty(0)) == (7.0, 9.0)


def test_shade() -> None:
    assert shade("#808080", 0.0) == "#808080"
    assert shade("#808080", -1.0) == "#000000" and shade("#808080", 1.0) == "#ffffff"
