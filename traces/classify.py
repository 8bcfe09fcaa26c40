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
import numpy.typing as npt

from traces import devices
from traces.kineto import CATEGORY_KINDS
from traces.launch_links import launch_steps
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
# kinds a category settles before any name rule (a kernel named "autotune_x" is still a kernel)
FIRM_KINDS = (Kind.KERNEL, Kind.MEMCPY, Kind.RUNTIME, Kind.PYTHON, Kind.PROFILER, Kind.DERIVED)


def event_kind(cat: str, name: str, argflags: int, flavor: str) -> Kind:
    """The kind of one (category, name, argument flags) combination. `flavor` is "torch",
    "xla" (TSL/xprof traces: JAX and TensorFlow) or "chrome" (anything else): in XLA traces an
    uncategorised host event is runtime, elsewhere it is OTHER."""
    by_cat = CATEGORY_KINDS.get(cat.lower())  # Kineto's activity types, old and new, and others' (traces.kineto)
    if argflags & HAS_STEP or STEP_NAME.match(name):
        return Kind.STEP
    if by_cat in FIRM_KINDS:
        return by_cat
    if flavor == "xla" and name.startswith("$"):
        return Kind.PYTHON
    if name in PROFILER_NAMES:
        return Kind.PROFILER
    if COMPILE_NAME.search(name):
        return Kind.COMPILE
    if INPUT_NAME.search(name):
        return Kind.INPUT
    if argflags & HAS_HLO:
        return Kind.HLO_OP
    if argflags & HAS_TF_OP:
        return Kind.FRAMEWORK_OP
    if by_cat is not None and by_cat != Kind.OTHER:
        return by_cat
    return Kind.RUNTIME if flavor == "xla" else Kind.OTHER


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
    start (markers of one step number on several rows are merged into one window); a device
    event linked to its launch (`traces.launch_links`) takes the launch's step instead."""
    markers = np.flatnonzero(table.kind == Kind.STEP)
    if not len(markers):
        table.step = np.full(len(table), -1, np.int32)
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
    step = steps_by_window(table.start_ns, win_start, win_end, win_step)
    step[markers] = numbers
    table.step = step
    launch_steps(table)  # device work launched by the CPU goes in its launch's step, wherever it ran


def steps_by_window(start: npt.NDArray[np.int64], win_start: npt.NDArray[np.int64], win_end: npt.NDArray[np.int64],
                    win_step: npt.NDArray[np.int64]) -> npt.NDArray[np.int32]:
    """Per event (`start`) the step of the last window (sorted by start) starting at or before
    it, where the event starts before that window's end; else -1."""
    if len(start) < 2 or bool(np.all(start[1:] >= start[:-1])):  # a finished table: by start
        # the events from the first start at or after a window's start to the next one's are
        # its candidates: one segment each, laid out in one pass (no search per event)
        bounds = np.searchsorted(start, win_start, side="left")
        lengths = np.diff(bounds, prepend=0, append=len(start))
        seg_end = np.repeat(np.concatenate(([np.iinfo(np.int64).min], win_end)), lengths)
        seg_step = np.repeat(np.concatenate(([-1], win_step)).astype(np.int32), lengths)
        return np.where(start < seg_end, seg_step, np.int32(-1))
    step = np.full(len(start), -1, np.int32)
    idx = np.searchsorted(win_start, start, side="right") - 1
    ok = idx >= 0
    ok[ok] = start[ok] < win_end[idx[ok]]
    step[ok] = win_step[idx[ok]]
    return step


def finish_table(builder: TableBuilder, framework: str | None) -> EventTable:
    """The builder's table with its steps assigned; `framework`, when given, overrides what the
    reader recorded (every reader finishes through here, so they number steps alike)."""
    table = builder.finish()
    assign_steps(table)
    if framework:
        table.source.framework = framework
    return table


def guess_device(table: EventTable, device_properties: object, flavor: str) -> str | None:
    """SourceInfo.device for a finished table: see `traces.devices.guess_device`."""
    return devices.guess_device(table, device_properties, flavor)
