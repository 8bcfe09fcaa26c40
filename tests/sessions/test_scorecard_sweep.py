"""The scorecard's sweeps: the presets' purposes and points, cells shared by several grids run
once, and the compatibility probes a sweep runs first and keeps (not again on resume)."""
from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest

import sessions.sweep_runner as sweep_runner
from profilers.framework_check import FrameworkReport
from sessions.scorecard_presets import PRESETS, PURPOSES, RUN_SETTINGS_FOR_SCALING, narrowed, preset_plan
from sessions.store import Session
from sessions.sweep_plan import Grid, SweepPlan, purposes_of
from sessions.sweep_runner import SweepRunner
from workloads.spec import RunSpec, SpecError

DATA = Path(__file__).resolve().parents[1] / "data"
HAS_FIELDS = RUN_SETTINGS_FOR_SCALING <= {f.name for f in dataclasses.fields(RunSpec)}
needs_run_settings = pytest.mark.skipif(not HAS_FIELDS, reason="RunSpec lacks the scorecard's run settings "
                                        f"({', '.join(sorted(RUN_SETTINGS_FOR_SCALING))}: docs/scorecard.md) in this checkout")


def _has_run_settings() -> bool:
    """The run settings the time-to-accuracy and scaling grids need (docs/scorecard.md) exist."""
    return HAS_FIELDS


def _expected_purposes() -> set[str]:
    pending = set() if _has_run_settings() else {"time_to_accuracy", "scale_model", "scale_data"}
    return set(PURPOSES) - pending


@pytest.mark.parametrize("name", ["scorecard-quick", "scorecard-full"])
def test_a_preset_has_a_grid_for_every_purpose_and_probes_every_framework(name: str) -> None:
    plan = PRESETS[name]
    assert {g.purpose for g in plan.grids} == _expected_purposes()
    assert plan.probe == ("jax", "torch", "tf") and plan.name == name
    scale = {g.purpose: g for g in plan.grids}
    assert scale["latency"].base["batch_size"] == 1
    if _has_run_settings():
        assert len(scale["scale_model"].axes["model_scale"]) >= 3 and len(scale["scale_data"].axes["data_size"]) >= 3
        assert scale["time_to_accuracy"].base["target_accuracy"] == 0.9


def test_a_preset_narrowed_and_its_repeats_replaced() -> None:
    plan = preset_plan("scorecard-quick", ["torch"], repeat=3, device="cpu")
    assert plan.probe == ("torch",) and plan.repeat == 3
    assert all(g.axes["framework"] == ["torch"] and g.repeat is None and g.base["device"] == "cpu" for g in plan.grids)
    assert {g.purpose for g in plan.grids} == _expected_purposes()  # torch has a variants grid of its own
    jax_only = [g for g in narrowed(PRESETS["scorecard-quick"], ["tf"]).grids if g.purpose == "variants"]
    assert [g.axes["framework"] for g in jax_only] == [["tf"]]
    with pytest.raises(SpecError, match="unknown preset"):
        preset_plan("scorecard-fast")
    with pytest.raises(SpecError, match="unknown framework mxnet"):
        preset_plan("scorecard-quick", ["mxnet"])


def test_a_cell_several_grids_ask_for_runs_once_for_all_their_purposes() -> None:
    base = {"steps": 3}
    plan = SweepPlan((Grid({"framework": ["torch"]}, {**base, "batch_size": 64}, "train", repeat=2),
                      Grid({"framework": ["torch"], "batch_size": [16, 64]}, base, "scale_batch", repeat=1)))
    points = plan.points()
    assert [(p.spec.batch_size, p.purpose, p.repeat, p.cell) for p in points] == [
        (64, "train,scale_batch", 0, 0), (16, "scale_batch", 0, 1), (64, "train,scale_batch", 1, 0)]
    assert [p.index for p in points] == [0, 1, 2] and purposes_of(points[0].purpose) == ("train", "scale_batch")
    assert SweepPlan.from_dict(plan.to_dict()) == plan and SweepPlan.from_dict(plan.to_dict()).key == plan.key
    probing = dataclasses.replace(plan, probe=("torch",))
    assert probing.key != plan.key and SweepPlan.from_dict(probing.to_dict()) == probing
    with pytest.raises(SpecError, match="cannot probe mxnet"):
        dataclasses.replace(plan, probe=("mxnet",))


@needs_run_settings
def test_the_quick_preset_expands_to_its_points() -> None:
    points = PRESETS["scorecard-quick"].points()
    purposes = [set(purposes_of(p.purpose)) for p in points]
    for purpose in PURPOSES:
        assert any(purpose in ps for ps in purposes), purpose
    shared = [p for p in points if p.spec.framework == "torch" and p.spec.variant == "eager" and p.spec.mode == "train"
              and p.spec.batch_size == 64 and p.spec.model_scale == 1.0 and p.spec.target_accuracy is None  # type: ignore[attr-defined]
              and p.spec.epochs is None]  # type: ignore[attr-defined]
    assert [p.repeat for p in shared] == [0, 1, 2]
    assert set(purposes_of(shared[0].purpose)) == {"train", "variants", "scale_batch", "scale_model"}
    assert len(points) == 51  # 9 training, 6 other variants, 9 latency, 3 serving, 3 to accuracy, 6 + 6 + 9 scaling


def test_probes_are_stored_with_the_sweep_and_the_fixture_has_one(tmp_path: Path) -> None:
    path = tmp_path / "v3.stepscope"
    shutil.copy(DATA / "session-v3.stepscope", path)
    with Session.open_readonly(path) as session:
        (sweep,) = session.sweeps()
        probes = session.sweep_probes(sweep.sweep_id)
        assert list(probes) == ["torch"] and probes["torch"]["runs"][1]["error"].startswith("BackendCompilerFailed")
        assert sweep.plan["probe"] == ["torch"] and sweep.plan["probe_workloads"] == ["mlp"]


def test_the_runner_probes_first_and_not_again_on_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Which probes run, and when, with the probe process itself replaced by a recorder (the
    slow end-to-end test in tests/cli/test_scorecard_command.py runs the real one)."""
    calls: list[tuple[str, dict[str, Any]]] = []

    def recorded(framework: str, quick: bool, **kwargs: Any) -> FrameworkReport:
        calls.append((framework, {"quick": quick, **kwargs}))
        return FrameworkReport(framework, imports=True, version="9", devices=["cpu"])

    monkeypatch.setattr(sweep_runner, "probe_framework", recorded)
    plan = SweepPlan((Grid({"framework": ["torch"]}, {"steps": 3}, "train"),), probe=("torch", "jax"),
                     probe_workloads=("mlp",))
    path = tmp_path / "s.stepscope"
    with Session.create_or_open(path) as session:  # the points finished before, the jax probe not yet
        sweep_id, _ = session.open_sweep(plan)
        for point in session.sweep_points(sweep_id):
            session.start_point(sweep_id, point.point, f"run-{point.point}")
            session.finish_point(sweep_id, point.point, "ok", None)
        session.store_probe(sweep_id, "torch", FrameworkReport("torch", imports=True, version="1").to_dict())
        session.end_sweep(sweep_id, "stopped")
    seen: list[str | None] = []
    status = SweepRunner(plan, path, runs_dir=tmp_path / "runs", on_status=lambda s: seen.append(s.probing)).run()
    assert status.resumed and status.stopped is None and status.sweep_id == sweep_id
    assert calls == [("jax", {"quick": False, "modes": ("train", "infer"), "devices": "all", "workloads": ("mlp",)})]
    assert "jax" in seen
    with Session.open_readonly(path) as session:
        probes = session.sweep_probes(sweep_id)
        assert probes["torch"]["version"] == "1" and probes["jax"]["version"] == "9"
        assert session.sweep(sweep_id).status == "done"
