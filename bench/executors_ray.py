"""What running a worker on Ray costs, against local, on one machine (the `ray` slot of
bench/results/executors.json; bench/executors.py has the method and the SSH figures).

A Ray runtime of our own on this machine (`--on ray`, 2 CPUs) stands for the cluster, so the
figures are Ray's and the shim's own costs without a network: each run's actor (a Ray worker
process started or taken from Ray's pool, the actor's creation, the shim) and the relay (the
actor's buffer, one long poll per batch, local pipes). Also timed: starting the runtime itself,
which a sweep pays once.

    .venv/bin/python -m bench.executors_ray [--rounds N]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from bench.common import RESULTS, machine
from bench.executors import measure

RUNTIME_STARTS = 3  # each in a process of its own: Ray joins once per process


def runtime_start_s() -> list[float]:
    """Seconds `--on ray` takes to start a Ray runtime here, each time in a fresh process."""
    from bench.common import run_python

    code = ("import time; t = time.perf_counter(); from profilers.executors.ray import RayExecutor, leave; "
            "RayExecutor.from_target('ray', num_cpus=2); print(time.perf_counter() - t); leave()")
    return [float(run_python(["-c", code], timeout=300).strip().splitlines()[-1]) for _ in range(RUNTIME_STARTS)]


def measure_ray(rounds: int) -> dict[str, Any]:
    from profilers.executors.ray import RayExecutor, leave

    starts = runtime_start_s()
    executor = RayExecutor.from_target("ray", num_cpus=2)
    try:
        result = measure("ray", executor, rounds)
    finally:
        leave()
    result["runtime_start_s"] = {"median": statistics.median(starts), "each": starts}
    result["measured"] = time.strftime("%Y-%m-%d %H:%M:%S")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.executors_ray")
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args(argv)
    path = RESULTS / "executors.json"
    stored = json.loads(path.read_text()) if path.exists() else {"machine": machine(), "ssh": None}
    stored["ray"] = measure_ray(args.rounds)
    path.write_text(json.dumps(stored, indent=2) + "\n")


if __name__ == "__main__":
    main()
