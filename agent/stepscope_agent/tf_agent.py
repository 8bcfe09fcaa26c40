"""TensorFlow hooks (docs/programs.md): the module the agent loads once `import tensorflow` has
finished (`install(agent, tf)`). It puts the pieces in place, each standing alone so that one
failing leaves the others, and registers TensorFlow with the agent:

* steps from the program's own `tf.profiler.experimental.Trace(..., step_num=N)` blocks (here),
* steps from the `tf.function` the program calls over and over (tf_function),
* the capture window as a `tf.profiler` XPlane whose `Trace(step_num=N)` markers carry the run's
  step numbers, out of the way of the program's own tf.profiler (tf_capture),
* the device and parameter count at the first step (here, for `hello`).

Keras (keras_agent) shares `SHARED` (tf_shared) with these hooks: its `fit` drives the steps with
a callback, and then the tf.function source stays quiet.

The tf.profiler.Trace source: `tf.profiler.experimental.Trace` is replaced by a subclass; a Trace
without `step_num` is not a step, and our own capture markers use the original class. The step
begins when the Trace is created (so that a capture window starting there already records its
marker) and ends when the block is left without an exception. tf_keras wraps its batches in
`Trace(step_num=...)`: while a Keras call runs, the keras source drives and these are not steps.

Everything here runs inside the user's program: every patched function calls the original with the
same arguments and returns its result unchanged, and our own work runs under `agent.guarded` (or
catches its own errors), so a failure becomes a notice and that hook stands down.
"""
from __future__ import annotations

from typing import Any

from . import Agent, Framework, cpu_name
from .capture import CaptureBackend
from .tf_capture import Profiler
from .tf_function import FunctionSource, patch_function
from .tf_shared import SHARED as SHARED  # keras_agent reaches the shared state through this module
from .tf_shared import TRACE_SOURCE


class TFFramework(Framework):
    name = "tf"

    def __init__(self, tf: Any, profiler: Profiler) -> None:
        self.tf = tf
        self.profiler = profiler
        self.version = str(getattr(tf, "__version__", ""))

    def describe(self) -> dict[str, Any]:
        tf = self.tf
        count = SHARED.param_count()
        for kind in ("GPU", "TPU"):
            if tf.config.list_logical_devices(kind):
                name = kind
                try:
                    physical = tf.config.list_physical_devices(kind)
                    details = tf.config.experimental.get_device_details(physical[0]) if physical else {}
                    name = str(details.get("device_name") or kind)
                except Exception:
                    pass
                return {"device_kind": kind.lower(), "device_name": name, "param_count": count}
        return {"device_kind": "cpu", "device_name": cpu_name(), "param_count": count}

    def batch_hint(self) -> int | None:
        return SHARED.keras_batch

    def capture_backend(self) -> CaptureBackend | None:
        return self.profiler.backend()

    def device_memory(self) -> tuple[int, int, str] | None:
        """TF's allocator on the first GPU (`get_memory_info`: current and peak bytes); None without one."""
        if not self.tf.config.list_logical_devices("GPU"):
            return None
        info = self.tf.config.experimental.get_memory_info("GPU:0")
        return int(info["current"]), int(info["peak"]), "tf.get_memory_info"


def install(agent: Agent, tf: Any) -> None:
    profiler = Profiler(agent)
    agent.guarded("tf.profiler", profiler.patch_start, tf)  # each hook stands alone: one failing leaves the others
    agent.guarded("tf.profiler.Trace", _patch_trace, agent, tf, profiler)
    agent.guarded("tf.function", patch_function, FunctionSource(agent, tf), tf)
    agent.register(TFFramework(tf, profiler))  # last: with --steps 0:B the capture starts here


def _patch_trace(agent: Agent, tf: Any, profiler: Profiler) -> None:
    """The tf.profiler.Trace source (see the module's docstring)."""
    experimental = tf.profiler.experimental
    original = experimental.Trace
    profiler.trace = original
    guarded = agent.guarded
    down = [False]  # the hook failed once: it stands down

    def created() -> bool:
        """A Trace with step_num is being created: True if it is a step of ours."""
        if SHARED.keras_busy:
            return False  # tf_keras wraps its batches in Trace(step_num=...): the keras source drives
        agent.begin(TRACE_SOURCE)
        return True

    def left() -> bool:
        agent.end(TRACE_SOURCE)
        return True

    class Trace(original):  # type: ignore[misc,valid-type]
        _stepscope_step = False

        def __init__(self, name: Any, **kwargs: Any) -> None:
            if "step_num" in kwargs and not down[0]:  # begin before TF's TraceMe starts its clock
                began = guarded(TRACE_SOURCE, created)
                if began is None:
                    down[0] = True
                elif began:
                    self._stepscope_step = True
            super().__init__(name, **kwargs)

        def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> Any:
            result = super().__exit__(exc_type, exc_val, exc_tb)
            if self._stepscope_step and exc_type is None and not down[0]:
                if guarded(TRACE_SOURCE, left) is None:
                    down[0] = True
            return result

    for attribute in ("__name__", "__qualname__", "__module__", "__doc__"):
        try:
            setattr(Trace, attribute, getattr(original, attribute))
        except (AttributeError, TypeError):
            pass
    experimental.Trace = Trace
