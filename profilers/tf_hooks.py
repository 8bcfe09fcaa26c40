"""The TensorFlow trace hook: tf.profiler around the trace window, one Trace annotation per step.

tf.profiler writes only an XPlane (`out_dir/plugins/profile/<run>/<host>.xplane.pb`); the
GUI converts it with xprof. Only one TF profile may run per process, so stop() is safe to
call twice and after a failed start, and a later start in the same process works.
"""
from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import tensorflow as tf

from profilers.hooks import Artifact, checked


class TFTraceHook:
    """Profiles `steps` steps. `with_stack` is accepted for the common interface only:
    tf.profiler has no per-op call stacks (its Python tracer, kept off, records Python calls,
    which a tf.function step barely makes); TF op names already carry the Keras layer path."""

    def __init__(self, out_dir: Path, steps: int, with_stack: bool) -> None:
        self.out_dir = Path(out_dir)
        self.steps_needed = steps  # Trace annotations need no extra step, unlike torch's schedule
        self.with_stack = with_stack
        self._running = False
        self._before: dict[Path, int] = {}

    def _xplanes(self) -> dict[Path, int]:
        """XPlane files with their modification times: TF names a run's folder by the second,
        so two profiles within one second write the same path."""
        return {path: path.stat().st_mtime_ns for path in self.out_dir.glob("plugins/profile/*/*.xplane.pb")}

    def start(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._before = self._xplanes()
        # TF 2.21 ignores these (its C++ side logs "host_tracer_level expects an i value" for
        # each) and falls back to its defaults, which are these same levels; passed for clarity.
        options = tf.profiler.experimental.ProfilerOptions(host_tracer_level=2, python_tracer_level=0, device_tracer_level=1)
        tf.profiler.experimental.start(str(self.out_dir), options=options)
        self._running = True

    def step(self, index: int) -> AbstractContextManager[None]:
        annotation: AbstractContextManager[None] = tf.profiler.experimental.Trace("train", step_num=index, _r=1)
        return annotation

    def stop(self) -> None:
        if not self._running:
            return
        self._running = False  # even if stop() raises, the profile is over for this hook
        tf.profiler.experimental.stop()

    def artifacts(self) -> list[Artifact]:
        """The XPlane(s) this hook's session wrote (not older runs in the same folder)."""
        fresh = [path for path, mtime in self._xplanes().items() if self._before.get(path) != mtime]
        return checked("xplane", sorted(fresh), "tf.profiler")


def make_hook(out_dir: Path, steps: int, with_stack: bool) -> TFTraceHook:
    return TFTraceHook(out_dir, steps, with_stack)
