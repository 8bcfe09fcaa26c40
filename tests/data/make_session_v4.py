"""Writes tests/data/session-v4.stepscope: the frozen v3 fixture migrated to v4, with a second
trace window (capture on demand, docs/capture.md) on its torch run: the run's stored trace again,
labelled as a window of steps 6-7, and its artifact tagged with that window (test data, no
framework runs).

    .venv/bin/python tests/data/make_session_v4.py
"""
from __future__ import annotations

import shutil
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sessions import schema  # noqa: E402 (after the sys.path line: runs as a script)
from sessions.blob_store import TraceWindow  # noqa: E402 (after the sys.path line: runs as a script)
from sessions.store import Session  # noqa: E402 (after the sys.path line: runs as a script)

HERE = Path(__file__).parent
TARGET = HERE / "session-v4.stepscope"
RUN_ID = "20250101-120000-aaaaaa"  # the fixture's torch run, which has a parsed trace
WINDOW = TraceWindow(1, "steps 6–7", 6, 7, 0)


def main() -> None:
    if schema.SCHEMA_VERSION != 4:
        sys.exit(f"the session schema is v{schema.SCHEMA_VERSION}; session-v4.stepscope is a frozen fixture, keep it")
    for stale in (TARGET, TARGET.with_name(TARGET.name + "-wal"), TARGET.with_name(TARGET.name + "-shm")):
        stale.unlink(missing_ok=True)
    shutil.copy(HERE / "session-v3.stepscope", TARGET)
    with Session.create_or_open(TARGET) as session:
        stored = session.trace(RUN_ID)
        assert stored is not None, "the v3 fixture's torch run has a trace"
        blobs, events, description = stored
        session.store_trace(RUN_ID, blobs, events, description, "capture-1/torch.trace.json.gz", WINDOW)
    with sqlite3.connect(TARGET) as conn:
        conn.execute("UPDATE artifacts SET window_index = 0 WHERE name = 'torch.trace.json.gz'")
        conn.execute("PRAGMA journal_mode=DELETE")
    with sqlite3.connect(TARGET) as conn:
        conn.execute("VACUUM")
    print(f"wrote {TARGET} ({TARGET.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
