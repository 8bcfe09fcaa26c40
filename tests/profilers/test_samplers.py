"""The sampler's host figures agree with psutil's, and it emits valid `sample` events."""
from __future__ import annotations

import json
import time

import psutil

from profilers.protocol import parse_line
from profilers.samplers import HostReader, NvmlReader, Sampler


def test_host_reader_matches_psutil() -> None:
    reader = HostReader()
    try:
        ours, theirs = reader.rss(), psutil.Process().memory_info().rss
        assert abs(ours - theirs) <= 4 * 1024 * 1024  # same /proc figure, read microseconds apart
        ballast = bytearray(64 * 1024 * 1024)
        for i in range(0, len(ballast), 4096):
            ballast[i] = 1  # touch every page so it is resident
        assert reader.rss() >= ours + 60 * 1024 * 1024
        del ballast
    finally:
        reader.close()


def test_cpu_percent_follows_load() -> None:
    reader = HostReader()
    time.sleep(0.2)
    assert reader.cpu_percent() < 15.0  # asleep
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end:
        pass
    assert reader.cpu_percent() > 45.0  # one thread spinning: ~100 % of a core (less when the host is busy)
    reader.close()


class _NoGpu(NvmlReader):
    def __init__(self) -> None:  # no NVML probing in a unit test
        self._handle = None


def test_sampler_emits_protocol_valid_samples() -> None:
    lines: list[str] = []

    def emit(kind: str, /, **fields: object) -> None:
        lines.append(json.dumps({"type": kind, "t": 0.0, **fields}))

    sampler = Sampler(emit, nvml=_NoGpu())
    sampler.start()
    time.sleep(0.35)
    sampler.stop()
    sampler.sample_once()  # the worker's last sample after stop() still works
    sampler.close()
    events = [parse_line(line) for line in lines]
    assert len(events) >= 3
    assert all(e["type"] == "sample" and e["host_rss"] > 0 for e in events)
    assert sampler.peak_rss == max(e["host_rss"] for e in events)
