"""The `jax.jit` step source: a thin wrapper around each jitted function, and the hot function found among them.

Why: a JAX program rarely marks its steps, but it calls one jitted training step over and over.
`jax.jit` is replaced (on the module, as soon as `import jax` has finished, so a later `from jax
import jit` gets ours) by a function returning a `_Jitted` around each jitted function. Calls are
counted per Python function (all jitted wrappers of one function together: `jax.jit(train_step)(...)`
anew each step counts), and the FIRST function to be called a second time becomes the hot
function: its second call is step 1 and its first call, retroactively, step 0. Step 0 runs from
the start of that first call (so it pays for tracing and compilation) to the start of the second
call: the program's work between the two calls is in step 0, and step 1 is the second call alone
(the clock cannot backdate an end). From step 2 on, a step runs from the previous step's device
completion to this one's, everything between included. A program that calls another jitted
function twice before its training step (a jitted preprocessing function per batch) gets that one
as its steps; `stepscope.step()` overrides.

Only top-level calls count: a call made while another wrapped call runs (an outer jit tracing an
inner jitted function) or under a transformation (`grad`, `vmap` of a jitted function) is not a
step. Each step hands the clock a `ready` (jax_outputs) for the agent's completion thread, so the
step ends when the call's outputs are ready and its loss comes from them. The parameter count
(`hello`) is a guess: the size of the hot function's first argument (`train_step(params, ...)`; a
train state's `.params` when it has one). The batch size is never guessed.

The wrapper keeps what people use of a jitted function: calling it with the same arguments
(static and donated arguments included), `.lower`, `.trace`, `.eval_shape`, `.clear_cache` and
any other attribute (delegated), `__wrapped__` (the original function, as JAX's), `__name__`,
`__doc__`, copy/deepcopy, and binding as a method (`@jax.jit` on a method gives a bound method,
as JAX's does). `jax.jit(static_argnums=...)` without a function and `functools.partial(jax.jit,
...)` decorators work as JAX's do. `jax.jit.__wrapped__` is JAX's own jit.

Nothing here imports JAX: jax_agent.install hands over the `jax`, `numpy` and `jax._src.core` modules.
"""
from __future__ import annotations

import copy
import functools
import threading
import time
import types
import weakref
from collections.abc import Callable
from typing import Any

from . import Agent
from .clock import Done, Ready
from .jax_outputs import FirstCall, LossAt, as_float, block, first_call, first_ready, follow, loss_index, quick_loss

JIT = "jax.jit"

# what `JitHook.before` tells `JitHook.after` about a call
PLAIN, FIRST, STEP = 0, 1, 2


class Local(threading.local):
    """Per thread: wrapped calls in progress, open annotation blocks, the hot function's last outputs in one."""

    depth = 0
    annotations = 0
    last_out: Any = None


class Function:
    """What we know of one Python function under jax.jit, shared by every jitted wrapper of it
    (a program may call `jax.jit(train_step)(...)` anew each step: JAX's cache makes that work)."""

    __slots__ = ("name", "calls", "first", "loss_at", "__weakref__")

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls = 0
        self.first: FirstCall | None = None  # start, loss leaf, weakrefs to outputs
        self.loss_at: LossAt | None = None  # where the loss is in its outputs


class _Jitted:
    """A jitted function as the program sees it: JAX's own, called through a counter."""

    __slots__ = ("_ss_jitted", "_ss_hook", "_ss_function", "__dict__", "__weakref__")

    def __init__(self, jitted: Any, hook: JitHook) -> None:
        self._ss_jitted = jitted
        self._ss_hook = hook
        self._ss_function = hook.function_of(jitted)
        functools.update_wrapper(self, jitted)
        wrapped = getattr(jitted, "__wrapped__", None)
        if wrapped is not None:
            self.__wrapped__ = wrapped  # the original Python function, as JAX's own jitted function says

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        hook = self._ss_hook
        local = hook.local
        try:
            counted = not (hook.off or local.depth) and hook.top_level()
        except Exception:  # never the program's problem
            counted = False
        if not counted:
            return self._ss_jitted(*args, **kwargs)
        function = self._ss_function
        what = hook.before(function, args)
        local.depth = 1
        try:
            out = self._ss_jitted(*args, **kwargs)
        finally:
            local.depth = 0
        hook.after(function, what, out)
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
        return self if copied is self._ss_jitted else _Jitted(copied, self._ss_hook)

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:  # never into our hooks (locks, the agent)
        copied = copy.deepcopy(self._ss_jitted, memo)
        return self if copied is self._ss_jitted else _Jitted(copied, self._ss_hook)

    def __repr__(self) -> str:
        return repr(self._ss_jitted)


def _name(jitted: Any) -> str:
    return str(getattr(jitted, "__name__", None) or getattr(jitted, "__qualname__", None) or "jitted function")


def _top_level_check(core: Any) -> Callable[[], bool]:
    """A cheap "not inside a JAX trace or transformation" test (about 0.1 us), from `jax._src.core`."""
    try:
        context, eval_trace = core.trace_ctx, core.EvalTrace
        if isinstance(context.trace, eval_trace):
            return lambda: isinstance(context.trace, eval_trace)
        clean: Callable[[], bool] = core.trace_state_clean
        if clean():
            return clean
    except Exception:
        pass
    return lambda: True  # the depth counter alone (calls under grad/vmap of a jitted function would count)


class JitHook:
    """Counts the wrapped calls, finds the hot function and turns its calls into steps."""

    def __init__(self, agent: Agent, jax: Any, np: Any, core: Any) -> None:
        self.agent = agent
        self.jax = jax
        self.np = np
        self.local = Local()
        self.off = False  # stood down (a failure, or a forked child)
        self.hot: Function | None = None
        self.functions: weakref.WeakKeyDictionary[Any, Function] = weakref.WeakKeyDictionary()
        self.param_count: int | None = None
        self.top_level = _top_level_check(core)

    def stand_down(self, exc: Exception) -> None:
        self.off = True
        self.agent.notice(f"stepscope's {JIT} hook failed and stands down ({type(exc).__name__}: {exc})", once=JIT)

    def wrap(self, made: Any) -> Any:
        """What `jax.jit(...)` returned: a jitted function (wrapped), or a decorator (wrapped to wrap)."""
        if self.off:
            return made
        if hasattr(made, "lower") and callable(made):
            inner = getattr(made, "__wrapped__", None)
            if str(getattr(inner, "__module__", None) or "").startswith(("jax.", "jaxlib.", "flax.", "optax.")):
                return made  # JAX's own (a multi-process device_put's `_identity_fn`), never the program's step
            return _Jitted(made, self)
        if callable(made):  # jax.jit(static_argnums=...) without a function: a decorator
            @functools.wraps(made)
            def decorator(*args: Any, **kwargs: Any) -> Any:
                return self.wrap(made(*args, **kwargs))
            return decorator
        return made

    def function_of(self, jitted: Any) -> Function:
        """The shared record of the Python function `jitted` compiles (a method's function for a bound method)."""
        fun = getattr(jitted, "__wrapped__", None) or jitted
        fun = getattr(fun, "__func__", fun)
        try:
            known = self.functions.get(fun)
            if known is None:
                known = self.functions[fun] = Function(_name(jitted))
            return known
        except TypeError:  # not weakly referenceable (or unhashable): a record of its own
            return Function(_name(jitted))

    # -- around each top-level call --------------------------------------------------------------
    def before(self, fn: Function, args: tuple[Any, ...]) -> int:
        try:
            if fn is self.hot:
                # no agent.begin: the previous step's end already opened this one (the window's
                # before_step included), and a begin only dates step 0, which was dated at the switch;
                # poll: the previous step is settled now if its outputs are ready (no thread wakes)
                clock = self.agent.clock
                if clock.source != JIT:
                    return PLAIN
                clock.poll()
                return STEP
            if self.hot is not None:
                return PLAIN
            fn.calls += 1
            if fn.calls == 1:
                fn.first = (time.perf_counter(), None, [])
                return FIRST
            return self._becomes_hot(fn, args)
        except Exception as exc:
            self.stand_down(exc)
            return PLAIN

    def after(self, fn: Function, what: int, out: Any) -> None:
        try:
            if fn is self.hot and self.local.annotations:
                self.local.last_out = (fn, out)  # the annotation's step ends when this is done
            if what == STEP:
                self.agent.end(JIT, ready=self.ready_for(fn, out), what=fn.name, done=self.done_for(fn, out))
            elif what == FIRST and fn.first is not None:
                leaves, at = self._loss_index(fn, out)
                fn.first = first_call(fn.first[0], leaves, at)
        except Exception as exc:
            self.stand_down(exc)

    def _becomes_hot(self, fn: Function, args: tuple[Any, ...]) -> int:
        """`fn` is called a second time: it is the step function; its first call was step 0."""
        self.hot = fn
        self.param_count = self._count_params(args)
        agent = self.agent
        if agent.clock.source not in (None, JIT):
            return PLAIN
        name, first = fn.name, fn.first
        began = first[0] if first is not None and agent.clock.index == 0 else None
        agent.begin(JIT, what=name, at=began)  # step 0 began with the first call
        if first is not None and began is not None and agent.clock.source == JIT:
            agent.end(JIT, ready=first_ready(first, self.jax, self.np), what=name)
            fn.first = None
        agent.begin(JIT, what=name)  # step 1
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

    # -- the step's end, on the completion thread ------------------------------------------------
    def _loss_index(self, fn: Function, out: Any) -> tuple[list[Any], int | None]:
        leaves, known = loss_index(out, fn.loss_at, self.jax)
        fn.loss_at = known
        return leaves, known[1]

    def done_for(self, fn: Function, out: Any) -> Done | None:
        """Non-blocking: are the call's outputs ready? (its loss leaf: one execution's outputs are
        ready together). None until the loss's path is known: the completion thread then waits."""
        known = fn.loss_at
        if known is None or known[2] is None:
            return None
        path = known[2]

        def done() -> bool:
            return bool(follow(out, path).is_ready())
        return done

    def ready_for(self, fn: Function, out: Any) -> Ready:
        """Blocks (on the completion thread) until the call's outputs are ready; returns the loss."""
        def ready() -> float | None:
            loss = quick_loss(out, fn.loss_at, self.np)
            if loss is not None:
                return loss
            leaves, at = self._loss_index(fn, out)
            if at is not None:
                loss = as_float(leaves[at], self.np)
                if loss is not None:
                    return loss
            block(leaves, self.jax)
            return None
        return ready


def patch_jit(jax: Any, hook: JitHook) -> None:
    """`jax.jit` becomes ours: JAX's own, then the wrapper; JAX's own stays as `jax.jit.__wrapped__`."""
    original = jax.jit

    @functools.wraps(original)
    def jit(*args: Any, **kwargs: Any) -> Any:
        made = original(*args, **kwargs)
        if hook.off:
            return made
        try:
            return hook.wrap(made)
        except Exception as exc:
            hook.stand_down(exc)
            return made

    jax.jit = jit
