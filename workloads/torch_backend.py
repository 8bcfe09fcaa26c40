"""PyTorch backend: one model, Adam, and a train or infer step in the "eager" or "compiled"
(torch.compile) variant, behind the framework-free PreparedRun interface.

The whole batch pool is converted (layout included) and moved to the device once in
`prepare`, so a measured step touches no numpy except reading the loss scalar back.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class TorchFormulation:
    """How the step is written where PyTorch's own docs show more than one way. The defaults are
    the measured fastest on CPU (README, "How the built-in models are written, and why"); the
    others stay runnable so bench/model_formulations.py can hold the defaults against them."""

    loss: str = "class_indices"  # F.cross_entropy on class indices; or "one_hot" probabilities
    adam: str = "fused"  # torch.optim.Adam(fused=True); or "for_loop", its default on a CPU
    memory_format: str = "channels_last"  # the convnet's images and conv weights; or "contiguous" (NCHW)
    relu: str = "inplace"  # the convnet's ReLUs in place (torchvision's nn.ReLU(inplace=True)); or "out_of_place"


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, loss: str = "class_indices") -> torch.Tensor:
    """Mean softmax cross-entropy over every position; targets have shape logits.shape[:-1].
    Both forms are the same function."""
    flat = logits.reshape(-1, logits.shape[-1])
    if loss == "class_indices":
        return F.cross_entropy(flat, targets.reshape(-1))
    if loss == "one_hot":
        return F.cross_entropy(flat, F.one_hot(targets.reshape(-1), logits.shape[-1]).to(logits.dtype))
    raise ValueError(f"unknown loss formulation {loss!r}")


class TorchRun:
    """A prepared PyTorch run; see workloads.base.PreparedRun for the contract."""

    def __init__(
        self, spec: RunSpec, config: ModelConfig, pool: list[Batch], formulation: TorchFormulation | None = None
    ) -> None:
        if not pool:
            raise ValueError("the batch pool is empty")
        if spec.variant not in ("eager", "compiled"):
            raise ValueError(f"torch has no variant {spec.variant!r}")
        self.spec = spec
        self.formulation = formulation = formulation or TorchFormulation()
        if formulation.adam not in ("for_loop", "fused"):
            raise ValueError(f"unknown Adam implementation {formulation.adam!r}")
        formats = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
        if formulation.memory_format not in formats:
            raise ValueError(f"unknown memory format {formulation.memory_format!r}")
        if formulation.relu not in ("inplace", "out_of_place"):
            raise ValueError(f"unknown ReLU formulation {formulation.relu!r}")
        # Only the convnet has images and conv weights; the other models keep their own layout.
        self._memory_format = formats[formulation.memory_format] if spec.workload == "convnet" else torch.preserve_format
        self.framework_version = torch.__version__
        self._device, self.device = _device(spec.device)
        self._cuda = self._device.type == "cuda"
        torch.manual_seed(spec.seed)

        builder = registry.model_builder(spec.workload, "torch")
        self._inputs: Callable[[Features], torch.Tensor] = builder.inputs
        self.model: nn.Module = builder.build(config, spec.seed).to(self._device, memory_format=self._memory_format)
        if hasattr(self.model, "inplace_relu"):
            self.model.inplace_relu = formulation.relu == "inplace"
        self.param_count = sum(p.numel() for p in self.model.parameters())
        self.load_pool(pool)

        # torch.compile wraps the module; the wrapper shares the parameters, so the optimiser
        # and predict() (eager, to avoid a grad-mode recompile) see the same weights.
        self._forward: Callable[[torch.Tensor], torch.Tensor] = (
            torch.compile(self.model) if spec.variant == "compiled" else self.model
        )
        if spec.mode == "train":
            self.model.train()
            self.optimizer = torch.optim.Adam(
                self.model.parameters(),
                lr=spec.learning_rate,
                betas=ADAM_BETAS,
                eps=ADAM_EPS,
                fused=True if formulation.adam == "fused" else None,
            )
            self._step = self._train_step
        else:
            self.model.eval()
            self._step = self._infer_step
        if self._cuda:
            torch.cuda.synchronize(self._device)
            torch.cuda.reset_peak_memory_stats(self._device)

    def _device_inputs(self, x: Features) -> torch.Tensor:
        """A numpy batch as the model's input tensor on the device, in the chosen memory format."""
        return self._inputs(x).to(self._device, memory_format=self._memory_format)

    def _train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss = cross_entropy(self._forward(x), y, self.formulation.loss)
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
        self.optimizer.step()
        return loss.detach()

    def _infer_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return cross_entropy(self._forward(x), y, self.formulation.loss)

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

    def load_pool(self, pool: list[Batch]) -> None:
        self._pool = [
            (self._device_inputs(x), torch.from_numpy(np.asarray(y)).long().to(self._device)) for x, y in pool
        ]
        if self._cuda:
            torch.cuda.synchronize(self._device)  # the copies are part of the caller's epoch, not the next step

    def predict(self, x: Features) -> npt.NDArray[np.float32]:
        out = []
        with torch.inference_mode():
            for i in range(0, len(x), self.spec.batch_size):
                batch = self._device_inputs(x[i : i + self.spec.batch_size])
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


def prepare(
    spec: RunSpec, config: ModelConfig, pool: list[Batch], eval_split: Split | None, formulation: TorchFormulation | None = None
) -> TorchRun:
    """Build the run for a resolved spec. `eval_split` is not needed here: evaluation goes
    through predict(), which the worker calls with the test images. `formulation`: the default,
    or an alternative that bench/model_formulations.py measures."""
    return TorchRun(spec, config, pool, formulation)
