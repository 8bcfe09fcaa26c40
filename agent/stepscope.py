"""Mark training steps for Stepscope in one line, when it cannot find them by itself:

    import stepscope
    for batch in data:
        loss = train_step(batch)
        stepscope.step(loss=loss, batch_size=len(batch))   # a step ends here

    for batch in data:
        with stepscope.step(batch_size=64):                # or: the block is one step
            train_step(batch)

Standard library only, Python >= 3.9. Under `stepscope run` each mark is a step of the run (the
loss may be a framework scalar: it is read off the program's thread). Without Stepscope it still
emits the loaded framework's own step marker (PyTorch `ProfilerStep#N`, JAX
`StepTraceAnnotation`, TensorFlow `Trace(step_num=N)`), so traces taken by the framework's own
profiler show the steps in TensorBoard/XProf and Perfetto.
"""
from __future__ import annotations

import dis
import sys
from typing import Any

__all__ = ["step"]
__version__ = "1"

_WITH_OPS = {"SETUP_WITH", "BEFORE_WITH", "SETUP_ASYNC_WITH", "BEFORE_ASYNC_WITH"}
_with_form: dict[tuple[Any, int], bool] = {}


def _called_as_with(frame: Any) -> bool:
    """Whether the caller's next instruction enters a `with` block on our result (CPython's
    bytecode: SETUP_WITH up to 3.10, BEFORE_WITH 3.11-3.13, COPY + LOAD_SPECIAL from 3.14)."""
    key = (frame.f_code, frame.f_lasti)
    known = _with_form.get(key)
    if known is None:
        instructions = list(dis.get_instructions(frame.f_code))
        after = [i for i in instructions if i.offset > frame.f_lasti and i.opname not in ("CACHE", "EXTENDED_ARG")]
        names = [i.opname for i in after[:2]]
        known = bool(names) and (names[0] in _WITH_OPS or names[:2] == ["COPY", "LOAD_SPECIAL"])
        _with_form[key] = known
    return known


class _Markers:
    """The framework's own step marker, kept open from one step boundary to the next (outside Stepscope)."""

    def __init__(self) -> None:
        self.number = 0
        self._open: Any = None

    def close(self) -> None:
        marker, self._open = self._open, None
        if marker is not None:
            try:
                marker.__exit__(None, None, None)
            except Exception:
                pass

    def open(self) -> None:
        self.close()
        number = self.number
        self.number += 1
        marker = None
        try:
            if "torch" in sys.modules and sys.modules["torch"].autograd._profiler_enabled():
                marker = sys.modules["torch"].profiler.record_function(f"ProfilerStep#{number}")
            elif "jax" in sys.modules and hasattr(sys.modules["jax"], "profiler"):
                marker = sys.modules["jax"].profiler.StepTraceAnnotation("train", step_num=number)
            elif "tensorflow" in sys.modules:
                marker = sys.modules["tensorflow"].profiler.experimental.Trace("train", step_num=number, _r=1)
            if marker is not None:
                marker.__enter__()
                self._open = marker
        except Exception:
            self._open = None


_markers = _Markers()


def _agent() -> Any:
    return sys.modules.get("stepscope_agent")


class step:  # noqa: N801 - used as a function: stepscope.step(...)
    """`stepscope.step(loss=..., batch_size=...)`: a step ends here. `with stepscope.step(...):`:
    the block is one step. `loss` may be a Python number or a framework scalar."""

    def __init__(self, loss: Any = None, batch_size: int | None = None) -> None:
        self._batch_size = batch_size
        self._loss = loss
        self._as_block = _called_as_with(sys._getframe(1))
        if not self._as_block:
            self._end(loss)
            if not self._under_stepscope:
                _markers.open()  # the next step's marker, open until the next call

    _under_stepscope = False

    def _end(self, loss: Any) -> None:
        agent = _agent()
        if agent is not None and agent.user_step_end(loss, self._batch_size):
            self._under_stepscope = True

    def __enter__(self) -> step:
        agent = _agent()
        self._under_stepscope = bool(agent is not None and agent.user_step_begin())
        if not self._under_stepscope:
            _markers.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        if not self._as_block:
            return
        self._end(self._loss)
        if not self._under_stepscope:
            _markers.close()
