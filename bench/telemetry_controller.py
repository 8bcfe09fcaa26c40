"""The controller's side of the telemetry, for bench.telemetry_overhead: reads and validates the
event lines on stdin and samples process PID exactly as `RunController` does (`runner.pump`
with a `HostMonitor`). At end of input it prints its own CPU time and counts as one JSON line.

    python -m bench.telemetry_controller PID < events
"""
from __future__ import annotations

import json
import sys
import time

from profilers.host_monitor import HostMonitor
from profilers.protocol import parse_line
from profilers.stream_pump import pump, yield_to_workload


def main() -> None:
    pid = int(sys.argv[1])
    cpu_at_start = time.process_time()  # imports done: count only the reading and sampling
    counts = {"lines": 0, "samples": 0}

    def on_line(line: bytes) -> None:
        parse_line(line)
        counts["lines"] += 1

    def on_sample(event: dict[str, object]) -> None:
        counts["samples"] += 1

    yield_to_workload()  # as the app's reader thread does
    pump(sys.stdin.fileno(), on_line, HostMonitor(pid, time.perf_counter()), on_sample)
    print(json.dumps({"cpu_s": time.process_time() - cpu_at_start, **counts}))


if __name__ == "__main__":
    main()
