"""The framework scorecard (docs/scorecard.md): seven metrics x frameworks and the claims report,
built from one scorecard sweep of a session. Qt-free, so `stepscope scorecard` and the Scorecard
window show the same thing.

    card = build_scorecard(Path("s.stepscope"))   # the newest scorecard sweep
    card.row("latency_p50_ms").cells["torch"]     # Cell(value, low, high, unit, runs, note)

The model's classes live in `sessions.scorecard_model` and are imported from here; the metric
rows in `scorecard_metrics` (+ `scorecard_compat`), the claims in `scorecard_claims`, what is read
from the session in `scorecard_data`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from sessions.scorecard_claims import claims
from sessions.scorecard_compat import compatibility
from sessions.scorecard_data import RunData, SweepData, load_sweep
from sessions.scorecard_machine import machine_line, machine_points
from sessions.scorecard_metrics import metric_rows
from sessions.scorecard_model import VERDICTS, Cell, Claim, MetricRow, Scorecard

__all__ = ["VERDICTS", "Cell", "Claim", "MetricRow", "Scorecard", "build_scorecard"]


def build_scorecard(session_path: Path | str, sweep_id: str | None = None) -> Scorecard:
    """The scorecard of `sweep_id`, or of the session's newest scorecard sweep; SessionError when
    the session cannot be read or holds no such sweep."""
    data = load_sweep(Path(session_path), sweep_id)
    fits: dict[str, dict[str, dict[str, Any]]] = {}
    rows = metric_rows(data, fits)
    tta = data.runs_for("time_to_accuracy")
    points = machine_points(data)
    return Scorecard(
        session=str(session_path), sweep_id=data.sweep.sweep_id, device=_device(data), versions=_versions(data),
        rows=rows, claims=claims(data), curves=_curves(data), fits=fits, latency_samples=_latencies(data),
        compatibility=compatibility(data), frameworks=list(data.frameworks),
        target_accuracy=float(tta[0].spec["target_accuracy"]) if tta and tta[0].spec.get("target_accuracy") else None,
        gpu_util_samples=_gpu_util(data), failed_points=_failed(data), notes=_notes(data),
        machine=machine_line(points), machine_points=points)


def _device(data: SweepData) -> str:
    """"cpu, 2 cores (torch: AVX512)" or "gpu (NVIDIA H200)": each device kind the runs ran on, named
    once, with what a framework adds to the kind's own name (torch names the CPU's vector ISA)."""
    kinds = sorted({str(r.environment["device_kind"]) for r in data.runs if r.environment.get("device_kind")})
    if not kinds:
        devices = sorted({d for p in data.probes.values() for d in p.get("devices", [])})
        return ", ".join(devices) or "unknown"
    return "; ".join(_device_kind(kind, [r for r in data.runs if r.environment.get("device_kind") == kind])
                     for kind in kinds)


def _device_kind(kind: str, runs: list[RunData]) -> str:
    said: dict[str, set[str]] = {}
    for r in runs:
        name = str(r.environment.get("device_name") or "")
        if name.startswith(f"{kind} (") and name.endswith(")"):
            name = name[len(kind) + 2:-1]
        if name and name != kind:
            said.setdefault(name, set()).add(r.framework)
    cores = {r.environment.get("host", {}).get("cpu_count") for r in runs} if kind == "cpu" else set()
    head = kind + (f", {cores.pop()} cores" if len(cores) == 1 and None not in cores else "")
    if len(said) == 1 and kind != "cpu":
        return f"{head} ({next(iter(said))})"
    named = [f"{', '.join(sorted(fws))}: {name}" for name, fws in sorted(said.items())]
    return head + (f" ({'; '.join(named)})" if named else "")


def _versions(data: SweepData) -> dict[str, str]:
    out = {fw: str(p["version"]) for fw, p in data.probes.items() if p.get("version")}
    for r in data.runs:
        version = r.environment.get("framework_version")
        if version and r.framework not in out:
            out[r.framework] = str(version)
    return {fw: out[fw] for fw in data.frameworks if fw in out}


def _median_run(runs: list[RunData]) -> RunData | None:
    """The run whose time to the target is the (lower) median: its curve stands for its framework."""
    timed = [(t.seconds, r) for r in runs if (t := r.time_to_accuracy()) is not None and t.seconds is not None]
    if not timed:
        return None
    timed.sort(key=lambda pair: pair[0])
    return timed[(len(timed) - 1) // 2][1]


def _curves(data: SweepData) -> dict[str, list[tuple[float, float]]]:
    out = {}
    for fw in data.frameworks:
        run = _median_run(data.runs_for("time_to_accuracy", fw))
        result = run.time_to_accuracy() if run else None
        if result is not None:
            out[fw] = result.curve
    return out


def _latencies(data: SweepData) -> dict[str, list[float]]:
    out = {}
    for fw in data.frameworks:
        groups = [r.step_ms for r in data.runs_for("latency", fw) if r.step_ms.size]
        if groups:
            out[fw] = np.concatenate(groups).tolist()
    return out


def _gpu_util(data: SweepData) -> dict[str, list[float]]:
    out = {}
    for fw in data.frameworks:
        values = [r.samples["gpu_util"] for r in data.runs_for("train", fw, default_variant=True) if "gpu_util" in r.samples]
        kept = np.concatenate(values) if values else np.empty(0)
        kept = kept[np.isfinite(kept)]
        if kept.size:
            out[fw] = kept.tolist()
    return out


def _failed(data: SweepData) -> list[dict[str, Any]]:
    return [{"label": p.label, "purpose": p.purpose, "reason": p.reason, "run_id": p.run_id}
            for p in data.points if p.status == "failed"]


def _notes(data: SweepData) -> list[str]:
    notes = []
    unfinished = [p for p in data.points if not p.done]
    if unfinished:
        notes.append(f"{len(unfinished)} of {len(data.points)} points have not finished (sweep {data.sweep.status}); "
                     "run the same sweep command again to resume it")
    failed = [p for p in data.points if p.status == "failed"]
    if failed:
        notes.append(f"{len(failed)} point(s) failed; their metrics say why")
    missing_probes = [fw for fw in data.sweep.plan.get("probe", []) if fw not in data.probes]
    if missing_probes:
        notes.append(f"compatibility probe not yet run for {', '.join(missing_probes)}")
    return notes
