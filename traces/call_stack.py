"""An event's Python call stack, from the trace itself: torch.profiler with `with_stack` (and
JAX/TF's Python tracer) records each Python frame as an event of its own on the thread that ran
it, so the frames enclosing an op in time on its row are its stack."""
from __future__ import annotations

import numpy as np

from traces.table import EventTable, Kind


def python_stack(table: EventTable, index: int) -> list[str]:
    """The Python frames around event `index`, outermost first (empty when the trace recorded
    none). One vectorised pass over the table: a click's worth of work, not a per-frame one."""
    start, end = int(table.start_ns[index]), int(table.start_ns[index] + table.dur_ns[index])
    around = np.flatnonzero((table.kind == Kind.PYTHON) & (table.row == table.row[index])
                            & (table.start_ns <= start) & (table.start_ns + table.dur_ns >= end))
    around = around[around != index]
    order = np.lexsort((-table.dur_ns[around], table.start_ns[around]))  # outer frames start first, or last longer
    return [table.string(int(table.name[i])) for i in around[order]]
