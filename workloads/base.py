"""The one interface every framework backend implements, so the worker loop is framework-free.

A backend module (`workloads/<framework>_backend.py`) exposes

    prepare(spec: RunSpec, config: ModelConfig, pool: list[Batch], eval_split: Split | None) -> PreparedRun

which builds the model (via `workloads/<workload>/<framework>_model.py`), the optimiser and
the step function for `spec.mode` and `spec.variant`, and moves the batch pool to the device
once, before any timing starts (`load_pool` replaces it, for a run of whole epochs).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from workloads.data import Batch, Features


@dataclass(frozen=True)
class DeviceInfo:
    kind: str  # "cpu", "gpu" or "tpu"
    name: str  # what the framework calls it, e.g. "NVIDIA H100 80GB HBM3" or "cpu"


@dataclass(frozen=True)
class DeviceMemory:
    """Bytes in use and peak bytes, as the framework's own allocator reports them."""

    in_use: int
    peak: int
    source: str  # the API the numbers came from, shown to the user


class PreparedRun(Protocol):
    framework_version: str
    device: DeviceInfo
    param_count: int

    def compile(self) -> float | None:
        """Compile the step on its own and return the milliseconds it took, or None when this
        variant has nothing to compile (eager). JAX: lower().compile(); tf.function and
        torch.compile: the first call (which also runs one step)."""

    def step(self, index: int) -> float:
        """Run one step on batch `index % len(pool)` to completion and return the loss as a
        Python float; reading the loss is the synchronisation, so the caller's timer is honest."""

    def load_pool(self, pool: list[Batch]) -> None:
        """Replace the batch pool with `pool` (an epoch's batches, RunSpec.epochs), converted and
        moved to the device as `prepare` did; the batches keep the first pool's shapes, so nothing
        compiles again."""

    def predict(self, x: Features) -> npt.NDArray[np.float32]:
        """Model outputs (logits) for a numpy batch, as numpy, with the current parameters."""

    def device_memory(self) -> DeviceMemory | None:
        """Current and peak allocator bytes, or None where the framework reports none
        (JAX on CPU, torch on CPU). Called from the sampler thread at 10 Hz: keep it cheap."""


class DeviceUnavailable(RuntimeError):
    """The spec asked for a device this framework cannot see (e.g. --device gpu on a CPU box)."""


def resolve_device_kind(requested: str, gpu_available: bool, framework: str) -> str:
    """'cpu' or 'gpu' for a spec's device setting; 'auto' prefers the GPU when there is one."""
    if requested == "cpu":
        return "cpu"
    if gpu_available:
        return "gpu"
    if requested == "gpu":
        raise DeviceUnavailable(
            f"--device gpu was asked for, but {framework} sees no GPU here; "
            "check the CUDA build of the framework is installed (see the README) or use --device cpu"
        )
    return "cpu"
