"""The capture window for TensorFlow (docs/programs.md): tf.profiler on for exactly the window's
steps, into a fresh folder under the plan's `out_dir`, and the XPlane it wrote.

Its own module because it is the one part of the TensorFlow hooks that drives TF's profiler, and
the one that must keep out of the program's way when the program profiles itself: only one
tf.profiler session may run in a process. So `tf.profiler.experimental.start` is patched to see
the program start its own (the window is then skipped, or ours stops where theirs starts, with a
notice), and the capture calls the functions as they were before any patch of ours: the original
`start`/`stop` and the original `Trace` class (so our step markers are not steps of the
tf.profiler.Trace source).

Step markers: unless the program marks its steps itself (the tf.profiler.Trace source), a
`Trace("train", step_num=N)` of ours marks each step in the XPlane with the run's step number:
open from one step boundary to the next, or, for Keras, around each batch (opened and closed by
the keras callback through `SHARED.capture`).
"""
from __future__ import annotations

import functools
import importlib
import os
import tempfile
import threading
from typing import Any

from . import Agent
from .capture import CaptureBackend
from .tf_shared import KERAS_SOURCE, SHARED, TRACE_SOURCE

REFUSAL = ("the program runs its own tf.profiler, so Stepscope's capture window was skipped "
           "(its trace is the program's own)")
TENSORBOARD_REFUSAL = ("the program's Keras TensorBoard callback profiles batches with tf.profiler "
                       "(profile_batch), so Stepscope's capture window was skipped")


class Profiler:
    """tf.profiler as the program found it (our capture uses these), and the program's own use of it."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.start: Any = None  # tf.profiler.experimental.start before our patch (None: the patch failed)
        self.stop: Any = None
        self.trace: Any = None  # tf.profiler.experimental.Trace before tf_agent replaced it
        self.capture: TFCapture | None = None

    def patch_start(self, tf: Any) -> None:
        """The program's own tf.profiler.experimental.start (and Profile, which calls the module global)."""
        profiler_v2: Any = importlib.import_module("tensorflow.python.profiler.profiler_v2")
        experimental = tf.profiler.experimental
        original = profiler_v2.start
        guarded = self.agent.guarded
        starting = self.user_profiler_starting

        @functools.wraps(original)
        def start(*args: Any, **kwargs: Any) -> Any:
            guarded("tf.profiler start", starting)
            return original(*args, **kwargs)

        if getattr(experimental, "start", None) is original:
            experimental.start = start
        profiler_v2.start = start
        self.start, self.stop = original, profiler_v2.stop

    def user_profiler_starting(self) -> bool:
        SHARED.user_profiler = True
        capture = self.capture
        if capture is not None and capture.running:
            capture.abort("the program started its own tf.profiler")
        return True

    def backend(self) -> TFCapture | None:
        """The capture backend (made once); None when the start patch failed (a notice said so)."""
        if self.start is None:
            return None
        if self.capture is None:
            self.capture = TFCapture(self)
            SHARED.capture = self.capture
        return self.capture


class TFCapture(CaptureBackend):
    """tf.profiler on for the capture window, with a step marker of ours per step (see the module's docstring)."""

    framework = "tf"

    def __init__(self, profiler: Profiler) -> None:
        self.profiler = profiler
        self.running = False
        self.logdir = ""
        self.files: list[tuple[str, str]] = []
        self._marker: Any = None
        self._lock = threading.Lock()

    def refusal(self) -> str | None:
        if SHARED.user_profiler:
            return REFUSAL
        if SHARED.tensorboard_profiles:
            return TENSORBOARD_REFUSAL
        return None

    def start(self, out_dir: str, first_step: int | None) -> None:
        self.logdir = tempfile.mkdtemp(prefix="tf-profile-", dir=out_dir)
        self.files = []
        self.profiler.start(self.logdir)
        self.running = True
        if first_step is not None and self._marks_between():
            self.mark(first_step)

    def _marks_between(self) -> bool:
        """Whether our markers run from one boundary to the next (not for the program's own Trace
        markers, and not for Keras, whose callback marks each batch)."""
        return self.profiler.agent.clock.source not in (TRACE_SOURCE, KERAS_SOURCE)

    def boundary(self, next_step: int) -> None:
        if not self.running:
            return
        if self._marks_between():
            self.mark(next_step)
        else:
            self.unmark()

    def mark(self, step: int) -> None:
        """Open the marker of step `step` (closing the previous one)."""
        with self._lock:
            self._close()
            if not self.running or self.profiler.trace is None:
                return
            marker = self.profiler.trace("train", step_num=step, _r=1)
            marker.__enter__()
            self._marker = marker

    def unmark(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        marker, self._marker = self._marker, None
        if marker is not None:
            marker.__exit__(None, None, None)

    def stop(self) -> list[tuple[str, str]]:
        with self._lock:
            try:
                self._close()
            finally:
                running, self.running = self.running, False
                if running:
                    self.profiler.stop()
                    self.files = [("xplane", os.path.join(folder, name))
                                  for folder, _, names in sorted(os.walk(self.logdir))
                                  for name in sorted(names) if name.endswith(".xplane.pb")]
        return self.files

    def abort(self, why: str) -> None:
        """The program starts tf.profiler itself inside our window: ours stops first (only one may run)."""
        agent = self.profiler.agent
        step = agent.clock.index
        self.stop()
        agent.notice(f"{why} inside Stepscope's capture window, so the capture stopped there (at step {step})")
