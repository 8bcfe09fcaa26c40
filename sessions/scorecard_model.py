"""The scorecard as plain data (docs/scorecard.md, "The Scorecard model"): Qt-free and JSON-able,
so the command line prints it, `--json` writes it and the Scorecard window draws it alike.

Every figure names the runs it came from; a figure nobody measured is None with a note saying
why, never a stand-in number. `sessions.scorecard.build_scorecard` fills it from a session.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

VERDICTS = ("holds", "does not hold", "inconclusive", "not measurable here")


@dataclass(frozen=True)
class Cell:
    """One metric for one framework: value with its 95 % interval (None where none can be given)."""

    value: float | None
    low: float | None
    high: float | None
    unit: str
    runs: tuple[str, ...]
    note: str = ""


def absent(note: str, unit: str = "", runs: tuple[str, ...] = ()) -> Cell:
    """A cell nobody could measure, and why."""
    return Cell(None, None, None, unit, runs, note)


@dataclass(frozen=True)
class MetricRow:
    key: str
    metric: str  # which of the seven ("Training time", "Inference latency", ...)
    label: str
    better: str  # "lower" | "higher"
    cells: dict[str, Cell]
    best: str | None = None  # only where its interval separates it from every other framework's


@dataclass(frozen=True)
class Claim:
    claim: str
    measured: str
    value: float | None
    low: float | None
    high: float | None
    unit: str
    verdict: str  # one of VERDICTS
    why: str
    runs: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {self.verdict!r}")


@dataclass(frozen=True)
class Scorecard:
    session: str
    sweep_id: str | None
    device: str
    versions: dict[str, str]
    rows: list[MetricRow]
    claims: list[Claim]
    curves: dict[str, list[tuple[float, float]]]  # framework -> time-to-accuracy curve (s since compile start, accuracy)
    fits: dict[str, dict[str, dict[str, Any]]]  # purpose -> framework -> PowerLawFit as a dict, plus its runs
    latency_samples: dict[str, list[float]]  # framework -> batch-1 latencies (ms) of its measured steps
    compatibility: dict[str, list[dict[str, Any]]]  # framework -> cells {workload, variant, mode, device, ok, reason}
    # Beyond the contract's fields:
    frameworks: list[str] = field(default_factory=list)  # the sweep's, in the usual order
    target_accuracy: float | None = None  # the time-to-accuracy target (a fraction)
    gpu_util_samples: dict[str, list[float]] = field(default_factory=dict)  # framework -> NVML % during measured steps
    failed_points: list[dict[str, Any]] = field(default_factory=list)  # {label, purpose, reason, run_id}
    notes: list[str] = field(default_factory=list)  # about the sweep as a whole (stopped, unfinished points)
    # How busy the rest of the machine was (sessions/scorecard_machine.py): one line, and per point
    # {run_id, framework, purposes, others_cpu_percent}.
    machine: str = ""
    machine_points: list[dict[str, Any]] = field(default_factory=list)

    def row(self, key: str) -> MetricRow | None:
        return next((r for r in self.rows if r.key == key), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types only; infinities (a payback that never comes) become None."""
        out: dict[str, Any] = _plain(dataclasses.asdict(self))
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
