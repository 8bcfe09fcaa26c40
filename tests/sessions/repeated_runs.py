"""Session files of runs with chosen step times, written through the real writer (no worker), so
tests of pooled repeats know exactly which steps each run holds and what the answer must be."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sessions.store import Session
from workloads.spec import RunSpec


@dataclass
class FakeRun:
    """One run to store: its id, spec fields that differ from the default torch convnet, and its measured step times."""

    run_id: str
    step_ms: np.ndarray
    spec: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    summary: dict[str, Any] = field(default_factory=dict)


def write_session(path: Path, runs: list[FakeRun]) -> Path:
    """Store `runs` in `path`, each with a hello (same host and versions), one warm-up step and its measured steps."""
    with Session.create_or_open(path) as session:
        for run in runs:
            spec = RunSpec(**{"framework": "torch", "batch_size": 8, **run.spec}).resolved().to_dict()
            session.begin_run(run.run_id, spec)
            hello = {"type": "hello", "t": 0.0, "protocol": 1, "framework": spec["framework"], "framework_version": "1.0",
                     "device_kind": "cpu", "device_name": "cpu", "host": {"hostname": "box", "python": "3.11"},
                     "spec": spec, "param_count": 10, "pid": 1}
            steps = [{"type": "step", "t": 0.1, "index": 0, "phase": "warmup", "step_ms": 500.0, "samples_per_s": 16.0,
                      "loss": None}]
            steps += [{"type": "step", "t": 0.2 + i * 0.01, "index": i + 1, "phase": "measure", "step_ms": float(ms),
                       "samples_per_s": 8000.0 / float(ms), "loss": 1.0} for i, ms in enumerate(run.step_ms)]
            session.append_events(run.run_id, [hello, *steps])
            session.finish_run(run.run_id, run.status, None if run.status == "ok" else "stopped", run.summary, "")
    return path


def shifted_repeats(rng: np.random.Generator, means: tuple[float, ...], n: int = 150, sd: float = 0.3) -> list[np.ndarray]:
    """Tight steps per run around a per-run mean: the run-to-run variance only a run-first bootstrap sees."""
    return [rng.normal(mu, sd, n) for mu in means]
