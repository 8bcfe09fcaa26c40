"""A run's headline figures (the `report --json` fields of docs/architecture.md), read back from a session.

Step statistics are recomputed from the stored steps, so a run interrupted before it sent its
summary still reports what it measured; the rest comes from the stored summary.
A program run's spec names no framework and maybe no batch size (workloads.program): those come
from its environment and summary.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from sessions.run_reader import RunRecord
from sessions.stats import step_stats

CONTRACT_FIELDS = (
    "run_id", "framework", "workload", "mode", "variant", "batch_size", "status", "reason", "steps",
    "step_ms_median", "step_ms_p5", "step_ms_p95", "step_ms_p99", "step_ms_mean", "step_ms_std",
    "samples_per_s", "compile_ms", "peak_host_mb", "peak_device_mb", "final_loss", "accuracy", "macro_f1",
    "trace_events", "device", "device_name", "framework_version", "param_count", "executor", "host", "ranks",
    "others_cpu_percent",
)


def measured_step_ms(steps: dict[str, np.ndarray]) -> np.ndarray:
    if not len(steps.get("step_ms", ())):
        return np.empty(0)
    measured: np.ndarray = np.asarray(steps["step_ms"], dtype=float)[np.asarray(steps["phase"]) == "measure"]
    return measured


def headline(record: RunRecord, steps: dict[str, np.ndarray]) -> dict[str, Any]:
    """The flat `report --json` record (docs/architecture.md) for one stored run."""
    summary: dict[str, Any] = dict(record.summary or {})
    spec: dict[str, Any] = record.spec or {}
    env: dict[str, Any] = record.environment or {}
    placement = env.get("placement")
    placement = placement if isinstance(placement, dict) else {}
    measured = measured_step_ms(steps)
    stats = step_stats(measured)
    batch = spec.get("batch_size") or summary.get("batch_size")
    losses = np.empty(0)
    if len(measured):
        losses = np.asarray(steps.get("loss", ()), dtype=float)[np.asarray(steps.get("phase", ())) == "measure"]
    out: dict[str, Any] = {
        "run_id": record.run_id,
        "framework": spec.get("framework") or env.get("framework") or summary.get("framework"),
        "workload": spec.get("workload"),
        "mode": spec.get("mode"),
        "variant": spec.get("variant"),
        "batch_size": batch,
        "status": record.status,
        "reason": record.reason,
        "steps": stats.n,
        "step_ms_median": stats.median,
        "step_ms_p5": stats.p5,
        "step_ms_p95": stats.p95,
        "step_ms_p99": stats.p99,
        "step_ms_mean": stats.mean,
        "step_ms_std": stats.std,
        "samples_per_s": (batch * 1000.0 / stats.median if stats.median else None) if batch else summary.get("samples_per_s"),
        "compile_ms": summary.get("compile_ms"),
        "peak_host_mb": summary.get("peak_host_mb"),
        "peak_device_mb": summary.get("peak_device_mb"),
        "final_loss": float(losses[-1]) if len(losses) and not np.isnan(losses[-1]) else summary.get("final_loss"),
        "accuracy": summary.get("accuracy"),
        "macro_f1": summary.get("macro_f1"),
        "trace_events": summary.get("trace_events"),
        "device": env.get("device_kind", summary.get("device")),
        "device_name": env.get("device_name", summary.get("device_name")),
        "framework_version": env.get("framework_version", summary.get("framework_version")),
        "param_count": env.get("param_count", summary.get("param_count")),
        # Where it ran (docs/executors.md): runs from before executors ran here, on this machine.
        "executor": placement.get("executor", "local" if record.kind != "imported" else None),
        "host": placement.get("host", (env.get("host") or {}).get("hostname") if isinstance(env.get("host"), dict) else None),
        "ranks": summary.get("ranks") or 1,  # a distributed program's world size (docs/programs.md)
        # Other processes' CPU % of all cores while it measured (None: not measured, or before v6).
        "others_cpu_percent": summary.get("others_cpu_percent"),
    }
    return {key: out.get(key) for key in CONTRACT_FIELDS}
