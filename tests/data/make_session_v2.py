"""Writes tests/data/session-v2.stepscope: the frozen v1 fixture migrated to v2, with the stored
torch and jax test traces parsed into two of its runs (test data, no framework runs).

    .venv/bin/python tests/data/make_session_v2.py
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
from traces.analysis import describe_source  # noqa: E402 (after the sys.path line: runs as a script)
from traces.readers import read_trace  # noqa: E402 (after the sys.path line: runs as a script)
from traces.table import table_to_blobs  # noqa: E402 (after the sys.path line: runs as a script)

HERE = Path(__file__).parent
TARGET = HERE / "session-v2.stepscope"
TRACES = {"torch": HERE / "traces" / "torch_convnet.trace.json.gz", "jax": HERE / "traces" / "jax_mlp.xplane.pb.gz"}


def main() -> None:
    if schema.SCHEMA_VERSION != 2:
        sys.exit(f"the session schema is v{schema.SCHEMA_VERSION}; session-v2.stepscope is a frozen fixture, keep it")
    for stale in (TARGET, TARGET.with_name(TARGET.name + "-wal"), TARGET.with_name(TARGET.name + "-shm")):
        stale.unlink(missing_ok=True)
    shutil.copy(HERE / "session-v1.stepscope", TARGET)
    with Session.create_or_open(TARGET) as session:
        for record in session.runs():
            framework = record.spec.get("framework")
            if framework in TRACES and record.status == "ok":
                table = read_trace(TRACES[framework], framework=framework)
                session.store_trace(record.run_id, table_to_blobs(table), len(table), describe_source(table),
                                    TRACES[framework].name)
                TRACES.pop(framework)
    with sqlite3.connect(TARGET) as conn:
        conn.execute("PRAGMA journal_mode=DELETE")
    with sqlite3.connect(TARGET) as conn:
        conn.execute("VACUUM")
    print(f"wrote {TARGET} ({TARGET.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
