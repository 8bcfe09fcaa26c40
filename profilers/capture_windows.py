"""Trace windows in a worker: the end-of-run window and the captures asked for while it measures
(docs/capture.md).

A capture on demand arrives as a control line on the worker's stdin, read by a thread of its own
(`ControlReader`); the measuring loop takes it between two steps, so a window always holds whole
steps and the steps' own timing never waits on the reader. Every window runs the same way: the
capture size guard first, then the framework's hook, then its files as `artifact` events and a
`capture` event that labels the window by the steps its trace records.
"""
from __future__ import annotations

import collections
import json
import math
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from profilers.artifact_checks import artifact_problem
from profilers.capture_guard import guard_window
from profilers.hooks import ArtifactError, TraceHook, run_window
from workloads.base import PreparedRun
from workloads.spec import RunSpec

Emit = Callable[..., None]
MakeHook = Callable[[Path, int, bool], TraceHook]
TimedStep = Callable[[str, int], float]  # (phase, index) -> the step's seconds, its `step` event sent
MAX_LINE_BYTES = 4096  # a control line is a few dozen bytes


@dataclass(frozen=True)
class CaptureRequest:
    """One control line: window `window` for the next `steps` steps, or for `seconds`."""

    window: int
    steps: int | None = None
    seconds: float | None = None

    def to_line(self) -> bytes:
        fields = {"type": "capture", "window": self.window, "steps": self.steps, "seconds": self.seconds}
        return (json.dumps(fields, separators=(",", ":")) + "\n").encode("ascii")


def parse_request(line: bytes) -> CaptureRequest:
    """A control line as a request; ValueError with a sentence for anything else."""
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
        return CaptureRequest(window, steps=steps)
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds > 0 and steps is None \
            and math.isfinite(seconds):
        return CaptureRequest(window, seconds=float(seconds))
    raise ValueError(f"a capture request needs steps >= 1 or seconds > 0, not both: {line[:80]!r}")


class ControlReader:
    """The controller's control lines (the worker's stdin), read on a daemon thread and queued for
    the loop; a line it cannot use becomes a `notice`. End of file (no controller, or stdin is
    /dev/null) just ends the thread."""

    def __init__(self, fd: int, emit: Emit) -> None:
        self._fd = fd
        self._emit = emit
        self._queue: collections.deque[CaptureRequest] = collections.deque()
        self.closed = False  # set once no window can run any more: later requests are refused

    def start(self) -> ControlReader:
        threading.Thread(target=self._read, name="stepscope-control", daemon=True).start()
        return self

    def _read(self) -> None:
        with os.fdopen(self._fd, "rb", buffering=0, closefd=False) as stream:
            for line in iter(lambda: stream.readline(MAX_LINE_BYTES), b""):
                try:
                    request = parse_request(line)
                except ValueError as exc:
                    notice(self._emit, f"capture request ignored: {exc}")
                    continue
                if self.closed:
                    notice(self._emit, f"capture window {request.window} was not run: the run has finished measuring")
                else:
                    self._queue.append(request)

    def take(self) -> CaptureRequest | None:
        """The oldest waiting request, or None; costs one length check when there is none."""
        return self._queue.popleft() if self._queue else None

    def close(self) -> None:
        """Measuring is over: refuse what is still waiting, and what comes later."""
        self.closed = True
        while (request := self.take()) is not None:
            notice(self._emit, f"capture window {request.window} was not run: the run has finished measuring")


@dataclass(frozen=True)
class Windows:
    """What a trace window needs from the loop."""

    spec: RunSpec
    prepared: PreparedRun
    emit: Emit
    make_hook: MakeHook
    out_dir: Path
    timed: TimedStep

    def run(self, steps: int, index: int, median_step_s: float, window: int, what: str) -> int:
        """One window of `steps` recorded steps from step `index`, sized by the guard; returns the next
        step index. `what` names it in its label ("end of run", "capture")."""
        spec, emit = self.spec, self.emit
        out_dir = self.out_dir if window == 0 else self.out_dir / f"capture-{window}"
        steps, index = guard_window(steps, spec.trace_guard, spec.framework, self.prepared.device.kind, median_step_s,
                                    self.make_hook, out_dir, spec.with_stack, self.prepared.step, index, emit)
        if not steps:
            return index
        hook = self.make_hook(out_dir, steps, spec.with_stack)
        index = run_window(hook, lambda i: self.timed("trace", i), index)
        if emit_artifacts(hook, emit, window):
            first, last = index - steps, index - 1  # the hook records its last `steps` steps (torch warms up first)
            emit("capture", window=window, label=f"{what}: steps {first}–{last}", first_step=first, last_step=last,
                 seconds=None)
        return index

    def measure(self, count: int, index: int, requests: ControlReader | None) -> tuple[list[float], int]:
        """`count` measured steps from `index`, with a capture window wherever a request arrived
        between two of them (its steps are phase `trace` and do not count); the measured steps'
        seconds and the next index."""
        measured: list[float] = []
        while len(measured) < count:
            request = requests.take() if requests is not None and measured else None
            if request is not None:
                index = self._on_demand(request, index, measured)
            measured.append(self.timed("measure", index))
            index += 1
        if requests is not None:
            requests.close()
        return measured, index

    def _on_demand(self, request: CaptureRequest, index: int, measured: list[float]) -> int:
        median = sorted(measured)[len(measured) // 2]
        if request.steps:
            steps = request.steps
        else:  # a worker always has steps: the seconds asked for, in steps of the median so far
            steps = max(1, round((request.seconds or 0.0) / median)) if median > 0 else 1
        self.emit("phase", name="trace", edge="start")
        try:
            return self.run(steps, index, median, request.window, "capture")
        finally:
            self.emit("phase", name="trace", edge="end")


def emit_artifacts(hook: TraceHook, emit: Emit, window: int) -> bool:
    """An `artifact` event for each whole trace file (tagged with its window); a `notice` with the
    reason for a missing, empty or damaged one, which is not handed on as a trace (the run's measured
    figures still stand). Whether any file was kept."""
    try:
        artifacts = hook.artifacts()
    except ArtifactError as exc:
        notice(emit, f"no trace kept: {exc}")
        return False
    kept = False
    for artifact in artifacts:
        problem = artifact_problem(artifact.kind, artifact.path)
        if problem:
            notice(emit, f"trace file not kept: {problem}")
        else:
            emit("artifact", kind=artifact.kind, path=str(artifact.path), bytes=artifact.size, window=window)
            kept = True
    return kept


def notice(emit: Emit, message: str) -> None:
    print(f"stepscope worker: {message}", file=sys.stderr)  # the run's log keeps it too
    emit("notice", message=message)
