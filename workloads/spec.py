"""RunSpec: everything that defines one run, so a run can be repeated exactly.

The spec crosses the process boundary as JSON (controller -> worker) and is stored with the
run, so it holds plain values only.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

FRAMEWORKS = ("jax", "torch", "tf")
MODES = ("train", "infer")
DEVICES = ("auto", "cpu", "gpu")

# The first variant is each framework's idiomatic fast mode and the default.
VARIANTS: dict[str, tuple[str, ...]] = {
    "jax": ("compiled", "eager"),  # compiled = jax.jit (XLA); eager = op by op
    "torch": ("eager", "compiled"),  # compiled = torch.compile
    "tf": ("xla", "compiled", "eager"),  # xla = tf.function(jit_compile=True); compiled = graph, no XLA
}
VARIANT_ALIASES = {("jax", "xla"): "compiled", ("jax", "jit"): "compiled"}
# Before a trace window: shrink it under the limits that break the framework's profiler, only warn, or
# skip the check (profilers/capture_guard.py).
TRACE_GUARDS = ("shrink", "warn", "off")


class SpecError(ValueError):
    """A RunSpec that cannot run; the message says which field and why."""


@dataclass(frozen=True)
class RunSpec:
    framework: str
    workload: str = "convnet"
    mode: str = "train"
    variant: str | None = None
    batch_size: int = 64
    steps: int = 50
    warmup: int = 5
    trace_steps: int = 5
    device: str = "auto"
    data: str = "digits"
    seed: int = 0
    learning_rate: float = 1e-3
    dtype: str = "float32"
    with_stack: bool = False
    evaluate: bool = True
    trace_guard: str = "shrink"
    extra: dict[str, Any] = field(default_factory=dict)

    def resolved(self) -> RunSpec:
        """Return a validated copy with the variant filled in, or raise SpecError."""
        from workloads.registry import WORKLOADS

        if self.framework not in FRAMEWORKS:
            raise SpecError(f"unknown framework {self.framework!r}; choose one of {', '.join(FRAMEWORKS)}")
        if self.workload not in WORKLOADS:
            raise SpecError(f"unknown workload {self.workload!r}; choose one of {', '.join(WORKLOADS)}")
        if self.mode not in MODES:
            raise SpecError(f"unknown mode {self.mode!r}; choose train or infer")
        if self.device not in DEVICES:
            raise SpecError(f"unknown device {self.device!r}; choose one of {', '.join(DEVICES)}")
        if self.dtype != "float32":
            raise SpecError("only float32 is supported so far")
        variant = self.variant or VARIANTS[self.framework][0]
        variant = VARIANT_ALIASES.get((self.framework, variant), variant)
        if variant not in VARIANTS[self.framework]:
            raise SpecError(
                f"{self.framework} has no variant {variant!r}; it has {', '.join(VARIANTS[self.framework])}"
            )
        for name in ("batch_size", "steps"):
            if getattr(self, name) < 1:
                raise SpecError(f"{name} must be at least 1")
        for name in ("warmup", "trace_steps"):
            if getattr(self, name) < 0:
                raise SpecError(f"{name} must not be negative")
        if self.trace_guard not in TRACE_GUARDS:
            raise SpecError(f"unknown trace_guard {self.trace_guard!r}; choose one of {', '.join(TRACE_GUARDS)}")
        if not self.learning_rate > 0:
            raise SpecError("learning_rate must be positive")
        return dataclasses.replace(self, variant=variant)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SpecError(f"unknown run settings: {', '.join(sorted(unknown))}")
        if "framework" not in data:
            raise SpecError("a run needs a framework")
        return cls(**data)
