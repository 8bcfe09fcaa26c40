"""The capture window for JAX, and the program's own `jax.profiler` use kept out of its way.

Why: `--steps A:B` records the framework's own trace (docs/programs.md, "Step numbers and the
capture window"); for JAX that is `jax.profiler.start_trace` into a fresh folder under the plan's
`out_dir` (`jax-steps-A-B`), with a `StepTraceAnnotation("train", step_num=n)` of ours open from
one step boundary to the next, so the XPlane's step markers carry the run's step numbers (none
when the program's own annotations are the step source: theirs are in the trace; none in a
time-based window, which has no boundaries). JAX runs one trace at a time, so the program's own
`start_trace`/`stop_trace` (and `jax.profiler.trace`, which calls them from jax._src.profiler) are
watched: if the program's trace is running when the window would start, the window is skipped (a
notice); if the program starts its own trace (or calls stop_trace) while ours runs, ours ends
there, keeps its file and yields the profiler to it, so the program's profiling behaves as without
Stepscope.

Nothing here imports JAX: the `jax` module is handed over by jax_agent.install.
"""
from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

from . import Agent
from .capture import CaptureBackend

REFUSAL = ("the program runs its own jax.profiler trace, so Stepscope's capture window was skipped "
           "(its trace is the program's own)")


class JaxProfiler:
    """JAX's profiler as both of us use it: its own functions, whether the program's trace runs, and ours."""

    def __init__(self, agent: Agent, jax: Any, program_marker: str) -> None:
        self.agent = agent
        self.program_marker = program_marker  # the step source that is the program's own step markers
        self.original_annotation: Any = jax.profiler.StepTraceAnnotation
        self.original_start: Callable[..., Any] = jax.profiler.start_trace
        self.original_stop: Callable[..., Any] = jax.profiler.stop_trace
        self.program_tracing = False  # the program's own jax.profiler trace is running
        self.capture: JaxCapture | None = None

    def new_capture(self) -> JaxCapture:
        self.capture = JaxCapture(self)
        return self.capture

    def program_marks(self) -> None:
        """The program's own annotations are the step source: ours would only double them."""
        if self.capture is not None:
            self.capture.close_marker()

    def program_starts_trace(self) -> None:
        capture = self.capture
        if capture is not None and capture.running:
            capture.yield_to_program("started its own jax.profiler trace")

    def program_stops_trace(self) -> None:
        capture = self.capture
        if capture is not None and capture.running and not self.program_tracing:
            capture.yield_to_program("called jax.profiler.stop_trace")


class JaxCapture(CaptureBackend):
    """jax.profiler.start_trace/stop_trace into a fresh folder, our step markers in between."""

    framework = "jax"

    def __init__(self, profiler: JaxProfiler) -> None:
        self._profiler = profiler
        self._folder: str | None = None
        self._marker: Any = None
        self._files: list[tuple[str, str]] = []
        self.running = False

    def refusal(self) -> str | None:
        if self._profiler.program_tracing:
            return REFUSAL
        return None

    def start(self, out_dir: str, first_step: int | None) -> None:
        window = self._profiler.agent.window
        if first_step is not None and window.end is not None:
            base = os.path.join(out_dir, f"jax-steps-{first_step}-{window.end}")
        else:
            base = os.path.join(out_dir, f"jax-trace-{os.getpid()}")
        folder, n = base, 1
        while os.path.exists(folder):
            n += 1
            folder = f"{base}-{n}"
        os.makedirs(folder)
        self._folder = folder
        self._profiler.original_start(folder)
        self.running = True
        if first_step is not None:
            self._open(first_step)

    def _ours(self) -> bool:
        profiler = self._profiler
        return profiler.agent.clock.source != profiler.program_marker

    def _open(self, step: int) -> None:
        if self.running and self._ours():
            marker = self._profiler.original_annotation("train", step_num=step)
            marker.__enter__()
            self._marker = marker

    def close_marker(self) -> None:
        marker, self._marker = self._marker, None
        if marker is not None:
            marker.__exit__(None, None, None)

    def boundary(self, next_step: int) -> None:
        self.close_marker()
        self._open(next_step)

    def stop(self) -> list[tuple[str, str]]:
        self.close_marker()
        if self.running:
            self.running = False  # first: a failing stop_trace is not retried
            self._profiler.original_stop()
            self._files = self._written()
        return self._files

    def yield_to_program(self, why: str) -> None:
        """The program wants the profiler (only one trace at a time): ours ends here, its files kept."""
        agent = self._profiler.agent
        self.stop()
        agent.notice(f"the program {why} at step {agent.clock.index}, inside the capture window: Stepscope's trace ended there")

    def _written(self) -> list[tuple[str, str]]:
        if self._folder is None:
            return []
        root = os.path.join(self._folder, "plugins", "profile")
        found: list[tuple[str, str]] = []
        try:
            runs = sorted(os.listdir(root))
        except OSError:
            return []
        for run in runs:
            folder = os.path.join(root, run)
            try:
                names = sorted(os.listdir(folder))
            except OSError:
                continue
            for name in names:
                if name.endswith(".xplane.pb"):  # JAX's trace.json.gz beside it holds the same events
                    found.append(("xplane", os.path.join(folder, name)))
        return found


def patch_profiler(jax: Any, profiler: JaxProfiler) -> None:
    """The program's own start_trace/stop_trace (and `jax.profiler.trace`, which calls them from
    jax._src.profiler): noted, so our window stays out of its way."""
    agent = profiler.agent
    original_start, original_stop = profiler.original_start, profiler.original_stop

    @functools.wraps(original_start)
    def start_trace(*args: Any, **kwargs: Any) -> Any:
        agent.guarded("jax.profiler", profiler.program_starts_trace)
        result = original_start(*args, **kwargs)
        profiler.program_tracing = True
        return result

    @functools.wraps(original_stop)
    def stop_trace(*args: Any, **kwargs: Any) -> Any:
        agent.guarded("jax.profiler", profiler.program_stops_trace)
        try:
            return original_stop(*args, **kwargs)
        finally:
            profiler.program_tracing = False

    modules = [jax.profiler, sys.modules.get("jax._src.profiler")]
    for module in modules:
        if module is None:
            continue
        if getattr(module, "start_trace", None) is original_start:
            module.start_trace = start_trace
        if getattr(module, "stop_trace", None) is original_stop:
            module.stop_trace = stop_trace
