"""JAX backend: a pure train/infer step over a parameter pytree, jitted ("compiled") or run
op by op ("eager"), with the batch pool placed on the device once before any timing."""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
import numpy.typing as npt
import optax

from workloads import registry
from workloads.base import DeviceInfo, DeviceMemory, resolve_device_kind
from workloads.configs import ADAM_BETAS, ADAM_EPS, ModelConfig
from workloads.data import Batch, Features, Split
from workloads.spec import RunSpec


@dataclass(frozen=True)
class JaxFormulation:
    """How the step is written where JAX's own docs show more than one way. The defaults are the
    measured fastest on CPU (README, "How the built-in models are written, and why"); the others
    stay runnable so bench/model_formulations.py can hold the defaults against them."""

    loss: str = "one_hot"  # or "integer_labels": its gradient is an iota + scatter on XLA:CPU
    donate: bool = True  # donate params and optimiser state to the jitted train step
    conv_layout: str = "NHWC"  # convnet only; or "NCHW" (images transposed once, in the pool)
    max_pool: str = "reduce_window"  # convnet only; or "reshape_max" (not how JAX's docs write it)


def cross_entropy(logits: jax.Array, labels: jax.Array, loss: str = "one_hot") -> jax.Array:
    """Mean softmax cross-entropy over every position; labels have shape logits.shape[:-1].
    Both forms are the same function; the one-hot form differentiates without a scatter."""
    if loss == "one_hot":
        per_example = optax.softmax_cross_entropy(logits, jax.nn.one_hot(labels, logits.shape[-1], dtype=logits.dtype))
    elif loss == "integer_labels":
        per_example = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    else:
        raise ValueError(f"unknown loss formulation {loss!r}")
    mean: jax.Array = per_example.mean()
    return mean


def gpu_devices() -> list[jax.Device]:
    """The GPUs jax can use; empty when jaxlib has no GPU backend or sees no GPU."""
    try:
        return jax.devices("gpu")
    except RuntimeError:
        return []


def select_device(requested: str) -> tuple[str, jax.Device]:
    """The device kind and the JAX device a run uses; raises DeviceUnavailable for an
    unsatisfiable --device gpu."""
    gpus = gpu_devices()
    kind = resolve_device_kind(requested, bool(gpus), "jax")
    return kind, gpus[0] if kind == "gpu" else jax.devices("cpu")[0]


class JaxRun:
    """One prepared run; see workloads.base.PreparedRun for the contract."""

    def __init__(
        self, spec: RunSpec, config: ModelConfig, pool: list[Batch], formulation: JaxFormulation | None = None
    ) -> None:
        if not pool:
            raise ValueError("the batch pool is empty")
        self.formulation = formulation = formulation or JaxFormulation()
        convnet_only = {"conv_layout": "NHWC", "max_pool": "reduce_window"}
        changed = [name for name, default in convnet_only.items() if getattr(formulation, name) != default]
        if changed and spec.workload != "convnet":
            raise ValueError(f"{', '.join(changed)} applies to the convnet only, not {spec.workload!r}")
        self.spec = spec
        self.framework_version = jax.__version__
        kind, self._device = select_device(spec.device)
        self.device = DeviceInfo(kind, self._device.device_kind)

        builder = registry.model_builder(spec.workload, "jax")
        if spec.workload == "convnet":
            params, apply = builder.build(config, spec.seed, formulation.conv_layout, formulation.max_pool)
        else:
            params, apply = builder.build(config, spec.seed)
        self._apply: Callable[[Any, jax.Array], jax.Array] = apply
        self.param_count = int(sum(leaf.size for leaf in jax.tree_util.tree_leaves(params)))
        self._optimizer = optax.adam(spec.learning_rate, b1=ADAM_BETAS[0], b2=ADAM_BETAS[1], eps=ADAM_EPS)

        # Committed arrays: every step (jitted or eager) runs where its inputs live. Inference
        # keeps no optimiser state, so its device memory is the model's and the pool's alone.
        self._params = jax.device_put(params, self._device)
        self._opt_state = self._optimizer.init(self._params) if spec.mode == "train" else None
        self.load_pool(pool)
        jax.block_until_ready((self._params, self._opt_state))  # type: ignore[no-untyped-call]  # jax.block_until_ready is unannotated

        step = self._train_step if spec.mode == "train" else self._infer_step
        self._jitted: jax.stages.Wrapped | None
        self._forward: Callable[[Any, jax.Array], jax.Array]
        if spec.variant == "compiled":
            # Donating params/opt_state lets XLA update them in place, as a real training loop would.
            donate = (0, 1) if spec.mode == "train" and formulation.donate else ()
            self._jitted = jax.jit(step, donate_argnums=donate)
            self._forward = jax.jit(apply)
            self._step: Callable[..., Any] | None = None  # set by compile()
        elif spec.variant == "eager":
            self._jitted = None
            self._forward = apply
            self._step = step
        else:
            raise ValueError(f"jax has no variant {spec.variant!r}")

    def _layout(self, x: Features) -> Features:
        """Host images in the layout the model reads: NHWC as loaded, or NCHW."""
        if self.formulation.conv_layout == "NHWC":
            return x
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=np.float32)

    # -- the pure functions ------------------------------------------------------------------
    def _loss(self, params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
        return cross_entropy(self._apply(params, x), y, self.formulation.loss)

    def _train_step(self, params: Any, opt_state: Any, x: jax.Array, y: jax.Array) -> tuple[Any, Any, jax.Array]:
        loss, grads = jax.value_and_grad(self._loss)(params, x, y)
        updates, opt_state = self._optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def _infer_step(self, params: Any, x: jax.Array, y: jax.Array) -> jax.Array:
        return self._loss(params, x, y)

    def _state(self) -> tuple[Any, ...]:
        """The step's leading arguments: the optimiser state only exists to be updated."""
        return (self._params, self._opt_state) if self.spec.mode == "train" else (self._params,)

    # -- PreparedRun -------------------------------------------------------------------------
    def compile(self) -> float | None:
        if self._jitted is None:
            return None
        x, y = self._pool[0]
        start = time.perf_counter()
        with jax.default_device(self._device):
            compiled = self._jitted.lower(*self._state(), x, y).compile()
        elapsed_ms = (time.perf_counter() - start) * 1e3
        self._step = compiled  # call the compiled object from now on: the jitted one would recompile
        return elapsed_ms

    def step(self, index: int) -> float:
        step = self._step
        if step is None:
            self.compile()
            step = self._step
            assert step is not None  # compile() has just set it
        x, y = self._pool[index % len(self._pool)]
        # The default device matters op by op only: constants made inside the step land there.
        with jax.default_device(self._device):
            if self.spec.mode == "train":
                self._params, self._opt_state, loss = step(self._params, self._opt_state, x, y)
                if self._jitted is None:
                    # Op by op, the optimiser update is dispatched after the loss exists: wait
                    # for it too, or its time would land in the next step. (A compiled step
                    # finishes all of its outputs together, so reading the loss is enough.)
                    jax.block_until_ready((self._params, self._opt_state))  # type: ignore[no-untyped-call]  # jax.block_until_ready is unannotated
            else:
                loss = step(self._params, x, y)
        return float(loss)  # the device-to-host read is the synchronisation

    def load_pool(self, pool: list[Batch]) -> None:
        self._pool = [(jax.device_put(self._layout(x), self._device), jax.device_put(y, self._device)) for x, y in pool]
        jax.block_until_ready(self._pool)  # type: ignore[no-untyped-call]  # jax.block_until_ready is unannotated

    def predict(self, x: Features) -> npt.NDArray[np.float32]:
        """Logits in batches of spec.batch_size; the last batch is padded so the jitted forward
        sees one shape only and compiles once."""
        bs = self.spec.batch_size
        outputs = []
        for start in range(0, len(x), bs):
            chunk = self._layout(x[start : start + bs])
            n = len(chunk)
            if n < bs and self._jitted is not None:
                chunk = np.concatenate([chunk, np.zeros((bs - n, *chunk.shape[1:]), chunk.dtype)])
            with jax.default_device(self._device):
                logits = self._forward(self._params, jax.device_put(chunk, self._device))
            outputs.append(np.asarray(logits)[:n])
        if not outputs:
            raise ValueError("predict() needs at least one example")
        return np.concatenate(outputs)

    def device_memory(self) -> DeviceMemory | None:
        stats = self._device.memory_stats()
        if not stats or "bytes_in_use" not in stats:
            return None  # the CPU client keeps no allocator statistics
        in_use = int(stats["bytes_in_use"])
        return DeviceMemory(in_use, int(stats.get("peak_bytes_in_use", in_use)), "jax Device.memory_stats()")


def prepare(
    spec: RunSpec, config: ModelConfig, pool: list[Batch], eval_split: Split | None, formulation: JaxFormulation | None = None
) -> JaxRun:
    """Build model, optimiser and step for `spec` and put the pool on the device.
    The evaluation split is not needed up front: the worker evaluates through predict().
    `formulation`: the default, or an alternative that bench/model_formulations.py measures."""
    del eval_split
    return JaxRun(spec, config, pool, formulation)
