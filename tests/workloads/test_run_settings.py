"""The scorecard's run settings on RunSpec (docs/scorecard.md): defaults that change nothing, and a
one-line SpecError for every value or combination that cannot run."""
from __future__ import annotations

import pytest

from workloads.spec import RunSpec, SpecError


def test_the_defaults_leave_a_spec_as_it_was() -> None:
    spec = RunSpec(framework="torch").resolved()
    assert (spec.model_scale, spec.data_size, spec.epochs, spec.target_accuracy, spec.eval_every) == (1.0, None, None, None, 0)
    old = {k: v for k, v in spec.to_dict().items()
           if k not in ("model_scale", "data_size", "epochs", "target_accuracy", "eval_every")}
    assert RunSpec.from_dict(old).resolved() == spec  # a spec stored before these settings reads the same


def test_valid_settings_resolve() -> None:
    spec = RunSpec(framework="jax", model_scale=2, data_size=4096, epochs=2).resolved()
    assert spec.model_scale == 2.0 and isinstance(spec.model_scale, float)
    assert RunSpec(framework="tf", target_accuracy=0.9, eval_every=10).resolved().eval_every == 10


@pytest.mark.parametrize(("fields", "message"), [
    ({"model_scale": 0}, "model_scale must be a number above 0"),
    ({"model_scale": float("nan")}, "model_scale must be a number above 0"),
    ({"model_scale": 100.0}, "at most 64"),
    ({"data_size": 0}, "data_size must be a whole number of at least 1"),
    ({"data_size": 2.5}, "data_size must be a whole number"),
    ({"epochs": 0}, "epochs must be a whole number of at least 1"),
    ({"epochs": True}, "epochs must be a whole number"),
    ({"target_accuracy": 0.0}, "target_accuracy is a fraction above 0 and at most 1"),
    ({"target_accuracy": 90}, "target_accuracy is a fraction"),
    ({"target_accuracy": 0.9, "eval_every": -1}, "eval_every must be a whole number of steps, 0 or more"),
    ({"eval_every": 10}, "eval_every is for time-to-accuracy: give target_accuracy too"),
    ({"data": "synthetic", "epochs": 1}, "epochs need real data"),
    ({"mode": "infer", "epochs": 1}, "are for training"),
    ({"epochs": 1, "target_accuracy": 0.9}, "give one of them"),
    ({"target_accuracy": 0.9, "evaluate": False}, "drop --no-eval"),
    ({"epochs": 1, "data_size": 32, "batch_size": 64}, "holds no whole batch of 64"),
])
def test_what_cannot_run_is_one_line(fields: dict[str, object], message: str) -> None:
    with pytest.raises(SpecError, match=message) as caught:
        RunSpec(framework="torch", **fields).resolved()  # type: ignore[arg-type]
    assert "\n" not in str(caught.value)
