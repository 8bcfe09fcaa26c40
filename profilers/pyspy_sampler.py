"""`attach --pid PID`: the Python stacks of any running Python program, sampled from outside it
by py-spy (`py-spy record --format raw`: folded stacks, read by traces/folded_stacks.py). The
program needs no change and no framework: py-spy reads its memory through ptrace, which is the
one permission it needs; when it is refused, the sentence says how to grant it.
"""
from __future__ import annotations

import os
import re
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from profilers.attach_child import AttachError, run_watched

DEFAULT_RATE = 100  # samples a second: py-spy's default, about 1 % of one core
ANSWER_GRACE_S = 20.0  # past the window: py-spy's start (it reads the interpreter's layout) and its write
PTRACE_FIX = ("run it as root (sudo), or allow ptrace for your user: `sudo sysctl kernel.yama.ptrace_scope=0`; "
              "in a container, start it with --cap-add SYS_PTRACE")


def pyspy_executable() -> str | None:
    """py-spy next to this interpreter (the project's .venv), else on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.is_file() else shutil.which("py-spy")


def check_process(pid: int) -> None:
    """AttachError when no process has that id (a process of another user still counts)."""
    if pid <= 0:
        raise AttachError(f"{pid} is not a process id")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise AttachError(f"no process has the id {pid} (it may have ended)") from None
    except PermissionError:
        pass


def sample_stacks(pid: int, seconds: float, out: Path, rate: int = DEFAULT_RATE, idle: bool = False,
                  nonblocking: bool = False, on_tick: Callable[[float], object] | None = None,
                  cancel: threading.Event | None = None) -> int:
    """Sample `pid`'s Python stacks for `seconds` into `out` (folded stacks) and return the
    sample count; AttachError with the reason when none could be taken. `idle` keeps idle
    threads' stacks; `nonblocking` reads without pausing the program (less cost, some torn stacks)."""
    check_process(pid)
    executable = pyspy_executable()
    if executable is None:
        raise AttachError("py-spy is not installed here (pip install py-spy==0.4.3, or run scripts/setup.sh)")
    out.parent.mkdir(parents=True, exist_ok=True)
    argv = [executable, "record", "--format", "raw", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
            "--rate", str(rate), "--output", str(out)]
    argv += ["--idle"] if idle else []
    argv += ["--nonblocking"] if nonblocking else []
    code, stdout, stderr = run_watched(argv, seconds, seconds + ANSWER_GRACE_S, "py-spy", on_tick, cancel)
    text = f"{stdout}\n{stderr}"
    if code != 0 or not out.is_file():
        raise AttachError(failure_reason(pid, text, code))
    samples = re.search(r"Samples: (\d+)", text)
    count = int(samples.group(1)) if samples else 0
    if count == 0 or out.stat().st_size == 0:
        raise AttachError(f"no Python stack was sampled in process {pid} during the {seconds:g} s: every thread "
                          "was idle (waiting on I/O, a lock or the device); --idle includes idle threads' stacks")
    return count


def failure_reason(pid: int, output: str, code: int) -> str:
    """py-spy's own error line (`Error: ...`), said for a person, with the fix where there is one."""
    errors = [line.removeprefix("Error:").strip() for line in output.splitlines() if line.startswith("Error:")]
    error = errors[-1] if errors else next((line.strip() for line in reversed(output.splitlines()) if line.strip()),
                                           f"exit code {code}")
    if re.search(r"Permission denied|Operation not permitted|os error 1\b|os error 13\b", output, re.IGNORECASE):
        return f"py-spy may not read process {pid} (ptrace is not permitted): {PTRACE_FIX}"
    if "Failed to find python version" in output or "Failed to find a python interpreter" in output:
        return f"process {pid} is not a Python program py-spy can read ({error})"
    if "Failed to get process executable name" in output or "No such process" in output:
        return f"process {pid} ended before py-spy could read it"
    return f"py-spy could not sample process {pid}: {error}"
