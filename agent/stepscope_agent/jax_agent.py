"""JAX hooks (docs/programs.md): steps from the program's own `jax.profiler.StepTraceAnnotation`
blocks or from the jitted function it calls over and over, device-honest step times under JAX's
asynchronous dispatch, the loss from that function's outputs, compile times from `jax.monitoring`,
and the capture window as a `jax.profiler` XPlane whose step markers carry the run's step numbers.

Step sources:

* `jax.StepTraceAnnotation` -- `jax.profiler.StepTraceAnnotation` is replaced by a subclass whose
  block is one step (`__enter__` begins it, `__exit__` ends it); nested blocks count once. An
  annotation itself knows nothing of the device, so a block's end is the host's time, unless the
  hot jitted function (below) was called inside the block: then the step ends when that call's
  outputs are ready, and its loss is the step's loss (so step 0, before any function is known to
  be hot, has host time and no loss). Stepscope numbers steps from 0; a program whose `step_num`
  differs gets a notice, since the trace then shows the program's numbers.
* `jax.jit` -- `jax.jit` is replaced (on the module, as soon as `import jax` has finished, so a
  later `from jax import jit` gets ours) by a function returning a thin wrapper around each jitted
  function. Calls are counted per Python function (all jitted wrappers of one function together:
  `jax.jit(train_step)(...)` anew each step counts), and the FIRST function to be called a second
  time becomes the hot function: its second call is step 1 and its first call, retroactively,
  step 0. Step 0 runs from the start of that first call (so it pays for tracing and compilation)
  to the start of the second call: the program's work between the two calls is in step 0, and
  step 1 is the second call alone (the clock cannot backdate an end). From step 2 on, a step runs
  from the previous step's device completion to this one's, everything between included. A
  program that calls another jitted function twice before its training step (a jitted
  preprocessing function per batch) gets that one as its steps; `stepscope.step()` overrides.
  Only top-level calls count: a call made while another wrapped call runs (an outer jit tracing an
  inner jitted function) or under a transformation (`grad`, `vmap` of a jitted function) is not a
  step. Each step hands the clock a `ready` for the agent's completion thread: it waits for the
  call's outputs (one execution's, ready together: reading the loss is the wait; without a loss
  every array leaf is waited for, leaves already donated to the next step skipped) and returns the
  loss: the scalar float output whose path names a loss, else the first scalar float element of a
  returned tuple, else the first scalar float leaf.
* The parameter count (`hello`) is a guess: the size of the hot function's first argument
  (`train_step(params, ...)`; a train state's `.params` when it has one). The batch size is never
  guessed (a jitted function's leading dimensions are not reliably the batch).

The wrapper keeps what people use of a jitted function: calling it with the same arguments
(static and donated arguments included), `.lower`, `.trace`, `.eval_shape`, `.clear_cache` and
any other attribute (delegated), `__wrapped__` (the original function, as JAX's), `__name__`,
`__doc__`, copy/deepcopy, and binding as a method (`@jax.jit` on a method gives a bound method,
as JAX's does). `jax.jit(static_argnums=...)` without a function and `functools.partial(jax.jit,
...)` decorators work as JAX's do. `jax.jit.__wrapped__` is JAX's own jit.

Capture: `jax.profiler.start_trace` into a fresh folder under the plan's `out_dir`
(`jax-steps-A-B`), with a `StepTraceAnnotation("train", step_num=n)` of ours open from one step
boundary to the next (none when the program's own annotations are the step source: theirs are in
the trace; none in a time-based window, which has no boundaries), and the XPlane it wrote. If the
program's own trace is running when the window would start, the window is skipped (a notice); if
the program starts its own trace (or calls stop_trace) while ours runs, ours ends there, keeps its
file and yields the profiler to it, so the program's own profiling behaves as without Stepscope.

Everything here runs inside the user's program: every patched function calls the original with
the same arguments and returns its result unchanged, and our own work is guarded, so a failure
becomes a notice and that hook stands down. In a forked child nothing of ours runs.
"""
from __future__ import annotations

import copy
import functools
import importlib
import os
import sys
import threading
import time
import types
import weakref
from collections.abc import Callable
from typing import Any

from . import Agent, Framework
from .capture import CaptureBackend
from .clock import Ready

JIT = "jax.jit"
ANNOTATION = "jax.StepTraceAnnotation"
BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"  # jax._src.dispatch.BACKEND_COMPILE_EVENT
REFUSAL = ("the program runs its own jax.profiler trace, so Stepscope's capture window was skipped "
           "(its trace is the program's own)")
PLATFORM_KIND = {"cpu": "cpu", "gpu": "gpu", "cuda": "gpu", "rocm": "gpu", "tpu": "tpu"}

# what `_Hooks.before` tells `_Hooks.after` about a call
PLAIN, FIRST, STEP = 0, 1, 2


# -- outputs: waiting for them and finding the loss ----------------------------------------------
def _is_scalar_float(leaf: Any, jnp: Any) -> bool:
    try:
        return getattr(leaf, "ndim", None) == 0 and bool(jnp.issubdtype(leaf.dtype, jnp.floating))
    except Exception:
        return False


def _loss_position(out: Any, jax: Any) -> int | None:
    """Index (among `tree_leaves(out)`) of the loss, or None: a scalar float leaf whose path says
    "loss", else the first scalar float element of a returned tuple/list, else the first scalar
    float leaf."""
    jnp = jax.numpy
    with_path, _ = jax.tree_util.tree_flatten_with_path(out)
    scalars = [i for i, (_, leaf) in enumerate(with_path) if _is_scalar_float(leaf, jnp)]
    if not scalars:
        return None
    for i in scalars:
        if "loss" in jax.tree_util.keystr(with_path[i][0]).lower():
            return i
    if isinstance(out, (tuple, list)):
        offset = 0
        for element in out:
            count = len(jax.tree_util.tree_leaves(element))
            if count == 1 and offset in scalars and _is_scalar_float(element, jnp):
                return offset
            offset += count
    return scalars[0]


def _as_float(leaf: Any, np: Any) -> float | None:
    """The loss as a Python float; waits for it (through numpy: a fifth of `float(array)`'s cost)."""
    try:
        return float(np.asarray(leaf))
    except Exception:  # deleted (donated), or not readable: no loss rather than a failure
        return None


def _block(leaves: list[Any], jax: Any) -> None:
    """Wait for every array leaf; leaves deleted by donation (the next step consumed them) are skipped."""
    try:
        jax.block_until_ready(leaves)
        return
    except (RuntimeError, ValueError):
        pass
    for leaf in leaves:
        try:
            leaf.block_until_ready()
        except (RuntimeError, ValueError, AttributeError):
            pass


class _Local(threading.local):
    """Per thread: wrapped calls in progress, open annotation blocks, the hot function's last outputs in one."""

    depth = 0
    annotations = 0
    last_out: Any = None


# -- the jitted-function wrapper -------------------------------------------------------------------
class _Function:
    """What we know of one Python function under jax.jit, shared by every jitted wrapper of it
    (a program may call `jax.jit(train_step)(...)` anew each step: JAX's cache makes that work)."""

    __slots__ = ("name", "calls", "first", "loss_at", "__weakref__")

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0
        self.first: tuple[float, Any | None, list[Any]] | None = None  # start, loss leaf, weakrefs to outputs
        self.loss_at: tuple[Any, int | None] | None = None  # (treedef, loss index) of its outputs


class _Jitted:
    """A jitted function as the program sees it: JAX's own, called through a counter."""

    __slots__ = ("_ss_jitted", "_ss_hooks", "_ss_function", "__dict__", "__weakref__")

    def __init__(self, jitted: Any, hooks: _Hooks) -> None:
        self._ss_jitted = jitted
        self._ss_hooks = hooks
        self._ss_function = hooks.function_of(jitted)
        functools.update_wrapper(self, jitted)
        wrapped = getattr(jitted, "__wrapped__", None)
        if wrapped is not None:
            self.__wrapped__ = wrapped  # the original Python function, as JAX's own jitted function says

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        hooks = self._ss_hooks
        local = hooks.local
        try:
            counted = not (hooks.off or local.depth) and hooks.top_level()
        except Exception:  # never the program's problem
            counted = False
        if not counted:
            return self._ss_jitted(*args, **kwargs)
        function = self._ss_function
        what = hooks.before(function, args)
        local.depth = 1
        try:
            out = self._ss_jitted(*args, **kwargs)
        finally:
            local.depth = 0
        hooks.after(function, what, out)
        return out

    def __get__(self, instance: Any, owner: Any = None) -> Any:
        if instance is None:
            return self
        return types.MethodType(self, instance)  # what JAX's jitted function gives for a method

    def __getattr__(self, name: str) -> Any:  # lower, trace, eval_shape, clear_cache, _fun, ...
        if name.startswith("_ss_"):
            raise AttributeError(name)
        return getattr(self._ss_jitted, name)

    def __dir__(self) -> list[str]:
        return sorted(set(dir(self._ss_jitted)) | set(self.__dict__))

    def __copy__(self) -> Any:
        copied = copy.copy(self._ss_jitted)
        return self if copied is self._ss_jitted else _Jitted(copied, self._ss_hooks)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:  # never into our hooks (locks, the agent)
        copied = copy.deepcopy(self._ss_jitted, memo)
        return self if copied is self._ss_jitted else _Jitted(copied, self._ss_hooks)

    def __repr__(self) -> str:
        return repr(self._ss_jitted)


def _name(jitted: Any) -> str:
    return str(getattr(jitted, "__name__", None) or getattr(jitted, "__qualname__", None) or "jitted function")


# -- the hooks ------------------------------------------------------------------------------------
class _Hooks:
    def __init__(self, agent: Agent, jax: Any) -> None:
        self.agent = agent
        self.jax = jax
        self.np = importlib.import_module("numpy")  # JAX's own dependency
        self.local = _Local()
        self.off = False  # the jax.jit hook stood down
        self.annotation_off = False  # the StepTraceAnnotation hook stood down
        self.compile_off = False
        self.hot: _Function | None = None
        self.functions: weakref.WeakKeyDictionary[Any, _Function] = weakref.WeakKeyDictionary()
        self.param_count: int | None = None
        self.capture: JaxCapture | None = None
        self.program_tracing = False  # the program's own jax.profiler trace is running
        self.original_annotation: Any = jax.profiler.StepTraceAnnotation
        self.original_start: Callable[..., Any] = jax.profiler.start_trace
        self.original_stop: Callable[..., Any] = jax.profiler.stop_trace
        self.top_level = self._top_level_check()

    def _top_level_check(self) -> Callable[[], bool]:
        """A cheap "not inside a JAX trace or transformation" test (about 0.1 us)."""
        try:
            core = importlib.import_module("jax._src.core")
            context, eval_trace = core.trace_ctx, core.EvalTrace
            if isinstance(context.trace, eval_trace):
                return lambda: isinstance(context.trace, eval_trace)
            clean: Callable[[], bool] = core.trace_state_clean
            if clean():
                return clean
        except Exception:
            pass
        return lambda: True  # the depth counter alone (calls under grad/vmap of a jitted function would count)

    def forked(self) -> None:
        """In a forked child (a data worker): silent, and nothing of ours runs there."""
        self.off = self.annotation_off = self.compile_off = True

    def stand_down(self, what: str, exc: Exception) -> None:
        if what == ANNOTATION:
            self.annotation_off = True
        elif what == JIT:
            self.off = True
        else:
            self.compile_off = True
        self.agent.notice(f"stepscope's {what} hook failed and stands down ({type(exc).__name__}: {exc})", once=what)

    def drives_jit(self) -> bool:
        return self.agent.clock.source in (None, JIT)

    # -- jax.jit ----------------------------------------------------------------------------
    def wrap(self, made: Any) -> Any:
        """What `jax.jit(...)` returned: a jitted function (wrapped), or a decorator (wrapped to wrap)."""
        if self.off:
            return made
        if hasattr(made, "lower") and callable(made):
            return _Jitted(made, self)
        if callable(made):  # jax.jit(static_argnums=...) without a function: a decorator
            @functools.wraps(made)
            def decorator(*args: Any, **kwargs: Any) -> Any:
                return self.wrap(made(*args, **kwargs))
            return decorator
        return made

    def function_of(self, jitted: Any) -> _Function:
        """The shared record of the Python function `jitted` compiles (a method's function for a bound method)."""
        fun = getattr(jitted, "__wrapped__", None) or jitted
        fun = getattr(fun, "__func__", fun)
        try:
            known = self.functions.get(fun)
            if known is None:
                known = self.functions[fun] = _Function(_name(jitted))
            return known
        except TypeError:  # not weakly referenceable (or unhashable): a record of its own
            return _Function(_name(jitted))

    def before(self, fn: _Function, args: tuple[Any, ...]) -> int:
        try:
            if fn is self.hot:
                # no agent.begin: the previous step's end already opened this one (the window's
                # before_step included), and a begin only dates step 0, which was dated at the switch
                return STEP if self.agent.clock.source == JIT else PLAIN
            if self.hot is not None:
                return PLAIN
            fn.calls += 1
            if fn.calls == 1:
                fn.first = (time.perf_counter(), None, [])
                return FIRST
            return self._becomes_hot(fn, args)
        except Exception as exc:
            self.stand_down(JIT, exc)
            return PLAIN

    def _becomes_hot(self, fn: _Function, args: tuple[Any, ...]) -> int:
        """`fn` is called a second time: it is the step function; its first call was step 0."""
        self.hot = fn
        self.param_count = self._count_params(args)
        if not self.drives_jit():
            return PLAIN
        name = fn.name
        first = fn.first
        clock = self.agent.clock
        self.agent.begin(JIT, what=name)
        if first is not None and clock.index == 0 and clock.source == JIT:
            clock._begun = first[0]  # step 0 began with the first call (StepClock.begin has no "began at")
            self.agent.end(JIT, ready=self._first_ready(first), what=name)
            fn.first = None
        self.agent.begin(JIT, what=name)  # step 1
        return STEP

    def _count_params(self, args: tuple[Any, ...]) -> int | None:
        """The hot function's first argument's size, a guess at the parameter count for
        `train_step(params, ...)` (`.params` of a train state when it has one); None if it holds no arrays."""
        if not args:
            return None
        first = args[0]
        first = getattr(first, "params", first)
        total = 0
        for leaf in self.jax.tree_util.tree_leaves(first):
            if hasattr(leaf, "dtype") and hasattr(leaf, "size"):
                total += int(leaf.size)
        return total or None

    def _first_ready(self, first: tuple[float, Any | None, list[Any]]) -> Ready:
        _, loss_leaf, refs = first
        jax, np = self.jax, self.np

        def ready() -> float | None:
            alive = [leaf for leaf in (ref() for ref in refs) if leaf is not None]
            _block(alive, jax)
            return None if loss_leaf is None else _as_float(loss_leaf, np)
        return ready

    def after(self, fn: _Function, what: int, out: Any) -> None:
        try:
            if fn is self.hot and self.local.annotations:
                self.local.last_out = (fn, out)  # the annotation's step ends when this is done
            if what == STEP:
                self.agent.end(JIT, ready=self.ready_for(fn, out), what=fn.name)
            elif what == FIRST and fn.first is not None:
                fn.first = self._first_outputs(fn, out)
        except Exception as exc:
            self.stand_down(JIT, exc)

    def _first_outputs(self, fn: _Function, out: Any) -> tuple[float, Any | None, list[Any]]:
        """What the first call leaves for a retroactive step 0: the loss (a scalar, held) and weak
        references to the other outputs (never kept alive by us)."""
        assert fn.first is not None
        leaves, at = self._loss_index(fn, out)
        refs: list[Any] = []
        for leaf in leaves:
            try:
                refs.append(weakref.ref(leaf))
            except TypeError:
                pass
        return fn.first[0], (None if at is None else leaves[at]), refs

    def _loss_index(self, fn: _Function, out: Any) -> tuple[list[Any], int | None]:
        leaves, treedef = self.jax.tree_util.tree_flatten(out)
        known = fn.loss_at
        if known is None or known[0] != treedef:
            known = (treedef, _loss_position(out, self.jax))
            fn.loss_at = known
        return leaves, known[1]

    def ready_for(self, fn: _Function, out: Any) -> Ready:
        """Blocks (on the completion thread) until the call's outputs are ready; returns the loss.
        The outputs of one call are one execution's and become ready together, so reading the loss
        is the wait; without a loss, every array leaf is waited for (donated ones skipped)."""
        def ready() -> float | None:
            leaves, at = self._loss_index(fn, out)
            if at is not None:
                loss = _as_float(leaves[at], self.np)
                if loss is not None:
                    return loss
            _block(leaves, self.jax)
            return None
        return ready

    # -- jax.profiler.StepTraceAnnotation ----------------------------------------------------
    def annotation_enter(self, name: str, step_num: Any) -> None:
        local = self.local
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
        if self.capture is not None and clock.source == ANNOTATION:
            self.capture.program_marks()

    def annotation_exit(self) -> None:
        local = self.local
        depth = local.annotations
        local.annotations = max(depth - 1, 0)
        if depth != 1:
            return
        last, local.last_out = local.last_out, None
        hot = self.hot
        ready: Ready | None = None
        if last is not None and hot is not None and last[0] is hot:
            ready = self.ready_for(hot, last[1])
        self.agent.end(ANNOTATION, ready=ready)

    # -- the program's own profiler ------------------------------------------------------------
    def program_starts_trace(self) -> None:
        capture = self.capture
        if capture is not None and capture.running:
            capture.yield_to_program("started its own jax.profiler trace")

    def program_stops_trace(self) -> None:
        capture = self.capture
        if capture is not None and capture.running and not self.program_tracing:
            capture.yield_to_program("called jax.profiler.stop_trace")

    # -- compile times -----------------------------------------------------------------------
    def compiled(self, event: str, duration: float, **kwargs: Any) -> None:
        if event != BACKEND_COMPILE_EVENT or self.compile_off:
            return
        try:
            name = str(kwargs.get("fun_name") or "")
            if name.startswith("jit(") and name.endswith(")"):
                name = name[4:-1]
            self.agent.channel.emit("compile", ms=round(float(duration) * 1000.0, 3),
                                    what=("jax.jit " + name) if name else "xla")
        except Exception as exc:  # never into JAX's compile path
            self.stand_down("jax compile", exc)


# -- the capture window ---------------------------------------------------------------------------
class JaxCapture(CaptureBackend):
    """jax.profiler.start_trace/stop_trace into a fresh folder, our step markers in between."""

    framework = "jax"

    def __init__(self, hooks: _Hooks) -> None:
        self._hooks = hooks
        self._folder: str | None = None
        self._marker: Any = None
        self._files: list[tuple[str, str]] = []
        self.running = False

    def refusal(self) -> str | None:
        if self._hooks.program_tracing:
            return REFUSAL
        return None

    def start(self, out_dir: str, first_step: int | None) -> None:
        window = self._hooks.agent.window
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
        self._hooks.original_start(folder)
        self.running = True
        if first_step is not None:
            self._open(first_step)

    def _ours(self) -> bool:
        return self._hooks.agent.clock.source != ANNOTATION

    def _open(self, step: int) -> None:
        if self.running and self._ours():
            marker = self._hooks.original_annotation("train", step_num=step)
            marker.__enter__()
            self._marker = marker

    def _close(self) -> None:
        marker, self._marker = self._marker, None
        if marker is not None:
            marker.__exit__(None, None, None)

    def boundary(self, next_step: int) -> None:
        self._close()
        self._open(next_step)

    def program_marks(self) -> None:
        """The program's own annotations are the step source: ours would only double them."""
        self._close()

    def stop(self) -> list[tuple[str, str]]:
        self._close()
        if self.running:
            self.running = False  # first: a failing stop_trace is not retried
            self._hooks.original_stop()
            self._files = self._written()
        return self._files

    def yield_to_program(self, why: str) -> None:
        """The program wants the profiler (only one trace at a time): ours ends here, its files kept."""
        agent = self._hooks.agent
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


# -- the framework ---------------------------------------------------------------------------------
class JaxFramework(Framework):
    name = "jax"

    def __init__(self, hooks: _Hooks) -> None:
        self._hooks = hooks
        self.version = str(getattr(hooks.jax, "__version__", ""))

    def describe(self) -> dict[str, Any]:
        """The first device; param_count: the size of the hot jitted function's first argument
        (`train_step(params, ...)`; `.params` of a train state), a guess, None before one is known."""
        device = self._hooks.jax.devices()[0]
        platform = str(getattr(device, "platform", "cpu")).lower()
        kind = PLATFORM_KIND.get(platform, platform)
        name = str(getattr(device, "device_kind", "") or device)
        if kind == "cpu":
            name = _cpu_name() or name
        return {"device_kind": kind, "device_name": name, "param_count": self._hooks.param_count}

    def batch_hint(self) -> int | None:
        """None: the leading dimension of a jitted function's arguments is not reliably the batch."""
        return None

    def capture_backend(self) -> CaptureBackend | None:
        capture = JaxCapture(self._hooks)
        self._hooks.capture = capture
        return capture


def _cpu_name() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("model name") and ":" in line:
                    return line.split(":", 1)[1].strip() or None
    except OSError:
        pass
    return None


# -- install ------------------------------------------------------------------------------------------
def _patch_jit(agent: Agent, jax: Any, hooks: _Hooks) -> None:
    original = jax.jit

    @functools.wraps(original)
    def jit(*args: Any, **kwargs: Any) -> Any:
        made = original(*args, **kwargs)
        if hooks.off:
            return made
        try:
            return hooks.wrap(made)
        except Exception as exc:
            hooks.stand_down(JIT, exc)
            return made

    jax.jit = jit


def _patch_annotation(agent: Agent, jax: Any, hooks: _Hooks) -> None:
    original = hooks.original_annotation

    class StepTraceAnnotation(original):  # type: ignore[misc, valid-type]  # JAX's class, seen as Any
        def __init__(self, name: str, **kwargs: Any) -> None:
            super().__init__(name, **kwargs)
            self._stepscope = (name, kwargs.get("step_num"))

        def __enter__(self) -> Any:
            if not hooks.annotation_off:
                try:
                    name, step_num = getattr(self, "_stepscope", ("", None))
                    hooks.annotation_enter(name, step_num)
                except Exception as exc:
                    hooks.stand_down(ANNOTATION, exc)
            return super().__enter__()

        def __exit__(self, *exc: Any) -> Any:
            result = super().__exit__(*exc)
            if not hooks.annotation_off:
                try:
                    hooks.annotation_exit()
                except Exception as exc:
                    hooks.stand_down(ANNOTATION, exc)
            return result

    for attribute in ("__name__", "__qualname__", "__module__", "__doc__"):
        try:
            setattr(StepTraceAnnotation, attribute, getattr(original, attribute))
        except (AttributeError, TypeError):
            pass
    jax.profiler.StepTraceAnnotation = StepTraceAnnotation


def _patch_profiler(agent: Agent, jax: Any, hooks: _Hooks) -> None:
    """The program's own start_trace/stop_trace (and `jax.profiler.trace`, which calls them from
    jax._src.profiler): noted, so our window stays out of its way."""
    original_start, original_stop = hooks.original_start, hooks.original_stop

    @functools.wraps(original_start)
    def start_trace(*args: Any, **kwargs: Any) -> Any:
        agent.guarded("jax.profiler", hooks.program_starts_trace)
        result = original_start(*args, **kwargs)
        hooks.program_tracing = True
        return result

    @functools.wraps(original_stop)
    def stop_trace(*args: Any, **kwargs: Any) -> Any:
        agent.guarded("jax.profiler", hooks.program_stops_trace)
        try:
            return original_stop(*args, **kwargs)
        finally:
            hooks.program_tracing = False

    modules = [jax.profiler, sys.modules.get("jax._src.profiler")]
    for module in modules:
        if module is None:
            continue
        if getattr(module, "start_trace", None) is original_start:
            module.start_trace = start_trace
        if getattr(module, "stop_trace", None) is original_stop:
            module.stop_trace = stop_trace


def _listen_to_compiles(jax: Any, hooks: _Hooks) -> None:
    monitoring = getattr(jax, "monitoring", None)
    register = getattr(monitoring, "register_event_duration_secs_listener", None)
    if register is None:
        return
    dispatch = sys.modules.get("jax._src.dispatch")
    global BACKEND_COMPILE_EVENT
    BACKEND_COMPILE_EVENT = str(getattr(dispatch, "BACKEND_COMPILE_EVENT", BACKEND_COMPILE_EVENT))
    register(hooks.compiled)


def install(agent: Agent, jax: Any) -> None:
    """Hook the just-imported `jax` module (see the module docstring)."""
    if getattr(jax, "_stepscope_hooked", False):
        return
    importlib.import_module("jax.profiler")
    hooks = _Hooks(agent, jax)
    agent.guarded("jax.profiler", _patch_profiler, agent, jax, hooks)
    agent.guarded(ANNOTATION, _patch_annotation, agent, jax, hooks)
    agent.guarded(JIT, _patch_jit, agent, jax, hooks)
    agent.guarded("jax compile", _listen_to_compiles, jax, hooks)
    os.register_at_fork(after_in_child=hooks.forked)
    jax._stepscope_hooked = True
    agent.register(JaxFramework(hooks))
