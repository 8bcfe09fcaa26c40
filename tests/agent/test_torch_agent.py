"""The PyTorch hooks (agent/stepscope_agent/torch_agent.py) in real programs, run the way the
controller runs them (tests/agent/harness.py): real torch on the CPU, tiny models."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agent.stepscope_agent import torch_agent, torch_capture
from tests.agent.harness import ROOT, AgentRun, run_under_agent

pytest.importorskip("torch")

PROGRAMS = Path(__file__).parent / "programs"
TRAIN = str(PROGRAMS / "torch_train.py")
OWN_PROFILER = str(PROGRAMS / "torch_own_profiler.py")


def printed_losses(stdout: str) -> list[float]:
    return [float(line.split()[2]) for line in stdout.splitlines() if line.startswith("loss ")]


def printed_params(stdout: str) -> int:
    return next(int(line.split()[1]) for line in stdout.splitlines() if line.startswith("params "))


def without_agent(argv: list[str]) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPSCOPE_")}
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=True, timeout=120).stdout


def assert_numbered(run: AgentRun, n: int) -> None:
    assert run.returncode == 0, run.stderr
    assert [s["index"] for s in run.steps] == list(range(n))


@pytest.fixture(scope="module")
def plain() -> AgentRun:
    return run_under_agent([sys.executable, TRAIN, "6"])


def test_optimizer_steps_are_the_steps_with_the_loss_backward_saw(plain: AgentRun) -> None:
    assert_numbered(plain, 6)
    assert [s["phase"] for s in plain.steps] == ["warmup"] + ["measure"] * 5
    assert [s["loss"] for s in plain.steps] == printed_losses(plain.stdout)
    assert all(s["samples_per_s"] is None for s in plain.steps)  # a list of tensors, no DataLoader: not known
    [source] = plain.of("step_source")
    assert source["source"] == "torch.optim" and source["detail"].endswith(": Adam")
    [program] = plain.of("program")
    assert program["framework"] == "torch" and program["framework_version"].startswith("2.")
    [hello] = plain.of("hello")
    assert hello["param_count"] == printed_params(plain.stdout) == 676
    assert hello["framework"] == "torch" and hello["device_kind"] == "cpu" and hello["device_name"]
    assert not plain.of("notice") and not plain.of("artifact")


def test_the_programs_output_is_its_own(plain: AgentRun) -> None:
    assert plain.stdout == without_agent([sys.executable, TRAIN, "6"])
    assert "Warning" not in plain.stderr


def test_capture_window_traces_exactly_the_window_steps(tmp_path: Path) -> None:
    from traces.analysis import step_windows
    from traces.readers import read_trace

    run = run_under_agent([sys.executable, TRAIN, "8"], plan={"steps": [3, 6], "out_dir": str(tmp_path)})
    assert_numbered(run, 8)
    assert [s["phase"] for s in run.steps] == ["warmup", "measure", "measure", "trace", "trace", "trace", "measure", "measure"]
    assert [e["edge"] for e in run.of("phase")] == ["start", "end"]
    [artifact] = run.of("artifact")
    assert artifact["kind"] == "chrome-trace" and artifact["bytes"] > 0
    assert Path(artifact["path"]) == tmp_path / "torch-steps-3-5.trace.json.gz"
    steps, _, _ = step_windows(read_trace(artifact["path"]))
    assert steps.tolist() == [3, 4, 5]
    assert [s["loss"] for s in run.steps] == printed_losses(run.stdout)


def test_a_window_from_step_zero_starts_at_import(tmp_path: Path) -> None:
    from traces.analysis import step_windows
    from traces.readers import read_trace

    run = run_under_agent([sys.executable, TRAIN, "4"], plan={"steps": [0, 2], "out_dir": str(tmp_path)})
    assert_numbered(run, 4)
    assert [s["phase"] for s in run.steps] == ["trace", "trace", "measure", "measure"]
    [artifact] = run.of("artifact")
    assert step_windows(read_trace(artifact["path"]))[0].tolist() == [0, 1]


def test_a_time_window_records_the_programs_thread(tmp_path: Path) -> None:
    """The timer thread asks; torch.profiler starts and stops on the program's thread (it records only there)."""
    from traces.analysis import step_windows
    from traces.readers import read_trace

    # the window at 12 s, the loop on till 13 s after the program's start: on a saturated machine
    # (pytest -n 3 on 2 cores) importing torch and its first optimizer step took until 7.5 s, and a
    # window at 6 s found no PyTorch work on the program's thread (a notice, rightly, and no trace)
    run = run_under_agent([sys.executable, TRAIN, "100000", "--until-since-start", "13"],
                          plan={"trace_at": 12.0, "trace_for": 0.3, "out_dir": str(tmp_path)})
    assert run.returncode == 0, run.stderr
    assert [e["edge"] for e in run.of("phase")] == ["start", "end"]
    [artifact] = run.of("artifact")
    assert Path(artifact["path"]) == tmp_path / f"torch-time-{run.of('program')[0]['pid']}.trace.json.gz"
    table = read_trace(artifact["path"])
    assert len(table) > 100 and not len(step_windows(table)[0])  # the program's ops, no step markers
    traced = [s["index"] for s in run.steps if s["phase"] == "trace"]  # those that ended while it was on: one run
    assert traced == list(range(traced[0], traced[0] + len(traced))) if traced else True
    assert any(s["phase"] == "measure" for s in run.steps)


def test_the_programs_own_profiler_steps_are_the_steps_and_the_window_is_skipped(tmp_path: Path) -> None:
    run = run_under_agent([sys.executable, OWN_PROFILER, "6", str(tmp_path)],
                          plan={"steps": [2, 4], "out_dir": str(tmp_path)})
    assert_numbered(run, 6)  # no step counted twice: prof.step()'s first call, after step 0's optimizer step, is a boundary
    optim, profiler = run.of("step_source")
    assert optim["source"] == "torch.optim"
    assert profiler["source"] == "torch.profiler" and profiler["detail"].endswith("(took over from torch.optim at step 1)")
    assert [s["loss"] for s in run.steps] == printed_losses(run.stdout)
    assert [e["message"] for e in run.of("notice")] == [torch_capture.REFUSAL]
    assert not run.of("artifact") and not run.of("phase")
    assert run.stdout.endswith("own trace True\n")  # the program's own profiler did its job
    assert sorted(p.name for p in tmp_path.iterdir()) == ["own.json"]


def test_a_profiler_the_program_starts_inside_the_window_stops_ours_first(tmp_path: Path) -> None:
    from traces.analysis import step_windows
    from traces.readers import read_trace

    run = run_under_agent([sys.executable, OWN_PROFILER, "6", str(tmp_path), "--late"],
                          plan={"steps": [0, 5], "out_dir": str(tmp_path)})
    assert_numbered(run, 6)
    assert [e["source"] for e in run.of("step_source")] == ["torch.optim"]
    [notice] = run.of("notice")
    assert notice["message"].startswith("the program started its own torch.profiler during step 2")
    [artifact] = run.of("artifact")
    assert step_windows(read_trace(artifact["path"]))[0].tolist()[:2] == [0, 1]
    assert (tmp_path / "own.json").exists()


def test_dataloader_workers_stay_silent_and_give_the_batch_size() -> None:
    run = run_under_agent([sys.executable, TRAIN, "6", "--loader"])
    assert_numbered(run, 6)  # forked workers wrote nothing (every line parsed, no duplicate index)
    assert len(run.of("hello")) == 1 and len(run.of("program")) == 1
    assert all(s["samples_per_s"] is not None and s["samples_per_s"] > 0 for s in run.steps)
    assert [s["loss"] for s in run.steps] == printed_losses(run.stdout)


def test_without_an_optimizer_there_are_no_steps_and_the_patches_look_untouched() -> None:
    program = str(PROGRAMS / "torch_no_optimizer.py")
    run = run_under_agent([sys.executable, program])
    assert run.returncode == 0, run.stderr
    assert not run.steps and not run.of("hello") and not run.of("step_source")
    assert len(run.of("program")) == 1 and not run.of("notice")
    assert run.stdout == without_agent([sys.executable, program])  # names, signatures, docstrings, results


def test_with_two_optimizers_only_the_first_counts_steps() -> None:
    run = run_under_agent([sys.executable, str(PROGRAMS / "torch_gan.py"), "4"])
    assert_numbered(run, 4)
    assert run.of("step_source")[0]["detail"].endswith(": Adam")
    assert [s["loss"] for s in run.steps] == printed_losses(run.stdout)  # the discriminator's loss
    assert run.of("hello")[0]["param_count"] == 9  # the discriminator's Linear(8, 1)


# -- the asynchronous-device path, without a GPU: a stand-in torch -------------------------------
class FakeEvent:
    log: list[str] = []

    def record(self, stream: Any = None) -> None:
        self.log.append(f"record {stream}")

    def synchronize(self) -> None:
        self.log.append("synchronize")


class FakeAgent:
    def __init__(self) -> None:
        self.ended: list[dict[str, Any]] = []
        self.clock = SimpleNamespace(source=None)
        self.plan: dict[str, Any] = {}

    def end(self, source: str, loss: Any = None, batch_size: Any = None, ready: Any = None, what: Any = None) -> None:
        self.ended.append({"source": source, "loss": loss, "ready": ready, "what": what})

    def guarded(self, what: str, function: Any, *args: Any) -> Any:
        try:
            return function(*args)
        except Exception:
            return None


class FakeTensor:
    def __init__(self, value: float, device: str) -> None:
        self.value, self.device = value, SimpleNamespace(type=device, index=0)

    def __float__(self) -> float:
        FakeEvent.log.append("read loss")
        return self.value

    def item(self) -> float:
        return float(self)

    def numel(self) -> int:
        return 1

    def detach(self) -> FakeTensor:
        return self


def fake_torch() -> Any:
    cuda = SimpleNamespace(Event=FakeEvent, is_initialized=lambda: True, is_current_stream_capturing=lambda: False,
                           current_device=lambda: 0, current_stream=lambda index: f"stream{index}",
                           get_device_name=lambda index: f"Fake GPU {index}")
    return SimpleNamespace(cuda=cuda)


def test_on_cuda_the_step_hands_a_ready_that_waits_for_an_event_recorded_at_the_step() -> None:
    FakeEvent.log.clear()
    agent = FakeAgent()
    hooks = torch_agent.TorchHooks(agent, fake_torch())  # type: ignore[arg-type]
    param = SimpleNamespace(device=SimpleNamespace(type="cuda", index=0), numel=lambda: 10)
    optimizer = SimpleNamespace(param_groups=[{"params": [param]}])
    hooks.backward_called(FakeTensor(2.5, "cuda"))
    assert hooks.optimizer_stepped(optimizer) is True
    [ended] = agent.ended
    assert ended["loss"] is None and ended["source"] == "torch.optim" and callable(ended["ready"])
    assert FakeEvent.log == ["record stream0"]  # recorded on the program's thread, nothing waited for yet
    assert ended["ready"]() == 2.5
    assert FakeEvent.log == ["record stream0", "synchronize", "read loss"]
    assert hooks.describe() == {"device_kind": "gpu", "device_name": "Fake GPU 0", "param_count": 10}


def test_on_the_cpu_the_loss_is_read_at_once_and_no_ready_is_handed() -> None:
    agent = FakeAgent()
    torch = fake_torch()
    torch.cuda.is_initialized = lambda: False
    hooks = torch_agent.TorchHooks(agent, torch)  # type: ignore[arg-type]
    param = SimpleNamespace(device=SimpleNamespace(type="cpu", index=None), numel=lambda: 3)
    first, second = (SimpleNamespace(param_groups=[{"params": [param]}]) for _ in range(2))
    hooks.backward_called(FakeTensor(1.5, "cpu"))
    hooks.optimizer_stepped(first)
    hooks.optimizer_stepped(second)  # another optimizer: ignored
    hooks.optimizer_stepped(first)  # no backward since the last step: no loss
    assert [(e["loss"], e["ready"]) for e in agent.ended] == [(1.5, None), (None, None)]


def test_a_hook_that_fails_stands_down() -> None:
    agent = FakeAgent()
    hooks = torch_agent.TorchHooks(agent, fake_torch())  # type: ignore[arg-type]
    calls: list[int] = []

    def broken() -> bool:
        calls.append(1)
        raise RuntimeError("boom")
    hooks.run("broken", broken)
    hooks.run("broken", broken)
    assert calls == [1] and hooks.down == {"broken"}
