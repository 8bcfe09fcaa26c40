"""What each event is (`Kind`), which rows are devices, which step each event falls in, and
what device a finished table ran on.

The rules read only what the trace itself says (category, name, the kept arguments, the
row's process/thread names), so the same rules serve PyTorch traces, xprof conversions of
JAX/TensorFlow XPlanes and anyone else's Chrome trace. Classification runs once per distinct
(category, name, argument flags), not per event.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from traces.table import EventTable, Kind
from traces.table_builder import TableBuilder

# argument flags the readers compute per event
HAS_HLO = 1  # args.hlo_op: an XLA op execution
HAS_TF_OP = 2  # args.long_name / args.tf_op: a TensorFlow op
HAS_STEP = 4  # args.step_num: an xprof step marker

STEP_NAME = re.compile(r"^ProfilerStep#(\d+)$")
COMPILE_NAME = re.compile(r"(?i)compil(?:e(?!d)|ation|ing)|\bptxas\b|autotun")
INPUT_NAME = re.compile(r"(?i)dataloader|^iterator::|iteratorgetnext|\binfeed")
PROFILER_NAMES = {"Iteration Start: PyTorch Profiler", "Record Window End"}
KERNEL_CATS = {"kernel", "gpu_kernel", "device_kernel"}
MEMCPY_CATS = {"gpu_memcpy", "gpu_memset", "memcpy", "memset"}
RUNTIME_CATS = {"cuda_runtime", "cuda_driver", "hip_runtime", "hip_driver", "xpu_runtime", "xpu_driver",
                "privateuse1_runtime", "privateuse1_driver", "mtia_runtime", "runtime"}
OP_CATS = {"cpu_op", "operator", "op", "tf_op", "framework_op", "aten"}
ANNOTATION_CATS = {"user_annotation", "gpu_user_annotation", "annotation"}
MEMCPY_NAME = re.compile(r"(?i)memcpy|memset")


def event_kind(cat: str, name: str, argflags: int, flavor: str) -> Kind:
    """The kind of one (category, name, argument flags) combination. `flavor` is "torch",
    "xla" (TSL/xprof traces: JAX and TensorFlow) or "chrome" (anything else): in XLA traces an
    uncategorised host event is runtime, elsewhere it is OTHER."""
    c = cat.lower()
    if argflags & HAS_STEP or STEP_NAME.match(name):
        return Kind.STEP
    if c in KERNEL_CATS:
        return Kind.KERNEL
    if c in MEMCPY_CATS:
        return Kind.MEMCPY
    if c in RUNTIME_CATS:
        return Kind.RUNTIME
    if c in ("python_function", "python") or (flavor == "xla" and name.startswith("$")):
        return Kind.PYTHON
    if c == "trace" or name in PROFILER_NAMES:
        return Kind.PROFILER
    if COMPILE_NAME.search(name):
        return Kind.COMPILE
    if INPUT_NAME.search(name):
        return Kind.INPUT
    if argflags & HAS_HLO:
        return Kind.HLO_OP
    if argflags & HAS_TF_OP or c in OP_CATS:
        return Kind.FRAMEWORK_OP
    if c in ANNOTATION_CATS:
        return Kind.ANNOTATION
    return Kind.RUNTIME if flavor == "xla" else Kind.OTHER


def device_line_kind(thread: str, event_name: str) -> Kind | None:
    """Kind forced by an xprof device row ("/device:GPU:0" process): streams hold kernels and
    copies, "XLA Ops" the per-HLO device time; the other lines (XLA Modules, Steps, framework
    ops / name scopes, source code, launch stats) re-slice the same device time, so they are
    DERIVED and stay out of busy time and op tables."""
    if thread.startswith("Stream"):
        return Kind.MEMCPY if MEMCPY_NAME.search(event_name) else Kind.KERNEL
    if thread in ("XLA Ops", "Async XLA Ops"):
        return Kind.HLO_OP
    return Kind.DERIVED


def classify(cat: np.ndarray, name: np.ndarray, argflags: np.ndarray, strings: list[str], flavor: str) -> np.ndarray:
    """Kinds for columns of category ids, name ids (indices into `strings`, -1: none) and flags."""
    if not len(name):
        return np.zeros(0, np.uint8)
    width = len(strings) + 1
    key = ((cat.astype(np.int64) + 1) * width + (name.astype(np.int64) + 1)) * 8 + argflags.astype(np.int64)
    uniq, inverse = np.unique(key, return_inverse=True)
    flags_u = uniq % 8
    rest = uniq // 8
    names_u, cats_u = rest % width - 1, rest // width - 1
    kinds = np.fromiter(
        (event_kind(strings[c] if c >= 0 else "", strings[n] if n >= 0 else "", int(f), flavor)
         for c, n, f in zip(cats_u.tolist(), names_u.tolist(), flags_u.tolist(), strict=True)),
        dtype=np.uint8, count=len(uniq))
    return kinds[inverse]


def guess_framework(names: Iterable[str]) -> str | None:
    """jax / tf from the runtime event names an XLA-family trace carries, else None."""
    jax = tf = False
    for n in names:
        if n.startswith(("PjitFunction", "np.asarray(jax.Array)", "$jax")):
            jax = True
        elif n.startswith(("TFE_", "EagerExecute", "EagerLocalExecute", "__inference_", "ExecutorState::")):
            tf = True
    if jax != tf:
        return "jax" if jax else "tf"
    return None


def step_number(name: str) -> int | None:
    match = STEP_NAME.match(name)
    return int(match.group(1)) if match else None


def assign_steps(table: EventTable) -> None:
    """Fill `table.step` with the step number whose marker window contains each event's
    start (markers of one step number on several rows are merged into one window)."""
    markers = np.flatnonzero(table.kind == Kind.STEP)
    step = np.full(len(table), -1, np.int32)
    if not len(markers):
        table.step = step
        return
    numbers = table.step[markers].astype(np.int64)  # step_num from args, where the reader found one
    missing = numbers < 0
    if missing.any():
        parsed = [step_number(table.string(int(table.name[i]))) for i in markers[missing]]
        numbers[missing] = [p if p is not None else -1 for p in parsed]
    if (numbers < 0).any():  # markers without a number: number them in time order after the others
        base = int(numbers.max()) + 1 if (numbers >= 0).any() else 0
        unnumbered = numbers < 0
        numbers[unnumbered] = base + np.arange(int(unnumbered.sum()))
    starts, ends = table.start_ns[markers], table.end_ns[markers]
    uniq, inverse = np.unique(numbers, return_inverse=True)
    win_start = np.full(len(uniq), np.iinfo(np.int64).max)
    win_end = np.full(len(uniq), np.iinfo(np.int64).min)
    np.minimum.at(win_start, inverse, starts)
    np.maximum.at(win_end, inverse, ends)
    order = np.argsort(win_start, kind="stable")
    win_start, win_end, win_step = win_start[order], win_end[order], uniq[order]
    idx = np.searchsorted(win_start, table.start_ns, side="right") - 1
    ok = idx >= 0
    ok[ok] = table.start_ns[ok] < win_end[idx[ok]]
    step[ok] = win_step[idx[ok]]
    step[markers] = numbers
    table.step = step


def finish_table(builder: TableBuilder, framework: str | None) -> EventTable:
    """The builder's table with its steps assigned; `framework`, when given, overrides what the
    reader recorded (every reader finishes through here, so they number steps alike)."""
    table = builder.finish()
    assign_steps(table)
    if framework:
        table.source.framework = framework
    return table


def guess_device(table: EventTable, device_properties: object, flavor: str) -> str | None:
    """"tpu" / "gpu" / "cpu" from the rows' process names and kernel events (or torch's
    deviceProperties); None for a generic Chrome trace that does not say."""
    procs = {r.process for r in table.rows}
    if any(p.startswith("/device:TPU") for p in procs):
        return "tpu"
    if any(p.startswith("/device:GPU") for p in procs) or (table.kind == Kind.KERNEL).any() or device_properties:
        return "gpu"
    return "cpu" if flavor in ("torch", "xla") else None
