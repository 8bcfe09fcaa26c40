"""What a scorecard reads from a session: one sweep's finished points, each with its run's
measured steps, samples, evaluations and phases, so the metrics and claims compute from stored
measurements only (`sessions.scorecard_metrics`, `sessions.scorecard_claims`).

A sweep's membership lives in its points (`sweep_store`), so a run belongs to every purpose its
point lists; runs of one spec are repeats and pool run-first in the intervals.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sessions.headline import measured_step_ms
from sessions.store import PointRecord, Session, SessionError, SweepRecord
from sessions.sweep_plan import purposes_of
from sessions.traces import load_trace
from traces.analysis import busy_fraction
from workloads.spec import FRAMEWORKS, VARIANTS


@dataclass
class TimeToAccuracy:
    """One run's time-to-accuracy: reached or not, the seconds (from the compile phase's start to
    the end of the evaluation that reached the target, or to the last one), and its curve."""

    reached: bool
    seconds: float | None
    best: float | None
    curve: list[tuple[float, float]]


@dataclass
class RunData:
    run_id: str
    purposes: tuple[str, ...]
    spec: dict[str, Any]
    environment: dict[str, Any]
    summary: dict[str, Any]
    step_ms: np.ndarray  # measured steps only
    samples: dict[str, np.ndarray]  # the controller's 10 Hz samples during the measured steps
    evals: list[dict[str, Any]]
    phases: list[dict[str, Any]]
    busy_fraction: float | None = None  # the trace's device-busy share, where the trace has device rows
    busy_note: str = ""

    @property
    def framework(self) -> str:
        return str(self.spec.get("framework"))

    @property
    def variant(self) -> str:
        return str(self.spec.get("variant"))

    @property
    def batch_size(self) -> int:
        return int(self.spec.get("batch_size") or 0)

    @property
    def default_variant(self) -> bool:
        return self.variant == VARIANTS.get(self.framework, ("",))[0]

    @property
    def device_kind(self) -> str:
        return str(self.environment.get("device_kind") or self.summary.get("device") or "")

    def phase_span(self, name: str) -> tuple[float, float] | None:
        """(start, end) of the first phase `name`, on the run's clock; None when it never ended."""
        start = next((p["t"] for p in self.phases if p["name"] == name and p["edge"] == "start"), None)
        end = next((p["t"] for p in self.phases if p["name"] == name and p["edge"] == "end"), None)
        return None if start is None or end is None else (float(start), float(end))

    def epoch_seconds(self) -> float | None:
        """Wall time per epoch: the measured phase (whole epochs, host-side batching included)
        divided by the epochs it ran; None for a run without `epochs`."""
        epochs = self.spec.get("epochs")
        span = self.phase_span("measure")
        if not epochs or span is None:
            return None
        return (span[1] - span[0]) / int(epochs)

    def time_to_accuracy(self) -> TimeToAccuracy | None:
        """From the evaluations the run kept (one per `eval_every` steps): the first that reached
        the target ends the clock. None for a run without a target or an evaluation."""
        target = self.spec.get("target_accuracy")
        start = next((p["t"] for p in self.phases if p["name"] == "compile" and p["edge"] == "start"), None)
        scored = [e for e in self.evals if e.get("accuracy") is not None]
        if target is None or start is None or not scored:
            return None
        curve = [(float(e["t"]) - float(start), float(e["accuracy"])) for e in scored]
        hit = next((s for s, acc in curve if acc >= float(target)), None)
        return TimeToAccuracy(hit is not None, hit if hit is not None else curve[-1][0], max(a for _, a in curve), curve)


@dataclass
class SweepData:
    session: Path
    sweep: SweepRecord
    points: list[PointRecord]
    runs: list[RunData]
    probes: dict[str, dict[str, Any]]
    frameworks: list[str] = field(default_factory=list)

    def purposes(self) -> set[str]:
        planned = {p for g in self.sweep.plan.get("grids", []) for p in purposes_of(str(g.get("purpose", "")))}
        return planned | ({"compatibility"} if self.sweep.plan.get("probe") else set())

    def runs_for(self, purpose: str, framework: str | None = None, *, default_variant: bool | None = None) -> list[RunData]:
        return [r for r in self.runs if purpose in r.purposes and (framework is None or r.framework == framework)
                and (default_variant is None or r.default_variant == default_variant)]

    def failures(self, purpose: str, framework: str) -> list[PointRecord]:
        return [p for p in self.points if purpose in purposes_of(p.purpose) and p.spec.get("framework") == framework
                and p.status == "failed"]


def is_scorecard_sweep(sweep: SweepRecord) -> bool:
    return bool(sweep.plan.get("probe")) or any(g.get("purpose") for g in sweep.plan.get("grids", []))


def choose_sweep(session: Session, sweep_id: str | None) -> SweepRecord:
    """The sweep named, or the newest scorecard sweep; SessionError when there is none."""
    if sweep_id is not None:
        return session.sweep(sweep_id)
    candidates = [s for s in session.sweeps() if is_scorecard_sweep(s)]
    if not candidates:
        raise SessionError(f"{session.path}: no scorecard sweep in this session; run "
                           f"`stepscope sweep --preset scorecard-quick --session {session.path}` first")
    return candidates[-1]


def _measured_samples(samples: dict[str, np.ndarray], span: tuple[float, float] | None) -> dict[str, np.ndarray]:
    """The samples whose interval overlaps the measured steps. A sample at `t` reports the interval
    since the one before it (CPU share, NVML's utilisation), so the first sample after the span's
    end still covers its tail; without it a measured phase shorter than the 100 ms between samples
    (a smoke run's few steps) would have none at all."""
    if span is None or not len(samples.get("t", ())):
        return {k: v[:0] for k, v in samples.items()}
    t = samples["t"]
    before = np.concatenate(([-np.inf], t[:-1]))  # each sample's interval starts at the previous one
    keep = (t >= span[0]) & (before < span[1])
    return {k: v[keep] for k, v in samples.items()}


def _busy(session: Session, run_id: str) -> tuple[float | None, str]:
    try:
        if session.trace(run_id) is None:
            return None, "no trace window"
        report = busy_fraction(load_trace(session, run_id)[0])
    except SessionError as exc:
        return None, str(exc)
    if not report.devices:
        return None, report.reason
    return report.devices[0].fraction, ""


def load_sweep(path: Path, sweep_id: str | None = None) -> SweepData:
    """Read the sweep and its finished runs; SessionError when the file or the sweep cannot be read."""
    with Session.open_readonly(path) as session:
        sweep = choose_sweep(session, sweep_id)
        points = session.sweep_points(sweep.sweep_id)
        probes = session.sweep_probes(sweep.sweep_id)
        runs: list[RunData] = []
        seen: dict[str, RunData] = {}
        for point in points:
            if point.status != "ok" or not point.run_id:
                continue
            if point.run_id in seen:
                continue
            record = session.run(point.run_id)
            run = RunData(record.run_id, purposes_of(point.purpose), dict(record.spec or {}), dict(record.environment or {}),
                          dict(record.summary or {}), measured_step_ms(session.steps(record.run_id)),
                          session.samples(record.run_id), session.evals(record.run_id), session.phases(record.run_id))
            run.samples = _measured_samples(run.samples, run.phase_span("measure"))
            if "train" in run.purposes:
                run.busy_fraction, run.busy_note = _busy(session, record.run_id)
            seen[point.run_id] = run
            runs.append(run)
    named = {str(p.spec.get("framework")) for p in points} | set(probes)
    frameworks = [fw for fw in FRAMEWORKS if fw in named]
    return SweepData(path, sweep, points, runs, probes, frameworks)
