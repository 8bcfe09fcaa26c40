"""Feeds a SessionRecorder synthetic protocol events at a steady rate, as a run would, until
killed: a step every PERIOD_S (a sample every fifth step), printing each step index once it has
been handed to the recorder, and `committed N` once the recorder reports the events up to step N
(exclusive) committed (its `stats["events"]` counts committed events, in the order handed). The
kill -9 test reads those lines and then the session.

    python tests/sessions/streaming_writer.py SESSION RUN_ID
"""
from __future__ import annotations

import os
import sys
import time

from sessions.recorder import SessionRecorder

PERIOD_S = 0.02


def main() -> None:
    path, run_id = sys.argv[1], sys.argv[2]
    spec = {"framework": "torch", "workload": "convnet", "batch_size": 8}
    recorder = SessionRecorder(path, run_id, spec)
    t0 = time.perf_counter()
    recorder.on_event({"type": "hello", "t": 0.0, "protocol": 1, "framework": "torch", "framework_version": "fake",
                       "device_kind": "cpu", "device_name": "cpu", "host": {}, "spec": spec, "param_count": 1,
                       "pid": os.getpid()})
    recorder.on_event({"type": "phase", "t": 0.0, "name": "measure", "edge": "start"})
    print("ready", flush=True)
    handed, ends, committed = 2, [], 0  # ends[i]: how many events were handed once step i was
    index = 0
    while True:
        t = time.perf_counter() - t0
        recorder.on_event({"type": "step", "t": t, "index": index, "phase": "measure", "step_ms": 20.0,
                           "samples_per_s": 400.0, "loss": 1.0 / (index + 1)})
        if index % 5 == 0:
            recorder.on_event({"type": "sample", "t": t, "host_rss": 1 << 20, "cpu_percent": 10.0, "device_in_use": None,
                               "device_peak": None, "device_memory_source": None, "gpu_util": None, "gpu_mem_used": None})
        handed += 2 if index % 5 == 0 else 1
        ends.append(handed)
        print(index, flush=True)
        stored = committed
        while stored < len(ends) and ends[stored] <= recorder.stats["events"]:
            stored += 1
        if stored > committed:
            committed = stored
            print(f"committed {committed}", flush=True)
        index += 1
        time.sleep(max(0.0, t0 + index * PERIOD_S - time.perf_counter()))


if __name__ == "__main__":
    main()
