"""Writes tests/data/session-v5.stepscope: the frozen v4 fixture migrated to v5, with a program run of
two ranks (docs/programs.md, "Multi-rank programs"): each rank's steps and samples, and samples of the
whole program (test data, no framework runs).

    .venv/bin/python tests/data/make_session_v5.py
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
TARGET = HERE / "session-v5.stepscope"
RUN_ID = "20250102-120000-bbbbbb"
STEP_MS = {0: [900.0, 10.0, 11.0, 12.0], 1: [905.0, 14.0, 10.5, 19.0]}  # rank 1 the straggler at steps 1 and 3


def events() -> list[dict]:
    out: list[dict] = []
    for rank, times in STEP_MS.items():
        out.append({"type": "hello", "t": 1.0, "protocol": 1, "framework": "torch", "framework_version": "2.x",
                    "device_kind": "cpu", "device_name": "cpu", "host": {"hostname": "h"}, "spec": {},
                    "param_count": 10, "pid": 100 + rank, "rank": rank, "world_size": 2, "hostname": "h"})
        t = 1.0
        for index, ms in enumerate(times):
            t += ms / 1000
            out.append({"type": "step", "t": t, "index": index, "phase": "warmup" if index == 0 else "measure",
                        "step_ms": ms, "samples_per_s": None, "loss": 2.0 - index * 0.1, "rank": rank})
        out.append({"type": "sample", "t": 1.5, "host_rss": (200 + rank) << 20, "cpu_percent": 90.0, "device_in_use": None,
                    "device_peak": None, "device_memory_source": None, "gpu_util": None, "gpu_mem_used": None,
                    "rank": rank})
    out.append({"type": "sample", "t": 1.5, "host_rss": 500 << 20, "cpu_percent": 180.0, "device_in_use": None,
                "device_peak": None, "device_memory_source": None, "gpu_util": None, "gpu_mem_used": None})
    return out


def main() -> None:
    if schema.SCHEMA_VERSION != 5:
        sys.exit(f"the session schema is v{schema.SCHEMA_VERSION}; session-v5.stepscope is a frozen fixture, keep it")
    for stale in (TARGET, TARGET.with_name(TARGET.name + "-wal"), TARGET.with_name(TARGET.name + "-shm")):
        stale.unlink(missing_ok=True)
    shutil.copy(HERE / "session-v4.stepscope", TARGET)
    with Session.create_or_open(TARGET) as session:
        session.begin_run(RUN_ID, {"kind": "program", "framework": None, "workload": "torch_ddp.py"}, kind="program")
        session.append_events(RUN_ID, events())
        session.finish_run(RUN_ID, "ok", None, {"framework": "torch", "steps": 3, "ranks": 2}, "")
    with sqlite3.connect(TARGET) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
    with sqlite3.connect(TARGET) as conn:
        conn.execute("VACUUM")
    print(f"wrote {TARGET} ({TARGET.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
