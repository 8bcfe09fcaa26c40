"""The program controller: a user's program under Stepscope ends as a run with a reason a person can
act on, its output reaches the caller unchanged, its telemetry covers its child processes, and
nothing it started outlives it. Uses a fake program that plays its own agent (fake_program.py)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from unittest import mock

import psutil
import pytest

from profilers import program_runner
from profilers.program_launch import AGENT_DIR, find_executable
from profilers.program_runner import NO_FRAMEWORK, NO_STEPS, ProgramController
from profilers.samplers import HostReader, ProcessTreeReader
from workloads.program import ProgramSpec, command_label
from workloads.spec import SpecError

FAKE = Path(__file__).with_name("fake_program.py")


def fake_spec(behaviour: str, *args: str, **fields: Any) -> ProgramSpec:
    fields.setdefault("cwd", str(Path.cwd()))
    return ProgramSpec(command=(sys.executable, "-S", str(FAKE), behaviour, *args), **fields)


def run_program(tmp_path: Path, behaviour: str, *args: str, timeout: float = 30.0, **options: Any) -> Any:
    controller = ProgramController(fake_spec(behaviour, *args), out_dir=tmp_path, progress_timeout=timeout, **options)
    return controller.run()


def steps_of(result: Any) -> list[int]:
    return [e["index"] for e in result.events if e["type"] == "step"]


def pids_in_output(result: Any, word: str) -> list[int]:
    return [int(line.split()[-1]) for line in result.log.splitlines() if line.startswith(word + " ")]


def gone(pids: list[int], within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        alive = [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return True
        time.sleep(0.05)
    return False


def test_a_program_with_steps_is_ok_and_summarised_from_its_events(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    # 300 steps of 5 ms: 1.5 s of samples due every 0.1 s. The controller samples from a SCHED_IDLE
    # thread, which a saturated machine (pytest -n 2 beside framework workers) can hold off for a
    # while: a 60-step program once ended before its first sample.
    result = run_program(tmp_path, "ok", "300", on_event=seen.append)
    assert result.status == "ok", result.reason
    assert steps_of(result) == list(range(300))
    assert isinstance(result.spec, ProgramSpec) and result.returncode == 0
    summary = result.summary
    assert summary["framework"] == "torch" and summary["framework_version"] == "fake-2.0"
    assert summary["steps"] == 299 and summary["step_ms_median"] == pytest.approx(5.0)
    assert summary["samples_per_s"] is None and summary["param_count"] is None
    assert summary["steps_from"] == "stepscope.step" and summary["workload"] == "fake_program.py"
    assert summary["notices"] == ["the fake agent has something to say"]
    assert any(e["type"] == "sample" for e in seen)  # the controller's telemetry, as for a worker
    assert "fake: step 299" in result.log and "fake: a warning on stderr" in result.log


def test_the_batch_comes_from_the_steps_when_nobody_said_it(tmp_path: Path) -> None:
    result = run_program(tmp_path, "batch", "4")
    assert result.summary["batch_size"] == 32
    assert result.summary["samples_per_s"] == pytest.approx(32 * 1000 / 5.0)


def test_the_agent_gets_its_environment(tmp_path: Path) -> None:
    spec = fake_spec("plan", steps_window=(10, 13), batch_size=16, with_stack=True, env={"FAKE_USER_VAR": "hi"},
                     cwd=str(tmp_path))
    result = ProgramController(spec, out_dir=tmp_path / "out").run()
    assert result.status == "ok", result.reason
    told = json.loads(result.log.splitlines()[0])
    assert told["plan"] == {"steps": [10, 13], "trace_at": None, "trace_for": None, "out_dir": str(tmp_path / "out"),
                            "batch_size": 16, "with_stack": True, "ranks": None}
    assert told["channel"] and told["user"] == "hi" and told["cwd"] == str(tmp_path)
    assert told["pythonpath"].split(os.pathsep)[0] == str(AGENT_DIR)


def test_a_program_without_framework_or_steps_gets_notices(tmp_path: Path) -> None:
    result = run_program(tmp_path, "no-framework")
    assert result.status == "ok"
    assert result.summary["notices"] == [NO_FRAMEWORK, NO_STEPS]
    assert result.summary["framework"] is None and result.summary["steps_from"] is None


def test_a_non_zero_exit_fails_with_the_last_lines_of_stderr(tmp_path: Path) -> None:
    result = run_program(tmp_path, "exit")
    assert result.status == "failed" and result.returncode == 3
    assert result.reason.startswith("the program exited with code 3: ")
    assert result.reason.endswith("RuntimeError: CUDA out of memory")
    assert steps_of(result) == list(range(5))


def test_an_exception_names_its_exception_line(tmp_path: Path) -> None:
    result = run_program(tmp_path, "raise")
    assert result.status == "failed" and "code 1" in result.reason
    assert "ValueError: the loss went to NaN" in result.reason and len(result.reason) < 420


def test_a_segfault_says_so_and_how_far_it_got(tmp_path: Path) -> None:
    result = run_program(tmp_path, "segfault")
    assert result.status == "failed" and result.returncode == -signal.SIGSEGV
    assert "the program crashed with a segmentation fault" in result.reason and "step 4" in result.reason


def test_a_silent_hang_is_stopped_after_the_timeout(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_program(tmp_path, "hang", "2", timeout=1.0)
    assert result.status == "failed" and "the program made no progress for 1 s" in result.reason
    assert steps_of(result) == [0, 1]
    assert time.monotonic() - started < 5


def test_a_bad_event_line_fails_the_run_and_stops_the_program(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_program(tmp_path, "malformed", "2")
    assert result.status == "failed" and "the program's event stream broke at line 6" in result.reason
    assert steps_of(result) == [0, 1] and time.monotonic() - started < 5


def test_output_is_progress_so_a_chatty_program_is_not_hung(tmp_path: Path) -> None:
    result = run_program(tmp_path, "chatty", "8", timeout=0.9)
    assert result.status == "ok", result.reason
    assert result.summary["notices"][-1] == NO_STEPS


def test_a_command_that_does_not_exist_is_not_spawned(tmp_path: Path) -> None:
    spec = ProgramSpec(command=("no-such-program-xyz", "--flag"), cwd=str(tmp_path))
    assert find_executable(spec) is None
    result = ProgramController(spec, out_dir=tmp_path).run()
    assert result.status == "failed" and result.reason == "command not found: no-such-program-xyz"
    assert result.returncode is None and result.events == []
    relative = ProgramSpec(command=("./train.sh",), cwd=str(tmp_path))
    assert find_executable(relative) is None
    (tmp_path / "train.sh").write_text("#!/bin/sh\necho hi\n")
    (tmp_path / "train.sh").chmod(0o755)
    found = find_executable(relative)
    assert found is not None and os.path.samefile(found, tmp_path / "train.sh")


def test_cancel_stops_a_program_that_ignores_sigint_and_leaves_nothing_behind(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(program_runner, "CANCEL_TERM_S", 0.5)  # the real 3 s + 3 s, shortened; the order is the same
    monkeypatch.setattr(program_runner, "CANCEL_KILL_S", 1.0)
    controller = ProgramController(fake_spec("ignore-sigint", "2"), out_dir=tmp_path)
    controller.start()
    while len([e for e in controller.events if e["type"] == "step"]) < 2:
        time.sleep(0.02)
    assert controller._proc is not None
    group = [p.pid for p in psutil.Process(controller._proc.pid).children(recursive=True)] + [controller._proc.pid]
    started = time.monotonic()
    threading.Timer(0.05, controller.cancel).start()
    result = controller.wait()
    assert result.status == "cancelled" and steps_of(result) == [0, 1]
    assert time.monotonic() - started < 4
    assert result.returncode == -signal.SIGKILL
    assert gone(group)


def test_cancel_sends_sigint_then_sigterm_then_sigkill() -> None:
    controller = ProgramController(fake_spec("ok"))
    assert controller._cancel_signal(1.0) is None
    assert controller._cancel_signal(3.5) == signal.SIGTERM
    assert controller._cancel_signal(4.0) is None  # once
    assert controller._cancel_signal(6.5) == signal.SIGKILL


def test_forked_children_count_in_the_samples_and_are_killed_at_the_end(tmp_path: Path) -> None:
    result = run_program(tmp_path, "fork-alloc", "12")
    assert result.status == "ok", result.reason
    samples = [e["host_rss"] for e in result.events if e["type"] == "sample"]
    assert samples and max(samples) > 200 << 20  # the child's 200 MB, summed with the parent's
    assert result.summary["peak_host_mb"] > 200
    assert gone(pids_in_output(result, "child"))


def test_the_tree_reader_sums_children_and_skips_one_that_vanished() -> None:
    code = "import subprocess, time; p = subprocess.Popen(['sleep', '30']); print(p.pid, flush=True); p.wait(); time.sleep(30)"
    with subprocess.Popen([sys.executable, "-S", "-c", code], stdout=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            child = int(proc.stdout.readline())
            alone, tree = HostReader(proc.pid), ProcessTreeReader(proc.pid)
            assert [c.pid for c in tree.children()] == [child]
            assert tree.rss() >= alone.rss() + psutil.Process(child).memory_info().rss - (1 << 20)
            os.kill(child, signal.SIGKILL)
            time.sleep(0.2)  # reaped by its parent: gone, though still in the reader's list for up to 1 s
            assert tree.rss() > 0 and tree.cpu_percent() >= 0.0  # the vanished child is skipped, not an error
            alone.close()
            tree.close()
        finally:
            proc.kill()


def test_megabytes_of_stdout_reach_the_sink_intact_and_the_log_keeps_the_last_4_mib(tmp_path: Path) -> None:
    received = bytearray()
    started = time.monotonic()
    result = run_program(tmp_path, "flood", "12", on_stdout=received.extend)
    assert result.status == "ok", result.reason
    block = b"".join(b"%07d flood line of the fake program\n" % i for i in range(30000))[: 1 << 20]
    assert bytes(received) == block * 12
    assert len(block) == 1 << 20 and result.log.encode() == (block * 12)[-(4 << 20):]
    assert time.monotonic() - started < 5


def test_stdin_is_the_callers_or_empty(tmp_path: Path) -> None:
    result = run_program(tmp_path, "stdin", stdin_devnull=True)
    assert result.status == "ok" and "read ''" in result.log


def test_grandchildren_neither_hold_the_event_pipe_nor_outlive_the_program(tmp_path: Path) -> None:
    result = run_program(tmp_path, "grandchildren", "2")
    assert result.status == "ok", result.reason
    assert steps_of(result) == [0, 1]
    pids = pids_in_output(result, "spawned") + pids_in_output(result, "shell")
    assert len(pids) == 2 and gone(pids)


def test_a_grandchild_holding_the_event_pipe_does_not_keep_the_run_going(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_program(tmp_path, "leak-channel", "2")
    assert result.status == "ok", result.reason
    assert steps_of(result) == [0, 1]
    assert time.monotonic() - started < 5
    assert gone(pids_in_output(result, "shell"))


def test_a_grandchild_that_left_the_process_group_does_not_keep_the_run_going(tmp_path: Path) -> None:
    """Outside the group it is not killed (it chose to leave), but the run ends without its pipes."""
    started = time.monotonic()
    result = run_program(tmp_path, "escape", "2")
    try:
        assert result.status == "ok", result.reason
        assert steps_of(result) == [0, 1]
        assert time.monotonic() - started < 5
    finally:
        for pid in pids_in_output(result, "escaped"):
            os.kill(pid, signal.SIGKILL)


def test_the_event_pipe_is_passed_to_the_program_only(tmp_path: Path) -> None:
    """The write end is the program's alone: the controller keeps no copy, so its end of file
    means the program (and whatever inherited it) is gone."""
    before = set(os.listdir("/proc/self/fd"))
    result = run_program(tmp_path, "ok", "2")
    assert result.status == "ok"
    time.sleep(0.1)
    assert set(os.listdir("/proc/self/fd")) <= before


def test_the_spec_checks_and_names() -> None:
    assert command_label(("python", "train.py", "--lr", "3")) == "train.py"
    assert command_label(("python3", "-u", "-m", "pkg.train")) == "pkg.train"
    assert command_label(("/usr/bin/python3.11", "scripts/run.py")) == "run.py"
    assert command_label(("./bench", "x")) == "bench"
    assert ProgramSpec(command=("python", "t.py"), cwd="/", name="mine").label == "mine"
    for bad in ({"command": ()}, {"steps_window": (3, 3)}, {"steps_window": (-1, 2)}, {"trace_at": 1.0},
                {"trace_at": -1.0, "trace_for": 2.0}, {"trace_at": 0.0, "trace_for": 1.0, "steps_window": (1, 2)},
                {"batch_size": 0}):
        fields: dict[str, Any] = {"command": ("python", "t.py"), "cwd": "/", **bad}
        with pytest.raises(SpecError):
            ProgramSpec(**fields).resolved()
    spec = ProgramSpec(command=("python", "t.py"), cwd="/w", env={"A": "1"}, steps_window=(2, 5), batch_size=8)
    stored = spec.to_dict()
    assert stored["kind"] == "program" and stored["framework"] is None and stored["workload"] == "t.py"
    assert stored["mode"] == "train" and stored["variant"] is None
    assert ProgramSpec.from_dict(json.loads(json.dumps(stored))) == spec


def test_output_is_unbuffered_only_where_someone_watches_it_live() -> None:
    """The app's log (no terminal to pass through) and a terminal get PYTHONUNBUFFERED; a pipe (a
    script, a benchmark) leaves the program's own block buffering, as it would be without Stepscope."""
    from profilers.program_launch import program_env

    spec = fake_spec("ok")
    assert program_env(spec, "5:6", 0.0, Path("/tmp"), unbuffered=True)["PYTHONUNBUFFERED"] == "1"
    watched = {**os.environ}
    watched.pop("PYTHONUNBUFFERED", None)
    with mock.patch.dict(os.environ, watched, clear=True):
        assert "PYTHONUNBUFFERED" not in program_env(spec, "5:6", 0.0, Path("/tmp"), unbuffered=False)
