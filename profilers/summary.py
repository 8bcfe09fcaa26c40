"""The headline figures of a run, computed from its events.

One function serves the worker (its `summary` event) and the controller (a run that died
before sending one still gets figures from the steps it streamed, and a user's program never
sends one). A step's `samples_per_s` may be null (a program whose batch size nobody knows). Only measured steps count:
warm-up and trace-window steps are labelled in the stream and left out here. `others_cpu_percent`
comes from the controller's samples, so the controller adds it to a worker's own summary.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

MB = 1024 * 1024
BUSY_MACHINE_PERCENT = 10.0  # other processes' CPU (% of all cores) above which a figure is not a quiet machine's


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(float(value), digits)


def others_cpu_percent(events: Iterable[dict[str, Any]]) -> float | None:
    """The mean `others_cpu` (other processes' CPU, % of all cores) of the samples taken while the
    measured steps ran (from the first one's start to the last one's end); None when none has it.
    Figures measured beside a busy process are not a quiet machine's (docs/scorecard.md)."""
    start = end = None
    readings: list[tuple[float, float]] = []
    for event in events:
        kind = event["type"]
        if kind == "step" and event["phase"] == "measure" and event.get("t") is not None:  # the worker's own have none
            begun = event["t"] - event["step_ms"] / 1000.0
            start = begun if start is None else min(start, begun)
            end = event["t"] if end is None else max(end, event["t"])
        elif kind == "sample" and event.get("others_cpu") is not None:
            readings.append((event["t"], event["others_cpu"]))
    inside = [value for t, value in readings if start is not None and end is not None and start <= t <= end]
    return _round(float(np.mean(inside)), 1) if inside else None


def summarize(events: Iterable[dict[str, Any]], batch_size: int | None = None) -> dict[str, Any]:
    """`batch_size`: the batch when the `hello` spec names none (a program run's --batch-size); with
    neither, the batch the steps' own `samples_per_s` imply (a program's `stepscope.step(batch_size=)`)."""
    measured: list[float] = []
    rates: list[float] = []  # the measured steps' batch per step, where a step reports its throughput
    last_loss: float | None = None
    compile_ms: float | None = None
    peak_rss = 0
    peak_device: int | None = None
    hello: dict[str, Any] = {}
    evaluation: dict[str, Any] = {}
    artifacts: list[dict[str, Any]] = []
    notices: list[str] = []
    guard: dict[str, Any] | None = None
    epoch_seconds: list[float] = []
    target: dict[str, Any] | None = None
    events = list(events)
    for event in events:
        kind = event["type"]
        if kind == "step" and event["phase"] == "measure":
            measured.append(event["step_ms"])
            last_loss = event["loss"]
            if event.get("samples_per_s") is not None:
                rates.append(event["samples_per_s"] * event["step_ms"] / 1000.0)
        elif kind == "compile":
            compile_ms = (compile_ms or 0.0) + event["ms"]
        elif kind == "sample" or kind == "device":
            peak_rss = max(peak_rss, event.get("host_rss") or 0)
            for key in ("device_peak", "device_in_use"):
                if event.get(key) is not None:
                    peak_device = max(peak_device or 0, event[key])
        elif kind == "hello":
            hello = event
        elif kind == "eval":
            evaluation = event
        elif kind == "artifact":
            artifacts.append({"kind": event["kind"], "path": event["path"], "bytes": event["bytes"]})
        elif kind == "notice":
            notices.append(event["message"])
        elif kind == "epoch":
            epoch_seconds.append(event["seconds"])
        elif kind == "target":  # time-to-accuracy's end (docs/scorecard.md)
            target = {k: event[k] for k in ("reached", "target", "accuracy", "seconds", "steps")}
        elif kind == "trace_guard":  # the capture size guard's decision (profilers/capture_guard.py)
            guard = {k: v for k, v in event.items() if k not in ("type", "t")}
    spec = hello.get("spec", {})
    batch = spec.get("batch_size") or batch_size
    if batch is None and rates and all(math.isfinite(r) for r in rates):
        batch = round(float(np.median(rates))) or None
    times = np.asarray(measured, dtype=float)
    have = times.size > 0
    median = float(np.median(times)) if have else None
    pct = (lambda q: float(np.percentile(times, q))) if have else (lambda q: None)
    return {
        "framework": hello.get("framework", spec.get("framework")),
        "framework_version": hello.get("framework_version"),
        "workload": spec.get("workload"),
        "mode": spec.get("mode"),
        "variant": spec.get("variant"),
        "batch_size": batch,
        "device": hello.get("device_kind"),
        "device_name": hello.get("device_name"),
        "param_count": hello.get("param_count"),
        "steps": int(times.size),
        "step_ms_median": _round(median),
        "step_ms_p5": _round(pct(5)),
        "step_ms_p95": _round(pct(95)),
        "step_ms_p99": _round(pct(99)),
        "step_ms_mean": _round(float(times.mean()) if have else None),
        "step_ms_std": _round(float(times.std(ddof=1)) if times.size > 1 else None),
        "samples_per_s": _round(batch * 1000.0 / median if (batch and median) else None, 2),
        "compile_ms": _round(compile_ms, 2),
        "peak_host_mb": _round(peak_rss / MB, 1) if peak_rss else None,
        "peak_device_mb": _round(peak_device / MB, 1) if peak_device is not None else None,
        "final_loss": last_loss if last_loss is None or math.isfinite(last_loss) else float(last_loss),
        "accuracy": evaluation.get("accuracy"),
        "macro_f1": evaluation.get("macro_f1"),
        "eval_loss": evaluation.get("loss"),
        "artifacts": artifacts,
        "notices": notices,
        "trace_guard": guard,
        "epochs": len(epoch_seconds) or None,
        "epoch_s_median": _round(float(np.median(epoch_seconds)) if epoch_seconds else None),
        "time_to_target": target,
        "others_cpu_percent": others_cpu_percent(events),
    }


def measured_cpu_percent(events: Iterable[dict[str, Any]]) -> float | None:
    """The worker's CPU time over its measured phase as % of one core (its `phase` end's `cpu_s`
    over its `wall_s`); None where the phase or those figures are missing."""
    for event in events:
        if event["type"] == "phase" and event["name"] == "measure" and event["edge"] == "end":
            cpu, wall = event.get("cpu_s"), event.get("wall_s")
            if isinstance(cpu, (int, float)) and isinstance(wall, (int, float)) and wall > 0:
                return round(100.0 * float(cpu) / float(wall), 1)
    return None
