"""What the TensorFlow hooks (tf_agent, tf_function, tf_capture) and the Keras hooks (keras_agent)
share, in one object per process.

It lives apart because each side needs it and either may be hooked first (`import keras` before
`import tensorflow`): Keras tells the tf.function source to stay quiet while a `fit` runs (its
train_function is a tf.function too), tells the capture that a TensorBoard callback will profile,
and hands over the model for the parameter count; TensorFlow tells Keras's callback where the
capture is, so it can mark each batch in the trace. A module of its own keeps the imports one way
(everything imports this, this imports none of them).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # the type only: tf_capture imports this module
    from .tf_capture import TFCapture

TRACE_SOURCE = "tf.profiler.Trace"
FUNCTION_SOURCE = "tf.function"
KERAS_SOURCE = "keras"


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
