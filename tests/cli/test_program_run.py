"""`stepscope run -- COMMAND`, end to end through main.py: the program's output passes through
unchanged, Stepscope's own lines go to stderr, the exit code is the program's, and the run lands
in the session with its steps (`report --json`)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FAKE = ROOT / "tests" / "profilers" / "fake_program.py"


def stepscope(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200")
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)


def fake(*args: str) -> list[str]:
    return ["--", sys.executable, "-S", str(FAKE), *args]


def test_a_program_runs_with_its_output_unchanged_and_is_recorded(tmp_path: Path) -> None:
    session = tmp_path / "s.stepscope"
    proc = stepscope("run", "--session", str(session), "--out-dir", str(tmp_path / "out"), *fake("ok", "30"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "".join(f"fake: step {i}\n" for i in range(30)) + "fake: done\n"
    assert f"stepscope: recording fake_program.py into {session}" in proc.stderr
    assert "stepscope: steps from stepscope.step — the program calls stepscope.step() in its loop" in proc.stderr
    assert "stepscope: the fake agent has something to say" in proc.stderr
    assert "fake: a warning on stderr" in proc.stderr and "measured steps" in proc.stderr
    report = stepscope("report", str(session), "--json")
    assert report.returncode == 0, report.stderr
    (row,) = json.loads(report.stdout)
    assert (row["status"], row["steps"], row["framework"], row["workload"]) == ("ok", 29, "torch", "fake_program.py")
    assert row["framework_version"] == "fake-2.0"


def test_json_comes_after_the_programs_output_and_exit_codes_are_the_programs(tmp_path: Path) -> None:
    session = str(tmp_path / "s.stepscope")
    proc = stepscope("run", "--session", session, "--out-dir", str(tmp_path / "out"), "--json", *fake("exit", "3"))
    assert proc.returncode == 3
    output, _, record_text = proc.stdout.partition("fake: step 2\n")
    assert output == "fake: step 0\nfake: step 1\n"
    record = json.loads(record_text)
    assert record["status"] == "failed" and record["exit_code"] == 3 and record["steps"] == 2
    assert record["reason"].endswith("RuntimeError: CUDA out of memory")
    assert "RuntimeError: CUDA out of memory" in proc.stderr


def test_a_signal_exits_128_plus_its_number_and_a_hang_stopped_by_stepscope_exits_1(tmp_path: Path) -> None:
    session = str(tmp_path / "s.stepscope")
    crashed = stepscope("run", "--session", session, "--out-dir", str(tmp_path / "a"), *fake("segfault", "1"))
    assert crashed.returncode == 128 + 11 and "segmentation fault" in crashed.stderr
    hung = stepscope("run", "--session", session, "--out-dir", str(tmp_path / "b"), "--timeout", "0.5",
                     *fake("hang", "1"))  # stopped by Stepscope: 1
    assert hung.returncode == 1 and "no progress" in hung.stderr


def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli.commands import dispatch
    from cli.parser import build_parser

    session = tmp_path / "s.stepscope"
    for args, words in (
        (["--steps", "3", *fake("ok")], "--steps takes A:B"),
        (["--steps", "5:2", *fake("ok")], "empty"),
        (["--trace-at", "1", *fake("ok")], "--trace-for"),
        (["--", "no-such-command-xyz", "arg"], "command not found: no-such-command-xyz"),
        (["--framework", "torch", "--steps", "3:5"], "--steps takes a number"),
        (["--steps", "10"], "--framework is required"),
        (["--framework", "jax", "--name", "x"], "--name is for your own program"),
        (["--trace-guard", "off", *fake("ok")], "--trace-guard is for the built-in workloads"),
    ):
        code = dispatch(build_parser().parse_args(["run", "--session", str(session), *args]))
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert words in err and len(err.strip().splitlines()) == 1, (args, err)
    assert not session.exists()  # nothing was recorded
    proc = stepscope("run", "--session", str(session), "--steps", "3", *fake("ok"))  # and through main.py
    assert proc.returncode == 2 and proc.stderr.startswith("stepscope run: --steps takes A:B") and proc.stdout == ""


def test_ctrl_c_while_the_run_is_still_starting_cancels_it_without_a_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The SIGINT lands as the controller has launched the program but not yet been handed back (on
    a loaded machine its reader threads take a while to start, and the program may print already):
    the run is cancelled, `run` exits 130, and the program is not left behind."""
    from cli.commands import dispatch
    from cli.parser import build_parser
    from profilers.program_runner import ProgramController

    start = ProgramController.start
    pids: list[int] = []

    def start_then_ctrl_c(self: ProgramController) -> None:
        start(self)
        pids.append(self.launched_pid)
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(ProgramController, "start", start_then_ctrl_c)
    session = tmp_path / "s.stepscope"
    code = dispatch(build_parser().parse_args(["run", "--session", str(session), "--out-dir", str(tmp_path / "out"),
                                               *fake("hang", "2")]))
    assert code == 130, capsys.readouterr().err
    assert "cancelled by the user" in capsys.readouterr().err
    (row,) = json.loads(stepscope("report", str(session), "--json").stdout)
    assert row["status"] == "cancelled"
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)


def test_a_program_in_its_own_directory_with_a_name(tmp_path: Path) -> None:
    session = tmp_path / "s.stepscope"
    proc = stepscope("run", "--session", str(session), "--out-dir", str(tmp_path / "out"), "--name", "my run",
                     "--batch-size", "32", *fake("no-framework"),
                     cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "plain python, no framework\n"
    assert "recording my run into" in proc.stderr and "stepscope: no steps were detected" in proc.stderr
    (row,) = json.loads(stepscope("report", str(session), "--json").stdout)
    assert row["workload"] == "my run" and row["batch_size"] == 32 and row["steps"] == 0


def test_ctrl_c_interrupts_the_program_keeps_the_run_and_exits_130(tmp_path: Path) -> None:
    session = tmp_path / "s.stepscope"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with subprocess.Popen([sys.executable, str(ROOT / "main.py"), "run", "--session", str(session),
                           "--out-dir", str(tmp_path / "out"), *fake("hang", "2")],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stdout.readline() == "fake: step 0\n" and proc.stdout.readline() == "fake: step 1\n"
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130, err
    assert "KeyboardInterrupt" in err  # the program got the SIGINT, as it would from the terminal
    (row,) = json.loads(stepscope("report", str(session), "--json").stdout)
    assert row["status"] == "cancelled" and row["steps"] == 1
