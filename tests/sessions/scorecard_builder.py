"""Scorecard sweeps with chosen measurements, written through the real session writer (no worker),
so tests of the scorecard know exactly what each run holds and what each figure must be.

Each `FakeRun` becomes a run and a finished point of one sweep whose grids carry the purposes;
its spec may hold the run settings of docs/scorecard.md (target_accuracy, model_scale, ...) as
a worker stores them, whatever this checkout's RunSpec already has.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sessions.store import Session
from sessions.sweep_plan import Grid, SweepPlan
from workloads.spec import RunSpec


@dataclass
class FakeRun:
    framework: str
    purpose: str  # one purpose, or several comma-separated
    step_ms: list[float] | np.ndarray
    spec: dict[str, Any] = field(default_factory=dict)  # beyond the framework (batch_size, variant, mode, ...)
    summary: dict[str, Any] = field(default_factory=dict)
    evals: list[tuple[float, float, float]] = field(default_factory=list)  # (t, accuracy, macro_f1), 360 samples each
    cpu_percent: list[float] = field(default_factory=list)  # samples during the measured steps
    gpu_util: list[float] = field(default_factory=list)
    device_kind: str = "cpu"
    param_count: int = 1000
    measure_s: float = 1.0  # measured phase: from t=2.0 to 2.0 + measure_s
    status: str = "ok"
    reason: str | None = None


def _spec(run: FakeRun) -> dict[str, Any]:
    known = {k: v for k, v in run.spec.items() if k in RunSpec.__dataclass_fields__}
    extra = {k: v for k, v in run.spec.items() if k not in RunSpec.__dataclass_fields__}
    return {**RunSpec(**{"framework": run.framework, **known}).resolved().to_dict(), **extra}


def _events(run: FakeRun, spec: dict[str, Any]) -> list[dict[str, Any]]:
    hello = {"type": "hello", "t": 0.5, "protocol": 1, "framework": run.framework, "framework_version": f"{run.framework}-1.0",
             "device_kind": run.device_kind, "device_name": run.device_kind, "spec": spec, "param_count": run.param_count,
             "pid": 1, "host": {"hostname": "box", "python": "3.11", "cpu_count": 2}}
    events: list[dict[str, Any]] = [hello]
    events += [{"type": "phase", "t": t, "name": name, "edge": edge} for t, name, edge in (
        (1.0, "compile", "start"), (1.5, "compile", "end"), (2.0, "measure", "start"), (2.0 + run.measure_s, "measure", "end"))]
    steps = np.asarray(run.step_ms, dtype=float)
    events += [{"type": "step", "t": 2.0 + i * 1e-3, "index": i, "phase": "measure", "step_ms": float(ms),
                "samples_per_s": 1.0, "loss": 1.0} for i, ms in enumerate(steps)]
    n = max(len(run.cpu_percent), len(run.gpu_util))
    for i in range(n):
        events.append({"type": "sample", "t": 2.0 + (i + 0.5) * run.measure_s / n, "host_rss": 1 << 20,
                       "cpu_percent": run.cpu_percent[i] if i < len(run.cpu_percent) else 0.0, "device_in_use": None,
                       "device_peak": None, "device_memory_source": None,
                       "gpu_util": run.gpu_util[i] if i < len(run.gpu_util) else None, "gpu_mem_used": None})
    events += [{"type": "eval", "t": t, "accuracy": acc, "macro_f1": f1, "loss": 0.5, "samples": 360} for t, acc, f1 in run.evals]
    return events


def write_sweep(path: Path, runs: list[FakeRun], probes: dict[str, dict[str, Any]] | None = None,
                probe_workloads: tuple[str, ...] = (), prefix: str = "run") -> str:
    """One sweep holding `runs` as its points (in order; run ids `{prefix}-{k}-{framework}`), and
    `probes` stored with it; its id."""
    grids = []
    for k, run in enumerate(runs):  # one grid per run: a distinct seed keeps each its own cell
        known = {key: v for key, v in run.spec.items() if key in RunSpec.__dataclass_fields__}
        grids.append(Grid({"framework": [run.framework]}, {"steps": 3, **known, "seed": 1000 + k}, run.purpose, repeat=1))
    plan = SweepPlan(tuple(grids), 1, "fake scorecard", probe=tuple(probes or ()), probe_workloads=probe_workloads)
    with Session.create_or_open(path) as session:
        sweep_id, _ = session.open_sweep(plan)
        points = session.sweep_points(sweep_id)
        for k, (point, run) in enumerate(zip(points, runs, strict=True)):
            run_id = f"{prefix}-{k:02d}-{run.framework}"
            spec = _spec(run)
            session.begin_run(run_id, spec)
            session.append_events(run_id, _events(run, spec))
            summary = {"peak_host_mb": None, "peak_device_mb": None, "compile_ms": None, **run.summary}
            session.finish_run(run_id, run.status, run.reason, summary, "")
            session.start_point(sweep_id, point.point, run_id)
            session.finish_point(sweep_id, point.point, run.status, run.reason)
        for framework, report in (probes or {}).items():
            session.store_probe(sweep_id, framework, report)
        session.end_sweep(sweep_id, "done")
    return sweep_id
