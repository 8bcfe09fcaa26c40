"""The scorecard's metric rows from sessions of known measurements: exact medians and quantiles,
intervals where repeats or samples give one, the best marked only where intervals separate, and
None with the reason where nothing was measured."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sessions.scorecard import build_scorecard
from sessions.store import Session, SessionError
from sessions.sweep_plan import SweepPlan
from tests.sessions.scorecard_builder import FakeRun, write_sweep

TRAIN = {"batch_size": 64}


def _train(fw: str, ms: float | list[float], **kw: object) -> FakeRun:
    steps = [ms] * 20 if isinstance(ms, float) else ms
    return FakeRun(fw, "train,variants", steps, spec=dict(TRAIN), **kw)  # type: ignore[arg-type]


def test_step_time_medians_and_the_best_marked_only_when_separated(tmp_path: Path) -> None:
    runs = [_train("jax", 20.0), _train("jax", 20.0), _train("torch", 10.0), _train("torch", 10.0),
            _train("tf", 30.0), _train("tf", 30.0)]
    write_sweep(tmp_path / "s.stepscope", runs)
    card = build_scorecard(tmp_path / "s.stepscope")
    row = card.row("train_step_ms")
    assert row is not None and row.metric == "Training time" and row.better == "lower"
    assert {fw: (c.value, c.low, c.high) for fw, c in row.cells.items()} == {
        "jax": (20.0, 20.0, 20.0), "torch": (10.0, 10.0, 10.0), "tf": (30.0, 30.0, 30.0)}
    assert row.best == "torch" and row.cells["torch"].runs == ("run-02-torch", "run-03-torch")

    overlapping = [_train("torch", list(np.linspace(9.0, 11.0, 7))), _train("jax", list(np.linspace(9.5, 11.5, 7)))]
    write_sweep(tmp_path / "o.stepscope", overlapping)
    row = build_scorecard(tmp_path / "o.stepscope").row("train_step_ms")
    assert row is not None and row.cells["torch"].value == 10.0 and row.cells["jax"].value == 10.5
    low, high = row.cells["torch"].low, row.cells["torch"].high
    assert low is not None and high is not None and low < 10.0 < high and high > row.cells["jax"].low  # type: ignore[operator]
    assert row.best is None  # the intervals overlap: no best


def test_latency_quantiles_with_intervals_and_serving_throughput(tmp_path: Path) -> None:
    latency = list(np.arange(1.0, 101.0))
    runs = [FakeRun("torch", "latency", latency, spec={"mode": "infer", "batch_size": 1, "evaluate": False}),
            FakeRun("torch", "serving", [50.0] * 10, spec={"mode": "infer", "batch_size": 256, "evaluate": False})]
    write_sweep(tmp_path / "s.stepscope", runs)
    card = build_scorecard(tmp_path / "s.stepscope")
    expected = {50: 50.5, 95: 95.05, 99: 99.01}
    for q, value in expected.items():
        cell = card.row(f"latency_p{q}_ms").cells["torch"]  # type: ignore[union-attr]
        assert cell.value == pytest.approx(value) and cell.unit == "ms"
        assert cell.low is not None and cell.high is not None and cell.low <= value <= cell.high and cell.low < cell.high
    serving = card.row("serving_samples_per_s_b256").cells["torch"]  # type: ignore[union-attr]
    assert (serving.value, serving.low, serving.high) == (256 * 1000 / 50.0,) * 3
    assert card.latency_samples["torch"] == latency


def test_a_metric_without_runs_is_none_with_the_reason(tmp_path: Path) -> None:
    runs = [_train("torch", 10.0), _train("jax", 20.0, status="failed", reason="the worker died (SIGKILL)")]
    write_sweep(tmp_path / "s.stepscope", runs)
    card = build_scorecard(tmp_path / "s.stepscope")
    jax = card.row("train_step_ms").cells["jax"]  # type: ignore[union-attr]
    assert jax.value is None and jax.low is None and "failed (the worker died (SIGKILL))" in jax.note
    serving = card.row("serving_samples_per_s").cells["torch"]  # type: ignore[union-attr]
    assert serving.value is None and serving.note == "not measured: this sweep has no serving points"
    gpu = card.row("gpu_util_mean").cells["torch"]  # type: ignore[union-attr]
    assert gpu.value is None and gpu.note == "not measurable on this device: a CPU has no GPU utilisation"
    device = card.row("train_device_peak_mb").cells["torch"]  # type: ignore[union-attr]
    assert device.value is None and device.note.startswith("not measurable on this device")
    assert card.failed_points == [{"label": "jax compiled", "purpose": "train,variants", "reason": "the worker died (SIGKILL)",
                                   "run_id": "run-01-jax"}]
    assert json.loads(json.dumps(card.to_dict(), allow_nan=False))["rows"][0]["key"] == "train_step_ms"


def test_utilisation_memory_and_accuracy(tmp_path: Path) -> None:
    runs = [_train("torch", 10.0, cpu_percent=[100.0, 140.0], summary={"peak_host_mb": 500.0}, evals=[(9.0, 0.9, 0.88)]),
            _train("torch", 10.0, cpu_percent=[120.0, 160.0], summary={"peak_host_mb": 520.0}, evals=[(9.0, 0.9, 0.88)]),
            FakeRun("jax", "train", [5.0] * 10, spec=dict(TRAIN), device_kind="gpu", gpu_util=[40.0, 60.0, 80.0],
                    summary={"peak_host_mb": 900.0, "peak_device_mb": 300.0}, evals=[(9.0, 0.9, 0.88)])]
    write_sweep(tmp_path / "s.stepscope", runs)
    card = build_scorecard(tmp_path / "s.stepscope")
    cpu = card.row("cpu_util_percent").cells["torch"]  # type: ignore[union-attr]
    assert cpu.value == pytest.approx((100 + 140 + 120 + 160) / 4 / 2)  # the mean, as a share of the 2 cores
    gpu = card.row("gpu_util_mean").cells["jax"]  # type: ignore[union-attr]
    assert gpu.value == pytest.approx(60.0) and gpu.low is not None and "p5 / p50 / p95" in gpu.note
    assert card.gpu_util_samples == {"jax": [40.0, 60.0, 80.0]}
    rss = card.row("train_peak_rss_mb").cells["torch"]  # type: ignore[union-attr]
    assert (rss.value, rss.low, rss.high) == (510.0, 500.0, 520.0)
    single = card.row("train_peak_rss_mb").cells["jax"]  # type: ignore[union-attr]
    assert single.value == 900.0 and single.low is None and "one run" in single.note
    assert card.row("train_device_peak_mb").cells["jax"].value == 300.0  # type: ignore[union-attr]
    accuracy = card.row("accuracy").cells["jax"]  # type: ignore[union-attr]
    assert accuracy.value == pytest.approx(90.0)
    assert (accuracy.low, accuracy.high) == pytest.approx((86.467, 92.690), abs=1e-3)  # Wilson, 324 of 360
    assert card.row("macro_f1").cells["torch"].value == 0.88  # type: ignore[union-attr]


def test_time_to_accuracy_stops_at_the_target_and_keeps_the_curve(tmp_path: Path) -> None:
    tta = {"target_accuracy": 0.9, "eval_every": 10, "steps": 300}
    runs = [FakeRun("torch", "time_to_accuracy", [10.0] * 20, spec=dict(tta), evals=[(3.0, 0.5, 0.5), (4.5, 0.93, 0.9)]),
            FakeRun("jax", "time_to_accuracy", [10.0] * 30, spec=dict(tta), evals=[(3.0, 0.5, 0.5), (6.0, 0.8, 0.7)])]
    write_sweep(tmp_path / "s.stepscope", runs)
    card = build_scorecard(tmp_path / "s.stepscope")
    row = card.row("time_to_accuracy_s")
    assert row is not None and row.label.startswith("time to 90 % held-out accuracy")
    assert row.cells["torch"].value == pytest.approx(3.5)  # 4.5 s minus the compile phase's start at 1.0 s
    assert row.cells["jax"].value is None and row.cells["jax"].note == "did not reach 90 % within 300 steps (best 80.0%)"
    assert card.curves == {"torch": [(2.0, 0.5), (3.5, 0.93)], "jax": [(2.0, 0.5), (5.0, 0.8)]}
    assert card.target_accuracy == 0.9


def test_scaling_exponents_with_their_points(tmp_path: Path) -> None:
    runs = [FakeRun("torch", "scale_data", [10.0] * 5, spec={"data_size": n, "epochs": 2}, measure_s=2 * n / 512.0)
            for n in (512, 1024, 2048)]
    runs += [FakeRun("torch", "scale_model", [p ** 0.5] * 5, param_count=p) for p in (1000, 4000, 16000)]
    runs += [FakeRun("torch", "scale_batch", [10.0] * 5, spec={"batch_size": b}) for b in (16, 64)]
    write_sweep(tmp_path / "s.stepscope", runs)
    card = build_scorecard(tmp_path / "s.stepscope")
    data = card.row("scale_data_exponent").cells["torch"]  # type: ignore[union-attr]
    assert data.value == pytest.approx(1.0) and data.low == pytest.approx(1.0) and data.runs == ("run-00-torch",
                                                                                             "run-01-torch", "run-02-torch")
    assert card.fits["scale_data"]["torch"]["sizes"] == [512.0, 1024.0, 2048.0]
    assert card.fits["scale_data"]["torch"]["costs"] == pytest.approx([1.0, 1.0 * 2, 1.0 * 4])  # seconds per epoch
    assert card.row("scale_model_exponent").cells["torch"].value == pytest.approx(0.5)  # type: ignore[union-attr]
    batch = card.row("scale_batch_exponent").cells["torch"]  # type: ignore[union-attr]
    assert batch.value == pytest.approx(1.0) and batch.low is None and "two points" in batch.note  # constant step time


def test_compatibility_share_failures_and_versions(tmp_path: Path) -> None:
    cells = [{"check": "run", "workload": "mlp", "variant": v, "mode": m, "device": "cpu", "ok": ok, "ms": 1.0,
              "error": None if ok else "BackendCompilerFailed: no C compiler"}
             for v, m, ok in (("eager", "train", True), ("eager", "infer", True), ("compiled", "train", True),
                              ("compiled", "infer", False))]
    probes = {"torch": {"framework": "torch", "imports": True, "version": "2.13", "error": None, "devices": ["cpu"],
                        "runs": cells},
              "jax": {"framework": "jax", "imports": False, "version": None, "error": "ModuleNotFoundError: no jax",
                      "devices": [], "runs": []}}
    write_sweep(tmp_path / "s.stepscope", [_train("torch", 10.0)], probes=probes, probe_workloads=("mlp",))
    card = build_scorecard(tmp_path / "s.stepscope")
    row = card.row("compatibility_percent")
    assert row is not None and row.cells["torch"].value == 75.0 and row.cells["jax"].value == 0.0
    assert "compiled infer cpu: BackendCompilerFailed: no C compiler" in row.cells["torch"].note
    assert row.best == "torch"  # exact shares: any difference counts
    assert len(card.compatibility["jax"]) == 4 and all(c["reason"] == "does not import: ModuleNotFoundError: no jax"
                                                       for c in card.compatibility["jax"])
    assert card.versions == {"torch": "2.13"} and card.frameworks == ["jax", "torch"]


def test_the_newest_scorecard_sweep_or_the_one_named(tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    first = write_sweep(path, [_train("torch", 10.0)])
    write_sweep(path, [_train("torch", 12.0), _train("torch", 12.0)], prefix="second")
    assert build_scorecard(path).row("train_step_ms").cells["torch"].value == 12.0  # type: ignore[union-attr]
    assert build_scorecard(path, first).row("train_step_ms").cells["torch"].value == 10.0  # type: ignore[union-attr]
    plain = tmp_path / "plain.stepscope"
    with Session.create_or_open(plain) as session:
        session.open_sweep(SweepPlan.grid(axes={"framework": ["torch"]}))
    with pytest.raises(SessionError, match="no scorecard sweep in this session"):
        build_scorecard(plain)
    with pytest.raises(SessionError, match="no sweep 'nope'"):
        build_scorecard(path, "nope")
