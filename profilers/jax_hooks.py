"""jax.profiler trace hook: one XPlane (plus JAX's own Chrome trace when it writes one) for
the labelled trace window, so the heavy tracing never touches the timed steps."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import jax

from profilers.hooks import Artifact, checked


class JaxTraceHook:
    """start_trace/stop_trace around the window; each step a StepTraceAnnotation, which is
    what the XPlane tools use to split the trace into steps."""

    def __init__(self, out_dir: Path, steps: int, with_stack: bool) -> None:
        self.out_dir = Path(out_dir)
        self.steps_needed = steps  # no warm-up step inside the window, unlike torch.profiler
        self.with_stack = with_stack  # jax.profiler has no per-op Python stacks to switch on
        self._active = False
        self._before: dict[Path, int] = {}

    def _files(self) -> dict[Path, int]:
        """Trace files under out_dir with their modification times, to tell this window's
        output from an earlier one's (the run folders are named to the second and can be reused)."""
        root = self.out_dir / "plugins" / "profile"
        paths = [*root.glob("*/*.xplane.pb"), *root.glob("*/*.trace.json.gz")]
        return {p: p.stat().st_mtime_ns for p in paths}

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._before = self._files()
        jax.profiler.start_trace(str(self.out_dir))
        self._active = True

    @contextmanager
    def step(self, index: int) -> Iterator[None]:
        with jax.profiler.StepTraceAnnotation("train", step_num=index):
            yield

    def stop(self) -> None:
        if not self._active:
            return  # never started, start failed, or already stopped
        self._active = False  # first: a failing stop_trace must not be retried forever
        jax.profiler.stop_trace()  # type: ignore[no-untyped-call]  # jax leaves stop_trace unannotated

    def artifacts(self) -> list[Artifact]:
        new = sorted(p for p, mtime in self._files().items() if self._before.get(p) != mtime)
        xplanes = [p for p in new if p.name.endswith(".xplane.pb")]
        traces = [p for p in new if p.name.endswith(".trace.json.gz")]
        out = checked("xplane", xplanes, "jax.profiler")
        if traces:
            out += checked("chrome-trace", traces, "jax.profiler")
        return out


def make_hook(out_dir: Path, steps: int, with_stack: bool) -> JaxTraceHook:
    """The trace hook for a JAX run; `hook.steps_needed` steps make the window."""
    return JaxTraceHook(out_dir, steps, with_stack)
