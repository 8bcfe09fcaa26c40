"""The `jax.StepTraceAnnotation` step source: the program's own `jax.profiler.StepTraceAnnotation` blocks.

Why: a program that marks its steps for JAX's profiler has already said what a step is, so its
blocks outrank the hot jitted function (docs/programs.md, "Step sources"). The class is replaced by
a subclass whose block is one step (`__enter__` begins it, `__exit__` ends it); nested blocks count
once. An annotation itself knows nothing of the device, so a block's end is the host's time,
unless the hot jitted function (jax_jit) was called inside the block: then the step ends when that
call's outputs are ready, and its loss is the step's loss (so step 0, before any function is known
to be hot, has host time and no loss). Stepscope numbers steps from 0; a program whose `step_num`
differs gets a notice, since the trace then shows the program's numbers. While these blocks are
the step source, the capture window adds no step markers of its own (theirs are in the trace).

Nothing here imports JAX: the subclass derives from the class found on the module jax_agent.install hands over.
"""
from __future__ import annotations

from typing import Any

from . import Agent
from .clock import Ready
from .jax_capture import JaxProfiler
from .jax_jit import JIT, JitHook

ANNOTATION = "jax.StepTraceAnnotation"


class AnnotationHook:
    """Turns the outermost annotation block of a thread into one step."""

    def __init__(self, agent: Agent, jit: JitHook, profiler: JaxProfiler) -> None:
        self.agent = agent
        self.jit = jit
        self.profiler = profiler
        self.off = False  # stood down (a failure, or a forked child)

    def stand_down(self, exc: Exception) -> None:
        self.off = True
        self.agent.notice(f"stepscope's {ANNOTATION} hook failed and stands down ({type(exc).__name__}: {exc})",
                          once=ANNOTATION)

    def enter(self, name: str, step_num: Any) -> None:
        local = self.jit.local
        depth = local.annotations
        local.annotations = depth + 1
        if depth:
            return
        local.last_out = None
        clock = self.agent.clock
        if step_num is not None and clock.source in (None, JIT, ANNOTATION):
            try:
                number = int(step_num)
            except (TypeError, ValueError):
                number = None
            if number is not None and number != clock.index:
                self.agent.notice(f"the program's StepTraceAnnotation step_num ({number}) is not Stepscope's step number "
                                  f"({clock.index}, counted from 0): its trace shows the program's numbers", once="jax step_num")
        self.agent.begin(ANNOTATION, what=name)
        if clock.source == ANNOTATION:
            self.profiler.program_marks()

    def exit(self) -> None:
        local = self.jit.local
        depth = local.annotations
        local.annotations = max(depth - 1, 0)
        if depth != 1:
            return
        last, local.last_out = local.last_out, None
        hot = self.jit.hot
        ready: Ready | None = None
        if last is not None and hot is not None and last[0] is hot:
            ready = self.jit.ready_for(hot, last[1])
        self.agent.end(ANNOTATION, ready=ready)


def patch_annotation(jax: Any, hook: AnnotationHook) -> None:
    """`jax.profiler.StepTraceAnnotation` becomes a subclass of JAX's whose blocks are steps."""
    original = hook.profiler.original_annotation

    class StepTraceAnnotation(original):  # type: ignore[misc, valid-type]  # JAX's class, seen as Any
        def __init__(self, name: str, **kwargs: Any) -> None:
            super().__init__(name, **kwargs)
            self._stepscope = (name, kwargs.get("step_num"))

        def __enter__(self) -> Any:
            if not hook.off:
                try:
                    name, step_num = getattr(self, "_stepscope", ("", None))
                    hook.enter(name, step_num)
                except Exception as exc:
                    hook.stand_down(exc)
            return super().__enter__()

        def __exit__(self, *exc: Any) -> Any:
            result = super().__exit__(*exc)
            if not hook.off:
                try:
                    hook.exit()
                except Exception as exc:
                    hook.stand_down(exc)
            return result

    for attribute in ("__name__", "__qualname__", "__module__", "__doc__"):
        try:
            setattr(StepTraceAnnotation, attribute, getattr(original, attribute))
        except (AttributeError, TypeError):
            pass
    jax.profiler.StepTraceAnnotation = StepTraceAnnotation
