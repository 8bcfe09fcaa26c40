"""What both attach captures share: a capture runs in a child process (a profiler client that
blocks inside C++, or py-spy) that this process watches, so Ctrl+C and Cancel always work, a
hung client is killed at a deadline, and the window's progress is its elapsed time.
"""
from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLL_S = 0.1
STOP_GRACE_S = 3.0  # after SIGTERM, this long before SIGKILL


class AttachError(Exception):
    """A capture that gave nothing, with the one sentence that says why."""


class AttachCancelled(Exception):
    """The user stopped the capture (Ctrl+C, Cancel); nothing was kept."""


def run_watched(argv: Sequence[str], seconds: float, deadline_s: float, what: str,
                on_tick: Callable[[float], object] | None = None,
                cancel: threading.Event | None = None) -> tuple[int, str, str]:
    """Run `argv` to its end and return (exit code, stdout, stderr). `on_tick(elapsed)` hears the
    seconds since it started, ten times a second, capped at `seconds` (the capture window); a
    set `cancel` stops it (AttachCancelled), and so does `deadline_s` (AttachError naming `what`)."""
    process = subprocess.Popen(list(argv), cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, errors="replace")
    output: dict[str, str] = {}
    readers = [threading.Thread(target=_drain, args=(stream, output, name), daemon=True)
               for name, stream in (("stdout", process.stdout), ("stderr", process.stderr))]
    for reader in readers:
        reader.start()
    started = time.monotonic()
    try:
        while process.poll() is None:
            elapsed = time.monotonic() - started
            if cancel is not None and cancel.is_set():
                raise AttachCancelled()
            if elapsed > deadline_s:
                raise AttachError(f"{what} gave no answer within {deadline_s:.0f} s and was stopped")
            if on_tick is not None:
                on_tick(min(elapsed, seconds))
            time.sleep(POLL_S)
        if cancel is not None and cancel.is_set():  # a terminal's Ctrl+C reaches the child too, which may end first
            raise AttachCancelled()
    finally:
        _stop(process)
        for reader in readers:
            reader.join(timeout=STOP_GRACE_S)
    return process.returncode, output.get("stdout", ""), output.get("stderr", "")


def _drain(stream: object, output: dict[str, str], name: str) -> None:
    read = getattr(stream, "read", None)
    output[name] = read() if read is not None else ""


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
