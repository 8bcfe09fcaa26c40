"""Keras hooks (docs/programs.md): `keras.Model.fit`, `.evaluate` and `.predict` get ONE callback of
ours added to the program's `callbacks` (a new list: the program's own list is never touched; every
other argument, positional or not, is passed exactly as given), and its batches are the `keras`
step source.

Which batches are steps: TRAINING batches. Evaluate and predict batches are not steps once a
training batch has run in the process (validation inside `fit`, or an evaluation after it); before
that they are, so an inference script (`model.predict(...)` or `model.evaluate(...)` only) still has
steps. Numbering never restarts: a script that evaluates first and trains after numbers the
training batches after the evaluation batches.

A step is one batch callback pair (`on_*_batch_begin` .. `on_*_batch_end`; with
`steps_per_execution` > 1, one execution). The loss is `logs["loss"]` (a Python float in Keras 3;
a tensor in tf_keras, read on the agent's completion thread when it lives on a GPU); the batch
size is the call's `batch_size`, Keras's default 32 for arrays, the rest of the data for a last
partial batch, and unknown (null) for datasets and generators. The parameter count is
`model.count_params()` at the first batch end.

Keras 3 may run `on_*_batch_end` on a thread pool (backends other than TensorFlow, when every
callback allows it). Our callback says it is `async_safe`, so it does not change that choice; a
batch end that arrives on the pool is handed to the program's thread, which reports the step at
the next batch (or at the epoch's end) with a `ready` that waits for it on the completion thread.

While such a call runs with our callback in it, the tf.function source (tf_agent) stays quiet:
Keras's own train_function is a tf.function.
"""
from __future__ import annotations

import functools
import inspect
import math
import threading
import weakref
from typing import Any, Callable

from . import Agent
from .clock import SOURCE_FRAMEWORK
from .tf_agent import SHARED

SOURCE = "keras"
TRAIN, TEST, PREDICT = "train", "test", "predict"
DEFAULT_BATCH = 32  # Keras's batch size for arrays when the call gives none
POOL_WAIT_S = 60.0  # the longest the completion thread waits for a batch end dispatched to Keras's pool

def _as_loss(value: Any) -> tuple[float | None, Callable[[], float | None] | None]:
    """(loss now, or a callable that reads it on the completion thread)."""
    if value is None:
        return None, None
    if isinstance(value, (int, float)):
        return float(value), None
    if hasattr(value, "numpy") and "GPU" in str(getattr(value, "device", "")):
        def read() -> float | None:
            return float(value)
        return None, read  # a tensor on a GPU: float() waits for the step
    try:
        return float(value), None
    except Exception:
        return None, None


def _leading(x: Any) -> int | None:
    """The number of samples in array-like data (arrays, tensors, or lists/tuples/dicts of them); None
    for datasets, generators and the like."""
    if isinstance(x, dict):
        x = next(iter(x.values()), None)
    elif isinstance(x, (list, tuple)) and x and hasattr(x[0], "shape"):
        x = x[0]
    shape = getattr(x, "shape", None)
    if shape is None or isinstance(x, type):
        return None
    try:
        first = shape[0]
    except Exception:
        return None
    return first if isinstance(first, int) and not isinstance(first, bool) and first >= 0 else None


def _remember(model: Any) -> None:
    """The model whose batches are the steps, for the parameter count (at the first batch end: an
    unbuilt model cannot count its parameters; `describe` asks again at the first step if need be)."""
    try:
        SHARED.keras_model = weakref.ref(model)
    except TypeError:
        SHARED.keras_model = lambda: model
    SHARED.param_count()


class Call:
    """One fit/evaluate/predict call, seen by its callback."""

    def __init__(self, kind: str, model: Any, batch_size: int | None, samples: int | None) -> None:
        self.kind = kind
        self.model = model
        self.batch_size = batch_size
        self.samples = samples
        self.thread = threading.get_ident()  # the program's thread (the one that called fit)
        self.open = False  # a step began and its end has not been reported yet
        self.begin_batch = 0
        self.size: int | None = None  # of the open step
        self.begun = 0  # steps begun (on the program's thread)
        self.handed = 0  # steps whose end comes from Keras's pool, handed to the clock
        self.arrived: list[float | None] = []  # their losses, as the pool's batch ends come in
        self.cond = threading.Condition()

    def size_for(self, first: int, last: int) -> int | None:
        if self.batch_size is None:
            return None
        size = self.batch_size * max(last - first + 1, 1)
        if self.samples is not None:
            left = self.samples - first * self.batch_size
            if 0 < left < size:
                size = left
        return size

    def wait(self, n: int) -> float | None:
        """On the completion thread: the loss of the n-th step ended on the pool, once it has."""
        with self.cond:
            self.cond.wait_for(lambda: len(self.arrived) > n, POOL_WAIT_S)
            return self.arrived[n] if len(self.arrived) > n else None


class KerasHooks:
    def __init__(self, agent: Agent, keras: Any) -> None:
        self.agent = agent
        self.keras = keras
        self._callback_type: Any = None

    # -- the calls ---------------------------------------------------------------------------
    def prepare(self, kind: str, model: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                positions: dict[str, int]) -> tuple[tuple[Any, ...], dict[str, Any], Call] | None:
        """The call's arguments with our callback added (new objects; the program's are not touched),
        or None to leave the call alone."""
        where = positions.get("callbacks")
        in_args = where is not None and where < len(args)
        theirs = args[where] if in_args and where is not None else kwargs.get("callbacks")
        callback_list = getattr(self.keras.callbacks, "CallbackList", None)
        if callback_list is not None and isinstance(theirs, callback_list):
            return None  # a CallbackList made by Keras (fit's validation) or by the program: left as is
        flat = list(theirs) if isinstance(theirs, (list, tuple)) else ([] if theirs is None else [theirs])
        for callback in flat:
            if type(callback).__name__ == "TensorBoard" and (getattr(callback, "_start_batch", 0) or 0) > 0:
                SHARED.tensorboard_profiles = True

        def arg(name: str, default: Any = None) -> Any:
            at = positions.get(name)
            if at is not None and at < len(args):
                return args[at]
            return kwargs.get(name, default)

        samples = _leading(arg("x"))
        batch: int | None = None
        if samples is not None:
            given = arg("batch_size")
            batch = given if isinstance(given, int) and not isinstance(given, bool) and given > 0 else DEFAULT_BATCH
            split = arg("validation_split", 0.0) if kind == "fit" else 0.0
            if isinstance(split, float) and 0.0 < split < 1.0 and arg("validation_data") is None:
                samples = int(math.floor(samples * (1.0 - split)))
        call = Call(kind, model, batch, samples)
        ours = self.callback_type()(call)
        new = [*flat, ours] if theirs is None or isinstance(theirs, (list, tuple)) else [theirs, ours]
        if in_args and where is not None:
            args = args[:where] + (new,) + args[where + 1:]
        else:
            kwargs = dict(kwargs)
            kwargs["callbacks"] = new
        SHARED.keras_batch = batch
        return args, kwargs, call

    def call_over(self, call: Call) -> None:
        if call.open:
            self._hand_over(call)

    def callback_type(self) -> Any:
        if self._callback_type is None:
            self._callback_type = _callback_class(self, self.keras.callbacks.Callback)
        return self._callback_type

    # -- the batches -------------------------------------------------------------------------
    @staticmethod
    def _counts(kind: str) -> bool:
        if kind == TRAIN:
            SHARED.keras_trained = True
            return True
        return not SHARED.keras_trained

    def batch_begin(self, call: Call, kind: str, batch: Any) -> None:
        if not self._counts(kind) or threading.get_ident() != call.thread:
            return
        if call.open:  # the previous batch's end went to Keras's pool
            self._hand_over(call)
        agent = self.agent
        agent.begin(SOURCE)
        clock = agent.clock
        if clock.source != SOURCE:
            return
        call.open = True
        call.begun += 1
        call.begin_batch = batch if isinstance(batch, int) else 0
        call.size = call.size_for(call.begin_batch, call.begin_batch)
        capture = SHARED.capture
        if capture is not None and capture.running:
            capture.mark(clock.index)

    def batch_end(self, call: Call, kind: str, batch: Any, logs: Any) -> None:
        if not self._counts(kind):
            return
        value = logs.get("loss") if isinstance(logs, dict) else None
        if threading.get_ident() != call.thread:  # Keras's pool: the program's thread reports it
            loss, read = _as_loss(value)
            if read is not None:
                loss = read()
            with call.cond:
                if len(call.arrived) < call.begun:
                    call.arrived.append(loss)
                    call.cond.notify_all()
            return
        if not call.open:
            return
        call.open = False
        loss, ready = _as_loss(value)
        if SHARED.keras_model is None:
            _remember(call.model)
        capture = SHARED.capture
        if capture is not None and capture.running:
            capture.unmark()
        size = call.size_for(call.begin_batch, batch) if isinstance(batch, int) else call.size
        self.agent.end(SOURCE, loss=loss, batch_size=size, ready=ready)

    def flush(self, call: Call) -> None:
        """On the program's thread at an epoch's (or the call's) end: a batch end on the pool is reported now."""
        if call.open and threading.get_ident() == call.thread:
            self._hand_over(call)

    def _hand_over(self, call: Call) -> None:
        call.open = False
        n = call.handed
        call.handed += 1
        if SHARED.keras_model is None:
            _remember(call.model)
        capture = SHARED.capture
        if capture is not None and capture.running:
            capture.unmark()

        def ready() -> float | None:
            return call.wait(n)
        self.agent.end(SOURCE, batch_size=call.size, ready=ready)


def _callback_class(hooks: KerasHooks, base: Any) -> Any:
    guarded = hooks.agent.guarded

    class StepscopeCallback(base):  # type: ignore[misc]
        """Stepscope's step source (added from outside; it changes nothing in the run)."""

        async_safe = True  # Keras 3: our batch ends need not run on the program's thread
        _supports_tf_logs = True  # tf_keras: do not make Keras convert the logs to numpy for us each batch

        def __init__(self, call: Call) -> None:
            super().__init__()
            self._stepscope_call = call

        def on_train_batch_begin(self, batch: Any, logs: Any = None) -> None:
            guarded("keras batch", hooks.batch_begin, self._stepscope_call, TRAIN, batch)

        def on_train_batch_end(self, batch: Any, logs: Any = None) -> None:
            guarded("keras batch", hooks.batch_end, self._stepscope_call, TRAIN, batch, logs)

        def on_test_batch_begin(self, batch: Any, logs: Any = None) -> None:
            guarded("keras batch", hooks.batch_begin, self._stepscope_call, TEST, batch)

        def on_test_batch_end(self, batch: Any, logs: Any = None) -> None:
            guarded("keras batch", hooks.batch_end, self._stepscope_call, TEST, batch, logs)

        def on_predict_batch_begin(self, batch: Any, logs: Any = None) -> None:
            guarded("keras batch", hooks.batch_begin, self._stepscope_call, PREDICT, batch)

        def on_predict_batch_end(self, batch: Any, logs: Any = None) -> None:
            guarded("keras batch", hooks.batch_end, self._stepscope_call, PREDICT, batch, logs)

        def on_epoch_end(self, epoch: Any, logs: Any = None) -> None:
            guarded("keras batch", hooks.flush, self._stepscope_call)

        def on_test_begin(self, logs: Any = None) -> None:
            guarded("keras batch", hooks.flush, self._stepscope_call)

        def on_train_end(self, logs: Any = None) -> None:
            guarded("keras batch", hooks.flush, self._stepscope_call)

        def on_test_end(self, logs: Any = None) -> None:
            guarded("keras batch", hooks.flush, self._stepscope_call)

        def on_predict_end(self, logs: Any = None) -> None:
            guarded("keras batch", hooks.flush, self._stepscope_call)

    return StepscopeCallback


def _positions(method: Callable[..., Any]) -> dict[str, int]:
    """Where each parameter sits among the positional arguments after self."""
    try:
        parameters = list(inspect.signature(method).parameters.values())[1:]
    except (TypeError, ValueError):
        return {}
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return {p.name: i for i, p in enumerate(parameters) if p.kind in kinds}


def _patch(hooks: KerasHooks, model_type: Any, kind: str, name: str) -> None:
    original = getattr(model_type, name)
    positions = _positions(original)
    agent = hooks.agent

    @functools.wraps(original)
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        prepared = agent.guarded("keras " + name, hooks.prepare, kind, self, args, kwargs, positions)
        if prepared is None:
            return original(self, *args, **kwargs)
        new_args, new_kwargs, call = prepared
        SHARED.keras_busy += 1
        try:
            return original(self, *new_args, **new_kwargs)
        finally:
            SHARED.keras_busy -= 1
            agent.guarded("keras batch", hooks.call_over, call)

    setattr(model_type, name, method)


def install(agent: Agent, keras: Any) -> None:
    backend = agent.guarded("keras backend", lambda: str(keras.backend.backend()))
    # Keras 3 runs on JAX or PyTorch too: its batches are then that framework's steps (hello, capture).
    SOURCE_FRAMEWORK["keras"] = {"jax": "jax", "torch": "torch"}.get(backend or "", "tf")
    hooks = KerasHooks(agent, keras)
    model_type = keras.Model
    for kind, name in ((TRAIN, "fit"), (TEST, "evaluate"), (PREDICT, "predict")):
        agent.guarded("keras " + name, _patch, hooks, model_type, kind, name)
