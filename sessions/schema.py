"""The session file's schema: recognising a Stepscope file, its versions and migrations.

A new file is created at v1 (`create_v1`) and brought forward by MIGRATIONS, where
MIGRATIONS[k] takes schema v(k+1) to v(k+2). To add v7, write
`def _v6_to_v7(conn: sqlite3.Connection) -> None` (plain `conn.execute` calls: it runs inside the
opener's transaction, so no `executescript`, which commits; foreign keys are off), append it to
MIGRATIONS, set SCHEMA_VERSION = 7, and commit a `tests/data/session-v7.stepscope` made like v6's
(`tests/data/make_session_v6.py`).
"""
from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

APPLICATION_ID = 0x53545053  # "STPS" in the SQLite header marks a Stepscope session

class SessionError(Exception):
    """A session file that cannot be opened, read or written; one line naming file and problem."""


class DiskFull(SessionError):
    """A write failed because the disk (or the test-only page limit) is full: retrying cannot help,
    so a recorder stops the run instead of queueing events it can never store (issue 15)."""


_V1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY, run_id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
    spec TEXT NOT NULL, environment TEXT NOT NULL, summary TEXT NOT NULL,  -- JSON objects
    status TEXT NOT NULL, reason TEXT,  -- running | ok | failed | cancelled
    started_at REAL NOT NULL, finished_at REAL, updated_at REAL NOT NULL,  -- Unix time
    writer_pid INTEGER NOT NULL, writer_host TEXT NOT NULL, writer_started REAL,
    step_count INTEGER NOT NULL DEFAULT 0);
CREATE TABLE step_phases (code INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE step_blocks (
    run INTEGER NOT NULL REFERENCES runs(id), block INTEGER NOT NULL, n INTEGER NOT NULL,
    idx BLOB NOT NULL, phase BLOB NOT NULL, t BLOB NOT NULL,  -- '<i8', 'u1' (step_phases), '<f8'
    step_ms BLOB NOT NULL, samples_per_s BLOB NOT NULL, loss BLOB NOT NULL,  -- '<f8', NaN = none
    PRIMARY KEY (run, block));
CREATE TABLE samples (
    run INTEGER NOT NULL REFERENCES runs(id), t REAL NOT NULL, host_rss INTEGER, cpu_percent REAL,
    device_in_use INTEGER, device_peak INTEGER, device_memory_source TEXT, gpu_util REAL,
    gpu_mem_used INTEGER, gpu_util_source TEXT);
CREATE INDEX samples_by_run ON samples (run);
CREATE TABLE evals (run INTEGER NOT NULL REFERENCES runs(id), t REAL NOT NULL, accuracy REAL,
    macro_f1 REAL, loss REAL, samples INTEGER);
CREATE INDEX evals_by_run ON evals (run);
CREATE TABLE compiles (run INTEGER NOT NULL REFERENCES runs(id), t REAL NOT NULL, ms REAL NOT NULL, what TEXT);
CREATE INDEX compiles_by_run ON compiles (run);
CREATE TABLE phases (run INTEGER NOT NULL REFERENCES runs(id), t REAL NOT NULL, name TEXT NOT NULL, edge TEXT NOT NULL);
CREATE INDEX phases_by_run ON phases (run);
CREATE TABLE run_logs (run INTEGER PRIMARY KEY REFERENCES runs(id), text TEXT NOT NULL);
CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY, run INTEGER NOT NULL REFERENCES runs(id), name TEXT NOT NULL, kind TEXT NOT NULL,
    source_path TEXT NOT NULL, t REAL, size INTEGER NOT NULL, stored_size INTEGER NOT NULL,
    codec TEXT NOT NULL, sha256 TEXT, UNIQUE (run, name));  -- codec: zlib | raw | missing
CREATE TABLE artifact_chunks (artifact INTEGER NOT NULL REFERENCES artifacts(id), seq INTEGER NOT NULL,
    data BLOB NOT NULL, PRIMARY KEY (artifact, seq));
INSERT INTO step_phases VALUES (0, 'warmup'), (1, 'measure'), (2, 'trace');
"""

def _v1_to_v2(conn: sqlite3.Connection) -> None:
    """v2: each run's parsed trace window (traces.table's compressed column blobs)."""
    conn.execute("CREATE TABLE traces (run INTEGER PRIMARY KEY REFERENCES runs(id), events INTEGER NOT NULL, "
                 "description TEXT NOT NULL, source_artifact TEXT)")
    conn.execute("CREATE TABLE trace_blobs (run INTEGER NOT NULL REFERENCES runs(id), name TEXT NOT NULL, "
                 "data BLOB NOT NULL, PRIMARY KEY (run, name))")


def _v2_to_v3(conn: sqlite3.Connection) -> None:
    """v3: sweeps (a plan of many runs, resumable) and their points, each pointing at the run
    that measured it; membership lives here, not in the run's spec, so repeats still pool."""
    conn.execute("CREATE TABLE sweeps (id INTEGER PRIMARY KEY, sweep_id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, "
                 "plan TEXT NOT NULL, plan_key TEXT NOT NULL, status TEXT NOT NULL, "  # running | done | stopped
                 "created_at REAL NOT NULL, updated_at REAL NOT NULL, "
                 "probes TEXT NOT NULL DEFAULT '{}')")  # JSON: framework -> its compatibility probe's report
    conn.execute("CREATE TABLE sweep_points (sweep INTEGER NOT NULL REFERENCES sweeps(id), point INTEGER NOT NULL, "
                 "cell INTEGER NOT NULL, repeat INTEGER NOT NULL, label TEXT NOT NULL, purpose TEXT NOT NULL, "
                 "spec TEXT NOT NULL, run_id TEXT, "
                 "status TEXT NOT NULL, reason TEXT, started_at REAL, finished_at REAL, "  # pending running ok failed cancelled
                 "PRIMARY KEY (sweep, point))")


def _v3_to_v4(conn: sqlite3.Connection) -> None:
    """v4: several trace windows per run (capture on demand, docs/capture.md): `traces` and
    `trace_blobs` keyed by (run, window_index), a window's label and recorded step range, and the
    window each artifact belongs to. A v3 run's one trace becomes its window 0."""
    conn.execute("ALTER TABLE traces RENAME TO traces_v3")
    conn.execute("CREATE TABLE traces (run INTEGER NOT NULL REFERENCES runs(id), window_index INTEGER NOT NULL, "
                 "label TEXT NOT NULL, first_step INTEGER, last_step INTEGER, events INTEGER NOT NULL, "
                 "description TEXT NOT NULL, source_artifact TEXT, PRIMARY KEY (run, window_index))")
    conn.execute("INSERT INTO traces SELECT run, 0, '', NULL, NULL, events, description, source_artifact FROM traces_v3")
    conn.execute("DROP TABLE traces_v3")
    conn.execute("ALTER TABLE trace_blobs RENAME TO trace_blobs_v3")
    conn.execute("CREATE TABLE trace_blobs (run INTEGER NOT NULL REFERENCES runs(id), window_index INTEGER NOT NULL, "
                 "name TEXT NOT NULL, data BLOB NOT NULL, PRIMARY KEY (run, window_index, name))")
    conn.execute("INSERT INTO trace_blobs SELECT run, 0, name, data FROM trace_blobs_v3")
    conn.execute("DROP TABLE trace_blobs_v3")
    conn.execute("ALTER TABLE artifacts ADD COLUMN window_index INTEGER")  # NULL: written before v4


def _v4_to_v5(conn: sqlite3.Connection) -> None:
    """v5: the ranks of a distributed program (docs/programs.md, "Multi-rank programs"): each rank's
    step blocks (`rank`, 0 for every run before v5) and samples of each rank's processes (`rank`;
    NULL: the whole program, as every sample before v5)."""
    conn.execute("ALTER TABLE step_blocks RENAME TO step_blocks_v4")
    conn.execute("CREATE TABLE step_blocks (run INTEGER NOT NULL REFERENCES runs(id), rank INTEGER NOT NULL DEFAULT 0, "
                 "block INTEGER NOT NULL, n INTEGER NOT NULL, idx BLOB NOT NULL, phase BLOB NOT NULL, t BLOB NOT NULL, "
                 "step_ms BLOB NOT NULL, samples_per_s BLOB NOT NULL, loss BLOB NOT NULL, PRIMARY KEY (run, rank, block))")
    conn.execute("INSERT INTO step_blocks (run, rank, block, n, idx, phase, t, step_ms, samples_per_s, loss) "
                 "SELECT run, 0, block, n, idx, phase, t, step_ms, samples_per_s, loss FROM step_blocks_v4")
    conn.execute("DROP TABLE step_blocks_v4")
    conn.execute("ALTER TABLE samples ADD COLUMN rank INTEGER")  # NULL: the whole program (rank 0 of one process)


def _v5_to_v6(conn: sqlite3.Connection) -> None:
    """v6: how busy the rest of the machine was at each sample (`others_cpu`, % of all cores; NULL:
    not measured, as every sample before v6), so a figure says whether its machine was quiet."""
    conn.execute("ALTER TABLE samples ADD COLUMN others_cpu REAL")


Migration = Callable[[sqlite3.Connection], None]
# MIGRATIONS[k]: v(k+1) -> v(k+2); append only
MIGRATIONS: list[Migration] = [_v1_to_v2, _v2_to_v3, _v3_to_v4, _v4_to_v5, _v5_to_v6]
SCHEMA_VERSION = 6
assert SCHEMA_VERSION == 1 + len(MIGRATIONS), "bump SCHEMA_VERSION with each migration"


def one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def check_path(path: Path) -> None:
    """Refuse what SQLite would open silently (a missing path, a folder, an empty file), by
    `stat` alone: no descriptor of a session file is ever opened outside SQLite (see header_problem)."""
    if not path.exists():
        raise SessionError(f"{path}: no such file")
    if not path.is_file():
        raise SessionError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise SessionError(f"{path}: the file is empty (0 bytes), not a Stepscope session")


class ReadOnlyLocation(SessionError):
    """A session that may be readable but cannot be written where it is (a read-only folder or
    file): its runs can be shown, new ones must go elsewhere, so callers say that, not "unreadable"."""


def check_writable(path: Path) -> None:
    """ReadOnlyLocation unless `path` (or, for a new file, its nearest existing folder) and its
    folder can be written: SQLite creates the `-wal` and `-shm` files beside a session. `access`
    only, no descriptor (see header_problem); it also sees a read-only mount, even as root."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ReadOnlyLocation(f"{path}: cannot write here (the folder {folder} is read-only)")
    if path.exists() and not os.access(path, os.W_OK):
        raise ReadOnlyLocation(f"{path}: cannot write here (the file is read-only)")


class UnreadableFile(SessionError):
    """SQLite refused the file as a database (SQLITE_NOTADB, SQLITE_CORRUPT) while opening it."""


UNREADABLE_CODES = (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT)


def header_problem(path: Path) -> str | None:
    """Why SQLite refused `path`, in words, from its 100-byte header; None when the header is fine.

    Plain Python I/O: closing *any* descriptor of a file drops every POSIX lock this process holds
    on it, SQLite's included, and then another process may checkpoint and delete the WAL under a
    live writer (issue 15). So only call this with no SQLite connection to the file open in this
    process (`session_file` keeps count), after SQLite itself has refused the file."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            header = f.read(100)
    except OSError:
        return None
    if not header.startswith(b"SQLite format 3\0"):
        return "not a Stepscope session (not an SQLite database)"
    if len(header) < 100:
        return f"the file is truncated ({size} bytes, shorter than its own header)"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages, counter, valid_for = (int.from_bytes(header[o:o + 4], "big") for o in (28, 24, 92))
    wal = path.with_name(path.name + "-wal")
    if counter == valid_for and not (wal.exists() and wal.stat().st_size > 0) and size < pages * page_size:
        return (f"the file is truncated ({size} bytes, its header says {pages * page_size}); "
                "an incomplete copy or download?")
    return None


def read_version(conn: sqlite3.Connection, path: Path) -> int:
    """The file's schema version; 0 for a brand-new empty database; SessionError for anything else."""
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if app_id == 0 and not tables:
            return 0
        if app_id != APPLICATION_ID:
            raise SessionError(f"{path}: an SQLite database, but not a Stepscope session")
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() if "meta" in tables else None
    except sqlite3.DatabaseError as exc:
        refused = UnreadableFile if getattr(exc, "sqlite_errorcode", None) in UNREADABLE_CODES else SessionError
        raise refused(f"{path}: not a readable Stepscope session ({one_line(exc)})") from None
    if row is None or not str(row[0]).isdigit():
        raise SessionError(f"{path}: damaged Stepscope session (it has no schema version)")
    version = int(row[0])
    if version > SCHEMA_VERSION:
        raise SessionError(f"{path}: written by a newer Stepscope (session schema v{version}); this Stepscope reads "
                           f"schema v{SCHEMA_VERSION} and older, open it with a Stepscope that reads v{version}")
    return version


def create_v1(conn: sqlite3.Connection) -> None:
    for statement in filter(str.strip, _V1.split(";")):
        conn.execute(statement)
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.executemany("INSERT INTO meta VALUES (?, ?)", [("schema_version", "1"), ("created_at", repr(time.time())),
                                                         ("created_by", "stepscope")])


def migrate(conn: sqlite3.Connection, version: int, path: Path) -> None:
    """Bring a v`version` (0: empty) database to SCHEMA_VERSION; the caller holds the transaction."""
    if version == 0:
        create_v1(conn)
        version = 1
    for number, step in enumerate(MIGRATIONS[version - 1:SCHEMA_VERSION - 1], start=version):
        try:
            step(conn)
        except Exception as exc:
            raise SessionError(f"{path}: migrating session schema v{number} to v{number + 1} failed ({one_line(exc)})") from None
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
