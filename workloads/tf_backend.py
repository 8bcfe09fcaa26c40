"""TensorFlow backend: a Keras 3 model trained with a GradientTape step, in three variants.

  xla      tf.function(jit_compile=True): the whole step is one XLA cluster (the default)
  compiled tf.function(jit_compile=False): a TF graph run by the op-by-op graph executor
  eager    the same Python step run op by op

Keras runs on TensorFlow here (KERAS_BACKEND=tensorflow, which the worker also sets); nothing
in this module needs jax, which the TF worker blocks.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from workloads import registry
from workloads.base import DeviceInfo, DeviceMemory, resolve_device_kind
from workloads.configs import ADAM_BETAS, ADAM_EPS, ModelConfig
from workloads.data import Batch, Features, Split
from workloads.spec import RunSpec

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TF's default CPU allocator may keep no statistics (get_memory_info('CPU:0') raises ValueError, and
# device_memory() then reports none; TF 2.21 did so on one machine and reported figures on another).
# The BFC allocator always does, but it also changes the speed being
# measured (the XLA convnet step on CPU: ~94 ms default, ~42 ms BFC), so Stepscope keeps TF's
# default; a user who runs with TF_CPU_ALLOCATOR_USE_BFC=true gets both the speed and the figures.

# After the environment: keras reads KERAS_BACKEND when first imported, and importing TensorFlow imports keras.
import keras
import tensorflow as tf

DeviceBatch = tuple[tf.Tensor, tf.Tensor]


@dataclass(frozen=True)
class TFFormulation:
    """How the step is written where TensorFlow's and Keras' docs show more than one way. The
    default is the measured fastest on CPU (README, "How the built-in models are written, and
    why"); the other stays runnable so bench/model_formulations.py can hold it against it."""

    # The kernels of Keras' SparseCategoricalCrossentropy(from_logits=True), or with "one_hot"
    # CategoricalCrossentropy(from_logits=True) of one-hot labels, without Keras' wrappers.
    loss: str = "sparse"


def cross_entropy(labels: tf.Tensor, logits: tf.Tensor, loss: str = "sparse") -> tf.Tensor:
    """Mean softmax cross-entropy; labels have shape logits.shape[:-1] for every workload.
    Both forms are the same function."""
    if loss == "sparse":
        per_example = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    elif loss == "one_hot":
        one_hot = tf.one_hot(labels, tf.shape(logits)[-1], dtype=logits.dtype)
        per_example = tf.nn.softmax_cross_entropy_with_logits(labels=one_hot, logits=logits)
    else:
        raise ValueError(f"unknown loss formulation {loss!r}")
    return tf.reduce_mean(per_example)


def _select_device(requested: str) -> tuple[str, DeviceInfo]:
    """Resolve spec.device to a TF device string. For a CPU run the GPUs are hidden (when TF
    has not touched them yet) so TF does not reserve GPU memory it never uses; for a GPU run
    memory growth is turned on so the allocator's numbers reflect what the run needs."""
    if keras.backend.backend() != "tensorflow":
        raise RuntimeError(f"Keras runs on {keras.backend.backend()!r}; set KERAS_BACKEND=tensorflow before importing keras")
    gpus = tf.config.list_physical_devices("GPU")
    kind = resolve_device_kind(requested, bool(gpus), "TensorFlow")
    try:
        if kind == "cpu" and gpus:
            tf.config.set_visible_devices([], "GPU")
        elif kind == "gpu":
            for gpu in gpus:
                tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError:
        pass  # TF already initialised its devices in this process; the tf.device scope still places the run
    if kind == "gpu":
        details = tf.config.experimental.get_device_details(gpus[0])
        return "/GPU:0", DeviceInfo("gpu", str(details.get("device_name", "GPU:0")))
    return "/CPU:0", DeviceInfo("cpu", "cpu")


class TFRun:
    """A PreparedRun for TensorFlow: model, Adam, the batch pool as device tensors, one step."""

    def __init__(
        self, spec: RunSpec, config: ModelConfig, pool: list[Batch], formulation: TFFormulation | None = None
    ) -> None:
        if not pool:
            raise ValueError("the batch pool is empty")
        self.spec = spec
        self.formulation = formulation or TFFormulation()
        self.framework_version = tf.__version__
        self.keras_version = keras.__version__
        self._device, self.device = _select_device(spec.device)
        self._memory_name = self._device.lstrip("/")
        with tf.device(self._device):
            self.model = registry.model_builder(spec.workload, "tf").build(config, spec.seed)
            self.param_count = int(sum(np.prod(w.shape) for w in self.model.weights))
            self.optimizer = keras.optimizers.Adam(
                learning_rate=spec.learning_rate, beta_1=ADAM_BETAS[0], beta_2=ADAM_BETAS[1], epsilon=ADAM_EPS
            )
            self._variables = self.model.trainable_variables  # Keras walks every layer to list them
            if spec.mode == "train":
                self.optimizer.build(self._variables)
        self.load_pool(pool)
        body = self._train_step if spec.mode == "train" else self._infer_step
        self._step = self._wrap(body, jit_compile=spec.variant == "xla")
        # Evaluation is not timed: a plain graph serves every compiled variant, where XLA would
        # spend seconds compiling a forward pass per input shape and measure nothing.
        self._forward = self._wrap(lambda x: self.model(x, training=False), jit_compile=False)

    def _wrap(self, fn: Callable[..., tf.Tensor], jit_compile: bool) -> Callable[..., tf.Tensor]:
        if self.spec.variant == "eager":
            return fn
        graph: Callable[..., tf.Tensor] = tf.function(fn, jit_compile=jit_compile)
        return graph

    def _train_step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = cross_entropy(y, self.model(x, training=True), self.formulation.loss)
        grads = tape.gradient(loss, self._variables)
        self.optimizer.apply_gradients(zip(grads, self._variables, strict=True))
        return loss

    def _infer_step(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        return cross_entropy(y, self.model(x, training=False), self.formulation.loss)

    def compile(self) -> float | None:
        """The first call of the tf.function: trace + (XLA) compile + one real step."""
        if self.spec.variant == "eager":
            return None
        start = time.perf_counter()
        with tf.device(self._device):
            float(self._step(*self._pool[0]))
        return (time.perf_counter() - start) * 1e3

    def step(self, index: int) -> float:
        x, y = self._pool[index % len(self._pool)]
        with tf.device(self._device):
            loss = self._step(x, y)
        return float(loss)  # copies the scalar to the host, so the step has finished

    def load_pool(self, pool: list[Batch]) -> None:
        with tf.device(self._device):
            self._pool: list[DeviceBatch] = [(tf.identity(tf.constant(x)), tf.identity(tf.constant(y))) for x, y in pool]

    def predict(self, x: Features) -> npt.NDArray[np.float32]:
        """Logits in chunks of the run's batch size; the last chunk is padded to the same shape
        so the graph is traced once."""
        if len(x) == 0:
            raise ValueError("predict needs at least one example")
        chunk = min(self.spec.batch_size, len(x))
        out = []
        with tf.device(self._device):
            for start in range(0, len(x), chunk):
                part = x[start : start + chunk]
                pad = chunk - len(part)
                if pad:
                    part = np.concatenate([part, np.zeros((pad, *part.shape[1:]), part.dtype)])
                logits = self._forward(tf.constant(part)).numpy()
                out.append(logits[: chunk - pad])
        return np.concatenate(out)

    def device_memory(self) -> DeviceMemory | None:
        try:
            info = tf.config.experimental.get_memory_info(self._memory_name)
        except ValueError:  # an allocator that keeps no statistics
            return None
        source = f"tf.config.experimental.get_memory_info('{self._memory_name}')"
        return DeviceMemory(int(info["current"]), int(info["peak"]), source)


def prepare(
    spec: RunSpec, config: ModelConfig, pool: list[Batch], eval_split: Split | None, formulation: TFFormulation | None = None
) -> TFRun:
    """Build the run for a resolved spec. `eval_split` is not needed here: the worker evaluates
    through predict() with numpy arrays after the timed steps. `formulation`: the default, or an
    alternative that bench/model_formulations.py measures."""
    return TFRun(spec, config, pool, formulation)
