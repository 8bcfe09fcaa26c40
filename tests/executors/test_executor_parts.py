"""The executors' parts that need no SSH server: `--on` targets, where fetched files land, and the
remote shim's promise that its worker never outlives the controller (stdin EOF, a cancel line)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from profilers.executors import ExecutorError, executor_for
from profilers.executors.local import LocalExecutor
from profilers.executors.remote_paths import local_copy_path
from profilers.executors.ssh_connection import SshTarget
from profilers.remote_shim import worker_argv

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize(("text", "target"), [
    ("ssh://gpu1", SshTarget("gpu1")),
    ("ssh://ana@gpu1.example.org:2222", SshTarget("gpu1.example.org", "ana", 2222)),
    ("ssh://ana@10.0.0.7", SshTarget("10.0.0.7", "ana")),
])
def test_ssh_targets_parse(text: str, target: SshTarget) -> None:
    assert SshTarget.parse(text) == target and str(target) == text


@pytest.mark.parametrize("text", ["ssh://", "ssh://ana:secret@gpu1", "ssh://gpu1:port", "ssh://gpu1/some/path", "gpu1"])
def test_bad_targets_are_refused_in_one_line(text: str) -> None:
    with pytest.raises(ExecutorError) as raised:
        SshTarget.parse(text) if text.startswith("ssh") else executor_for(text)
    assert "\n" not in str(raised.value)


def test_local_is_the_default_executor() -> None:
    assert isinstance(executor_for(None), LocalExecutor) and executor_for("local").placement()["executor"] == "local"


def test_fetched_files_keep_their_place_and_never_leave_the_run_directory(tmp_path: Path) -> None:
    out = "/home/ana/.stepscope/runs/r1"
    assert local_copy_path(f"{out}/plugins/profile/1/h.xplane.pb", out, tmp_path) == tmp_path / "plugins/profile/1/h.xplane.pb"
    assert local_copy_path("/elsewhere/t.json.gz", out, tmp_path) == tmp_path / "t.json.gz"
    assert local_copy_path(f"{out}/../../../etc/passwd", out, tmp_path) == tmp_path / "passwd"


def test_the_shim_gives_the_worker_this_machines_python_output_and_clock() -> None:
    argv = worker_argv(["@PYTHON@", "-m", "w", "--out-dir", "@OUT_DIR@", "--clock-origin", "123.0"], "/r/run", 7.5)
    assert argv == [sys.executable, "-m", "w", "--out-dir", "/r/run", "--clock-origin", "7.5"]


def _shim(tmp_path: Path) -> tuple[subprocess.Popen[bytes], psutil.Process]:
    """A shim whose worker sleeps, with a child of its own (both must go)."""
    script = ("import subprocess, sys, time; "
              "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); time.sleep(120)")
    shim = subprocess.Popen([sys.executable, "-m", "profilers.remote_shim", "--out-dir", str(tmp_path / "out"), "--",
                             "@PYTHON@", "-c", script], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        children = psutil.Process(shim.pid).children(recursive=True)
        if len(children) >= 2:
            return shim, children[0]
        time.sleep(0.05)
    shim.kill()
    raise AssertionError("the shim's worker did not start")


def _exit_line(stdout: bytes) -> dict[str, Any]:
    return dict(json.loads(stdout.splitlines()[-1]))


def test_the_shim_stops_its_worker_group_when_its_stdin_ends(tmp_path: Path) -> None:
    shim, worker = _shim(tmp_path)
    group = [worker, *worker.children(recursive=True)]
    out, _ = shim.communicate(b"", timeout=20)  # stdin closed: what a dropped connection looks like there
    _, alive = psutil.wait_procs(group, timeout=10)
    assert not alive and shim.returncode == 0
    assert _exit_line(out)["type"] == "exit" and _exit_line(out)["returncode"] < 0  # stopped by a signal
    assert (tmp_path / "out").is_dir()


def test_a_signal_line_reaches_the_worker_group(tmp_path: Path) -> None:
    shim, worker = _shim(tmp_path)
    group = [worker, *worker.children(recursive=True)]
    out, _ = shim.communicate(json.dumps({"signal": 9}).encode() + b"\n", timeout=20)
    _, alive = psutil.wait_procs(group, timeout=10)
    assert not alive and _exit_line(out)["returncode"] == -9
