"""JAX hooks (docs/programs.md): `install(agent, jax)` is what the agent calls once `import jax` has
finished; it puts the JAX hooks in place and registers JAX as a framework (its device, its
parameter-count guess, its capture backend). It is the one JAX module that imports anything of
JAX's (`jax.profiler`, `jax._src.core`) and numpy; the others get the module objects from here.

Why the hooks are split: each is one concept of its own, with its own stand-down.

* jax_jit -- the `jax.jit` step source: a wrapper around each jitted function, the hot function
  (the first one called twice) and its calls as steps, step 0 dated back to its first call.
* jax_annotation -- the `jax.StepTraceAnnotation` step source: the program's own annotated blocks.
* jax_outputs -- device-honest step ends under JAX's asynchronous dispatch: waiting for a call's
  outputs on the completion thread, and the loss found among them.
* jax_capture -- the capture window as a `jax.profiler` XPlane whose step markers carry the run's
  step numbers, out of the way of the program's own `jax.profiler` use.
* here -- compile times from `jax.monitoring` (a `compile` event per backend compilation) and the
  framework's description (`hello`: the first device; the parameter count guessed by jax_jit).

Everything here runs inside the user's program: every patched function calls the original with
the same arguments and returns its result unchanged, and our own work is guarded, so a failure
becomes a notice and that hook stands down. In a forked child nothing of ours runs.
"""
from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from . import Agent, Framework, cpu_name
from .capture import CaptureBackend
from .jax_annotation import ANNOTATION, AnnotationHook, patch_annotation
from .jax_capture import JaxProfiler, patch_profiler
from .jax_jit import JIT, JitHook, patch_jit

COMPILE = "jax compile"
BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"  # jax._src.dispatch.BACKEND_COMPILE_EVENT
PLATFORM_KIND = {"cpu": "cpu", "gpu": "gpu", "cuda": "gpu", "rocm": "gpu", "tpu": "tpu"}


class _Compiles:
    """A `jax.monitoring` duration listener: each backend compilation becomes a `compile` event."""

    def __init__(self, agent: Agent, event: str) -> None:
        self.agent = agent
        self.event = event
        self.off = False

    def __call__(self, event: str, duration: float, **kwargs: Any) -> None:
        if event != self.event or self.off:
            return
        try:
            name = str(kwargs.get("fun_name") or "")
            if name.startswith("jit(") and name.endswith(")"):
                name = name[4:-1]
            self.agent.channel.emit("compile", ms=round(float(duration) * 1000.0, 3),
                                    what=("jax.jit " + name) if name else "xla")
        except Exception as exc:  # never into JAX's compile path
            self.off = True
            self.agent.notice(f"stepscope's {COMPILE} hook failed and stands down ({type(exc).__name__}: {exc})",
                              once=COMPILE)


def _listen_to_compiles(jax: Any, compiles: _Compiles) -> None:
    monitoring = getattr(jax, "monitoring", None)
    register = getattr(monitoring, "register_event_duration_secs_listener", None)
    if register is None:
        return
    dispatch = sys.modules.get("jax._src.dispatch")
    compiles.event = str(getattr(dispatch, "BACKEND_COMPILE_EVENT", compiles.event))
    register(compiles)


class JaxFramework(Framework):
    name = "jax"

    def __init__(self, jax: Any, jit: JitHook, profiler: JaxProfiler) -> None:
        self._jax = jax
        self._jit = jit
        self._profiler = profiler
        self.version = str(getattr(jax, "__version__", ""))

    def describe(self) -> dict[str, Any]:
        """The first device; param_count: the size of the hot jitted function's first argument
        (`train_step(params, ...)`; `.params` of a train state), a guess, None before one is known."""
        device = self._jax.devices()[0]
        platform = str(getattr(device, "platform", "cpu")).lower()
        kind = PLATFORM_KIND.get(platform, platform)
        name = str(getattr(device, "device_kind", "") or device)
        if kind == "cpu":
            name = cpu_name()
        return {"device_kind": kind, "device_name": name, "param_count": self._jit.param_count}

    def batch_hint(self) -> int | None:
        """None: the leading dimension of a jitted function's arguments is not reliably the batch."""
        return None

    def capture_backend(self) -> CaptureBackend | None:
        return self._profiler.new_capture()

    def device_memory(self) -> tuple[int, int, str] | None:
        """The first device's allocator (`memory_stats()`: bytes in use and their peak); None on a
        CPU, whose client keeps no such figures."""
        stats = self._jax.devices()[0].memory_stats()
        if not stats or "bytes_in_use" not in stats:
            return None
        in_use = int(stats["bytes_in_use"])
        return in_use, int(stats.get("peak_bytes_in_use", in_use)), "jax.memory_stats"


def _core() -> Any:
    """`jax._src.core`, for jax_jit's cheap "not inside a trace" test; None where it is not there."""
    try:
        return importlib.import_module("jax._src.core")
    except Exception:
        return None


def install(agent: Agent, jax: Any) -> None:
    """Hook the just-imported `jax` module (see the module docstring)."""
    if getattr(jax, "_stepscope_hooked", False):
        return
    importlib.import_module("jax.profiler")
    jit = JitHook(agent, jax, importlib.import_module("numpy"), _core())  # numpy: JAX's own dependency
    profiler = JaxProfiler(agent, jax, program_marker=ANNOTATION)
    annotation = AnnotationHook(agent, jit, profiler)
    compiles = _Compiles(agent, BACKEND_COMPILE_EVENT)
    agent.guarded("jax.profiler", patch_profiler, jax, profiler)
    agent.guarded(ANNOTATION, patch_annotation, jax, annotation)
    agent.guarded(JIT, patch_jit, jax, jit)
    agent.guarded(COMPILE, _listen_to_compiles, jax, compiles)

    def forked() -> None:
        """In a forked child (a data worker): silent, and nothing of ours runs there."""
        jit.off = annotation.off = compiles.off = True

    os.register_at_fork(after_in_child=forked)
    jax._stepscope_hooked = True
    agent.register(JaxFramework(jax, jit, profiler))
