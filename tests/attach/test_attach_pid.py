"""`attach --pid` against real processes: a busy Python function shows by name in the stacks,
the tree and the file; a process that is gone, one that is not Python, and one py-spy may not
read (py-spy run as another user) each give their one-line reason."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from profilers.pyspy_sampler import PTRACE_FIX, failure_reason
from tests.attach.targets import BUSY_PYTHON, ROOT, attach, running
from traces.folded_stacks import hottest_functions, read_folded


def test_a_busy_function_shows_by_name_in_the_stacks(tmp_path: Path) -> None:
    out = tmp_path / "busy.folded"
    with running(BUSY_PYTHON) as target:
        done = attach("--pid", str(target.pid), "--for", "2s", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "crunch_known_numbers" in done.stdout  # the tree and the hottest-functions table
    assert "samples" in done.stdout and str(out) in done.stdout
    profile = read_folded(out)
    assert profile.total >= 100  # 2 s at 100 a second, less py-spy's start
    hottest = hottest_functions(profile, 1)[0]
    assert hottest.name.startswith("crunch_known_numbers") and hottest.self_samples > 0.8 * profile.total


def test_progress_jsonl_ends_with_the_stacks_file(tmp_path: Path) -> None:
    out = tmp_path / "busy.folded"
    with running(BUSY_PYTHON) as target:
        done = attach("--pid", str(target.pid), "--for", "1s", "--out", str(out), "--progress-jsonl")
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert f'"stacks": "{out}"' in last and f'"pid": {target.pid}' in last


def _fails(*args: str) -> str:
    done = attach(*args)
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("stepscope attach: "), done.stderr
    return lines[0]


def test_a_process_that_is_gone_says_so() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert "no process has the id" in _fails("--pid", str(gone.pid), "--for", "1s")


def test_a_process_that_is_not_python_says_so(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        line = _fails("--pid", str(sleeper.pid), "--for", "1s", "--out", str(tmp_path / "x.folded"))
    finally:
        sleeper.kill()
        sleeper.wait()
    assert "is not a Python program" in line


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to drop to another user")
def test_no_ptrace_permission_says_how_to_grant_it() -> None:
    """py-spy as `nobody` against a process of root's: the kernel refuses ptrace."""
    with running(BUSY_PYTHON) as target, tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o777)
        done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "main.py",
                               "attach", "--pid", str(target.pid), "--for", "1s", "--out", f"{folder}/x.folded"],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert "ptrace is not permitted" in done.stderr and "kernel.yama.ptrace_scope" in done.stderr


def test_pyspy_errors_become_sentences() -> None:
    assert PTRACE_FIX in failure_reason(7, "Permission Denied: Try running again with elevated permissions", 1)
    assert "not a Python program" in failure_reason(7, "Error: Failed to find python version from target process", 1)
    assert "ended before" in failure_reason(7, "Error: Failed to get process executable name.", 1)


def test_ctrl_c_keeps_no_stacks(tmp_path: Path) -> None:
    """SIGINT to the whole group, as a terminal sends it: py-spy then writes what it has and
    exits 0, which must not count as a finished capture."""
    out = tmp_path / "stopped.folded"
    with running(BUSY_PYTHON) as target:
        process = subprocess.Popen([sys.executable, "main.py", "attach", "--pid", str(target.pid), "--for", "30s",
                                    "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, start_new_session=True)
        time.sleep(2.5)
        os.killpg(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, (stdout, stderr)
    assert "no stacks were kept" in stderr and not out.exists()
