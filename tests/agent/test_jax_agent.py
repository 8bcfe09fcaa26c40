"""The JAX hooks (agent/stepscope_agent/jax_agent.py): real JAX on the CPU, tiny programs run the
way the controller runs them (tests/agent/harness.py), unmodified."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.agent.harness import ROOT, AgentRun, run_under_agent
from traces.analysis import step_windows
from traces.readers import read_trace

PROGRAMS = Path(__file__).parent / "programs"


def program(name: str, *args: str) -> list[str]:
    return [sys.executable, str(PROGRAMS / name), *args]


def bare(argv: list[str]) -> str:
    """The program's stdout without Stepscope."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPSCOPE_")}
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    return done.stdout


def printed(stdout: str, label: str) -> dict[int, float]:
    """`step I LOSS` lines -> {I: LOSS}."""
    out = {}
    for line in stdout.splitlines():
        words = line.split()
        if words and words[0] == label:
            out[int(words[1])] = float(words[2])
    return out


def check_ok(run: AgentRun) -> None:
    assert run.returncode == 0, run.stderr
    assert not run.of("notice"), run.of("notice")


@pytest.mark.parametrize("donate", [False, True])
def test_optax_loop_is_one_step_per_train_step_call_with_the_printed_loss(donate: bool) -> None:
    argv = program("jax_train.py", "6", *(["--donate"] if donate else []))
    run = run_under_agent(argv)
    check_ok(run)
    assert run.stdout == bare(argv)  # the program's output unchanged
    steps = run.steps
    assert [s["index"] for s in steps] == list(range(6))  # the jitted init and eval, called once, are not steps
    assert [s["phase"] for s in steps] == ["warmup"] + ["measure"] * 5
    losses = printed(run.stdout, "step")
    assert [s["loss"] for s in steps] == [losses[i] for i in range(6)]
    assert all(s["samples_per_s"] is None for s in steps)
    sources = run.of("step_source")
    assert [e["source"] for e in sources] == ["jax.jit"] and sources[0]["detail"].endswith(": train_step")
    hello = run.of("hello")
    assert len(hello) == 1 and hello[0]["framework"] == "jax" and hello[0]["device_kind"] == "cpu"
    assert hello[0]["param_count"] == int(run.stdout.split()[1])  # "params N": the first argument's size
    assert run.events.index(hello[0]) < run.events.index(steps[0])
    program_event = run.of("program")
    assert len(program_event) == 1 and program_event[0]["framework_version"]
    compiles = [e["what"] for e in run.of("compile")]
    assert "jax.jit train_step" in compiles and "jax.jit loss_fn" in compiles


def test_host_work_between_steps_is_in_the_steps() -> None:
    run = run_under_agent(program("jax_train.py", "5", "--sleep", "0.02"))
    check_ok(run)
    steps = run.steps
    assert [s["index"] for s in steps] == list(range(5))
    # step 0 runs to the second call (so it holds the sleep before it); step 1 is that call alone
    assert steps[0]["step_ms"] >= 20.0
    assert all(s["step_ms"] >= 20.0 for s in steps[2:]), [s["step_ms"] for s in steps]


def test_asynchronous_dispatch_shows_as_device_honest_step_times() -> None:
    run = run_under_agent(program("jax_async.py", "10"))
    check_ok(run)
    figures = {line.split()[0]: float(line.split()[1]) for line in run.stdout.splitlines()}
    steps = run.steps
    assert [s["index"] for s in steps] == list(range(11))
    wall_ms = (figures["last_ready"] - figures["first_ready"]) * 1000.0
    assert figures["dispatch_s"] * 1000.0 < 0.25 * wall_ms  # the program really ran ahead of the device
    later = [s["step_ms"] for s in steps[1:]]
    assert sum(later) == pytest.approx(wall_ms, rel=0.2)
    assert max(later) < 0.5 * sum(later)  # spread over the steps, not one lump at the end
    assert steps[-1]["t"] == pytest.approx(figures["last_ready"], abs=0.2 * wall_ms / 1000.0)
    assert all(s["loss"] is not None for s in steps)


def test_capture_window_is_an_xplane_of_exactly_the_window_steps(tmp_path: Path) -> None:
    run = run_under_agent(program("jax_train.py", "8"), plan={"steps": [3, 6], "out_dir": str(tmp_path)})
    check_ok(run)
    assert [s["phase"] for s in run.steps] == ["warmup"] + ["measure"] * 2 + ["trace"] * 3 + ["measure"] * 2
    assert [e["edge"] for e in run.of("phase")] == ["start", "end"]
    artifacts = run.of("artifact")
    assert [a["kind"] for a in artifacts] == ["xplane"]
    path = Path(artifacts[0]["path"])
    assert path.is_file() and path.stat().st_size == artifacts[0]["bytes"] and tmp_path in path.parents
    numbers, _, _ = step_windows(read_trace(path))
    assert numbers.tolist() == [3, 4, 5]


def test_the_programs_own_step_trace_annotations_are_the_step_source(tmp_path: Path) -> None:
    run = run_under_agent(program("jax_annotated.py", "5"), plan={"steps": [1, 3], "out_dir": str(tmp_path)})
    check_ok(run)
    assert [e["source"] for e in run.of("step_source")] == ["jax.StepTraceAnnotation"]
    steps = run.steps
    assert [s["index"] for s in steps] == list(range(5))
    losses = printed(run.stdout, "step")
    assert steps[0]["loss"] is None  # no hot jitted function known inside the first block yet
    assert [s["loss"] for s in steps[1:]] == [losses[i] for i in range(1, 5)]
    numbers, _, _ = step_windows(read_trace(run.of("artifact")[0]["path"]))
    assert numbers.tolist() == [1, 2]  # the program's own markers, none of ours beside them


def test_step_numbers_that_do_not_start_at_zero_get_a_notice() -> None:
    run = run_under_agent(program("jax_annotated.py", "3", "1"))
    assert run.returncode == 0, run.stderr
    assert [s["index"] for s in run.steps] == [0, 1, 2]
    assert any("step_num (1)" in e["message"] for e in run.of("notice"))


def test_jit_wrapper_keeps_the_jax_api_and_methods_are_steps() -> None:
    argv = program("jax_api.py")
    run = run_under_agent(argv)
    check_ok(run)
    assert run.stdout == bare(argv)
    # .lower/.trace/grad/vmap/jit-of-jit/outer-jit calls are not steps; the method called 5 times is
    assert [s["index"] for s in run.steps] == list(range(5))
    assert run.of("step_source")[0]["detail"].endswith(": apply")


def test_a_function_jitted_anew_each_step_is_still_the_step_function() -> None:
    """`from jax import jit` after `import jax` gets ours; `jit(f)(...)` each step counts as calls of f."""
    run = run_under_agent(program("jax_api.py", "rejit"))
    check_ok(run)
    assert run.of("step_source")[0]["detail"].endswith(": train_step")
    losses = [float(line.split()[1]) for line in run.stdout.splitlines()]
    assert [s["loss"] for s in run.steps] == losses


@pytest.mark.parametrize("mode", ["around", "inside"])
def test_the_programs_own_profiler_wins(mode: str, tmp_path: Path) -> None:
    own = tmp_path / "own"
    plan: dict[str, Any] = {"steps": [2, 4] if mode == "around" else [2, 6], "out_dir": str(tmp_path / "ours")}
    run = run_under_agent(program("jax_own_profiler.py", mode, str(own)), plan=plan)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "own xplanes 1\n"
    notices = [e["message"] for e in run.of("notice")]
    if mode == "around":
        assert len(notices) == 1 and "skipped" in notices[0]
        assert not run.of("artifact")
    else:  # ours ran from step 2 and gave way when the program started its own before step 3
        assert len(notices) == 1 and "started its own jax.profiler trace at step 3" in notices[0]
        artifact = run.of("artifact")
        assert len(artifact) == 1 and Path(artifact[0]["path"]).is_file()
        numbers, _, _ = step_windows(read_trace(artifact[0]["path"]))
        assert numbers.tolist()[0] == 2
    assert [s["index"] for s in run.steps] == list(range(6 if mode == "around" else 8))


