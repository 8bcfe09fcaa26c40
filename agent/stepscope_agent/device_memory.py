"""The framework allocator's device memory, 10 times a second, as `device` events.

Only the program's own process can ask its framework's allocator (torch.cuda.memory_allocated,
JAX's memory_stats, TF's get_memory_info), so this is the one sampling thread the agent runs, and
only on an accelerator whose framework reports figures: on a CPU none of the three does, and a
10 Hz thread would only take time from the framework's compute threads. The controller folds
these figures into its own `sample` events, as for the built-in workers.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Optional

PERIOD_S = 0.1
Reading = Optional[tuple[int, int, str]]  # (bytes in use, peak bytes, where the figures come from)


def start_device_sampler(read: Callable[[], Reading], emit: Callable[..., None]) -> threading.Thread | None:
    """Start sampling if `read` gives figures now; None (no thread) if it gives none or fails."""
    try:
        first = read()
    except Exception:
        return None
    if first is None:
        return None

    def run() -> None:
        reading: Any = first
        while reading is not None:
            in_use, peak, source = reading
            emit("device", device_in_use=int(in_use), device_peak=int(peak), device_memory_source=source)
            stop.wait(PERIOD_S)
            try:
                reading = read()
            except Exception:
                return  # the framework is shutting down, or its device went away: stop quietly

    stop = threading.Event()
    thread = threading.Thread(target=run, name="stepscope-device-memory", daemon=True)
    thread.start()
    return thread
