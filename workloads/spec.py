"""RunSpec: everything that defines one run, so a run can be repeated exactly.

The spec crosses the process boundary as JSON (controller -> worker) and is stored with the
run, so it holds plain values only.
"""
from __future__ import annotations

import dataclasses
import math
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


MAX_MODEL_SCALE = 64.0  # 64x the built-in widths is already far past what a laptop trains


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)) and math.isfinite(value)


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
    # The scorecard's run settings (docs/scorecard.md, "Run settings"); the defaults change nothing.
    model_scale: float = 1.0  # width multiplier of the built-in model
    data_size: int | None = None  # training samples (None: the dataset as it is)
    epochs: int | None = None  # measure whole epochs instead of `steps`
    target_accuracy: float | None = None  # time-to-accuracy: train until held-out accuracy reaches it
    eval_every: int = 0  # with target_accuracy: evaluate every N steps (0: once per epoch)
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
        self._check_scorecard_settings()
        return dataclasses.replace(self, variant=variant, model_scale=float(self.model_scale))

    def _check_scorecard_settings(self) -> None:
        """The run settings of docs/scorecard.md: each valid alone, and only in combinations that mean something."""
        if not _is_number(self.model_scale) or not 0 < self.model_scale <= MAX_MODEL_SCALE:
            raise SpecError(f"model_scale must be a number above 0 and at most {MAX_MODEL_SCALE:g}, not {self.model_scale!r}")
        for name in ("data_size", "epochs"):
            value = getattr(self, name)
            if value is not None and (not _is_int(value) or value < 1):
                raise SpecError(f"{name} must be a whole number of at least 1, not {value!r}")
        target = self.target_accuracy
        if target is not None and (not _is_number(target) or not 0 < target <= 1):
            raise SpecError(f"target_accuracy is a fraction above 0 and at most 1 (0.9 for 90 %), not {target!r}")
        if not _is_int(self.eval_every) or self.eval_every < 0:
            raise SpecError(f"eval_every must be a whole number of steps, 0 or more, not {self.eval_every!r}")
        if self.eval_every and target is None:
            raise SpecError("eval_every is for time-to-accuracy: give target_accuracy too")
        wanted = [name for name in ("data_size", "epochs", "target_accuracy") if getattr(self, name) is not None]
        if wanted and self.data == "synthetic":
            raise SpecError(f"{', '.join(wanted)} need real data (digits or a local MNIST), not synthetic noise")
        if self.mode != "train" and (self.epochs is not None or target is not None):
            raise SpecError("epochs and target_accuracy are for training (mode train)")
        if self.epochs is not None and target is not None:
            raise SpecError("epochs and target_accuracy each define the measured phase; give one of them")
        if target is not None and not self.evaluate:
            raise SpecError("target_accuracy needs the held-out evaluation; drop --no-eval")
        if self.epochs is not None and self.data_size is not None and self.data_size < self.batch_size:
            raise SpecError(f"an epoch of data_size {self.data_size} holds no whole batch of {self.batch_size}; "
                            "make data_size at least batch_size")

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
