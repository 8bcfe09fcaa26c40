"""Capture requests from the controller (docs/capture.md): JSON lines on the pipe whose read end it
passed us, read by a thread of the agent's own.

`STEPSCOPE_CONTROL` is "<fd>:<inode>", checked like the event channel's (channel.py): only the
process that owns the event channel reads it, and only while the descriptor is still the pipe the
controller made. Processes the program starts do not inherit it. A line that is not a request
becomes a `notice`; end of file (the controller is gone) ends the thread.
"""
from __future__ import annotations

import json
import math
import os
import threading
from typing import Any, Callable, Optional

MAX_LINE_BYTES = 4096
OnRequest = Callable[[int, Optional[int], Optional[float]], None]  # (window, steps, seconds)


def open_control(environ: Any = None) -> int | None:
    """The control pipe's read end the controller left for this process, or None."""
    env = os.environ if environ is None else environ
    text = env.get("STEPSCOPE_CONTROL", "")
    if not text:
        return None
    try:
        fd_text, inode_text = text.split(":")
        fd, inode = int(fd_text), int(inode_text)
        if os.fstat(fd).st_ino != inode:
            return None
        os.set_inheritable(fd, False)  # programs it starts do not hold the pipe
    except (ValueError, OSError):
        return None
    return fd


def parse(line: bytes) -> tuple[int, int | None, float | None]:
    """(window, steps, seconds) of a control line; ValueError with a sentence for anything else."""
    try:
        fields = json.loads(line)
    except ValueError:
        raise ValueError(f"a control line that is not JSON: {line[:80]!r}") from None
    if not isinstance(fields, dict) or fields.get("type") != "capture":
        raise ValueError(f"an unknown control line: {line[:80]!r}")
    window, steps, seconds = fields.get("window"), fields.get("steps"), fields.get("seconds")
    if not isinstance(window, int) or isinstance(window, bool) or window < 1:
        raise ValueError(f"a capture request without a window number: {line[:80]!r}")
    if isinstance(steps, int) and not isinstance(steps, bool) and steps >= 1 and seconds is None:
        return window, steps, None
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and steps is None \
            and math.isfinite(seconds) and seconds > 0:
        return window, None, float(seconds)
    raise ValueError(f"a capture request needs steps >= 1 or seconds > 0, not both: {line[:80]!r}")


def start_reader(fd: int, on_request: OnRequest, notice: Callable[[str], None]) -> None:
    """Read control lines from `fd` on a daemon thread, handing each request to `on_request`."""

    def read() -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(fd, MAX_LINE_BYTES)
            except OSError:
                return
            if not chunk:
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                try:
                    window, steps, seconds = parse(line)
                except ValueError as exc:
                    notice(f"capture request ignored: {exc}")
                    continue
                on_request(window, steps, seconds)
            pending = pending[-MAX_LINE_BYTES:]

    threading.Thread(target=read, name="stepscope-control", daemon=True).start()
