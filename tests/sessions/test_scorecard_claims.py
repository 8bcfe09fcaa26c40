"""The claims report on constructed ratios: each verdict (holds, does not hold, inconclusive,
not measurable here) where the measurements put it, with the measured figure."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from sessions.scorecard import Claim, build_scorecard
from sessions.scorecard_claims import LARGE_SCALE_PARAMS, band_verdict, below_one_verdict
from tests.sessions.scorecard_builder import FakeRun, write_sweep


def _train(fw: str, variant: str, ms: float | list[float], batch: int = 64, **kw: object) -> FakeRun:
    steps = [ms] * 20 if isinstance(ms, float) else ms
    return FakeRun(fw, "train,variants", steps, spec={"batch_size": batch, "variant": variant}, **kw)  # type: ignore[arg-type]


def _claims(tmp_path: Path, runs: list[FakeRun], name: str = "s") -> dict[str, Claim]:
    path = tmp_path / f"{name}.stepscope"
    write_sweep(path, runs)
    return {c.claim.split()[0] + ":" + c.claim.split()[-1]: c for c in build_scorecard(path).claims}


def test_the_verdict_rules_at_their_edges() -> None:
    assert band_verdict(1.12, 1.18, 1.10, 1.20) == "holds"
    assert band_verdict(1.21, 1.40, 1.10, 1.20) == "does not hold"
    assert band_verdict(0.90, 1.05, 1.10, 1.20) == "does not hold"
    assert band_verdict(1.05, 1.15, 1.10, 1.20) == "inconclusive"
    assert band_verdict(1.0, 1.5, 1.0, 2.2, open_low=True) == "inconclusive"  # 1 itself is no speed-up
    assert band_verdict(0.8, 1.0, 1.0, 2.2, open_low=True) == "does not hold"
    assert band_verdict(None, None, 1.0, 2.0) == "inconclusive"
    assert (below_one_verdict(0.5, 0.9), below_one_verdict(1.1, 1.3), below_one_verdict(0.9, 1.1)) == (
        "holds", "does not hold", "inconclusive")


def test_torch_compile_holds_does_not_hold_and_is_inconclusive(tmp_path: Path) -> None:
    holds = _claims(tmp_path, [_train("torch", "eager", 15.0), _train("torch", "compiled", 10.0)], "a")
    claim = holds["torch.compile:eager"]
    assert (claim.value, claim.low, claim.high, claim.verdict) == (1.5, 1.5, 1.5, "holds")
    assert claim.runs == ("run-01-torch", "run-00-torch")
    beyond = _claims(tmp_path, [_train("torch", "eager", 30.0), _train("torch", "compiled", 10.0)], "b")
    assert beyond["torch.compile:eager"].value == 3.0 and beyond["torch.compile:eager"].verdict == "does not hold"
    rng = np.random.default_rng(0)
    same = _claims(tmp_path, [_train("torch", "eager", list(rng.normal(10, 1, 30))),
                              _train("torch", "compiled", list(rng.normal(10, 1, 30)))], "c")
    claim = same["torch.compile:eager"]
    assert claim.verdict == "inconclusive" and claim.low < 1.0 < claim.high  # type: ignore[operator]
    missing = _claims(tmp_path, [_train("torch", "eager", 10.0),
                                 _train("torch", "compiled", 10.0, status="failed", reason="inductor: no C compiler")], "d")
    claim = missing["torch.compile:eager"]
    assert claim.verdict == "not measurable here" and "inductor: no C compiler" in claim.why and claim.value is None


def test_tensorflow_against_torch(tmp_path: Path) -> None:
    runs = [_train("torch", "eager", 10.0), _train("torch", "compiled", 10.0), _train("tf", "xla", 11.5, batch=64)]
    claims = _claims(tmp_path, runs)
    xla = claims["TensorFlow:PyTorch"]
    assert xla.value == pytest.approx(1.15) and xla.verdict == "holds"
    cost = claims["TensorFlow's:PyTorch's"]
    assert cost.value == pytest.approx(1.15) and cost.verdict == "holds"
    # Unequal batches: time per sample, tf 6 ms / 32 against torch 10 ms / 64 = 1.2.
    unequal = _claims(tmp_path, [_train("torch", "eager", 10.0), _train("tf", "xla", 6.0, batch=32)], "u")
    assert unequal["TensorFlow's:PyTorch's"].value == pytest.approx(1.2) and unequal["TensorFlow's:PyTorch's"].verdict == "holds"
    assert unequal["TensorFlow:PyTorch"].verdict == "not measurable here"  # no compiled torch was measured


def test_jax_compile_payback(tmp_path: Path) -> None:
    runs = [_train("jax", "compiled", 20.0, summary={"compile_ms": 1000.0}), _train("jax", "eager", 30.0)]
    claim = _claims(tmp_path, runs)["JAX's:speed"]
    assert (claim.value, claim.low, claim.high, claim.unit, claim.verdict) == (100.0, 100.0, 100.0, "steps", "holds")
    assert "repaid after 100 steps" in claim.measured
    slower = [_train("jax", "compiled", 30.0, summary={"compile_ms": 1000.0}), _train("jax", "eager", 20.0)]
    claim = _claims(tmp_path, slower, "slow")["JAX's:speed"]
    assert math.isinf(claim.value) and claim.verdict == "does not hold"  # type: ignore[arg-type]
    path = tmp_path / "slow.stepscope"
    payback = next(c for c in build_scorecard(path).to_dict()["claims"] if c["claim"].startswith("JAX's"))
    assert payback["value"] is None and json.dumps(payback, allow_nan=False)


def test_jax_memory_needs_repeats_for_a_verdict(tmp_path: Path) -> None:
    runs = [_train("jax", "compiled", 10.0, summary={"peak_host_mb": mb}) for mb in (400.0, 410.0)]
    runs += [_train("torch", "eager", 10.0, summary={"peak_host_mb": mb}) for mb in (500.0, 510.0)]
    runs += [_train("tf", "xla", 10.0, summary={"peak_host_mb": mb}) for mb in (600.0, 610.0)]
    claim = _claims(tmp_path, runs)["JAX:others"]
    assert claim.value == pytest.approx(405 / 505) and claim.verdict == "holds" and "JAX / torch" in claim.measured
    single = [_train("jax", "compiled", 10.0, summary={"peak_host_mb": 400.0}),
              _train("torch", "eager", 10.0, summary={"peak_host_mb": 500.0})]
    claim = _claims(tmp_path, single, "one")["JAX:others"]
    assert claim.value == pytest.approx(0.8) and claim.verdict == "inconclusive" and "one run each" in claim.why


def test_large_scale_is_judged_only_at_large_scale(tmp_path: Path) -> None:
    def runs(params: int) -> list[FakeRun]:
        return [FakeRun(fw, "scale_model", [ms] * 10, spec={"batch_size": 64, "model_scale": 2.0}, param_count=params)
                for fw, ms in (("jax", 8.0), ("torch", 10.0), ("tf", 12.0))]
    small = _claims(tmp_path, runs(1_000_000), "small")["JAX:training"]
    assert small.value == pytest.approx(0.8) and small.verdict == "not measurable here"
    assert "1,000,000 parameters" in small.why and "beyond this hardware" in small.why
    large = _claims(tmp_path, runs(LARGE_SCALE_PARAMS), "large")["JAX:training"]
    assert large.value == pytest.approx(0.8) and large.verdict == "holds"


def test_tensorflow_latency_against_the_fastest_other(tmp_path: Path) -> None:
    infer = {"mode": "infer", "batch_size": 1, "evaluate": False}
    runs = [FakeRun(fw, "latency", [ms] * 50, spec=dict(infer)) for fw, ms in (("jax", 2.0), ("torch", 4.0), ("tf", 1.0))]
    claim = _claims(tmp_path, runs)["TensorFlow:others"]
    assert claim.value == 0.5 and claim.verdict == "holds" and "TF / jax" in claim.measured and "than before" in claim.why
