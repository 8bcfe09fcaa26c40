"""`run`'s options for the scorecard's run settings reach the RunSpec, and what cannot run is one line."""
from __future__ import annotations

from typing import Any

import pytest

import cli.run
from main import main
from workloads.spec import RunSpec


def test_the_options_reach_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[RunSpec] = []

    def record(spec: RunSpec, *args: Any, **kwargs: Any) -> int:
        seen.append(spec)
        return 0

    monkeypatch.setattr(cli.run, "run_command", record)
    assert main(["run", "--framework", "torch", "--model-scale", "0.5", "--data-size", "512", "--epochs", "2"]) == 0
    assert main(["run", "--framework", "jax", "--target-accuracy", "0.9", "--eval-every", "10"]) == 0
    assert main(["run", "--framework", "tf"]) == 0
    first, second, plain = seen
    assert (first.model_scale, first.data_size, first.epochs) == (0.5, 512, 2)
    assert (second.target_accuracy, second.eval_every) == (0.9, 10)
    assert (plain.model_scale, plain.data_size, plain.epochs, plain.target_accuracy, plain.eval_every) == (
        1.0, None, None, None, 0)


@pytest.mark.parametrize(("argv", "message"), [
    (["--eval-every", "5"], "stepscope run: eval_every is for time-to-accuracy: give target_accuracy too"),
    (["--target-accuracy", "90"], "stepscope run: target_accuracy is a fraction above 0 and at most 1 (0.9 for 90 %), not 90.0"),
    (["--epochs", "1", "--data", "synthetic"],
     "stepscope run: epochs need real data (digits or a local MNIST), not synthetic noise"),
])
def test_what_cannot_run_is_refused_in_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--framework", "torch", *argv]) == 2
    assert capsys.readouterr().err.strip() == message


def test_a_program_takes_none_of_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--epochs", "2", "--", "python", "-c", "pass"]) == 2
    assert capsys.readouterr().err.strip() == "stepscope run: --epochs is for the built-in workloads; your program sets its own"


def test_sweep_takes_model_scales_and_data_sizes_as_axes_and_refuses_them_with_a_preset(
        capsys: pytest.CaptureFixture[str]) -> None:
    from cli.parser import build_parser
    from cli.sweep import plan_from_args

    args = build_parser().parse_args(["sweep", "--frameworks", "torch", "--workloads", "mlp", "--model-scales", "0.5,2",
                                      "--data-sizes", "256,512", "--epochs", "1"])
    specs = [point.spec for point in plan_from_args(args).points()]
    assert sorted((s.model_scale, s.data_size) for s in specs) == [(0.5, 256), (0.5, 512), (2.0, 256), (2.0, 512)]
    assert {s.epochs for s in specs} == {1}
    one = plan_from_args(build_parser().parse_args(["sweep", "--frameworks", "jax", "--model-scales", "2"]))
    assert [p.spec.model_scale for p in one.points()] == [2.0]  # one value: a fixed setting
    assert main(["sweep", "--frameworks", "torch", "--model-scales", "big"]) == 2
    assert capsys.readouterr().err.strip() == (
        "stepscope sweep: --model-scales takes numbers (width multipliers, e.g. 0.5,1,2), not 'big'")
    assert main(["sweep", "--preset", "scorecard-smoke", "--data-sizes", "256,512"]) == 2
    assert "--data-sizes" in capsys.readouterr().err
