"""The agent's core (docs/programs.md): the channel, the step clock, the capture window and the
one-line marker, with no framework involved, in real subprocesses as the controller runs them."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from agent.stepscope_agent.capture import CaptureBackend, CaptureWindow
from agent.stepscope_agent.clock import StepClock
from tests.agent.harness import AGENT_DIR, run_under_agent

PROGRAM = str(Path(__file__).parent / "programs" / "marked_loop.py")


@pytest.mark.parametrize("form", ["call", "with"])
def test_marked_steps_are_numbered_from_zero_with_loss_and_throughput(form: str) -> None:
    run = run_under_agent([sys.executable, PROGRAM, form, "6"])
    assert run.returncode == 0, run.stderr
    assert run.stdout == "ran 6 steps\n"
    steps = run.steps
    assert [s["index"] for s in steps] == list(range(6))
    assert [s["phase"] for s in steps] == ["warmup"] + ["measure"] * 5
    assert all(s["step_ms"] >= 4.5 for s in steps[1:])
    assert all(s["samples_per_s"] == pytest.approx(8000.0 / s["step_ms"], rel=1e-3) for s in steps[1:])
    if form == "call":
        assert [s["loss"] for s in steps] == [float(i) for i in range(6)]
    assert [e["source"] for e in run.of("step_source")] == ["stepscope.step"]
    assert len(run.of("hello")) == 1 and run.events.index(run.of("hello")[0]) < run.events.index(steps[0])


@pytest.mark.parametrize("form", ["fork", "system"])
def test_only_the_program_itself_writes_events(form: str) -> None:
    run = run_under_agent([sys.executable, PROGRAM, form, "3"])
    assert run.returncode == 0, run.stderr
    assert [s["loss"] for s in run.steps] == [0.0, 1.0, 2.0]


def test_exit_code_and_output_are_the_programs() -> None:
    run = run_under_agent([sys.executable, PROGRAM, "call", "2"], extra_env={"EXIT_CODE": "3"})
    assert run.returncode == 3 and run.stdout == "ran 2 steps\n" and len(run.steps) == 2


def test_without_a_channel_the_marker_runs_alone_and_nothing_is_installed() -> None:
    env = dict(os.environ, PYTHONPATH=str(AGENT_DIR))
    env.pop("STEPSCOPE_CHANNEL", None)
    code = ("import sys, stepscope\nfor i in range(3): stepscope.step(loss=1.0)\n"
            "print('stepscope_agent' in sys.modules, any(type(f).__name__ == 'ImportWatcher' for f in sys.meta_path))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout == "False False\n" and out.stderr == ""


def test_a_stale_channel_is_left_alone(tmp_path: Path) -> None:
    """A descriptor number that now names something else (here: nothing) gets no events."""
    env = dict(os.environ, PYTHONPATH=str(AGENT_DIR), STEPSCOPE_CHANNEL="987:12345", STEPSCOPE_CLOCK_ORIGIN="0.0")
    out = subprocess.run([sys.executable, PROGRAM, "call", "2"], env=env, capture_output=True, text=True, check=True)
    assert out.stdout == "ran 2 steps\n" and out.stderr == ""


def test_the_environments_own_sitecustomize_still_runs(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text("import builtins\nbuiltins.SHADOWED_RAN = True\n")
    code = "import builtins; print(getattr(builtins, 'SHADOWED_RAN', False))"
    run = run_under_agent([sys.executable, "-c", code], extra_env={"PYTHONPATH": str(tmp_path)})
    assert run.stdout == "True\n", run.stderr


# ---------------------------------------------------------------------------------------------
# The clock and the window in-process, with a recording emit and a fake profiler


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, kind: str, /, t: float | None = None, **fields: Any) -> None:
        self.events.append({"type": kind, **fields})

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


class FakeProfiler(CaptureBackend):
    framework = "fake"

    def __init__(self, out: Path) -> None:
        self.out = out
        self.calls: list[tuple[str, int | None]] = []

    def start(self, out_dir: str, first_step: int | None) -> None:
        self.calls.append(("start", first_step))

    def boundary(self, next_step: int) -> None:
        self.calls.append(("boundary", next_step))

    def stop(self) -> list[tuple[str, str]]:
        self.calls.append(("stop", None))
        self.out.write_text("trace")
        return [("chrome-trace", str(self.out))]


def make_clock(emit: Recorder, plan: dict[str, Any], backend: CaptureBackend | None = None) -> StepClock:
    window = CaptureWindow(emit, plan)
    return StepClock(emit, lambda value: value, window, lambda source: None, lambda source: backend, lambda source: None)


def test_a_higher_source_takes_over_and_numbering_goes_on() -> None:
    emit = Recorder()
    clock = make_clock(emit, {})
    for _ in range(2):
        clock.end("jax.jit", what="train_step")
    clock.end("torch.optim")  # higher: takes over; its first end is only a boundary (the jit call ended that step)
    clock.end("jax.jit")  # lower now: ignored
    clock.end("torch.optim")
    clock.end("stepscope.step")  # takes over: a boundary
    clock.end("stepscope.step")
    assert [s["index"] for s in emit.of("step")] == [0, 1, 2, 3]
    sources = emit.of("step_source")
    assert [s["source"] for s in sources] == ["jax.jit", "torch.optim", "stepscope.step"]
    assert "train_step" in sources[0]["detail"] and "took over from jax.jit at step 2" in sources[1]["detail"]


def test_the_window_holds_exactly_the_asked_steps(tmp_path: Path) -> None:
    emit = Recorder()
    profiler = FakeProfiler(tmp_path / "t.json")
    clock = make_clock(emit, {"steps": [2, 4], "out_dir": str(tmp_path)}, profiler)
    for _ in range(6):
        clock.end("torch.optim")
    assert profiler.calls == [("start", 2), ("boundary", 3), ("stop", None)]
    assert [s["phase"] for s in emit.of("step")] == ["warmup", "measure", "trace", "trace", "measure", "measure"]
    assert [(e["name"], e["edge"]) for e in emit.of("phase")] == [("trace", "start"), ("trace", "end")]
    assert emit.of("artifact") == [{"type": "artifact", "kind": "chrome-trace", "path": str(tmp_path / "t.json"), "bytes": 5,
                                    "window": 0}]
    assert emit.of("capture") == [{"type": "capture", "window": 0, "label": "planned window: steps 2–3", "first_step": 2,
                                   "last_step": 3, "seconds": None}]


def test_asynchronous_steps_are_timed_at_completion_and_keep_their_order() -> None:
    """Dispatch returns at once but the device takes 20 ms a step: the steps must say 20 ms."""
    emit = Recorder()
    clock = make_clock(emit, {})
    device_free = [time.perf_counter()]

    def dispatch() -> Any:
        done_at = max(device_free[0], time.perf_counter()) + 0.02
        device_free[0] = done_at

        def ready() -> float:
            time.sleep(max(done_at - time.perf_counter(), 0.0))
            return 0.5
        return ready

    for _ in range(8):
        clock.end("jax.jit", ready=dispatch())
    clock.drain(5.0)
    steps = emit.of("step")
    assert [s["index"] for s in steps] == list(range(8))
    assert all(s["loss"] == 0.5 for s in steps)
    # each step is stamped when its work completes: together they cover the device's 7 x 20 ms (a
    # loaded machine stamps single steps late, never the sum), and no step holds the others' time
    times = [s["step_ms"] for s in steps[1:]]
    assert 0.85 * 140 <= sum(times) <= 1.5 * 140 and max(times) < 0.5 * sum(times)


def test_the_profilers_stop_is_not_counted_in_the_next_step(tmp_path: Path) -> None:
    class SlowExport(FakeProfiler):
        def stop(self) -> list[tuple[str, str]]:
            time.sleep(0.3)  # torch.profiler's export of a big trace
            return super().stop()

    emit = Recorder()
    clock = make_clock(emit, {"steps": [1, 2], "out_dir": str(tmp_path)}, SlowExport(tmp_path / "t.json"))
    for _ in range(4):
        time.sleep(0.01)
        clock.end("torch.optim")
    assert all(s["step_ms"] < 100 for s in emit.of("step")[1:])


def test_device_memory_is_sampled_only_where_the_framework_reports_it() -> None:
    from agent.stepscope_agent.device_memory import start_device_sampler

    emit = Recorder()
    assert start_device_sampler(lambda: None, emit) is None  # a CPU: no figures, no thread
    readings = iter([(100, 150, "torch.cuda"), (120, 150, "torch.cuda"), None])
    thread = start_device_sampler(lambda: next(readings), emit)
    assert thread is not None
    thread.join(timeout=5)
    assert [(e["device_in_use"], e["device_peak"]) for e in emit.of("device")] == [(100, 150), (120, 150)]


def test_jax_device_memory_comes_from_memory_stats_and_a_cpu_gives_none() -> None:
    from types import SimpleNamespace

    from agent.stepscope_agent.jax_agent import JaxFramework

    def framework(stats: dict[str, int] | None) -> JaxFramework:
        device = SimpleNamespace(memory_stats=lambda: stats)
        return JaxFramework(SimpleNamespace(devices=lambda: [device]), None, None)  # type: ignore[arg-type]

    assert framework(None).device_memory() is None
    assert framework({"bytes_in_use": 5, "peak_bytes_in_use": 9}).device_memory() == (5, 9, "jax.memory_stats")


def test_torch_and_tf_device_memory_read_their_allocators_on_a_gpu_only() -> None:
    from types import SimpleNamespace

    from agent.stepscope_agent.tf_agent import TFFramework
    from agent.stepscope_agent.torch_agent import TorchFramework

    cuda = SimpleNamespace(is_initialized=lambda: True, current_device=lambda: 0,
                           memory_allocated=lambda index: 10 + index, max_memory_allocated=lambda index: 20 + index)
    hooks = SimpleNamespace(torch=SimpleNamespace(__version__="2", cuda=cuda), device_type="cuda", device_index=1)
    assert TorchFramework(hooks).device_memory() == (11, 21, "torch.cuda")  # type: ignore[arg-type]
    hooks.device_type = "cpu"
    assert TorchFramework(hooks).device_memory() is None  # type: ignore[arg-type]

    def tf(gpus: list[str]) -> TFFramework:
        config = SimpleNamespace(list_logical_devices=lambda kind: gpus,
                                 experimental=SimpleNamespace(get_memory_info=lambda name: {"current": 3, "peak": 7}))
        return TFFramework(SimpleNamespace(__version__="2", config=config), None)  # type: ignore[arg-type]

    assert tf(["GPU:0"]).device_memory() == (3, 7, "tf.get_memory_info") and tf([]).device_memory() is None


def test_steps_during_a_time_window_are_trace_steps(tmp_path: Path) -> None:
    emit = Recorder()
    window = CaptureWindow(emit, {"trace_at": 0.0, "trace_for": 5.0, "out_dir": str(tmp_path)})
    clock = StepClock(emit, lambda value: value, window, lambda source: None, lambda source: None, lambda source: None)
    clock.end("torch.optim")
    window._start(FakeProfiler(tmp_path / "t.json"), None)  # what the timer thread does at trace_at
    clock.end("torch.optim")
    window._stop("")
    clock.end("torch.optim")  # the step the profiler stopped (and exported) in
    clock.end("torch.optim")
    assert [s["phase"] for s in emit.of("step")] == ["warmup", "trace", "trace", "measure"]
