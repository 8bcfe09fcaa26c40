"""What the app knows of a trace import running in its child process: the command that starts
it (`main.py import TRACE --session S --progress-jsonl`, cli/trace_import.py) and the state that
process's JSON lines leave (bytes read of the total, the rate, time left, the stage, the run it
stored), in words for the import dialog.

The read runs in a child so that a 2 GB trace can neither freeze the window, nor crash it, nor
hold its memory: the app only ever holds these few numbers. Qt-free, so it is tested without Qt.
"""
from __future__ import annotations

import json
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRACE_FILES = "Traces (*.json *.json.gz *.pt.trace.json *.xplane.pb *.xplane.pb.gz);;All files (*)"
RATE_WINDOW_S = 5.0  # the rate over the last few seconds: a read's speed changes as it goes
EXIT_CANCELLED = 130


def import_argv(trace: Path, session: Path, framework: str | None = None) -> list[str]:
    """The child's command line: this interpreter, the headless `import`, JSON lines on stdout."""
    argv = [sys.executable, str(ROOT / "main.py"), "import", str(trace), "--session", str(session), "--progress-jsonl"]
    return argv + (["--framework", framework] if framework else [])


def format_bytes(count: float) -> str:
    """Decimal units, as the command line's bar shows them: 312 MB, 2.0 GB."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}" if count < 10 * size else f"{count / size:.0f} {unit}"
    return f"{int(count)} bytes"


def format_seconds(seconds: float) -> str:
    if seconds < 60:
        return f"{max(1, round(seconds))} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


@dataclass
class ImportState:
    """One import, fed the child's stdout lines (`feed`) and, at the end, its exit (`finish`)."""

    trace: Path
    session: Path
    done: int = 0
    total: int = 0  # 0: not known (a reader that does not report bytes)
    stage: str = "reading"  # reading, summarising, storing
    run_id: str | None = None
    events: int | None = None
    description: str = ""
    _samples: deque[tuple[float, int]] = field(default_factory=deque)

    def feed(self, line: str, now: float | None = None) -> None:
        """One line of the child's stdout; anything that is not one of its records is ignored
        (a library printing to stdout must not break the dialog)."""
        try:
            record = json.loads(line)
        except ValueError:
            return
        if not isinstance(record, dict):
            return
        if isinstance(record.get("done"), int) and isinstance(record.get("total"), int):
            self.done, self.total = record["done"], record["total"]
            self._sample(time.monotonic() if now is None else now)
        elif isinstance(record.get("stage"), str):
            self.stage = record["stage"]
        elif isinstance(record.get("run_id"), str):
            self.run_id, self.events = record["run_id"], record.get("events")
            self.description = str(record.get("description", ""))

    def _sample(self, now: float) -> None:
        self._samples.append((now, self.done))
        while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW_S:
            self._samples.popleft()

    @property
    def fraction(self) -> float | None:
        """Of the bytes read; None while the total is unknown."""
        return min(1.0, self.done / self.total) if self.total > 0 else None

    def rate(self) -> float | None:
        """Bytes a second over the last few seconds, once two reports are apart in time."""
        if len(self._samples) < 2:
            return None
        (t0, d0), (t1, d1) = self._samples[0], self._samples[-1]
        return (d1 - d0) / (t1 - t0) if t1 > t0 and d1 > d0 else None

    def seconds_left(self) -> float | None:
        rate = self.rate()
        if rate is None or self.total <= 0:
            return None
        return max(0.0, (self.total - self.done) / rate)

    def stage_text(self) -> str:
        if self.stage == "summarising":
            return "Summarising the trace…"
        if self.stage == "storing":
            return f"Storing the run in {self.session.name}…"
        if self.total > 0 and self.done >= self.total:
            return "Finishing the parse…"
        return "Reading the trace…"  # the heading names the file

    def detail_text(self) -> str:
        """"312 MB of 2.0 GB · 85 MB/s · about 20 s left", as far as it is known."""
        parts = [f"{format_bytes(self.done)} of {format_bytes(self.total)}" if self.total > 0 else
                 f"{format_bytes(self.done)} read"]
        rate, left = self.rate(), self.seconds_left()
        if rate is not None and self.stage == "reading" and self.done < self.total:
            parts.append(f"{format_bytes(rate)}/s")
            if left is not None:
                parts.append(f"about {format_seconds(left)} left")
        return " · ".join(parts)


def failure_reason(stderr: str, exit_code: int) -> str:
    """The child's one-line reason (its `stepscope import: ...` line), else its last line, else
    the exit code: a crash's traceback ends in the line that says what broke."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("stepscope import: ")]
    if ours:
        return ours[-1].removeprefix("stepscope import: ")
    if lines:
        return lines[-1]
    return f"the import process ended with exit code {exit_code}"
