"""Which rows of a trace are a device's, and what kind of device (GPU, TPU, MTIA, XPU, HPU, ...)
the trace itself says it ran on.

A row is a device row when its names say so: an xprof process "/device:TPU:0" (the XPlane's
plane name; its threads are the plane's lines: "XLA Ops", "Host Offload Ops", "Steps", ...), a
Kineto device process (process_labels "GPU 0", "MTIA 1", merged into the process name as
"python (GPU 0)"), or a Kineto stream thread ("stream 7": Kineto writes device events with the
device id as pid and the stream as tid). It is also one when it holds kernels or copies by
category. On a device row an event whose category says nothing (an unknown or
device-or-host category such as collective_comm) is device work. The device kind comes from
the xprof plane name, else from the runtime categories (Kineto labels every device "GPU N"
whatever the backend), else from the Kineto label; kernels with no other witness are a GPU's.
Forcing kinds runs per row and per distinct name on it, never per event.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np
import numpy.typing as npt

from traces.kineto import vendor_of
from traces.table import EventTable, Kind
from traces.table_builder import TableBuilder

XPROF_DEVICE = re.compile(r"^/device:([A-Za-z][A-Za-z0-9_]*):\d+")  # "/device:TPU:0", "/device:TPU:0 SparseCore 1"
# "GPU 0", "python (GPU 0)", or behind a rank or host prefix ("rank 3: GPU 0")
DEVICE_LABEL = re.compile(r"(?:^|\(|:\s)(GPU|TPU|MTIA|XPU|HPU|NPU|IPU|MPS|CUDA)[ :]?\d+\)?$", re.IGNORECASE)
STREAM = re.compile(r"(?i)^stream\s*#?\s*\d+")  # Kineto "stream 7", xprof "Stream #7(Compute)"
MEMCPY_NAME = re.compile(r"(?i)memcpy|memset")
WORK = (Kind.KERNEL, Kind.MEMCPY, Kind.HLO_OP)  # what counts as device work on a device row
_IS_WORK = np.zeros(256, bool)  # per kind (uint8): in WORK; a lookup per event, no set test
_IS_WORK[list(WORK)] = True
# xprof device lines (tsl/profiler/utils/xplane_schema.cc) that hold the device's own op time;
# every other line (XLA Modules, Steps, Framework Ops / Name Scope, Source code, Launch Stats,
# XLA TraceMe, syncs, counters) re-slices that time and is DERIVED.
XPROF_OP_LINES = ("XLA Ops", "Async XLA Ops", "Host Offload Ops", "Sparse Core Ops")


def device_line_kind(thread: str, event_name: str) -> Kind:
    """Kind forced by an xprof device row ("/device:GPU:0", "/device:TPU:0" process): streams
    hold kernels and copies, the op lines (XLA Ops, Host Offload Ops, Sparse Core Ops) the
    per-HLO device time; the other lines re-slice the same device time, so they are DERIVED
    and stay out of busy time and op tables."""
    if STREAM.match(thread):
        return Kind.MEMCPY if MEMCPY_NAME.search(event_name) else Kind.KERNEL
    if thread in XPROF_OP_LINES:
        return Kind.HLO_OP
    return Kind.DERIVED


def row_device_name(process: str, thread: str, tid: str = "") -> str | None:
    """The device kind a row's own names give ("TPU", "GPU", ...), "" for a device row whose
    names give no kind (a Kineto stream thread without a labelled process), None for a host row.
    `process` is the process name, or the pid where the trace names none (a pid "GPU 0")."""
    xprof = XPROF_DEVICE.match(process)
    if xprof:
        kind = xprof.group(1).upper()
        return None if kind == "CUSTOM" else kind
    label = DEVICE_LABEL.search(process.strip())
    if label:
        word = label.group(1).upper()
        return "GPU" if word == "CUDA" else word
    if STREAM.match(thread) or STREAM.match(tid):
        return ""
    return None


_CLASS = np.full(256, 2, np.int64)  # an event's kind -> 0: device work, 1: unknown, 2: the rest
_CLASS[[Kind.KERNEL, Kind.MEMCPY]], _CLASS[Kind.OTHER] = 0, 1


def mark_device_rows(builder: TableBuilder, part: dict[str, np.ndarray], kind: npt.NDArray[np.uint8]) -> None:
    """Mark the device rows among one part's rows and force kinds on them in place: xprof's
    line kinds on "/device:" rows; elsewhere an event of unknown kind on a device row is a
    kernel (a copy when its name says memcpy/memset)."""
    rows = part["row"]
    n_rows = len(builder.rows)  # row ids are small: counting beats sorting a million of them
    # per row, its events in three classes (device work, unknown kind, the rest), in one count
    per_row = np.bincount(rows * 3 + _CLASS[kind], minlength=3 * n_rows).reshape(-1, 3)
    for r in np.flatnonzero(per_row[:, 0]).tolist():
        builder.rows[r]["device"] = True
    unknown = per_row[:, 1]  # rows scanned again only where needed
    for r in np.flatnonzero(per_row.sum(axis=1)).tolist():
        info = builder.rows[r]
        named = row_device_name(info["process"] or info["pid"], info["thread"], info["tid"])  # as a label shows it
        if named is None:
            continue
        info["device"] = True
        xprof = info["process"].startswith("/device:")
        if not xprof and not unknown[r]:
            continue
        on_row = rows == r if xprof else (rows == r) & (kind == Kind.OTHER)
        uniq, inverse = np.unique(part["name"][on_row], return_inverse=True)
        names = [builder.strings[u] if u >= 0 else "" for u in uniq.tolist()]
        if xprof:
            forced = [device_line_kind(info["thread"], n) for n in names]
        else:
            forced = [Kind.MEMCPY if MEMCPY_NAME.search(n) else Kind.KERNEL for n in names]
        kind[on_row] = np.array(forced, dtype=np.uint8)[inverse]


def _categories(table: EventTable) -> list[str]:
    """The categories the events name (ids are small: counting beats sorting millions of them)."""
    present = np.flatnonzero(np.bincount(table.cat + 1, minlength=len(table.strings) + 1)[1:])
    return [table.strings[c] for c in present.tolist()]


def _rows_of(table: EventTable, events: npt.NDArray[np.bool_]) -> list[int]:
    """The rows that hold any of `events`, in order."""
    return np.flatnonzero(np.bincount(table.row[events], minlength=len(table.rows))).tolist()


def device_kinds(table: EventTable) -> dict[int, str]:
    """Device kind per device row that holds device work (kernels, copies, device HLO ops)."""
    cached: dict[int, str] | None = table.cache.get("device_kinds")
    if cached is not None:
        return cached
    flags = np.array([r.device for r in table.rows], dtype=bool)
    work = _IS_WORK[table.kind] & flags[table.row] if len(table.rows) else np.zeros(len(table), bool)
    vendor = vendor_of(_categories(table)) if work.any() else None
    out: dict[int, str] = {}
    for r in _rows_of(table, work):
        row = table.rows[r]
        named = row_device_name(row.process or row.pid, row.thread, row.tid) or ""
        out[r] = named if named and row.process.startswith("/device:") else vendor or named or "GPU"
    table.cache["device_kinds"] = out
    return out


def device_work(table: EventTable) -> npt.NDArray[np.bool_]:
    """Per event: device work (a kernel, copy or device HLO op on a device row)."""
    on_row = np.zeros(len(table.rows), bool)
    on_row[list(device_kinds(table))] = True
    return _IS_WORK[table.kind] & on_row[table.row] if len(table.rows) else np.zeros(len(table), bool)


def device_kind(table: EventTable) -> str | None:
    """The kind of device the trace's device work ran on ("TPU", "GPU", "MTIA", ...); with
    several kinds, the one with the most device-work events; None without device work."""
    kinds = device_kinds(table)
    if not kinds:
        return None
    counts: dict[str, int] = {}
    per_row = np.bincount(table.row[device_work(table)], minlength=len(table.rows))
    for r, k in kinds.items():
        counts[k] = counts.get(k, 0) + int(per_row[r])
    return max(sorted(counts), key=lambda k: counts[k])


def guess_device(table: EventTable, device_properties: Any, flavor: str) -> str | None:
    """"tpu" / "gpu" / "mtia" / "xpu" / ... (lower case, as SourceInfo.device holds it) from the
    device work the trace holds, "gpu" from torch's deviceProperties alone (CUDA device
    properties), "cpu" for a torch or XLA trace without either; None for a generic Chrome trace
    that does not say."""
    kind = device_kind(table)
    if kind:
        return kind.lower()
    if device_properties:
        return "gpu"
    return "cpu" if flavor in ("torch", "xla") else None


def device_label(device: str | None) -> str:
    """"TPU" for SourceInfo.device "tpu", "CPU" for "cpu"; "" when unknown."""
    return device.upper() if device else ""
