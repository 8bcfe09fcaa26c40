"""Cost of the session store, against its two goals.

(a) reopen: a session of 100 runs x 10,000 steps (a sample per 10 steps), written through the
    real writer (blocks per flush, merged on finish); time to open it read-only and read every
    run's summary and steps. Goal: under 1 s.
(b) recording: a SessionRecorder fed convnet-like events at a real step rate (a step every
    30 ms, a sample every 100 ms) for 15 s; its cost per step is the writer thread's CPU time
    plus the time spent inside on_event, divided by the steps. Goal: under 1 % of a 30 ms step.

    .venv/bin/python -m bench.session_store          # prints the JSON it writes to bench/results
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, write_result
from profilers.summary import summarize
from sessions.recorder import SessionRecorder
from sessions.store import Session

SPEC = {"framework": "torch", "workload": "convnet", "mode": "train", "variant": "eager", "batch_size": 64}
STEP_MS = 30.0


def hello(run: int) -> dict[str, Any]:
    return {"type": "hello", "t": 0.1, "protocol": 1, "framework": "torch", "framework_version": "2.13.0+cpu",
            "device_kind": "cpu", "device_name": "cpu (AVX2)", "host": {"hostname": "bench"}, "spec": SPEC,
            "param_count": 804554, "pid": 1000 + run}


def step(i: int, t: float) -> dict[str, Any]:
    ms = STEP_MS + (i * 7919 % 100) / 50.0
    return {"type": "step", "t": t, "index": i, "phase": "warmup" if i < 5 else "measure", "step_ms": ms,
            "samples_per_s": 64000.0 / ms, "loss": 2.3 / (1 + i / 100)}


def sample(t: float, i: int) -> dict[str, Any]:
    return {"type": "sample", "t": t, "host_rss": 520_000_000 + i * 64, "cpu_percent": 190.0, "device_in_use": None,
            "device_peak": None, "device_memory_source": None, "gpu_util": None, "gpu_mem_used": None}


def build(path: Path, runs: int, steps: int, batch: int = 250) -> float:
    """Write the big session the way recorders would, in flush-sized batches; returns seconds."""
    started = time.perf_counter()
    with Session.create_or_open(path) as session:
        for run in range(runs):
            run_id = f"run-{run:03d}"
            session.begin_run(run_id, SPEC)
            events = [hello(run)]
            for i in range(steps):
                events.append(step(i, i * STEP_MS / 1000))
                if i % 10 == 0:
                    events.append(sample(i * STEP_MS / 1000, i))
            for start in range(0, len(events), batch):
                session.append_events(run_id, events[start:start + batch])
            session.finish_run(run_id, "ok", None, summarize(events), "worker log\n" * 20)
    return time.perf_counter() - started


def reopen(path: Path) -> dict[str, float]:
    started = time.perf_counter()
    with Session.open_readonly(path) as session:
        opened = time.perf_counter()
        records = session.runs()
        listed = time.perf_counter()
        total = sum(len(session.steps(r.run_id)["step_ms"]) for r in records if r.summary)
    done = time.perf_counter()
    return {"open_s": opened - started, "runs_s": listed - opened, "steps_s": done - listed, "total_s": done - started,
            "steps_read": total}


def report_timings(path: Path) -> dict[str, float]:
    """The user-facing path: `report` (headline statistics of every run), in process and as the
    whole `python main.py report FILE --json` command, interpreter start-up included."""
    from cli.session_commands import report_rows

    in_process = []
    for _ in range(3):
        started = time.perf_counter()
        report_rows(path)
        in_process.append(time.perf_counter() - started)
    command = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run([sys.executable, "main.py", "report", str(path), "--json"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        command.append(time.perf_counter() - started)
    return {"report_rows_s": round(statistics.median(in_process), 4), "report_command_s": round(statistics.median(command), 4)}


def recording(path: Path, seconds: float) -> dict[str, Any]:
    recorder = SessionRecorder(path, "streamed", SPEC)
    inside = 0.0
    steps = samples = 0
    t0 = time.perf_counter()
    next_sample = 0.0
    recorder.on_event(hello(0))
    while (now := time.perf_counter() - t0) < seconds:
        events = [step(steps, now)]
        if now >= next_sample:
            events.append(sample(now, samples))
            samples += 1
            next_sample += 0.1
        for event in events:
            before = time.perf_counter()
            recorder.on_event(event)
            inside += time.perf_counter() - before
        steps += 1
        time.sleep(max(0.0, t0 + steps * STEP_MS / 1000 - time.perf_counter()))
    recorder.finish_with("ok", None, {"steps": steps}, "log\n")
    stats = recorder.stats
    per_step_s = (stats["thread_cpu_s"] + inside) / steps
    return {
        "steps": steps, "samples": samples, "flushes": stats["flushes"],
        "writer_thread_cpu_s": round(stats["thread_cpu_s"], 4),
        "flush_cpu_s": round(stats["flush_cpu_s"], 4),
        "on_event_s": round(inside, 5),
        "cost_per_step_us": round(per_step_s * 1e6, 1),
        "steady_cost_per_step_us": round((stats["flush_cpu_s"] + inside) / steps * 1e6, 1),
        "cost_fraction_of_30ms_step": round(per_step_s / (STEP_MS / 1000), 5),
        "goal_fraction": 0.01,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--stream-seconds", type=float, default=15.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "big.stepscope"
        build_s = build(big, args.runs, args.steps)
        size_mb = big.stat().st_size / 1e6
        rounds = [reopen(big) for _ in range(5)]
        medians = {key: round(statistics.median(r[key] for r in rounds), 4) for key in ("open_s", "runs_s", "steps_s", "total_s")}
        reopen_result = {"runs": args.runs, "steps_per_run": args.steps, "file_mb": round(size_mb, 1),
                         "build_s": round(build_s, 2), "first_total_s": round(rounds[0]["total_s"], 4),
                         "median": medians, "goal_s": 1.0, "steps_read": rounds[0]["steps_read"]}
        reopen_result["report"] = report_timings(big)
        stream_result = recording(Path(tmp) / "stream.stepscope", args.stream_seconds)
    payload = {"reopen": reopen_result, "recording": stream_result}
    path = write_result("session_store", payload)
    print(json.dumps(payload, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
