"""The session file (docs/architecture.md, "The session file"): one SQLite database (`.stepscope`) holding whole runs.

Written while runs stream (WAL, small transactions) so a killed app loses at most the last
flush; a run whose writer died reads as `interrupted`. Only JSON, SQL values and raw
little-endian arrays are stored, so opening someone else's session never runs code.

`Session` is assembled from one module per concern: opening and transactions
(`session_file`), writing runs (`run_writer`), reading them (`run_reader`), artifacts and traces
(`blob_store`), sweeps and their points (`sweep_store`); the table layout they share is in
`run_tables`, the schema and its migrations in `schema`, and where sessions live in `locations`.
Import the public names from here.
"""
from __future__ import annotations

from sessions.blob_store import ArtifactRecord, BlobStore
from sessions.locations import SUFFIX, default_session_path, list_sessions
from sessions.run_reader import RunReader, RunRecord
from sessions.run_writer import RunWriter
from sessions.schema import SessionError
from sessions.sweep_store import PointRecord, SweepRecord, SweepStore

__all__ = ["SUFFIX", "ArtifactRecord", "PointRecord", "RunRecord", "Session", "SessionError", "SweepRecord",
           "default_session_path", "list_sessions"]


class Session(RunWriter, RunReader, BlobStore, SweepStore):
    """One open session file. Writers (`create_or_open`) and readers (`open_readonly`) each own a
    connection used from one thread; make one Session per thread."""
