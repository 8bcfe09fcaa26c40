"""How quiet the machine was while a scorecard sweep measured: other processes' CPU per point.

On a 2-core VM one busy process beside a PyTorch CPU run made its steps 10-15x slower (OpenMP's
barrier waits for a descheduled thread), so a scorecard says how busy the rest of the machine was
(the samples' `others_cpu`, docs/scorecard.md "A quiet machine"). It informs; verdicts ignore it.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from profilers.summary import BUSY_MACHINE_PERCENT
from sessions.scorecard_data import RunData, SweepData


def run_others_cpu(run: RunData) -> float | None:
    """A point's figure: its summary's `others_cpu_percent`, else the mean of its measured-step samples'."""
    stored = run.summary.get("others_cpu_percent")
    if isinstance(stored, (int, float)) and math.isfinite(stored):
        return float(stored)
    values = np.asarray(run.samples.get("others_cpu", ()), dtype=float)
    values = values[np.isfinite(values)]
    return round(float(values.mean()), 1) if values.size else None


def machine_points(data: SweepData) -> list[dict[str, Any]]:
    """One entry per measured run of the sweep: run_id, framework, purposes, others_cpu_percent (None
    where the run's samples do not say: a remote executor's, or a session from before v6)."""
    return [{"run_id": r.run_id, "framework": r.framework, "purposes": list(r.purposes),
             "others_cpu_percent": run_others_cpu(r)} for r in data.runs]


def machine_line(points: list[dict[str, Any]]) -> str:
    """"Machine: other processes used a median X % (max Y %) of the CPUs during the measured points;
    N of M points above 10 %", or why no point has the figure (an empty sweep says nothing)."""
    figures = [p["others_cpu_percent"] for p in points if p.get("others_cpu_percent") is not None]
    if not figures:
        return ("Machine: how busy other processes kept the CPUs was not recorded (points run on a remote or "
                "Ray executor, or measured before Stepscope recorded it)") if points else ""
    above = sum(1 for f in figures if f > BUSY_MACHINE_PERCENT)
    return (f"Machine: other processes used a median {float(np.median(figures)):.0f} % (max {max(figures):.0f} %) "
            f"of the CPUs during the measured points; {above} of {len(figures)} points above "
            f"{BUSY_MACHINE_PERCENT:.0f} %")
