"""What the app knows of an attach running in its child process (`main.py attach ...
--progress-jsonl`, cli/attach.py): the target typed in the dialog, the command that captures
from it, and the state the child's JSON lines leave (seconds of the window gone, the stage,
the run it stored or the stacks file it wrote), in words for the dialog.

The capture runs in a child so that a profiler client blocked in native code, or py-spy, can
neither freeze nor crash the window, and the app never loads a profiler client. Qt-free.
"""
from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXIT_CANCELLED = 130
_PID = re.compile(r"^(?:pid\s*)?(\d+)$", re.IGNORECASE)


@dataclass(frozen=True)
class AttachTarget:
    """A profiler server (`address`, HOST:PORT) or a Python process (`pid`)."""

    address: str | None = None
    pid: int | None = None

    @property
    def label(self) -> str:
        return f"process {self.pid}" if self.pid is not None else f"{self.address}"


def parse_target(text: str) -> AttachTarget:
    """"localhost:9999" or "12345" (or "pid 12345"); ValueError with the sentence to show."""
    text = text.strip()
    pid = _PID.match(text)
    if pid:
        return AttachTarget(pid=int(pid.group(1)))
    if re.fullmatch(r"(?:grpc://)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):\d{1,5}", text):
        return AttachTarget(address=text)
    raise ValueError("type HOST:PORT (a program's profiler server, e.g. localhost:9999) or a process id")


def attach_argv(target: AttachTarget, seconds: float, session: Path, stacks: Path | None = None,
                logdir: Path | None = None) -> list[str]:
    """The child's command line: this interpreter, the headless `attach`, JSON lines on stdout;
    `logdir` (a server's capture folder both machines share) only for a server."""
    argv = [sys.executable, str(ROOT / "main.py"), "attach"]
    if target.pid is not None:
        argv += ["--pid", str(target.pid)] + (["--out", str(stacks)] if stacks is not None else [])
    else:
        argv += [str(target.address), "--session", str(session)] + (["--logdir", str(logdir)] if logdir else [])
    return argv + ["--for", f"{seconds:g}s", "--progress-jsonl"]


@dataclass
class AttachState:
    """One attach, fed the child's stdout lines."""

    target: AttachTarget
    seconds: float
    elapsed: float = 0.0
    stage: str = "starting"  # starting, capturing, reading, summarising, storing
    run_id: str | None = None
    events: int | None = None
    description: str = ""
    stacks: Path | None = None
    samples: int | None = None
    started: float = 0.0

    def feed(self, line: str) -> None:
        """One line of the child's stdout; anything that is not one of its records is ignored."""
        try:
            record = json.loads(line)
        except ValueError:
            return
        if not isinstance(record, dict):
            return
        if isinstance(record.get("run_id"), str):
            self.run_id, self.events = record["run_id"], record.get("events")
            self.description = str(record.get("description", ""))
        elif isinstance(record.get("stacks"), str):
            self.stacks, self.samples = Path(record["stacks"]), record.get("samples")
        elif isinstance(record.get("stage"), str):
            self.stage = record["stage"]
            if isinstance(record.get("elapsed"), (int, float)):
                self.elapsed = float(record["elapsed"])

    @property
    def fraction(self) -> float | None:
        """Of the window, while it runs; None before it starts and after (busy)."""
        if self.stage != "capturing" or self.seconds <= 0:
            return None
        return min(1.0, self.elapsed / self.seconds)

    def stage_text(self) -> str:
        verb = "Sampling the stacks of" if self.target.pid is not None else "Capturing from"
        return {"starting": f"Connecting to {self.target.label}…",
                "capturing": f"{verb} {self.target.label}…",
                "reading": "Reading the capture…",
                "summarising": "Summarising the trace…",
                "storing": "Storing the run…"}.get(self.stage, self.stage)

    def detail_text(self, now: float | None = None) -> str:
        if self.stage == "capturing":
            return f"{self.elapsed:.1f} of {self.seconds:g} s"
        if self.stage == "starting" and self.started:
            return f"{(time.monotonic() if now is None else now) - self.started:.0f} s"
        return ""


def failure_reason(stderr: str, exit_code: int) -> str:
    """The child's one line (`stepscope attach: ...`), else its last line, else the exit code."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("stepscope attach: ")]
    if ours:
        return ours[-1].removeprefix("stepscope attach: ")
    if lines:
        return lines[-1]
    return f"the attach process ended with exit code {exit_code}"
