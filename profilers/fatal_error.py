"""One line out of Python's report of a crash in native code (faulthandler's "Fatal Python error"),
for a run's reason: what killed the program and where its Python code was at that moment.

The agent turns faulthandler on in the user's program (docs/programs.md), so a segfault or abort
inside a framework leaves every thread's stack in the program's stderr. The whole report stays in
the run log; the reason quotes the error, the innermost frame of the thread that crashed, and the
innermost frame of the program's own code under it (outside the interpreter's and the installed
packages' files), which is usually the line the user wants. A crash in a thread that runs no Python
code (a framework's own worker thread) has no "Current thread" in the report: the main thread's
place is quoted then, said as such.
"""
from __future__ import annotations

import re

_FATAL = re.compile(r"^Fatal Python error: (?:\w+: )?(.+?)\s*$", re.M)
_THREAD = re.compile(r"^(Current thread|Thread) 0x[0-9a-fA-F]+.*\(most recent call first\):\s*$")
_FRAME = re.compile(r'^\s+File "(.+)", line (\d+) in (.+?)\s*$')
_LIBRARY = re.compile(r"[/\\](?:site-packages|dist-packages|lib[/\\]python\d+\.\d+)[/\\]")


def _short(path: str, parts: int = 3) -> str:
    return "/".join(re.split(r"[/\\]", path)[-parts:])


def _frame_text(frame: tuple[str, str, str]) -> str:
    path, line, function = frame
    return f"{_short(path)}:{line} in {function}"


def _threads(report: str) -> list[tuple[bool, list[tuple[str, str, str]]]]:
    """Each thread of the report: (whether it is the crashing one, its frames innermost first)."""
    threads: list[tuple[bool, list[tuple[str, str, str]]]] = []
    for line in report.splitlines():
        if (header := _THREAD.match(line)) is not None:
            threads.append((header.group(1) == "Current thread", []))
        elif threads and (frame := _FRAME.match(line)) is not None:
            threads[-1][1].append((frame.group(1), frame.group(2), frame.group(3)))
    return threads


def fatal_summary(stderr_text: str) -> str | None:
    """'Fatal Python error: Aborted at torch/profiler/profiler.py:1139 in stop, from
    examples/torch_ddp.py:38 in main' for the last crash report in `stderr_text`; None without one."""
    matches = list(_FATAL.finditer(stderr_text))
    if not matches:
        return None
    last = matches[-1]
    text = f"Fatal Python error: {last.group(1)}"
    threads = _threads(stderr_text[last.end():])
    current = [frames for is_current, frames in threads if is_current and frames]
    where = ""
    if current:
        frames = current[0]
    elif threads and threads[-1][1]:  # CPython lists the main thread last
        frames = threads[-1][1]
        where = " in a thread without Python code; the main thread was"
    else:
        return text
    own = next((f for f in frames if not _LIBRARY.search(f[0]) and not f[0].startswith("<")), None)
    text += f"{where} at {_frame_text(frames[0])}"
    if own is not None and own is not frames[0]:
        text += f", from {_frame_text(own)}"
    return text
