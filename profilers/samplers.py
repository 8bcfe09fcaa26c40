"""Telemetry sampled at 10 Hz in a thread: host RSS and CPU %, the framework allocator's
device memory, and NVML's GPU utilisation when a GPU is present.

The sampler is always on, so it must cost well under 1 % of a step. psutil's memory_info +
cpu_percent open, read and parse /proc files: ~80 us a sample when idle, ~500 us measured
while a torch step keeps both cores busy. On Linux `HostReader` reads the same figures
through a /proc/self/statm descriptor kept open and `time.process_time()` (~5 us);
elsewhere it falls back to psutil. `memory_full_info` (3-7 ms) is deliberately not used.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

from workloads.base import DeviceMemory

log = logging.getLogger("stepscope.profilers")

SAMPLE_PERIOD_S = 0.1


class NvmlReader:
    """GPU utilisation (NVML's sampled percentage) and memory used, or nothing without a GPU."""

    def __init__(self) -> None:
        self._handle: Any = None
        self._nvml: Any = None
        try:
            import pynvml  # nvidia-ml-py

            pynvml.nvmlInit()
            if pynvml.nvmlDeviceGetCount() == 0:
                return
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip()
            if visible in ("", "-1"):
                return
            index = int(visible) if visible.isdigit() else 0
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            self._nvml = pynvml
        except Exception as exc:  # no driver, no library, no GPU: NVML simply is not there
            log.debug("NVML unavailable: %s", exc)

    @property
    def available(self) -> bool:
        return self._handle is not None

    def read(self) -> tuple[float | None, int | None]:
        if self._handle is None:
            return None, None
        try:
            util = self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu
            used = self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used
            return float(util), int(used)
        except Exception as exc:
            log.warning("NVML read failed, GPU utilisation sampling stops: %s", exc)
            self._handle = None
            return None, None


class HostReader:
    """Resident memory (bytes) and CPU % of this process, as psutil's `memory_info().rss` and
    `cpu_percent()` report them (CPU % of one core, all threads: may exceed 100)."""

    def __init__(self) -> None:
        self._statm: int | None = None
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        try:
            self._statm = os.open("/proc/self/statm", os.O_RDONLY)
        except OSError:
            self._process = psutil.Process()
        self._last_wall = time.perf_counter()
        self._last_cpu = time.process_time()

    def rss(self) -> int:
        if self._statm is None:
            return int(self._process.memory_info().rss)
        fields = os.pread(self._statm, 128, 0).split()
        return int(fields[1]) * self._page

    def cpu_percent(self) -> float:
        """CPU time over wall time since the previous call (or construction), in %."""
        wall, cpu = time.perf_counter(), time.process_time()
        elapsed = wall - self._last_wall
        percent = 100.0 * (cpu - self._last_cpu) / elapsed if elapsed > 0 else 0.0
        self._last_wall, self._last_cpu = wall, cpu
        return round(percent, 1)

    def close(self) -> None:
        if self._statm is not None:
            os.close(self._statm)
            self._statm = None


class Sampler(threading.Thread):
    """Emits a `sample` event every SAMPLE_PERIOD_S until stopped; tracks the peaks."""

    def __init__(self, emit: Callable[..., None], nvml: NvmlReader | None = None) -> None:
        super().__init__(name="stepscope-sampler", daemon=True)
        self._emit = emit
        self._stop_event = threading.Event()
        self._host = HostReader()
        self._nvml = nvml if nvml is not None else NvmlReader()
        self._device_memory: Callable[[], DeviceMemory | None] | None = None
        self.peak_rss = 0

    def attach_device_memory(self, reader: Callable[[], DeviceMemory | None]) -> None:
        """Start reporting the framework allocator's figures (once the model is on the device)."""
        self._device_memory = reader

    def sample_once(self) -> None:
        rss = self._host.rss()
        self.peak_rss = max(self.peak_rss, rss)
        memory = None
        if self._device_memory is not None:
            try:
                memory = self._device_memory()
            except Exception as exc:
                log.warning("device memory query failed, no longer sampled: %s", exc)
                self._device_memory = None
        util, used = self._nvml.read()
        self._emit(
            "sample",
            host_rss=rss,
            cpu_percent=self._host.cpu_percent(),
            device_in_use=memory.in_use if memory else None,
            device_peak=memory.peak if memory else None,
            device_memory_source=memory.source if memory else None,
            gpu_util=util,
            gpu_mem_used=used,
            gpu_util_source="nvml-sampled" if util is not None else None,
        )

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.sample_once()
            except OSError:  # the protocol pipe is gone: the controller stopped listening
                return
            self._stop_event.wait(SAMPLE_PERIOD_S)

    def stop(self) -> None:
        """Stop sampling; a last `sample_once()` from the caller still works until `close()`."""
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=1.0)

    def close(self) -> None:
        """Release the /proc descriptor (only once the thread has ended: a descriptor number
        closed under a running reader could be reused by another file)."""
        if not self.is_alive():
            self._host.close()
