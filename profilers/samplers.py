"""Telemetry readers, and the worker's 10 Hz thread for what only the worker can read.

Host RSS and CPU % of a worker are read by its controller (`profilers.host_monitor`), from
/proc/<pid> descriptors kept open (~10 us a sample), not inside the worker: on a 2-core machine
a 10 Hz thread in the worker preempts one of the framework's compute threads and the whole
parallel region waits: +3-5 % of step time for JAX and PyTorch in the telemetry bench, against
~0 (every interval within ±2.6 %) with the sampling done by the controller. What stays in the
worker is what only it can read: the framework allocator's device memory (`DeviceSampler`,
started only where the framework reports any), and its exact peak RSS at the end (`peak_rss`).
psutil is the fallback where /proc is missing. A user's program is read with its child
processes (`ProcessTreeReader`); a built-in worker, whose cost is benchmarked, alone.
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
    """GPU utilisation (NVML's sampled percentage) and memory used, or nothing without a GPU.
    NVML is process-independent, so the controller reads it; it never touches CUDA."""

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


class ProcessGone(OSError):
    """The watched process has exited (or was reaped): there is nothing left to sample."""


class HostReader:
    """Resident memory (bytes) and CPU % of process `pid`, as psutil's `memory_info().rss` and
    `cpu_percent()` report them (CPU % of one core, all threads: may exceed 100).

    The /proc files stay open, so a read is one pread, and a descriptor keeps naming the
    process it was opened for even if the pid is reused after the process is reaped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self._ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._statm: int | None = None
        self._stat: int | None = None
        self._process: psutil.Process | None = None
        try:
            self._statm = os.open(f"/proc/{pid}/statm", os.O_RDONLY)
            self._stat = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
        except FileNotFoundError:
            self.close()
            if not os.path.isdir("/proc/self"):  # no procfs (macOS): psutil reads the same figures
                self._process = psutil.Process(pid)
            else:
                raise ProcessGone(f"process {pid} is gone") from None
        self._last_wall = time.perf_counter()
        self._last_cpu = self._cpu_seconds()

    def rss(self) -> int:
        if self._statm is None:
            return int(self._read_psutil(lambda p: p.memory_info().rss))
        fields = self._pread(self._statm).split()
        if len(fields) < 2 or fields[1] == b"0":  # a zombie keeps its /proc entry but no memory
            raise ProcessGone(f"process {self.pid} has exited")
        return int(fields[1]) * self._page

    def _cpu_seconds(self) -> float:
        if self._stat is None:
            times = self._read_psutil(lambda p: p.cpu_times())
            return float(times.user + times.system)
        # The command name (field 2) may hold spaces; the fields after its closing ')' do not.
        fields = self._pread(self._stat).rpartition(b")")[2].split()
        return (int(fields[11]) + int(fields[12])) / self._ticks  # utime, stime

    def cpu_percent(self) -> float:
        """CPU time over wall time since the previous call (or construction), in %."""
        wall, cpu = time.perf_counter(), self._cpu_seconds()
        elapsed = wall - self._last_wall
        percent = 100.0 * (cpu - self._last_cpu) / elapsed if elapsed > 0 else 0.0
        self._last_wall, self._last_cpu = wall, cpu
        return round(max(percent, 0.0), 1)

    def _pread(self, fd: int) -> bytes:
        try:
            data = os.pread(fd, 1024, 0)
        except ProcessLookupError:
            raise ProcessGone(f"process {self.pid} has exited") from None
        if not data:
            raise ProcessGone(f"process {self.pid} has exited")
        return data

    def _read_psutil(self, read: Callable[[psutil.Process], Any]) -> Any:
        assert self._process is not None
        try:
            return read(self._process)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            raise ProcessGone(f"process {self.pid} has exited") from None

    def close(self) -> None:
        for name in ("_statm", "_stat"):
            fd = getattr(self, name)
            if fd is not None:
                os.close(fd)
                setattr(self, name, None)


class ProcessTreeReader(HostReader):
    """A HostReader over process `pid` and all its descendants (a user's program and the workers
    it forks or spawns: DataLoader workers, a launcher's ranks), RSS and CPU % summed. The pages
    forked children share with their parent count once in each, as `ps` shows them.

    The root is read through HostReader's open /proc files; its descendants through psutil, their
    list refreshed at most every CHILDREN_REFRESH_S (walking every process of the machine is the
    costly part). A child that exits between two reads is skipped; a new one counts from the
    first read that sees it. The reader is gone when the root is."""

    CHILDREN_REFRESH_S = 1.0

    def __init__(self, pid: int) -> None:
        super().__init__(pid)
        try:
            self._root = psutil.Process(pid)
        except psutil.Error:
            self.close()
            raise ProcessGone(f"process {pid} is gone") from None
        self._children: list[psutil.Process] = []
        self._listed_at = -float("inf")
        self._child_cpu: dict[psutil.Process, float] = {}  # CPU seconds at the previous read

    def children(self) -> list[psutil.Process]:
        now = time.perf_counter()
        if now - self._listed_at >= self.CHILDREN_REFRESH_S:
            self._listed_at = now
            try:
                self._children = self._root.children(recursive=True)
            except psutil.Error:  # the root is going: its own read says so
                self._children = []
        return self._children

    def rss(self) -> int:
        total = super().rss()
        for child in self.children():
            try:
                total += int(child.memory_info().rss)
            except psutil.Error:  # exited (or became a zombie) since it was listed
                continue
        return total

    def cpu_percent(self) -> float:
        since = self._last_wall
        percent = super().cpu_percent()
        elapsed = self._last_wall - since
        extra, seen = 0.0, {}
        for child in self.children():
            try:
                times = child.cpu_times()
            except psutil.Error:
                continue
            seconds = float(times.user + times.system)
            before = self._child_cpu.get(child)
            if before is not None:
                extra += max(seconds - before, 0.0)
            seen[child] = seconds
        self._child_cpu = seen
        return round(percent + (100.0 * extra / elapsed if elapsed > 0 else 0.0), 1)


def peak_rss() -> int | None:
    """This process's exact peak resident memory (VmHWM, the kernel's high-water mark), or None.

    Not `getrusage().ru_maxrss`: on Linux that survives exec, so a worker spawned by a 400 MB
    GUI reports 400 MB however little it used (measured: 410 MB for a 9 MB child)."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class DeviceSampler(threading.Thread):
    """Emits a `device` event (the framework allocator's bytes in use and peak) every
    SAMPLE_PERIOD_S until stopped. Start it only where the allocator reports figures: on a CPU
    where it reports none, a 10 Hz wake in the worker would cost step time for nothing."""

    def __init__(self, emit: Callable[..., None], reader: Callable[[], DeviceMemory | None]) -> None:
        super().__init__(name="stepscope-device-sampler", daemon=True)
        self._emit = emit
        self._reader: Callable[[], DeviceMemory | None] | None = reader
        self._stop_event = threading.Event()
        self.peak: int | None = None

    def sample_once(self) -> None:
        if self._reader is None:
            return
        try:
            memory = self._reader()
        except Exception as exc:
            log.warning("device memory query failed, no longer sampled: %s", exc)
            self._reader = None
            return
        if memory is None:
            return
        self.peak = max(self.peak or 0, memory.peak, memory.in_use)
        self._emit("device", device_in_use=memory.in_use, device_peak=memory.peak, device_memory_source=memory.source)

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                self.sample_once()
            except OSError:  # the protocol pipe is gone: the controller stopped listening
                return
            self._stop_event.wait(SAMPLE_PERIOD_S)

    def stop(self) -> None:
        """Stop sampling; a last `sample_once()` from the caller still works afterwards."""
        self._stop_event.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=1.0)
