"""Chrome-trace events that become counter series rather than events (split from
`traces.chrome`, which checks their times first): torch's `[memory]` instants ("Total
Allocated" / "Total Reserved" per device) and Chrome "C" events (one series per track and
numeric argument)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from traces.decode import Columns
from traces.decode_generic import number
from traces.table import label_text
from traces.table_builder import TableBuilder


def memory_counters(builder: TableBuilder, cols: Columns, idx: npt.NDArray[np.intp]) -> None:
    """torch `[memory]` instants (`idx`) -> "Total Allocated" / "Total Reserved" series per device."""
    sids, times, values = [], [], []
    for i in idx.tolist():
        device = _torch_device(cols.arg(i, "Device Type"), cols.arg(i, "Device Id"))
        for fname in ("Total Allocated", "Total Reserved"):
            v = number(cols.arg(i, fname))
            if math.isfinite(v):
                sids.append(builder.series(f"[memory] {device}", fname, "bytes", device))
                times.append(cols.ts_ns[i])
                values.append(v)
    if sids:
        builder.add_counters(np.array(sids), np.array(times, np.int64), np.array(values))


def _torch_device(device_type: Any, device_id: Any) -> str:
    if not isinstance(device_type, int) or device_type == 0:
        return "CPU"
    kind = {1: "CUDA"}.get(device_type, f"device type {device_type}")
    return f"{kind}:{device_id}" if isinstance(device_id, int) else kind


def chrome_counters(builder: TableBuilder, cols: Columns, idx: npt.NDArray[np.intp], process_names: dict[Any, str]) -> None:
    """Chrome "C" events (`idx`): one series per (track name, argument) of numeric values."""
    sids, times, values = [], [], []
    counter_args = cols.counter_args()
    for i in idx.tolist():
        args = counter_args.get(i)
        if not isinstance(args, dict):
            continue
        _, cat, name, pid, _ = cols.ukeys[cols.code[i]]
        track = label_text(name, 200)
        device = process_names.get(pid, label_text(pid, 60)) if pid is not None else ""
        memoryish = cat == "memory" or any(w in track.lower() for w in ("memory", "bytes", "alloc"))
        for key, value in list(args.items())[:64]:
            v = number(value)
            if not math.isfinite(v):
                continue
            sids.append(builder.series(track, label_text(key, 200), "bytes" if memoryish else "", device))
            times.append(cols.ts_ns[i])
            values.append(v)
    if sids:
        builder.add_counters(np.array(sids), np.array(times, np.int64), np.array(values))
