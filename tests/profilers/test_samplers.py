"""Telemetry readers: host figures agree with psutil's, the controller's monitor samples a
worker from outside on the worker's clock, the worker's device sampler and NVML (through a fake
pynvml, the library boundary) emit protocol-valid events."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import types
from typing import Any

import psutil
import pytest

from profilers.host_monitor import HostMonitor
from profilers.protocol import parse_line
from profilers.samplers import DeviceSampler, HostReader, NvmlReader, ProcessGone, peak_rss
from workloads.base import DeviceMemory

MB = 1024 * 1024


def test_host_reader_matches_psutil() -> None:
    reader = HostReader(os.getpid())
    try:
        ours, theirs = reader.rss(), psutil.Process().memory_info().rss
        assert abs(ours - theirs) <= 4 * MB  # same /proc figure, read microseconds apart
        ballast = bytearray(64 * MB)
        for i in range(0, len(ballast), 4096):
            ballast[i] = 1  # touch every page so it is resident
        assert reader.rss() >= ours + 60 * MB
        assert peak_rss() >= reader.rss()  # the kernel's high-water mark
        del ballast
    finally:
        reader.close()


def test_cpu_percent_follows_load() -> None:
    """The reader's figure is the process's own CPU time over wall time, whatever else the host
    runs: checked against os.times() over the same interval, not against a speed."""
    reader = HostReader(os.getpid())
    try:
        wall0, cpu0 = time.perf_counter(), sum(os.times()[:2])
        reader.cpu_percent()  # starts the interval
        while sum(os.times()[:2]) - cpu0 < 0.3:  # spin until 0.3 s of CPU time, however long that takes
            pass
        measured = reader.cpu_percent()
        truth = 100.0 * (sum(os.times()[:2]) - cpu0) / (time.perf_counter() - wall0)
        assert measured > 0
        assert abs(measured - truth) <= 0.2 * truth + 2.0  # clock-tick granularity of /proc, 10 ms in 0.3 s
        time.sleep(0.3)
        assert reader.cpu_percent() < measured  # asleep: less than while spinning
    finally:
        reader.close()


def test_peak_rss_is_the_childs_own_not_the_parents() -> None:
    """getrusage's ru_maxrss survives exec and would report this (ballasted) parent's peak."""
    ballast = bytearray(300 * MB)
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    code = "from profilers.samplers import peak_rss; print(peak_rss())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__)))).stdout
    del ballast
    assert 1 * MB < int(out) < 200 * MB


def _child(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


def _drive(monitor: HostMonitor, seconds: float) -> list[dict[str, Any]]:
    """Call the monitor as the controller's reader thread does while no line comes."""
    events: list[dict[str, Any]] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and (wait := monitor.seconds_to_next()) is not None:
        time.sleep(min(wait, max(end - time.perf_counter(), 0.0)))
        if (event := monitor.sample_if_due()) is not None:
            events.append(event)
    return events


def test_monitor_samples_a_process_from_outside_until_it_exits() -> None:
    origin = time.perf_counter()
    child = _child("import time\nb = bytearray(80 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\n"
                   "end = time.perf_counter() + 1.0\nwhile time.perf_counter() < end: pass\n")
    monitor = HostMonitor(child.pid, origin, period=0.05, nvml_factory=lambda: pytest.fail("no GPU asked"))
    assert monitor.sample_if_due() is None  # not due yet
    monitor.device_reading({"type": "device", "device_in_use": 5, "device_peak": 7, "device_memory_source": "test"})
    events = _drive(monitor, 1.0)
    child.wait()
    events += _drive(monitor, 1.0)
    assert monitor.gone and monitor.seconds_to_next() is None  # the process is gone: nothing more
    assert 10 <= len(events) <= 1.0 / 0.05 + 5  # on the 20 Hz grid, no bursts
    for event in events:
        parse_line(json.dumps(event))  # the event stream's `sample` events
        assert 0 <= event["t"] < time.perf_counter() - origin
        assert event["device_peak"] == 7 and event["gpu_util"] is None
    assert [e["t"] for e in events] == sorted(e["t"] for e in events)
    assert monitor.peak_rss >= 80 * MB
    assert max(e["cpu_percent"] for e in events) > 40  # the child spins a core


def test_monitor_of_a_process_that_is_already_gone_emits_nothing() -> None:
    child = _child("pass")
    child.wait()
    with pytest.raises(ProcessGone):
        HostReader(child.pid)
    monitor = HostMonitor(child.pid, time.perf_counter(), period=0.01)
    assert monitor.gone and _drive(monitor, 0.1) == []


class _FakePynvml(types.ModuleType):
    """pynvml's surface as NvmlReader uses it, for one GPU at 73 % with 3 GiB used."""

    def __init__(self) -> None:
        super().__init__("pynvml")
        self.handles: list[int] = []

    def nvmlInit(self) -> None: ...
    def nvmlDeviceGetCount(self) -> int: return 2

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        self.handles.append(index)
        return index

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        return types.SimpleNamespace(gpu=73, memory=10)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        return types.SimpleNamespace(used=3 << 30, total=80 << 30)


def test_nvml_reader_follows_cuda_visible_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakePynvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    reader = NvmlReader()
    assert reader.available and fake.handles == [1]
    assert reader.read() == (73.0, 3 << 30)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert not NvmlReader().available and NvmlReader().read() == (None, None)


def test_monitor_adds_nvml_once_the_worker_runs_on_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _FakePynvml())
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monitor = HostMonitor(os.getpid(), time.perf_counter(), period=0.02)
    before = _drive(monitor, 0.1)
    monitor.watch_gpu()  # the worker's hello said it runs on a GPU
    after = _drive(monitor, 0.1)
    monitor.close()
    assert before and all(e["gpu_util"] is None for e in before)
    assert after[-1]["gpu_util"] == 73.0 and after[-1]["gpu_mem_used"] == 3 << 30
    assert after[-1]["gpu_util_source"] == "nvml-sampled"


def test_device_sampler_emits_protocol_valid_device_events() -> None:
    lines: list[str] = []
    readings = iter(range(1, 1000))

    def emit(kind: str, /, **fields: object) -> None:
        lines.append(json.dumps({"type": kind, "t": 0.0, **fields}))

    def allocator() -> DeviceMemory:
        n = next(readings)
        return DeviceMemory(in_use=n * MB, peak=(n + 1) * MB, source="fake allocator")

    sampler = DeviceSampler(emit, allocator)
    sampler.start()
    time.sleep(0.35)
    sampler.stop()
    sampler.sample_once()  # the worker's last reading after stop() still works
    events = [parse_line(line) for line in lines]
    assert len(events) >= 3 and all(e["type"] == "device" for e in events)
    assert sampler.peak == max(e["device_peak"] for e in events)


def test_device_sampler_stops_reading_an_allocator_that_fails() -> None:
    emitted: list[str] = []
    calls = []

    def broken() -> DeviceMemory:
        calls.append(1)
        raise RuntimeError("driver went away")

    sampler = DeviceSampler(lambda kind, **f: emitted.append(kind), broken)
    sampler.sample_once()
    sampler.sample_once()
    assert calls == [1] and emitted == [] and sampler.peak is None
