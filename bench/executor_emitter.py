"""A stand-in worker for bench/executors.py: speaks the real protocol and nothing else, so a
run's cost is the executor's. Its events' `t` is this machine's perf_counter (clock start 0),
which on one machine lets the controller read each event's latency from its own clock.

    python bench/executor_emitter.py N GAP_S     # N step events, GAP_S apart (0: as fast as it can)

Imports only profilers.protocol, so it runs from a remote worker environment's code copy too."""
from __future__ import annotations

import os
import sys
import time

from profilers.protocol import PROTOCOL_VERSION, EventWriter, claim_protocol_channel

SPEC = {"framework": "torch", "workload": "mlp", "mode": "train", "variant": "eager", "batch_size": 8}


def main() -> None:
    count, gap = int(sys.argv[1]), float(sys.argv[2])
    writer = EventWriter(claim_protocol_channel(), clock_start=0.0)
    writer.emit("hello", protocol=PROTOCOL_VERSION, framework="torch", framework_version="bench", device_kind="cpu",
                device_name="cpu", host={}, spec=SPEC, param_count=1, pid=os.getpid())
    for index in range(count):
        writer.emit("step", index=index, phase="measure", step_ms=1.0, samples_per_s=1.0, loss=0.0)
        if gap:
            time.sleep(gap)
    writer.emit("summary", summary={"steps": count})


if __name__ == "__main__":
    main()
