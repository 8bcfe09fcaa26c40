"""StepClock: the program's steps, from whichever source found them, as `step` events.

Sources rank as in docs/programs.md: a higher one takes over as soon as it fires, a lower one is
ignored from then on, and numbering never restarts. A source reports `end(...)` when a step has
ended on the host, and `begin(...)` if it also knows when one starts.

Honest times under asynchronous dispatch: a source whose framework queues work (JAX, CUDA) hands
a `ready` callable that blocks until the step's device work is done (and returns the loss). A
completion thread of the clock's own calls it, in step order, and timestamps its return, so a
step's time runs from the previous step's completion to this one's: a backlog of queued work
shows as long steps instead of hiding, and the program's thread never waits. A synchronous step
(no `ready`) is stamped on the spot, without waking any thread.
"""
from __future__ import annotations

import collections
import os
import threading
import time
from typing import Any, Callable, Optional

from .capture import CaptureBackend, CaptureWindow

PRIORITY: dict[str, int] = {
    "stepscope.step": 0,
    "torch.profiler": 1, "keras": 1, "jax.StepTraceAnnotation": 1, "tf.profiler.Trace": 1,
    "torch.optim": 2,
    "jax.jit": 3, "tf.function": 3,
}
SOURCE_FRAMEWORK = {"torch.profiler": "torch", "torch.optim": "torch", "keras": "tf", "tf.profiler.Trace": "tf",
                    "tf.function": "tf", "jax.StepTraceAnnotation": "jax", "jax.jit": "jax"}

Done = Callable[[], bool]  # non-blocking: has the step's device work finished?
Ready = Callable[[], Optional[float]]  # blocks until the step's device work is done; the loss or None
_Pending = tuple[int, str, Optional[Ready], Optional[float], Optional[int]]
_Deferred = tuple[int, str, Optional[Ready], Done, Optional[float], Optional[int]]


class StepClock:
    def __init__(self, emit: Callable[..., None], at: Callable[[float], float], window: CaptureWindow,
                 on_first_step: Callable[[str], None], backend_for: Callable[[str], CaptureBackend | None],
                 batch_size: Callable[[str], int | None], step: Callable[..., None] | None = None) -> None:
        self._emit = emit
        self._step = step or (lambda t, index, phase, step_ms, per_s, loss: emit(
            "step", t=t, index=index, phase=phase, step_ms=step_ms, samples_per_s=per_s, loss=loss))
        self._forked = False
        os.register_at_fork(after_in_child=self._in_child)
        self._at = at  # perf_counter value -> the stream's t
        self.window = window
        self._on_first_step = on_first_step
        self._backend_for = backend_for
        self._batch_size = batch_size
        self.source: str | None = None
        self.index = 0  # the number of the next step
        self._last_end = time.perf_counter()
        self._begun: float | None = None
        self._deferred: _Deferred | None = None  # the last step, when its end is asked at the next start
        self._resume = (-1, 0.0)  # (step, time): the first step after the capture window starts no earlier
        self._lock = threading.Lock()
        self._queue: collections.deque[_Pending] = collections.deque()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()

    # -- sources ---------------------------------------------------------------------------
    def drives(self, source: str, what: str | None = None) -> bool:
        """Whether `source` drives the step numbers (taking over from a lower one if it fires first now);
        `what` names the hooked thing (the jitted function's name) for the `step_source` sentence."""
        current = self.source
        if current == source:
            return True
        if current is not None and PRIORITY[source] >= PRIORITY[current]:
            return False
        self.source = source
        detail = describe_source(source, what)
        if current is not None:
            detail += f" (took over from {current} at step {self.index})"
        self._emit("step_source", source=source, detail=detail)
        return True

    def framework(self) -> str | None:
        return SOURCE_FRAMEWORK.get(self.source or "")

    def _in_child(self) -> None:
        """A forked child (a DataLoader worker) has no completion thread and no channel: it counts nothing."""
        self._forked = True

    def begin(self, source: str, what: str | None = None, at: float | None = None) -> None:
        """A step begins (now, or at the perf_counter value `at`: a source that learns late that a
        call was a step, e.g. the jitted function called a second time, dates step 0 back)."""
        if self._forked or not self.drives(source, what):
            return
        self._begun = time.perf_counter() if at is None else at
        self.window.before_step(self.index, self._backend_for(source))

    def end(self, source: str, loss: float | None = None, batch_size: int | None = None,
            ready: Ready | None = None, what: str | None = None, done: Done | None = None) -> None:
        """A step ended on the host. With `ready` (asynchronous dispatch) its time runs to when its
        work is done: with `done` too (a non-blocking "finished yet?"), the clock first asks at the
        next step's start (`poll`) and stamps it then if so, waking no thread while the device
        keeps up; otherwise, or without `done`, the completion thread waits for it."""
        if self._forked:
            return
        if self._deferred is not None:
            self.poll()
        took_over = self.index > 0 and self.source != source
        if not self.drives(source, what):
            return
        if took_over:  # the lower source has just ended this step: the higher one's first end is a boundary
            self._resume = (self.index, time.perf_counter())
            return
        index = self.index
        self.index += 1
        if index == 0:
            if self._begun is not None:
                self._last_end = self._begun
            self._on_first_step(source)
        window = self.window
        phase = "trace" if (window.active or window.stopped_at) and window.covers(index, self._last_end) else (
            "measure" if index else "warmup")
        batch = batch_size or self._batch_size(source)
        with self._lock:
            if ready is None and not self._queue and self._idle.is_set():
                self._finish(index, phase, time.perf_counter(), loss, batch)
            elif done is not None and not self._queue and self._idle.is_set() and not window.active \
                    and window.first != index + 1:  # (a window's edges settle at once, before its profiler moves)
                self._deferred = (index, phase, ready, done, loss, batch)
            else:
                self._queue.append((index, phase, ready, loss, batch))
                self._idle.clear()
                self._ensure_thread()
                self._wake.notify()
        self._begun = None
        if window.active:
            window.after_step(index, ready)
            if not window.active:  # the profiler's stop and export are not the next step's time
                self._resume = (index + 1, time.perf_counter())
        if window.requested is not None:  # a capture asked for while the program runs (docs/capture.md)
            window.arm_requested(index + 1)
        if window.first == index + 1 and not window.done:  # (cheap tests first: this runs at every step)
            window.before_step(index + 1, self._backend_for(source))

    def poll(self) -> None:
        """A step is starting (or the program ends): settle the previous step if it was left to ask."""
        deferred, self._deferred = self._deferred, None
        if deferred is None:
            return
        index, phase, ready, done, loss, batch = deferred
        now = time.perf_counter()
        try:
            finished = bool(done())
        except Exception:
            finished = False
        if finished and ready is not None:
            try:
                value = ready()  # the work is done: this only reads the loss
                loss = loss if loss is not None or value is None else float(value)
            except Exception:
                pass
        with self._lock:
            if finished and not self._queue and self._idle.is_set():
                self._finish(index, phase, now, loss, batch)
            else:
                self._queue.append((index, phase, ready, loss, batch))
                self._idle.clear()
                self._ensure_thread()
                self._wake.notify()

    # -- completion ------------------------------------------------------------------------
    def _finish(self, index: int, phase: str, t_end: float, loss: float | None, batch: int | None) -> None:
        """Emit one step (under the lock: steps leave in order)."""
        start = max(self._last_end, self._resume[1]) if index == self._resume[0] else self._last_end
        step_ms = max((t_end - start) * 1000.0, 0.0)
        self._last_end = t_end
        per_s = batch * 1000.0 / step_ms if batch and step_ms > 0 else None
        self._step(self._at(t_end), index, phase, step_ms, per_s, loss)

    def _ensure_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._complete, name="stepscope-completion", daemon=True)
            self._thread.start()

    def _complete(self) -> None:
        while True:
            with self._lock:
                while not self._queue:
                    self._idle.set()
                    self._wake.wait()
                index, phase, ready, loss, batch = self._queue[0]
            if ready is not None:
                try:
                    value = ready()
                    if value is not None and loss is None:
                        loss = float(value)
                except Exception:
                    pass  # a donated or deleted output: the step is over as far as we can tell
            t_end = time.perf_counter()
            with self._lock:
                self._queue.popleft()
                self._finish(index, phase, t_end, loss, batch)

    def drain(self, timeout: float) -> None:
        """Wait (at exit) until every step handed to the completion thread has been sent."""
        self.poll()
        self._idle.wait(timeout)


SOURCE_DETAIL = {
    "stepscope.step": "each stepscope.step() call in the program marks a step",
    "torch.profiler": "the program's torch.profiler steps (prof.step(), ProfilerStep#N)",
    "keras": "Keras batches (fit / evaluate / predict), through a callback added from outside",
    "jax.StepTraceAnnotation": "the program's jax.profiler.StepTraceAnnotation(step_num=...) blocks",
    "tf.profiler.Trace": "the program's tf.profiler.experimental.Trace(step_num=...) blocks",
    "torch.optim": "each torch.optim optimizer step (a global optimizer step hook)",
    "jax.jit": "each call of the jitted function the program calls over and over",
    "tf.function": "each call of the tf.function the program calls over and over",
}


def describe_source(source: str, name: Any = None) -> str:
    detail = SOURCE_DETAIL.get(source, source)
    return detail if not name else f"{detail}: {name}"
