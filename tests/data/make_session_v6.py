"""Writes tests/data/session-v6.stepscope: the frozen v5 fixture migrated to v6, with a run whose
samples say how busy the rest of the machine was (`others_cpu`, docs/scorecard.md "A quiet machine")
and a summary carrying `others_cpu_percent` (test data, no framework runs).

    .venv/bin/python tests/data/make_session_v6.py
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

HERE = Path(__file__).parent
TARGET = HERE / "session-v6.stepscope"
RUN_ID = "20250103-120000-cccccc"
OTHERS_CPU = [48.0, 51.5, 0.0]


def events() -> list[dict]:
    out: list[dict] = [{"type": "hello", "t": 0.5, "protocol": 1, "framework": "torch", "framework_version": "2.x",
                        "device_kind": "cpu", "device_name": "cpu", "host": {"hostname": "h"}, "spec": {},
                        "param_count": 10, "pid": 100}]
    for index in range(4):
        out.append({"type": "step", "t": 1.0 + 0.1 * index, "index": index, "phase": "warmup" if index == 0 else "measure",
                    "step_ms": 100.0, "samples_per_s": None, "loss": 2.0 - index * 0.1})
    for k, others in enumerate(OTHERS_CPU):
        out.append({"type": "sample", "t": 1.05 + 0.1 * k, "host_rss": 200 << 20, "cpu_percent": 95.0,
                    "device_in_use": None, "device_peak": None, "device_memory_source": None, "gpu_util": None,
                    "gpu_mem_used": None, "others_cpu": others})
    return out


def main() -> None:
    if schema.SCHEMA_VERSION != 6:
        sys.exit(f"the session schema is v{schema.SCHEMA_VERSION}; session-v6.stepscope is a frozen fixture, keep it")
    for stale in (TARGET, TARGET.with_name(TARGET.name + "-wal"), TARGET.with_name(TARGET.name + "-shm")):
        stale.unlink(missing_ok=True)
    shutil.copy(HERE / "session-v5.stepscope", TARGET)
    with Session.create_or_open(TARGET) as session:
        session.begin_run(RUN_ID, {"kind": "run", "framework": "torch", "workload": "mlp"}, kind="run")
        session.append_events(RUN_ID, events())
        session.finish_run(RUN_ID, "ok", None, {"framework": "torch", "steps": 3, "others_cpu_percent": 33.2}, "")
    with sqlite3.connect(TARGET) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
    with sqlite3.connect(TARGET) as conn:
        conn.execute("VACUUM")
    print(f"wrote {TARGET} ({TARGET.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
