"""What Kineto (torch.profiler's tracer) writes, so its traces read exactly whichever version or
backend wrote them.

Kineto names an event's category after its activity type (`libkineto/include/ActivityType.h`,
the strings of `toString`): "kernel", "gpu_memcpy", "cuda_runtime", "mtia_ccp_events",
"cuda_profiler_range", ... Releases before 2021 wrote capitalised categories instead
("Operator", "Runtime", "Kernel", "Memcpy", "Memset", "Python", "Trace") and no
`deviceProperties`. `CATEGORY_KINDS` maps every one of them (lower-cased) to a Kind, next to the
few other profilers' category names Stepscope knows, so classification is one dictionary lookup
per distinct category.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from traces.table import Kind

# Every Kineto activity type, by the category string it writes, and what it is.
KINETO_KINDS: dict[str, Kind] = {
    "cpu_op": Kind.FRAMEWORK_OP,  # aten ops
    "user_annotation": Kind.ANNOTATION,  # record_function
    "gpu_user_annotation": Kind.ANNOTATION,  # a record_function's span over its kernels, on the device row
    "gpu_memcpy": Kind.MEMCPY,
    "gpu_memset": Kind.MEMCPY,
    "kernel": Kind.KERNEL,  # CONCURRENT_KERNEL; also MTIA_CCP_EVENTS in releases that alias it
    "external_correlation": Kind.PROFILER,  # correlation bookkeeping, not work
    "cuda_runtime": Kind.RUNTIME,
    "cuda_driver": Kind.RUNTIME,
    "runtime": Kind.RUNTIME,  # the accelerator-agnostic RUNTIME; also the old capitalised "Runtime"
    "driver": Kind.RUNTIME,
    "cpu_instant_event": Kind.ANNOTATION,  # host-side point events
    "python_function": Kind.PYTHON,
    "overhead": Kind.PROFILER,  # CUPTI's own overhead, sampled
    "mtia_runtime": Kind.RUNTIME,
    "mtia_ccp_events": Kind.KERNEL,  # MTIA on-device (CCP) execution
    "mtia_insight": Kind.DERIVED,  # MTIA Insight detail over device time the CCP events already cover
    "cuda_sync": Kind.RUNTIME,  # a stream/event synchronisation: waiting, not device work
    "cuda_event": Kind.RUNTIME,  # cudaEventRecord and the like
    "mtia_counters": Kind.DERIVED,  # hardware counters over device time
    "gpu_pm_counter": Kind.DERIVED,
    "glow_runtime": Kind.RUNTIME,
    "cuda_profiler_range": Kind.KERNEL,  # kernels (or user ranges) measured by CUPTI's range profiler
    "hpu_op": Kind.RUNTIME,  # "HPU host side runtime event"
    "xpu_runtime": Kind.RUNTIME,
    "xpu_driver": Kind.RUNTIME,
    "collective_comm": Kind.OTHER,  # device work on a device row (see traces.devices), host-side otherwise
    "privateuse1_runtime": Kind.RUNTIME,
    "privateuse1_driver": Kind.RUNTIME,
    "xpu_scope_profiler": Kind.KERNEL,  # XPUPTI's counterpart of cuda_profiler_range
    "xpu_sync": Kind.RUNTIME,
}
# Releases before 2021 (and torch_tb_profiler's fixtures): capitalised categories.
OLD_KINETO_CATEGORIES = ("Operator", "Runtime", "Kernel", "Memcpy", "Memset", "Python", "Trace")
OLD_KINETO_KINDS: dict[str, Kind] = {
    "operator": Kind.FRAMEWORK_OP, "memcpy": Kind.MEMCPY, "memset": Kind.MEMCPY, "python": Kind.PYTHON,
    "trace": Kind.PROFILER,  # the profiler's own "PyTorch Profiler (0)" span
}
# Other tools' names: ROCm's roctracer, TSL/xprof, generic Chrome traces.
OTHER_KINDS: dict[str, Kind] = {
    "gpu_kernel": Kind.KERNEL, "device_kernel": Kind.KERNEL,
    "hip_runtime": Kind.RUNTIME, "hip_driver": Kind.RUNTIME,
    "op": Kind.FRAMEWORK_OP, "tf_op": Kind.FRAMEWORK_OP, "framework_op": Kind.FRAMEWORK_OP, "aten": Kind.FRAMEWORK_OP,
    "annotation": Kind.ANNOTATION,
}
CATEGORY_KINDS: dict[str, Kind] = {**OTHER_KINDS, **OLD_KINETO_KINDS, **KINETO_KINDS}

# Device kind a category implies. Kineto labels every device process "GPU N" whatever the backend,
# so the categories are the better witness; the first match in this order wins.
VENDOR_CATEGORIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("MTIA", ("mtia_runtime", "mtia_ccp_events", "mtia_insight", "mtia_counters")),
    ("XPU", ("xpu_runtime", "xpu_driver", "xpu_sync", "xpu_scope_profiler")),
    ("HPU", ("hpu_op",)),
    ("GPU", ("cuda_runtime", "cuda_driver", "cuda_sync", "cuda_event", "cuda_profiler_range", "hip_runtime",
             "hip_driver")),
)
# Categories only Kineto writes: one of them (with or without cpu_op) marks a torch trace.
KINETO_ONLY = frozenset(KINETO_KINDS) - {"kernel", "runtime", "driver", "overhead"}
TORCH_NAMES = ("ProfilerStep#", "PyTorch Profiler", "Iteration Start: PyTorch Profiler")  # step markers, its own spans


def vendor_of(categories: Iterable[str]) -> str | None:
    """"MTIA" / "XPU" / "HPU" / "GPU" when a runtime-specific category says which device the
    trace's kernels ran on, else None."""
    present = {c.lower() for c in categories}
    for vendor, cats in VENDOR_CATEGORIES:
        if present.intersection(cats):
            return vendor
    return None


def is_kineto(categories: Iterable[str | None], names: Iterable[str], top: dict[str, Any]) -> bool:
    """Did Kineto write this trace? Yes when it has a category only Kineto writes, an old
    capitalised "Operator" category (or two of the old capitalised ones: a lone "Kernel" is
    also other tools' word), ProfilerStep#N or PyTorch Profiler spans, or Kineto's top-level
    `schemaVersion` beside `deviceProperties` or any Kineto category."""
    cats = {c for c in categories if c}
    if cats & KINETO_ONLY:
        return True
    old = cats.intersection(OLD_KINETO_CATEGORIES)
    if "Operator" in old or len(old) >= 2:
        return True
    if top.get("schemaVersion") is not None and (top.get("deviceProperties") is not None or old
                                                 or cats & set(KINETO_KINDS)):
        return True
    return any(n.startswith(TORCH_NAMES) for n in names)
