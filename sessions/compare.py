"""Comparing runs across session files: metric deltas against the first run, a bootstrap
interval and verdict on step time, and what differs in their environments.

Like HTA's TraceDiff, the comparison is its own object over labelled runs; printing it is the
CLI's job and drawing it the GUI's.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sessions.headline import headline, measured_step_ms
from sessions.stats import Comparison, compare
from sessions.store import RunRecord, Session, SessionError

METRICS = (
    ("step_ms_median", "step time median (ms)", "lower"),
    ("step_ms_p95", "step time p95 (ms)", "lower"),
    ("samples_per_s", "throughput (samples/s)", "higher"),
    ("compile_ms", "compile (ms)", "lower"),
    ("peak_host_mb", "peak host memory (MB)", "lower"),
    ("peak_device_mb", "peak device memory (MB)", "lower"),
    ("final_loss", "final loss", "lower"),
    ("accuracy", "accuracy", "higher"),
)
ENVIRONMENT_KEYS = ("framework", "framework_version", "variant", "device", "device_name", "workload", "mode", "batch_size",
                    "dtype", "data", "host", "python")


@dataclass
class LabeledRun:
    """One run, with where it came from: `label` is FILE:RUN_ID."""

    label: str
    record: dict[str, Any]
    step_ms: np.ndarray
    environment: dict[str, Any]


@dataclass
class RunComparison:
    runs: list[LabeledRun]
    step_time: list[Comparison | None] = field(default_factory=list)  # per run, against runs[0]

    def deltas(self, key: str) -> list[float | None]:
        base = self.runs[0].record.get(key)
        out: list[float | None] = []
        for run in self.runs:
            value = run.record.get(key)
            out.append(None if base in (None, 0) or value is None else (value / base - 1.0) * 100.0)
        return out

    def environment_differences(self) -> dict[str, list[Any]]:
        """Only the environment fields whose values are not all the same."""
        diff = {}
        for key in ENVIRONMENT_KEYS:
            values = [run.environment.get(key) for run in self.runs]
            if len({repr(v) for v in values}) > 1:
                diff[key] = values
        return diff

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.runs[0].label,
            "runs": [
                {"label": run.label, **run.record,
                 "deltas_percent": {key: self.deltas(key)[i] for key, _, _ in METRICS},
                 "step_time_vs_baseline": None if cmp is None else {
                     "ratio": cmp.ratio, "ci_low": cmp.ci_low, "ci_high": cmp.ci_high,
                     "confidence": cmp.confidence, "verdict": cmp.verdict}}
                for i, (run, cmp) in enumerate(zip(self.runs, self.step_time, strict=True))
            ],
            "environment_differences": self.environment_differences(),
        }


def _environment(record: RunRecord, row: dict[str, Any]) -> dict[str, Any]:
    env = dict(record.environment or {})
    spec = record.spec or {}
    host = env.get("host") or {}
    return {
        "framework": row["framework"], "framework_version": row["framework_version"], "variant": row["variant"],
        "device": row["device"], "device_name": row["device_name"], "workload": row["workload"], "mode": row["mode"],
        "batch_size": row["batch_size"], "dtype": spec.get("dtype"), "data": spec.get("data"),
        "host": host.get("hostname") if isinstance(host, dict) else host,
        "python": host.get("python") if isinstance(host, dict) else None,
    }


def load_runs(refs: list[str]) -> list[LabeledRun]:
    """Runs named as FILE (all its runs) or FILE:RUN_ID; SessionError for anything unreadable."""
    runs: list[LabeledRun] = []
    for ref in refs:
        path_text, _, run_id = ref.partition(":") if not Path(ref).exists() else (ref, "", "")
        path = Path(path_text)
        with Session.open_readonly(path) as session:
            records = [session.run(run_id)] if run_id else session.runs()
            if not records:
                raise SessionError(f"{path}: the session holds no runs")
            for record in records:
                steps = session.steps(record.run_id)
                row = headline(record, steps)
                runs.append(LabeledRun(f"{path.name}:{record.run_id}", row, measured_step_ms(steps), _environment(record, row)))
    return runs


def compare_runs(runs: list[LabeledRun]) -> RunComparison:
    base = runs[0].step_ms
    step_time: list[Comparison | None] = [None]  # the baseline against itself: nothing to say
    step_time += [compare(base, run.step_ms) for run in runs[1:]]
    return RunComparison(runs, step_time)
