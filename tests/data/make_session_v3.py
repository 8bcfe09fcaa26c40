"""Writes tests/data/session-v3.stepscope: the frozen v2 fixture migrated to v3, with one sweep
whose two points are two of its runs and a stored compatibility probe of torch's MLP in the shape
`profilers.framework_check.FrameworkReport.to_dict()` gives (test data, no framework runs).

    .venv/bin/python tests/data/make_session_v3.py
"""
from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sessions import schema  # noqa: E402 (after the sys.path line: runs as a script)
from sessions.store import Session  # noqa: E402 (after the sys.path line: runs as a script)
from sessions.sweep_plan import SweepPlan  # noqa: E402 (after the sys.path line: runs as a script)

HERE = Path(__file__).parent
TARGET = HERE / "session-v3.stepscope"
PLAN = SweepPlan.grid(axes={"framework": ["torch", "jax"]}, base={"steps": 12, "batch_size": 32}, name="fixture sweep")
PLAN = SweepPlan(PLAN.grids, PLAN.repeat, PLAN.name, probe=("torch",), probe_workloads=("mlp",))
PROBE = {"framework": "torch", "imports": True, "version": "2.13.0+cpu", "error": None, "devices": ["cpu"], "runs": [
    {"check": "run", "workload": "mlp", "variant": "eager", "mode": "train", "device": "cpu", "ok": True, "ms": 105.0,
     "error": None},
    {"check": "run", "workload": "mlp", "variant": "compiled", "mode": "infer", "device": "cpu", "ok": False,
     "error": "BackendCompilerFailed: fixture failure"}]}


def main() -> None:
    if schema.SCHEMA_VERSION != 3:
        sys.exit(f"the session schema is v{schema.SCHEMA_VERSION}; session-v3.stepscope is a frozen fixture, keep it")
    for stale in (TARGET, TARGET.with_name(TARGET.name + "-wal"), TARGET.with_name(TARGET.name + "-shm")):
        stale.unlink(missing_ok=True)
    shutil.copy(HERE / "session-v2.stepscope", TARGET)
    with Session.create_or_open(TARGET) as session:
        sweep_id, _ = session.open_sweep(PLAN)
        session.store_probe(sweep_id, "torch", PROBE)
        runs = {r.spec.get("framework"): r for r in session.runs()}  # torch ok, jax failed
        for point in session.sweep_points(sweep_id):
            run = runs[point.spec["framework"]]
            session.start_point(sweep_id, point.point, run.run_id)
            session.finish_point(sweep_id, point.point, run.status, run.reason)
        session.end_sweep(sweep_id, "done")
    with sqlite3.connect(TARGET) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
    with sqlite3.connect(TARGET) as conn:
        conn.execute("VACUUM")
    print(f"wrote {TARGET} ({TARGET.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
