"""HostMonitor: the controller's 10 Hz `sample` events for one worker, read from outside it.

The worker's host RSS and CPU % come from its /proc files (`HostReader`), GPU utilisation from
NVML, and device memory from the worker's latest `device` event, merged into one `sample`
event of the event stream (docs/architecture.md) on the worker's clock (the controller hands the worker its clock origin).

Sampling from the controller rather than from a thread in the worker keeps the worker's cores
for the framework (see `profilers.samplers`). The monitor has no thread of its own either: the
controller's reader thread (`runner.pump`) sleeps until the next sample is due, then takes the
sample and every line the worker wrote meanwhile in that one wake (a wake costs 0.1-0.35 ms of
CPU on a 2-vCPU VM, the /proc reads ~10 us of it; the thread is SCHED_IDLE, so it waits for an
idle core).

Each sample also says how busy the rest of the machine was (`others_cpu`): on 2 cores, one other
busy process made a PyTorch CPU step 10-15x slower (OpenMP's barrier waits for a descheduled
thread), so a figure measured beside one must say so (docs/scorecard.md, "A quiet machine").
"""
from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

import psutil

from profilers.samplers import SAMPLE_PERIOD_S, HostReader, NvmlReader, ProcessGone, ProcessTreeReader

log = logging.getLogger("stepscope.profilers")

NO_DEVICE: dict[str, Any] = {"device_in_use": None, "device_peak": None, "device_memory_source": None}
# psutil.cpu_times()'s busy modes; Linux counts guest time inside user and nice, so it is not added again.
BUSY_MODES = ("user", "nice", "system", "irq", "softirq", "steal")


def machine_busy_seconds() -> float:
    """CPU seconds every core of this machine has spent busy since boot (idle and iowait excluded)."""
    times = psutil.cpu_times()
    return float(sum(getattr(times, mode, 0.0) for mode in BUSY_MODES))


class OthersCpu:
    """The CPU that processes other than the measured ones used between two calls, as % of all the
    machine's cores (0-100): the machine's busy time minus the measured processes' CPU time. One
    psutil.cpu_times() call (one /proc/stat read) a sample."""

    def __init__(self) -> None:
        self._cores = psutil.cpu_count() or os.cpu_count() or 1
        self._last_wall = time.perf_counter()
        self._last_busy = machine_busy_seconds()

    def percent(self, measured_cpu_percent: float) -> float:
        """`measured_cpu_percent`: the measured processes' CPU % of one core over the same interval."""
        wall, busy = time.perf_counter(), machine_busy_seconds()
        elapsed = wall - self._last_wall
        busy_delta = busy - self._last_busy
        self._last_wall, self._last_busy = wall, busy
        if elapsed <= 0:
            return 0.0
        others = 100.0 * busy_delta / (elapsed * self._cores) - measured_cpu_percent / self._cores
        return round(min(max(others, 0.0), 100.0), 1)


class HostMonitor:
    """Samples process `pid` (`with_children`: and its descendants, summed) when `sample_if_due()`
    is called at or after each due time (every `period` seconds); `t` counts from `clock_origin`
    (a perf_counter value). Used by one thread; after the process has gone it reports nothing more.
    `others`: add `others_cpu`, the rest of the machine's CPU use (false where the measured process
    is not the only thing this monitor should leave out: a remote shim's, a rank's among ranks)."""

    def __init__(self, pid: int, clock_origin: float, period: float = SAMPLE_PERIOD_S,
                 nvml_factory: Callable[[], NvmlReader] = NvmlReader, with_children: bool = False,
                 others: bool = True) -> None:
        self.pid = pid
        self.period = period
        self._origin = clock_origin
        self._next = time.perf_counter() + period
        self._device = dict(NO_DEVICE)
        self._nvml: NvmlReader | None = None
        self._nvml_factory = nvml_factory
        self._want_gpu = False
        self.peak_rss = 0
        self._reader: HostReader | None = None
        try:
            # Now, so the first sample's CPU % covers its first period. A user's program is read with
            # its child processes; a worker alone (its one-process path is the benchmarked one).
            self._reader = ProcessTreeReader(pid) if with_children else HostReader(pid)
        except (ProcessGone, OSError) as exc:
            log.debug("worker %d not sampled: %s", pid, exc)
        self.gone = self._reader is None
        self._others = OthersCpu() if others and not self.gone else None

    def device_reading(self, event: dict[str, Any]) -> None:
        """The worker's latest allocator figures, carried by the following samples."""
        self._device = {key: event.get(key) for key in NO_DEVICE}

    def watch_gpu(self) -> None:
        """The worker runs on a GPU: add NVML's utilisation and memory to the samples."""
        self._want_gpu = True

    def seconds_to_next(self) -> float | None:
        """How long the caller may wait before the next sample is due (None: never again)."""
        return None if self.gone else max(self._next - time.perf_counter(), 0.0)

    def sample_if_due(self) -> dict[str, Any] | None:
        """A `sample` event if one is due, else None."""
        now = time.perf_counter()
        if self.gone or now < self._next:
            return None
        self._next = max(self._next + self.period, now + self.period / 2)  # keep the 10 Hz grid, never burst
        try:
            return self._sample(now)
        except (ProcessGone, OSError) as exc:
            log.debug("worker %d no longer sampled: %s", self.pid, exc)
            self.close()
            self.gone = True
            return None

    def _sample(self, now: float) -> dict[str, Any]:
        assert self._reader is not None
        rss = self._reader.rss()
        self.peak_rss = max(self.peak_rss, rss)
        util = used = None
        if self._want_gpu:
            if self._nvml is None:
                self._nvml = self._nvml_factory()  # once, lazily: pynvml's init is not free
            util, used = self._nvml.read()
        cpu = self._reader.cpu_percent()
        sample = {
            "type": "sample", "t": round(max(now - self._origin, 0.0), 6),
            "host_rss": rss, "cpu_percent": cpu, **self._device,
            "gpu_util": util, "gpu_mem_used": used, "gpu_util_source": "nvml-sampled" if util is not None else None,
        }
        if self._others is not None:
            sample["others_cpu"] = self._others.percent(cpu)
        return sample

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
