"""The tf.function step source (docs/programs.md): in a custom training loop, the `tf.function` the
program calls over and over is its training step, and each call of it is a step.

Its own module because it is the one hook of the TensorFlow agent that runs at every step of a
custom loop, so it is written for that: `Function.__call__` is patched on the class, and a call of
the hot Function costs the program the original call plus a few attribute checks, reading the loss
and the clock's `end` (no `begin`: the clock's `end` already opens the next step, and a step's time
runs from the previous step's end).

How the hot Function is found: calls made at depth 0 (not from inside another tf.function's call
or tracing, counted per thread) are remembered per Function (weakly, at most MAX_REMEMBERED); the
first Function called a second time is the hot one, and every call of it is a step. Its first call
is step 0, reported when the second call comes (it spans from the first call's start to the
second call's start: it pays for tracing and the first call's set-up). The loss is the first
scalar float tensor among the outputs. Without a GPU, TF runs a call synchronously: the loss is
read on the spot and no thread is involved; with a GPU, the agent's completion thread reads it
(`numpy()` waits for the step's device work). Calls made while a Keras `fit`/`evaluate`/`predict`
runs are never counted (Keras's train_function is a tf.function too: the keras source drives),
and once a higher source drives the steps this one stands down for good.

The patched `__call__` calls the original with the same arguments and returns its result
unchanged; our part runs under `agent.guarded` or catches its own errors, so a failure becomes a
notice and the source stands down.
"""
from __future__ import annotations

import functools
import threading
import time
import weakref
from typing import Any, Callable

from . import Agent
from .clock import PRIORITY
from .tf_shared import FUNCTION_SOURCE, SHARED

MAX_REMEMBERED = 256  # Functions called once that we remember (the oldest are forgotten first)

Path = tuple[Any, ...]  # where the loss sits in a function's outputs: indices / keys, () for the output itself


def _is_scalar_float(value: Any) -> bool:
    if isinstance(value, float):
        return True
    dtype = getattr(value, "dtype", None)
    shape = getattr(value, "shape", None)
    if dtype is None or shape is None or not hasattr(value, "numpy"):
        return False
    try:
        return bool(getattr(dtype, "is_floating", False)) and len(shape) == 0
    except Exception:  # an unknown rank (symbolic)
        return False


def scalar_path(value: Any, depth: int = 0) -> Path | None:
    """Where the first scalar float tensor is in a function's outputs (tuples, lists, dicts), or None."""
    if _is_scalar_float(value):
        return ()
    if depth >= 4:
        return None
    items: Any
    if isinstance(value, (tuple, list)):
        items = enumerate(value)
    elif isinstance(value, dict):
        items = value.items()
    else:
        return None
    for n, (key, item) in enumerate(items):
        if n >= 64:
            break
        inner = scalar_path(item, depth + 1)
        if inner is not None:
            return (key,) + inner
    return None


def read_loss(value: Any, path: Path | None) -> float | None:
    """float() of the leaf at `path` (numpy() of an EagerTensor waits for its value); None if it is not there."""
    if path is None:
        return None
    try:
        for key in path:
            value = value[key]
        return float(value)
    except Exception:
        return None


class FunctionSource:
    """The tf.function source's state (one per process) and its work around a patched call."""

    def __init__(self, agent: Agent, tf: Any) -> None:
        self.agent = agent
        self.clock = agent.clock
        self.tf = tf
        self.local = threading.local()  # .depth: inside a tf.function call or its tracing, on this thread
        self.off = False  # the source stands down (a higher source drives, or it failed)
        self.hot: Any = None  # the Function called over and over
        self.hot_name = ""
        self.hot_path: Path | None = None  # where the loss is in its outputs
        self.path_known = False
        self.asynchronous = False  # a GPU: read the loss on the completion thread
        self.once: dict[int, tuple[Callable[[], Any], float, Any]] = {}  # id -> (weak Function, start, loss leaf)

    def _quiet(self) -> bool:
        """Whether a higher source drives the steps now (then this source stands down for good)."""
        source = self.clock.source
        if source is not None and source != FUNCTION_SOURCE and PRIORITY.get(source, 99) < PRIORITY[FUNCTION_SOURCE]:
            self.off = True
            self.once.clear()
            return True
        return False

    def run(self, function: Callable[..., Any], *args: Any) -> Any:
        """Our part of a patched call; None (it failed: a notice was sent) stands the source down."""
        result = self.agent.guarded(FUNCTION_SOURCE, function, *args)
        if result is None:
            self.off = True
        return result

    def first_call(self, function: Any, started: float, out: Any) -> bool:
        """A depth-0 call of a Function has returned, and no Function is hot yet."""
        if self.hot is not None or self._quiet() or not self.tf.executing_eagerly():
            return True  # (a call while tracing in another thread, e.g. tf.data's, is not the program's step)
        key = id(function)
        if key in self.once:
            return True
        if len(self.once) >= MAX_REMEMBERED:
            self.once.pop(next(iter(self.once)))
        path = scalar_path(out)
        leaf = None
        if path is not None:
            leaf = out
            for part in path:
                leaf = leaf[part]
        self.once[key] = (weakref.ref(function), started, leaf)
        return True

    def promote(self, function: Any) -> bool:
        """Called before a depth-0 call: True if `function` is now the hot Function. Its second call
        makes it so, and its first call is then reported as step 0 (begun when that call began)."""
        entry = self.once.get(id(function))
        if self.hot is not None or entry is None or entry[0]() is not function or self._quiet():
            return False
        if not self.tf.executing_eagerly():
            return False
        _, started, leaf = entry
        self.once.clear()
        self.hot = function
        self.hot_name = str(getattr(function, "__name__", None) or getattr(function, "name", None) or "tf.function")
        try:
            self.asynchronous = bool(self.tf.config.list_logical_devices("GPU"))
        except Exception:
            self.asynchronous = False
        self.agent.begin(FUNCTION_SOURCE, what=self.hot_name, at=started)
        self._end(leaf, () if leaf is not None else None)
        return True

    def hot_called(self, out: Any) -> None:
        """The hot Function returned `out`: the step ends (inlined: this runs at every step)."""
        try:
            if self.clock.source != FUNCTION_SOURCE and self._quiet():
                return
            if not self.path_known:
                self.hot_path, self.path_known = scalar_path(out), True
            path = self.hot_path
            loss = None
            if path is not None:
                if self.asynchronous:
                    self._end(out, path)
                    return
                try:
                    value = out
                    for key in path:
                        value = value[key]
                    loss = float(value)
                except Exception:
                    loss = None
            self.agent.end(FUNCTION_SOURCE, loss, None, None, self.hot_name)
        except Exception as exc:
            self.off = True
            self.agent.notice(f"stepscope's tf.function hook failed and stands down ({type(exc).__name__}: {exc})",
                              once=FUNCTION_SOURCE)

    def _end(self, out: Any, path: Path | None) -> None:
        if self.asynchronous and path is not None:
            def ready() -> float | None:
                return read_loss(out, path)
            self.agent.end(FUNCTION_SOURCE, ready=ready, what=self.hot_name)
        else:
            self.agent.end(FUNCTION_SOURCE, loss=read_loss(out, path), what=self.hot_name)


def patch_function(source: FunctionSource, tf: Any) -> None:
    """Replace `Function.__call__` (the class of `tf.function(...)`'s result) with ours."""
    function_type = type(tf.function(lambda: 0))
    original = function_type.__call__
    local = source.local
    run = source.run
    promote = source.promote
    first_call = source.first_call
    hot_called = source.hot_called
    perf_counter = time.perf_counter

    @functools.wraps(original)
    def __call__(self: Any, *args: Any, **kwds: Any) -> Any:  # noqa: N807 - the method it replaces
        if source.off or SHARED.keras_busy or getattr(local, "depth", 0):
            return original(self, *args, **kwds)
        local.depth = 1  # calls made inside this one (or its tracing) are not the program's steps
        try:
            hot = source.hot
            if hot is None:
                if not (source.once and run(promote, self)):
                    started = perf_counter()
                    out = original(self, *args, **kwds)
                    run(first_call, self, started, out)
                    return out
            elif self is not hot:
                return original(self, *args, **kwds)
            out = original(self, *args, **kwds)  # the hot Function: one step
            hot_called(out)
            return out
        finally:
            local.depth = 0

    function_type.__call__ = __call__
