"""Comparing runs across session files: metric deltas against the first run, a bootstrap
interval and verdict on step time, and what differs in their environments.

Repeats (`run --repeat N`, or the run panel's "Repeat each") are one row: runs of one session
file with the same RunSpec (every field: any of them can change what is measured), the same
environment, that finished `ok`, are pooled into a `RunGroup`, whose step times are resampled
run-first (`sessions.stats`) so run-to-run variance widens its interval. A lone run is a group
of one and reads exactly as before.

Like HTA's TraceDiff, the comparison is its own object over labelled runs; printing it is the
CLI's job and drawing it the GUI's.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sessions.headline import headline, measured_step_ms
from sessions.stats import Comparison, compare, median_interval, step_stats
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
    source: tuple[Path, str]  # (session path, run id): where its trace is
    repeat_key: str | None = None  # equal keys: repeats of one spec (None: never pooled)


# Per-run figures a group reports as the median over its repeats (step figures are pooled instead).
PER_RUN_FIGURES = ("compile_ms", "peak_host_mb", "peak_device_mb", "final_loss", "accuracy", "macro_f1", "trace_events")


def _median_of(values: Sequence[Any]) -> float | None:
    known = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return float(np.median(known)) if known else None


def pooled_record(members: Sequence[LabeledRun]) -> dict[str, Any]:
    """The headline of a group: step figures over every member's measured steps, the other
    figures as the median over the repeats, plus `run_count`, `run_ids` and the run-first
    bootstrap CI of the median step time. A group of one is that run's own record."""
    if len(members) == 1:
        return members[0].record
    out = dict(members[0].record)
    stats = step_stats(np.concatenate([m.step_ms for m in members]))
    out.update(steps=stats.n, step_ms_median=stats.median, step_ms_p5=stats.p5, step_ms_p95=stats.p95,
               step_ms_p99=stats.p99, step_ms_mean=stats.mean, step_ms_std=stats.std)
    batch = out.get("batch_size")
    out["samples_per_s"] = batch * 1000.0 / stats.median if batch and stats.median else None
    for key in PER_RUN_FIGURES:
        out[key] = _median_of([m.record.get(key) for m in members])
    interval = median_interval([m.step_ms for m in members])
    out.update(run_count=len(members), run_ids=[m.record.get("run_id") for m in members],
               step_ms_median_ci=None if interval is None else list(interval))
    return out


@dataclass
class RunGroup:
    """One row of a comparison: one run, or the repeats of one spec pooled."""

    members: list[LabeledRun]
    record: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.record = pooled_record(self.members)

    @property
    def label(self) -> str:
        first = self.members[0]
        return first.label if len(self.members) == 1 else f"{first.label} + {len(self.members) - 1} repeat(s)"

    @property
    def run_count(self) -> int:
        return len(self.members)

    @property
    def step_groups(self) -> list[np.ndarray]:
        return [m.step_ms for m in self.members]

    @property
    def environment(self) -> dict[str, Any]:
        return self.members[0].environment  # equal across members: it is part of the repeat key

    @property
    def source(self) -> tuple[Path, str]:
        """The first member's: its trace stands for the group in op diffs (repeats trace the same ops)."""
        return self.members[0].source


def group_runs(runs: Sequence[LabeledRun]) -> list[RunGroup]:
    """Rows in order of first appearance, repeats pooled. When every run is a repeat of one
    spec, pooling would leave nothing to compare, so they stay one row each: comparing repeats
    with each other is how run-to-run variance is seen."""
    groups: dict[str, RunGroup] = {}
    rows: list[RunGroup] = []
    for run in runs:
        if run.repeat_key is not None and run.repeat_key in groups:
            groups[run.repeat_key].members.append(run)
            continue
        row = RunGroup([run])
        rows.append(row)
        if run.repeat_key is not None:
            groups[run.repeat_key] = row
    if len(rows) == 1 and len(runs) > 1:
        return [RunGroup([run]) for run in runs]
    for row in rows:
        row.record = pooled_record(row.members)
    return rows


@dataclass
class RunComparison:
    runs: list[RunGroup]  # the rows: a run, or a group of repeats
    step_time: list[Comparison | None] = field(default_factory=list)  # per row, against runs[0]

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


def repeat_key(path: Path, record: RunRecord, environment: dict[str, Any]) -> str | None:
    """What makes runs repeats of each other: one session file, the whole stored RunSpec and the
    environment (a program's: the same command, directory and options). Imported traces and runs
    that did not finish `ok` are never pooled (a cut-short run's few steps would weigh as much as a
    whole repeat in the run-first bootstrap)."""
    if record.kind not in ("run", "program") or record.status != "ok" or not record.spec:
        return None
    return json.dumps({"session": str(path.resolve()), "spec": record.spec, "environment": environment},
                      sort_keys=True, default=str)


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
                environment = _environment(record, row)
                runs.append(LabeledRun(f"{path.name}:{record.run_id}", row, measured_step_ms(steps), environment,
                                       (path, record.run_id), repeat_key(path, record, environment)))
    return runs


def compare_runs(runs: Sequence[LabeledRun]) -> RunComparison:
    """Every row against the first, repeats pooled (`group_runs`)."""
    rows = group_runs(runs)
    base = rows[0].step_groups
    step_time: list[Comparison | None] = [None]  # the baseline against itself: nothing to say
    step_time += [compare(base, row.step_groups) for row in rows[1:]]
    return RunComparison(rows, step_time)
