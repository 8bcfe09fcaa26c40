"""TensorFlow hooks (docs/programs.md): steps from the program's own `tf.profiler.experimental.Trace`
step markers or from the `tf.function` it calls over and over, the device at the first step, and the
capture window as a `tf.profiler` XPlane whose `Trace(step_num=N)` markers carry the run's step
numbers. Keras (keras_agent) shares this module's `SHARED` state: its `fit` drives the steps with a
callback, and then the tf.function source stays quiet.

Step sources:

* `tf.profiler.Trace` -- each `with tf.profiler.experimental.Trace(..., step_num=N):` block of the
  program is a step (`tf.profiler.experimental.Trace` is replaced by a subclass; a Trace without
  `step_num` is not a step, and our own capture markers use the original class). The step begins
  when the Trace is created (so that a capture window starting there already records its marker)
  and ends when the block is left without an exception.
* `tf.function` -- `Function.__call__` is patched on the class. Calls made at depth 0 (not from
  inside another tf.function's call or tracing, counted per thread) are counted per Function; the
  first Function called a second time is the hot one, and every call of it is a step. Its first call
  is step 0, reported when the second call comes (it spans from the first call's start to the
  second call's start: it pays for tracing and the first call's set-up). The loss is the first
  scalar float tensor among the outputs. Without a GPU, TF runs a call synchronously: the loss is
  read on the spot and no thread is involved; with a GPU, the agent's completion thread reads it
  (`numpy()` waits for the step's device work). Calls made while a Keras `fit`/`evaluate`/`predict`
  runs are never counted (Keras's train_function is a tf.function too: the keras source drives).

Everything here runs inside the user's program: every patched function calls the original with the
same arguments and returns its result unchanged, and our own work runs under `agent.guarded` (or
catches its own errors), so a failure becomes a notice and that hook stands down.
"""
from __future__ import annotations

import functools
import importlib
import os
import platform
import tempfile
import threading
import time
import weakref
from typing import Any, Callable

from . import Agent, Framework
from .capture import CaptureBackend
from .clock import PRIORITY

TRACE_SOURCE = "tf.profiler.Trace"
FUNCTION_SOURCE = "tf.function"
KERAS_SOURCE = "keras"
MAX_REMEMBERED = 256  # Functions called once that we remember (the oldest are forgotten first)
REFUSAL = ("the program runs its own tf.profiler, so Stepscope's capture window was skipped "
           "(its trace is the program's own)")
TENSORBOARD_REFUSAL = ("the program's Keras TensorBoard callback profiles batches with tf.profiler "
                       "(profile_batch), so Stepscope's capture window was skipped")

Path = tuple[Any, ...]  # where the loss sits in a function's outputs: indices / keys, () for the output itself


class Shared:
    """What the TensorFlow and Keras hooks share (one per process; keras may be hooked first)."""

    def __init__(self) -> None:
        self.capture: TFCapture | None = None
        self.keras_busy = 0  # Keras fit/evaluate/predict calls running with our callback in them
        self.keras_trained = False  # a training batch ran: from then on only training batches are steps
        self.keras_model: Callable[[], Any] | None = None  # weak reference to the model that ran batches
        self.keras_params: int | None = None
        self.keras_batch: int | None = None  # the batch size of the latest fit/evaluate/predict call
        self.user_profiler = False  # the program started tf.profiler itself
        self.tensorboard_profiles = False  # ... or will, through Keras's TensorBoard(profile_batch=...)

    def param_count(self) -> int | None:
        if self.keras_params is None and self.keras_model is not None:
            model = self.keras_model()
            if model is not None:
                try:
                    self.keras_params = int(model.count_params())
                except Exception:  # an unbuilt model
                    return None
        return self.keras_params


SHARED = Shared()


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name") and ":" in line:
                    name = line.split(":", 1)[1].strip()
                    if name:
                        return name
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


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


class TFHooks:
    """The state the TensorFlow patches share (one per process)."""

    def __init__(self, agent: Agent, tf: Any) -> None:
        self.agent = agent
        self.tf = tf
        self.local = threading.local()  # .depth: inside a tf.function call or its tracing, on this thread
        self.off = False  # the tf.function source stands down (a higher source drives, or it failed)
        self.hot: Any = None  # the Function called over and over
        self.hot_name = ""
        self.hot_path: Path | None = None  # where the loss is in its outputs
        self.path_known = False
        self.asynchronous = False  # a GPU: read the loss on the completion thread
        self.once: dict[int, tuple[Callable[[], Any], float, Any]] = {}  # id -> (weak Function, start, loss leaf)
        self.original_trace: Any = None
        self.original_start: Any = None
        self.original_stop: Any = None
        self.capture: TFCapture | None = None

    # -- tf.function -------------------------------------------------------------------------
    def _quiet(self) -> bool:
        """Whether a higher source drives the steps now (then the tf.function source stands down for good)."""
        source = self.agent.clock.source
        if source is not None and source != FUNCTION_SOURCE and PRIORITY.get(source, 99) < PRIORITY[FUNCTION_SOURCE]:
            self.off = True
            self.once.clear()
            return True
        return False

    def run(self, name: str, function: Callable[..., Any], *args: Any) -> Any:
        """Our part of a patched call; None (it failed: a notice was sent) stands the tf.function source down."""
        result = self.agent.guarded(name, function, *args)
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
        makes it so, and its first call is then reported as step 0."""
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
        agent = self.agent
        clock = agent.clock
        agent.begin(FUNCTION_SOURCE, self.hot_name)
        if clock.source == FUNCTION_SOURCE and clock.index == 0:
            clock._begun = started  # step 0 began with the first call, not now (the clock has no API for this)
        self._end(leaf, () if leaf is not None else None)
        return True

    def hot_called(self, out: Any) -> None:
        """The hot Function returned `out`: the step ends (inlined: this runs at every step)."""
        try:
            source = self.agent.clock.source
            if source != FUNCTION_SOURCE and self._quiet():
                return
            if not self.path_known:
                self.hot_path, self.path_known = scalar_path(out), True
            path = self.hot_path
            if self.asynchronous and path is not None:
                self._end(out, path)
                return
            loss = None
            if path is not None:
                try:
                    value = out
                    for key in path:
                        value = value[key]
                    loss = float(value)
                except Exception:
                    loss = None
            self.agent.end(FUNCTION_SOURCE, loss=loss, what=self.hot_name)
        except Exception as exc:
            self.off = True
            self.agent.notice(f"stepscope's tf.function hook failed and stands down ({type(exc).__name__}: {exc})",
                              once="tf.function")

    def _end(self, out: Any, path: Path | None) -> None:
        if self.asynchronous and path is not None:
            def ready() -> float | None:
                return read_loss(out, path)
            self.agent.end(FUNCTION_SOURCE, ready=ready, what=self.hot_name)
        else:
            self.agent.end(FUNCTION_SOURCE, loss=read_loss(out, path), what=self.hot_name)

    # -- tf.profiler ---------------------------------------------------------------------------
    def trace_created(self) -> bool:
        """A Trace with step_num is being created: True if it is a step of ours."""
        if SHARED.keras_busy:
            return False  # tf_keras wraps its batches in Trace(step_num=...): the keras source drives
        self.agent.begin(TRACE_SOURCE)
        return True

    def trace_left(self) -> bool:
        self.agent.end(TRACE_SOURCE)
        return True

    def user_profiler_starting(self) -> bool:
        SHARED.user_profiler = True
        capture = self.capture
        if capture is not None and capture.running:
            capture.abort("the program started its own tf.profiler")
        return True

    # -- what the agent asks -----------------------------------------------------------------
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
        return {"device_kind": "cpu", "device_name": _cpu_name(), "param_count": count}


class TFFramework(Framework):
    name = "tf"

    def __init__(self, hooks: TFHooks) -> None:
        self.hooks = hooks
        self.version = str(getattr(hooks.tf, "__version__", ""))

    def describe(self) -> dict[str, Any]:
        return self.hooks.describe()

    def batch_hint(self) -> int | None:
        return SHARED.keras_batch

    def capture_backend(self) -> CaptureBackend | None:
        if self.hooks.original_start is None:
            return None  # the tf.profiler hook failed (a notice said so)
        if self.hooks.capture is None:
            self.hooks.capture = TFCapture(self.hooks)
            SHARED.capture = self.hooks.capture
        return self.hooks.capture


class TFCapture(CaptureBackend):
    """tf.profiler on for the capture window, into a fresh folder under the run's out_dir. Unless the
    program marks its steps itself (the tf.profiler.Trace source), a `Trace("train", step_num=N)` of
    ours marks each step: open from one step boundary to the next, or, for Keras, around each batch
    (opened by the keras callback)."""

    framework = "tf"

    def __init__(self, hooks: TFHooks) -> None:
        self.hooks = hooks
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
        self.hooks.original_start(self.logdir)
        self.running = True
        if first_step is not None and self._marks_between():
            self.mark(first_step)

    def _marks_between(self) -> bool:
        """Whether our markers run from one boundary to the next (not for the program's own Trace
        markers, and not for Keras, whose callback marks each batch)."""
        return self.hooks.agent.clock.source not in (TRACE_SOURCE, KERAS_SOURCE)

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
            if not self.running or self.hooks.original_trace is None:
                return
            marker = self.hooks.original_trace("train", step_num=step, _r=1)
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
                    self.hooks.original_stop()
                    self.files = [("xplane", os.path.join(folder, name))
                                  for folder, _, names in sorted(os.walk(self.logdir))
                                  for name in sorted(names) if name.endswith(".xplane.pb")]
        return self.files

    def abort(self, why: str) -> None:
        """The program starts tf.profiler itself inside our window: ours stops first (only one may run)."""
        step = self.hooks.agent.clock.index
        self.stop()
        self.hooks.agent.notice(f"{why} inside Stepscope's capture window, so the capture stopped there (at step {step})")


def install(agent: Agent, tf: Any) -> None:
    hooks = TFHooks(agent, tf)
    agent.guarded("tf.profiler", _patch_profiler_start, hooks)  # each hook stands alone: one failing leaves the others
    agent.guarded("tf.profiler.Trace", _patch_trace, hooks)
    agent.guarded("tf.function", _patch_function, hooks, tf)
    agent.register(TFFramework(hooks))  # last: with --steps 0:B the capture starts here


def _patch_profiler_start(hooks: TFHooks) -> None:
    """The program's own tf.profiler.experimental.start (and Profile, which calls the module global)."""
    profiler_v2: Any = importlib.import_module("tensorflow.python.profiler.profiler_v2")
    experimental = hooks.tf.profiler.experimental
    original = profiler_v2.start
    agent = hooks.agent

    @functools.wraps(original)
    def start(*args: Any, **kwargs: Any) -> Any:
        agent.guarded("tf.profiler start", hooks.user_profiler_starting)
        return original(*args, **kwargs)

    if getattr(experimental, "start", None) is original:
        experimental.start = start
    profiler_v2.start = start
    hooks.original_start, hooks.original_stop = original, profiler_v2.stop


def _patch_trace(hooks: TFHooks) -> None:
    experimental = hooks.tf.profiler.experimental
    original = experimental.Trace
    hooks.original_trace = original
    agent = hooks.agent
    down = [False]  # the hook failed once: it stands down

    class Trace(original):  # type: ignore[misc,valid-type]
        _stepscope_step = False

        def __init__(self, name: Any, **kwargs: Any) -> None:
            if "step_num" in kwargs and not down[0]:  # begin before TF's TraceMe starts its clock
                began = agent.guarded("tf.profiler.Trace", hooks.trace_created)
                if began is None:
                    down[0] = True
                elif began:
                    self._stepscope_step = True
            super().__init__(name, **kwargs)

        def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> Any:
            result = super().__exit__(exc_type, exc_val, exc_tb)
            if self._stepscope_step and exc_type is None and not down[0]:
                if agent.guarded("tf.profiler.Trace", hooks.trace_left) is None:
                    down[0] = True
            return result

    for attribute in ("__name__", "__qualname__", "__module__", "__doc__"):
        try:
            setattr(Trace, attribute, getattr(original, attribute))
        except (AttributeError, TypeError):
            pass
    experimental.Trace = Trace


def _patch_function(hooks: TFHooks, tf: Any) -> None:
    function_type = type(tf.function(lambda: 0))
    original = function_type.__call__
    local = hooks.local
    agent = hooks.agent
    run = hooks.run
    hot_called = hooks.hot_called
    perf_counter = time.perf_counter

    @functools.wraps(original)
    def __call__(self: Any, *args: Any, **kwds: Any) -> Any:  # noqa: N807 - the method it replaces
        if hooks.off or SHARED.keras_busy or getattr(local, "depth", 0):
            return original(self, *args, **kwds)
        local.depth = 1  # calls made inside this one (or its tracing) are not the program's steps
        try:
            hot = hooks.hot
            if hot is None:
                if not (hooks.once and run("tf.function", hooks.promote, self)):
                    started = perf_counter()
                    out = original(self, *args, **kwds)
                    run("tf.function", hooks.first_call, self, started, out)
                    return out
            elif self is not hot:
                return original(self, *args, **kwds)
            agent.begin(FUNCTION_SOURCE, hooks.hot_name)
            out = original(self, *args, **kwds)
            hot_called(out)
            return out
        finally:
            local.depth = 0

    function_type.__call__ = __call__
