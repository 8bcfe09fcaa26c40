"""What running a worker elsewhere costs: each executor against local, on one machine.

A throw-away sshd on 127.0.0.1 (tests/executors/sshd.py) stands for the GPU box, so the figures
are SSH's and the shim's own costs (handshake, the environment check, encryption, the extra
process and its 10 Hz batching) without a network's round trips: over a real link add one RTT
per round trip (the connection takes ~4, the environment check 1, the launch 1). The worker is
bench/executor_emitter.py (the real protocol, no framework), so nothing else varies.

- start-up: `RunController.start()` to the `hello` event delivered, and the whole run of a
  worker that says hello and ends; paired rounds, which side goes first alternating; the figure is
  the mean of the per-round differences (executor - local) with a bootstrap 95 % interval.
- per-event latency: 200 step events 5 ms apart, each stamped with the machine's perf_counter,
  read at delivery; per-round medians and p95s, the figure the mean per-round difference.
- events per second: 100,000 step events written as fast as the emitter can, first to last
  delivery (the controller parses and validates each), through one connection.

    .venv/bin/python -m bench.executors [--rounds N]

Ray: bench/executors_ray.py (`measure("ray", ...)` on a Ray runtime started here), its dict under "ray".
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import ROOT, write_result
from profilers.executors import Executor, executor_for
from profilers.runner import RunController
from workloads.spec import RunSpec

EMITTER = ROOT / "bench" / "executor_emitter.py"
SPEC = RunSpec(framework="torch", workload="mlp", batch_size=8, steps=1, warmup=0, trace_steps=0, evaluate=False)
LATENCY_EVENTS, LATENCY_GAP_S = 200, 0.005
THROUGHPUT_EVENTS = 100_000


def one_run(executor: Executor, count: int, gap: float) -> dict[str, Any]:
    """One emitter run; its start-up, the latency of each step and the delivery rate."""
    hello_at: list[float] = []
    delivered: list[tuple[float, float]] = []  # (delivered at, emitted at), perf_counter seconds

    def on_event(event: dict[str, Any]) -> None:
        now = time.perf_counter()
        if event["type"] == "hello":
            hello_at.append(now)
        elif event["type"] == "step":
            delivered.append((now, event["t"]))

    controller = RunController(SPEC, out_dir=Path(tempfile.mkdtemp(prefix="stepscope-bench-")), on_event=on_event,
                               command=[sys.executable, str(EMITTER), str(count), str(gap)], executor=executor)
    began = time.perf_counter()
    controller.start()
    result = controller.wait()
    ended = time.perf_counter()
    if result.status != "ok" or len(delivered) != count:
        raise RuntimeError(f"{executor.name} run {result.status}: {result.reason} ({len(delivered)} of {count} steps)")
    latencies = [(at - emitted) * 1000 for at, emitted in delivered]
    span = delivered[-1][0] - delivered[0][0] if count > 1 else 0.0
    return {"startup_s": hello_at[0] - began, "run_s": ended - began,
            "latency_ms_median": statistics.median(latencies) if latencies else None,
            "latency_ms_p95": float(np.percentile(latencies, 95)) if latencies else None,
            "events_per_s": (count - 1) / span if span else None}


def paired(rounds: list[dict[str, dict[str, Any]]], name: str, key: str) -> dict[str, Any]:
    """Mean per-round difference `name` - local of `key`, with a bootstrap 95 % interval."""
    diffs = np.array([r[name][key] - r["local"][key] for r in rounds])
    boot = np.random.default_rng(0).choice(diffs, size=(4000, len(diffs))).mean(axis=1)
    return {"local": statistics.median(r["local"][key] for r in rounds),
            name: statistics.median(r[name][key] for r in rounds),
            "difference": float(diffs.mean()),
            "difference_ci95": [float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))]}


def measure(name: str, executor: Executor, rounds: int, say: Callable[[str], None] = print) -> dict[str, Any]:
    """`executor` against local: start-up, latency and throughput, interleaved rounds."""
    local = executor_for("local")
    startup: list[dict[str, dict[str, Any]]] = []
    latency: list[dict[str, dict[str, Any]]] = []
    for index in range(rounds):
        order = [("local", local), (name, executor)][:: 1 if index % 2 == 0 else -1]
        startup.append({side: one_run(ex, 0, 0.0) for side, ex in order})
        latency.append({side: one_run(ex, LATENCY_EVENTS, LATENCY_GAP_S) for side, ex in order})
        say(f"round {index + 1}/{rounds}: start-up local {startup[-1]['local']['startup_s'] * 1000:.0f} ms, "
            f"{name} {startup[-1][name]['startup_s'] * 1000:.0f} ms")
    throughput = {side: one_run(ex, THROUGHPUT_EVENTS, 0.0)["events_per_s"] for side, ex in (("local", local), (name, executor))}
    return {"rounds": rounds, "startup_s": paired(startup, name, "startup_s"), "run_s": paired(startup, name, "run_s"),
            "latency_ms_median": paired(latency, name, "latency_ms_median"),
            "latency_ms_p95": paired(latency, name, "latency_ms_p95"),
            "events_per_s": throughput, "throughput_events": THROUGHPUT_EVENTS}


def measure_ssh(rounds: int) -> dict[str, Any]:
    from profilers.executors.ssh_setup import setup_environment
    from tests.executors.sshd import start_server

    with tempfile.TemporaryDirectory(prefix="stepscope-bench-sshd-") as tmp:
        for server in start_server(Path(tmp)):
            os.environ["HOME"] = str(server.home)  # asyncssh reads the throw-away ~/.ssh/config
            os.environ.pop("SSH_AUTH_SOCK", None)
            executor = executor_for(server.target)
            conn = executor.connect()  # type: ignore[attr-defined]
            try:
                setup_environment(conn, sys.executable, print)
            finally:
                conn.close()
            result = measure("ssh", executor, rounds)
            result["breakdown"] = ssh_breakdown(executor, rounds)
            return result
    raise RuntimeError("no sshd")


def ssh_breakdown(executor: Any, rounds: int) -> dict[str, float]:
    """Where SSH's start-up goes: the connection (handshake and key exchange), then one remote
    command (a channel, and sshd starting a shell: a run's launch pays one, its clean-up one)."""
    connect, command = [], []
    for _ in range(rounds):
        began = time.perf_counter()
        conn = executor.connect()
        connected = time.perf_counter()
        conn.run("true")
        connect.append(connected - began)
        command.append(time.perf_counter() - connected)
        conn.close()
    return {"connect_s": statistics.median(connect), "remote_command_s": statistics.median(command)}


def table_rows(stored: dict[str, Any]) -> list[tuple[str, str, str, bool, str]]:
    """(benchmark, figure, goal, met, measured) per executor, for bench/run.py's table. No goal
    has a number: these rows say what the choice costs."""
    rows = []
    for name in ("ssh", "ray"):
        r = stored.get(name)
        if not r:
            continue
        start, lat = r["startup_s"], r["latency_ms_median"]
        low, high = start["difference_ci95"]
        lat_low, lat_high = lat["difference_ci95"]
        figure = (f"start-up {start['local'] * 1000:.0f} → {start[name] * 1000:.0f} ms (+{start['difference'] * 1000:.0f} ms, "
                  f"95 % CI {low * 1000:+.0f} … {high * 1000:+.0f}); per-event latency median {lat['local']:.1f} → "
                  f"{lat[name]:.1f} ms ({lat['difference']:+.1f}, CI {lat_low:+.1f} … {lat_high:+.1f}); "
                  f"{r['events_per_s'][name]:,.0f} events/s through one {name} worker (local {r['events_per_s']['local']:,.0f}); "
                  f"{r['rounds']} interleaved rounds")
        if "breakdown" in r:
            figure += (f"; of the start-up: connect {r['breakdown']['connect_s'] * 1000:.0f} ms, one remote command "
                       f"{r['breakdown']['remote_command_s'] * 1000:.0f} ms")
        if "runtime_start_s" in r:
            figure += f"; starting the Ray runtime itself (once per command) {r['runtime_start_s']['median']:.1f} s"
        rows.append((f"{name} executor vs local (127.0.0.1)" if name == "ssh" else f"{name} executor vs local", figure,
                     "reported, no goal", True, r.get("measured", stored["machine"]["date"])))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.executors")
    parser.add_argument("--rounds", type=int, default=12)
    args = parser.parse_args(argv)
    from bench.executors_ray import measure_ray

    write_result("executors", {"ssh": measure_ssh(args.rounds), "ray": measure_ray(args.rounds)})


if __name__ == "__main__":
    main()
