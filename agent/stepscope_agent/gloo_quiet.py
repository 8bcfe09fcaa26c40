"""Before torch.profiler starts or stops in a process that runs gloo collectives, wait (200 ms at
most) until gloo's worker threads are asleep.

Why: gloo completes a collective's future first and ends the collective's profiler range after,
on its own worker thread. The program's thread can therefore reach the window's end (DDP's
backward returns when the future is done, the optimizer steps) while a gloo thread is still
writing into the profiler's state, and stopping the profiler then races that write: PyTorch
aborts in native code. Seen about once in 100 runs of `torchrun --nproc-per-node 2` on a loaded
2-core machine, with "Fatal Python error: Aborted" in a thread without Python code while the main
thread was in torch/autograd/profiler.py's `__exit__`. A worker thread asleep (waiting for its
next collective) is past that write. Linux names those threads `pt_gloo_runloop`; elsewhere, and
in a process without them, this returns at once.

Standard library only: it runs inside the user's program.
"""
from __future__ import annotations

import os
import time

GLOO_WORKER = "pt_gloo_runloop"
WAIT_S = 0.2
POLL_S = 0.0005


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:  # the thread ended meanwhile
        return ""


def worker_tasks(tasks_dir: str = "/proc/self/task", name: str = GLOO_WORKER) -> list[str]:
    """The stat files of this process's threads called `name`."""
    try:
        tids = os.listdir(tasks_dir)
    except OSError:
        return []
    return [os.path.join(tasks_dir, tid, "stat") for tid in tids
            if _read(os.path.join(tasks_dir, tid, "comm")).strip() == name]


def _running(stat_path: str) -> bool:
    """Whether the thread is running or runnable ("R" after the parenthesised name in its stat line)."""
    text = _read(stat_path)
    close = text.rfind(")")
    return close >= 0 and text[close + 1:].split()[:1] == ["R"]


def wait_for_gloo_workers(tasks_dir: str = "/proc/self/task", timeout: float = WAIT_S) -> bool:
    """Wait until no gloo worker thread is running; False if one still was after `timeout` seconds."""
    stats = worker_tasks(tasks_dir)
    if not stats:
        return True
    deadline = time.monotonic() + timeout
    while any(_running(path) for path in stats):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)  # gives the core to the worker thread we wait for
    return True
