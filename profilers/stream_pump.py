"""Reading a worker's event stream: `pump` takes its lines and the host monitor's samples in one
thread that wakes at most ten times a second, in Linux's idle scheduling class. Used by the
controllers (profilers.runner, profilers.program_runner) and the remote shim."""
from __future__ import annotations

import fcntl
import logging
import os
import select
import time
from collections.abc import Callable
from typing import Any

from profilers.host_monitor import HostMonitor
from profilers.protocol import MAX_LINE_BYTES

log = logging.getLogger("stepscope.profilers")


def pump(fd: int, on_line: Callable[[bytes], None], monitor: HostMonitor | None,
         on_sample: Callable[[dict[str, Any]], None], sampling: Callable[[], bool] = lambda: True,
         wake_fd: int | None = None) -> None:
    """Read lines from `fd` until end of file, passing each to `on_line` (a last one without
    its newline too, and a run of more than MAX_LINE_BYTES without one, which parse_line then
    refuses), and pass the monitor's samples to `on_sample` as they fall due.

    While sampling, the reader wakes only when a sample is due (10 Hz) and then takes every
    line the worker wrote meanwhile. The pipe is the buffer, so nothing written is lost if the
    worker dies; a worker's write wakes no one, so it stays cheap; and the controller wakes ten
    times a second however fast the steps come (a wake costs 0.1-0.35 ms of CPU on a 2-vCPU VM;
    RunController runs this in a SCHED_IDLE thread, see yield_to_workload). Lines reach
    `on_event` up to 0.1 s late. Once sampling stops (the worker is gone, or the run failed), it
    reads as lines come; then `wake_fd` turning readable ends it too, after a last read of what
    is there (a user's program may leave a child holding the pipe's write end open)."""
    _grow_pipe(fd)
    os.set_blocking(fd, False)
    pending = bytearray()
    eof = False
    while not eof:
        sampler = monitor if monitor is not None and sampling() and not monitor.gone else None
        if sampler is not None:
            time.sleep(sampler.seconds_to_next() or 0.0)
        else:
            ready, _, _ = select.select([fd] if wake_fd is None else [fd, wake_fd], [], [])
            eof = wake_fd in ready
        while True:
            try:
                chunk = os.read(fd, 1 << 20)
            except BlockingIOError:
                break
            if not chunk:
                eof = True
                break
            pending += chunk
        end = pending.rfind(b"\n") + 1
        if end:
            for line in bytes(pending[:end]).splitlines(keepends=True):
                on_line(line)
            del pending[:end]
        if len(pending) > MAX_LINE_BYTES:
            on_line(bytes(pending))
            pending.clear()
        if sampler is not None and (event := sampler.sample_if_due()) is not None:
            on_sample(event)
    if pending:  # the worker died mid-write, or never ended its last line
        on_line(bytes(pending))
    if monitor is not None:
        monitor.close()


def yield_to_workload() -> None:
    """Put the calling thread in Linux's SCHED_IDLE class: it then runs when a core is idle
    (a worker's steps leave gaps between ops and steps) and its 10 Hz wakes no longer preempt a
    framework thread on a machine whose cores the worker keeps busy. For a thread of its own
    only: an unprivileged thread cannot leave SCHED_IDLE again. Elsewhere (macOS) a no-op."""
    if not hasattr(os, "SCHED_IDLE"):
        return
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except OSError as exc:  # a container may forbid it: sampling works the same, only less politely
        log.debug("reader thread stays in the normal scheduling class: %s", exc)


def _grow_pipe(fd: int) -> None:
    """Room for a burst of events between two wakes (64 KiB by default, up to 1 MiB unprivileged)."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, 1 << 20)
    except (OSError, AttributeError):
        pass  # not a pipe, not Linux, or over the system's limit: the default size works, a burst waits
