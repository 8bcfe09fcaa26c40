"""The capture window: the framework's own profiler on for exactly steps A..B-1, or from T for D seconds;
the plan's window (number 0) and then, one at a time, the windows asked for while the program runs
(docs/capture.md: `arm_steps` at the next step boundary, `arm_seconds` at once), each into a folder of
its own and announced by a `capture` event.

Framework-neutral: each framework module hands over a `CaptureBackend` (torch.profiler,
jax.profiler, tf.profiler). Start and stop happen on the program's own thread at step boundaries
(so the window holds whole steps), except for the time-based window, which has no steps to wait
for and runs on a timer thread. Anything a profiler raises becomes a `notice`, never the program's
exception.
"""
from __future__ import annotations

import abc
import os
import threading
import time
from typing import Any, Callable


class CaptureBackend(abc.ABC):
    """What a framework module provides. `start` turns its profiler on with the next step numbered
    `first_step` (None for a time-based window); `boundary(n)` says step n-1 ended and step n
    begins (to mark steps in the trace); `stop` turns it off and returns the files written as
    (kind, path): kind `chrome-trace` or `xplane`; `refusal` is a sentence when it cannot run
    (the program already runs its own profiler)."""

    framework = ""

    @abc.abstractmethod
    def start(self, out_dir: str, first_step: int | None) -> None:
        """(each framework module says how)"""

    def boundary(self, next_step: int) -> None:  # noqa: B027 - optional: a profiler that marks no steps ignores it
        return None

    @abc.abstractmethod
    def stop(self) -> list[tuple[str, str]]:
        """(each framework module says how)"""

    def refusal(self) -> str | None:
        return None


class CaptureWindow:
    def __init__(self, emit: Callable[..., None], plan: dict[str, Any]) -> None:
        self._emit = emit
        steps = plan.get("steps")
        self.first: int | None = int(steps[0]) if steps else None
        self.end: int | None = int(steps[1]) if steps else None  # exclusive
        self.trace_at: float | None = plan.get("trace_at")
        self.trace_for: float | None = plan.get("trace_for")
        self.out_dir = self.base_dir = str(plan.get("out_dir") or os.getcwd())
        self.window = 0  # its number: 0 the plan's, 1, 2, ... asked for while the program runs
        self.requested: tuple[int, int] | None = None  # (window, steps) asked for, armed at the next step end
        self.backend: CaptureBackend | None = None
        self.done = False
        self.stopped_at = 0.0  # perf_counter when the profiler was stopped (0: not yet)
        self.traced_steps: list[int] = []
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        return self.backend is not None

    def covers(self, step: int, began: float = 0.0) -> bool:
        """Whether step `step` (begun at perf_counter `began`) is traced, so it is labelled `trace`
        and kept out of the statistics, which the profiler's cost would skew. A time window covers
        every step that ends while it is on, and the one during which it stopped (its export)."""
        if self.first is None or self.end is None:
            return self.active or self.stopped_at > began
        return self.active and self.first <= step < self.end

    # -- on demand -------------------------------------------------------------------------
    def busy(self) -> bool:
        """Whether a window is running or still waits for its steps (a new one is refused then)."""
        waiting = self.first is not None or (self.trace_at is not None and bool(self.trace_for))
        return self.active or self.requested is not None or (waiting and not self.done)

    def request_steps(self, window: int, steps: int) -> None:
        """Window `window` for the next `steps` steps; armed by the step clock at the next step end,
        on the program's thread (`arm_requested`)."""
        if self.busy():
            self._emit("notice", message=f"capture window {window} was not armed: another capture window is armed or running")
            return
        self.requested = (window, steps)

    def arm_requested(self, next_step: int) -> None:
        requested, self.requested = self.requested, None
        if requested is not None:
            self._reset(requested[0], next_step, next_step + requested[1], None, None)

    def arm_seconds(self, window: int, seconds: float, now: Callable[[], float],
                    pick_backend: Callable[[], CaptureBackend | None]) -> None:
        """Window `window` for `seconds` from now (a program without steps, or by choice)."""
        if self.busy():
            self._emit("notice", message=f"capture window {window} was not armed: another capture window is armed or running")
            return
        self._reset(window, None, None, now(), seconds)
        self.start_timer(now, pick_backend)

    def _reset(self, window: int, first: int | None, end: int | None, at: float | None, length: float | None) -> None:
        with self._lock:
            self.window, self.first, self.end, self.trace_at, self.trace_for = window, first, end, at, length
            self.out_dir = os.path.join(self.base_dir, f"capture-{window}")
            self.done, self.stopped_at, self.traced_steps = False, 0.0, []

    # -- by step number ----------------------------------------------------------------
    def before_step(self, step: int, backend: CaptureBackend | None) -> None:
        """Step `step` is about to begin: start the window if it starts here."""
        if self.done or self.active or self.first is None or step != self.first or backend is None:
            return
        self._start(backend, step)

    def after_step(self, step: int, sync: Callable[[], Any] | None) -> None:
        """Step `step` has ended on the host: mark the boundary or close the window."""
        if not self.active or self.first is None:
            return
        assert self.end is not None and self.backend is not None
        self.traced_steps.append(step)
        if step + 1 >= self.end:
            if sync is not None:
                try:
                    sync()  # the last step's device work belongs in the trace
                except Exception:
                    pass
            self._stop("")
        else:
            try:
                self.backend.boundary(step + 1)
            except Exception as exc:
                self._emit("notice", message=f"marking step {step + 1} in the trace failed ({type(exc).__name__}: {exc})")

    def program_ending(self) -> None:
        if self.active:
            self._stop("the program ended inside the capture window")

    # -- by time -------------------------------------------------------------------------
    def start_timer(self, now: Callable[[], float], pick_backend: Callable[[], CaptureBackend | None]) -> None:
        if self.trace_at is None or not self.trace_for:
            return
        at, length = float(self.trace_at), float(self.trace_for)

        def run() -> None:
            time.sleep(max(at - now(), 0.0))
            backend = pick_backend()
            if backend is None:
                self._emit("notice", message=f"no framework was imported by {at:.1f} s: nothing to trace")
                return
            if not self._start(backend, None):
                return
            time.sleep(length)
            self._stop("")

        threading.Thread(target=run, name="stepscope-capture-timer", daemon=True).start()

    # -- both --------------------------------------------------------------------------------
    def _start(self, backend: CaptureBackend, first_step: int | None) -> bool:
        with self._lock:
            if self.active or self.done:
                return False
            refusal = backend.refusal()
            if refusal:
                self.done = True
                self._emit("notice", message=refusal)
                return False
            os.makedirs(self.out_dir, exist_ok=True)
            try:
                backend.start(self.out_dir, first_step)
            except Exception as exc:
                self.done = True
                self._emit("notice", message=f"the {backend.framework} profiler did not start "
                                             f"({type(exc).__name__}: {exc}); no trace for this run")
                return False
            self.backend = backend
            self._emit("phase", name="trace", edge="start")
            return True

    def _stop(self, why: str) -> None:
        with self._lock:
            backend, self.backend = self.backend, None
            if backend is None:
                return
            self.done = True
            try:
                files = backend.stop()
                self.stopped_at = time.perf_counter()
            except Exception as exc:
                files = []
                self._emit("notice", message=f"the {backend.framework} profiler failed to write its trace "
                                             f"({type(exc).__name__}: {exc})")
            self._emit("phase", name="trace", edge="end")
            if why:
                last = self.traced_steps[-1] if self.traced_steps else "none"
                self._emit("notice", message=f"{why} (after step {last}); the trace holds what ran until then")
            for kind, path in files:
                try:
                    size = os.path.getsize(path)
                except OSError:
                    continue
                problem = file_problem(kind, size)
                if problem:
                    self._emit("notice", message=f"the {backend.framework} profiler's {kind} file {path} {problem}; "
                                                 "it is not kept as the run's trace")
                else:
                    self._emit("artifact", kind=kind, path=os.path.abspath(path), bytes=size, window=self.window)
            self._announce_window()

    def _announce_window(self) -> None:
        """The `capture` event: which window ran, over which steps or seconds."""
        what = "capture" if self.window else "planned window"
        if self.first is not None:
            steps = self.traced_steps
            first, last = (steps[0], steps[-1]) if steps else (self.first, self.first)
            self._emit("capture", window=self.window, label=f"{what}: steps {first}–{last}", first_step=first,
                       last_step=last, seconds=None)
        elif self.trace_at is not None and self.trace_for:
            at, length = float(self.trace_at), float(self.trace_for)
            self._emit("capture", window=self.window, label=f"{what}: {at:.1f}–{at + length:.1f} s", first_step=None,
                       last_step=None, seconds=length)


PROTOBUF_MAX_BYTES = 2 ** 31 - 1  # a serialized protobuf message must fit in an int32


def file_problem(kind: str, size: int) -> str:
    """What a profiler's file says about itself by its size alone ("" when nothing): checked here, where
    it costs nothing; reading a file through (a cut-off gzip, a capped JSON) is the controller's to do,
    after the run, so the program never pays for it."""
    if size == 0 and kind == "xplane":
        return ("is 0 bytes: the profiler could not serialize its XSpace (protobuf refuses a message over 2 GiB, "
                "and tsl then writes an empty file and reports success); trace fewer steps")
    if size == 0:
        return "is 0 bytes: the profiler wrote no events"
    if kind == "xplane" and size >= PROTOBUF_MAX_BYTES:
        return f"is {size:,} bytes, at or over protobuf's 2 GiB message limit, so no protobuf reader can load it"
    return ""
