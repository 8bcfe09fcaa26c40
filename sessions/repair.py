"""`stepscope sessions --repair FILE`: make a session file self-contained after a crash.

A writer killed mid-run leaves its last transactions only in the `-wal` file beside the session;
SQLite reads them from there, but a copy of the `.stepscope` file alone (mailed, backed up)
silently lacks them (issue 15). The repair folds the WAL into the main file and stores
`interrupted` for every run still marked `running` whose writer is gone (run_reader's rule: the
process is dead on this host, or silent for STALE_AFTER_S from another), so the file says so
wherever it is read. Runs a live writer is still recording are left alone.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sessions.schema import check_path
from sessions.store import Session

REASON = "the process recording it stopped before the run ended (a crash or a kill); marked by a repair"


@dataclass(frozen=True)
class Repair:
    """What `repair_session` did to one file."""

    path: Path
    runs: int  # runs in the file
    interrupted: list[str]  # runs marked `interrupted` now
    self_contained: bool  # the WAL is empty: the main file alone holds every committed run


def repair_session(path: Path | str) -> Repair:
    """Mark dead writers' runs interrupted and fold the WAL into the file; SessionError if the
    file is not a session (a missing file is never created)."""
    path = Path(path)
    check_path(path)
    with Session.create_or_open(path) as session:
        dead = session.orphaned_runs()
        if dead:
            session.mark_interrupted(dead, REASON)
        self_contained = session.checkpoint("TRUNCATE")
        runs = len(session.runs())
    return Repair(path, runs, dead, self_contained)
