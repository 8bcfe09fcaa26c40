"""PyTorch backend: one model, Adam, and a train or infer step in the "eager" or "compiled"
(torch.compile) variant, behind the framework-free PreparedRun interface.

The whole batch pool is converted (layout included) and moved to the device once in
`prepare`, so a measured step touches no numpy except reading the loss scalar back.
"""
from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import nn

from workloads import registry
from workloads.base import DeviceInfo, DeviceMemory, resolve_device_kind
from workloads.configs import ADAM_BETAS, ADAM_EPS, ModelConfig
from workloads.data import Batch, Features, Split
from workloads.spec import RunSpec


def _device(requested: str) -> tuple[torch.device, DeviceInfo]:
    kind = resolve_device_kind(requested, torch.cuda.is_available(), f"PyTorch {torch.__version__}")
    if kind == "gpu":
        device = torch.device("cuda", torch.cuda.current_device())
        return device, DeviceInfo("gpu", torch.cuda.get_device_name(device))
    return torch.device("cpu"), DeviceInfo("cpu", f"cpu ({torch.backends.cpu.get_cpu_capability()})")


def _loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy over every position; targets have shape logits.shape[:-1]."""
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))


class TorchRun:
    """A prepared PyTorch run; see workloads.base.PreparedRun for the contract."""

    def __init__(self, spec: RunSpec, config: ModelConfig, pool: list[Batch]) -> None:
        if not pool:
            raise ValueError("the batch pool is empty")
        if spec.variant not in ("eager", "compiled"):
            raise ValueError(f"torch has no variant {spec.variant!r}")
        self.spec = spec
        self.framework_version = torch.__version__
        self._device, self.device = _device(spec.device)
        self._cuda = self._device.type == "cuda"
        torch.manual_seed(spec.seed)

        builder = registry.model_builder(spec.workload, "torch")
        self._inputs: Callable[[Features], torch.Tensor] = builder.inputs
        self.model: nn.Module = builder.build(config, spec.seed).to(self._device)
        self.param_count = sum(p.numel() for p in self.model.parameters())
        self._pool = [
            (self._inputs(x).to(self._device), torch.from_numpy(np.asarray(y)).long().to(self._device))
            for x, y in pool
        ]

        # torch.compile wraps the module; the wrapper shares the parameters, so the optimiser
        # and predict() (eager, to avoid a grad-mode recompile) see the same weights.
        self._forward: Callable[[torch.Tensor], torch.Tensor] = (
            torch.compile(self.model) if spec.variant == "compiled" else self.model
        )
        if spec.mode == "train":
            self.model.train()
            self.optimizer = torch.optim.Adam(
                self.model.parameters(), lr=spec.learning_rate, betas=ADAM_BETAS, eps=ADAM_EPS
            )
            self._step = self._train_step
        else:
            self.model.eval()
            self._step = self._infer_step
        if self._cuda:
            torch.cuda.synchronize(self._device)
            torch.cuda.reset_peak_memory_stats(self._device)

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss = _loss(self._forward(x), y)
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
        self.optimizer.step()
        return loss.detach()

    def _infer_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return _loss(self._forward(x), y)

    def compile(self) -> float | None:
        """torch.compile compiles lazily: the first call (one real step on batch 0) is the
        compile, so its wall time in ms is returned. Eager has nothing to compile."""
        if self.spec.variant == "eager":
            return None
        start = time.perf_counter()
        self.step(0)
        return (time.perf_counter() - start) * 1e3

    def step(self, index: int) -> float:
        x, y = self._pool[index % len(self._pool)]
        loss = self._step(x, y)
        if self._cuda:
            # .item() is a copy ordered on the current stream, so it would already wait for the
            # optimiser kernels queued before it; synchronising makes that explicit and also
            # covers work on other streams, so the whole step is inside the caller's timer.
            torch.cuda.synchronize(self._device)
        return loss.item()

    def predict(self, x: Features) -> npt.NDArray[np.float32]:
        out = []
        with torch.inference_mode():
            for i in range(0, len(x), self.spec.batch_size):
                batch = self._inputs(x[i : i + self.spec.batch_size]).to(self._device)
                out.append(self.model(batch).float().cpu().numpy())
        return np.concatenate(out, axis=0)

    def device_memory(self) -> DeviceMemory | None:
        if not self._cuda:
            return None
        return DeviceMemory(
            torch.cuda.memory_allocated(self._device),
            torch.cuda.max_memory_allocated(self._device),
            "torch.cuda.memory_allocated / max_memory_allocated",
        )


def prepare(spec: RunSpec, config: ModelConfig, pool: list[Batch], eval_split: Split | None) -> TorchRun:
    """Build the run for a resolved spec. `eval_split` is not needed here: evaluation goes
    through predict(), which the worker calls with the test images."""
    return TorchRun(spec, config, pool)
