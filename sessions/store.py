"""The session file (docs/architecture.md, "The session file"): one SQLite database (`.stepscope`) holding whole runs.

Written while runs stream (WAL, small transactions) so a killed app loses at most the last
flush; a run whose writer died reads as `interrupted`. Only JSON, SQL values and raw
little-endian arrays are stored, so opening someone else's session never runs code.

Steps are kept as blocks of column arrays (one row per flush, merged into one row when the run
finishes) because reading a million narrow rows through sqlite3 takes seconds; samples, phases,
compiles and evals are few and stay one row each.

Schema versions and migrations live in `sessions/schema.py`. Writers migrate in place on open, all or nothing. Read-only opens never write the file: an
older one is copied into memory (backup API) and migrated there, which costs its size in RAM.
Like any WAL database, a read-only open may leave empty `-wal`/`-shm` files beside the session.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from platformdirs import user_data_dir

from profilers.protocol import EVENT_FIELDS
from sessions import schema
from sessions.schema import SCHEMA_VERSION, SessionError, check_file, migrate, one_line, read_version  # noqa: F401 (re-exported)

log = logging.getLogger("stepscope.sessions")

SUFFIX = ".stepscope"
STALE_AFTER_S = 60.0  # a run written from another host reads as interrupted after this silence
CHUNK_BYTES = 4 << 20  # artifacts are stored in independently compressed chunks of this size
FINISHED = ("ok", "failed", "cancelled")
STEP_COLUMNS = {"index": "<i8", "phase": "u1", "t": "<f8", "step_ms": "<f8", "samples_per_s": "<f8", "loss": "<f8"}
SAMPLE_TEXTS = ("device_memory_source", "gpu_util_source")
EVENT_TABLES = {  # event type -> the table holding one row per event, and its columns after `run`
    "sample": ("samples", ("t", "host_rss", "cpu_percent", "device_in_use", "device_peak", "device_memory_source",
                           "gpu_util", "gpu_mem_used", "gpu_util_source")),
    "phase": ("phases", ("t", "name", "edge")),
    "compile": ("compiles", ("t", "ms", "what")),
    "eval": ("evals", ("t", "accuracy", "macro_f1", "loss", "samples")),
}

@dataclass(frozen=True)
class RunRecord:
    run_id: str
    kind: str
    spec: dict[str, Any]
    environment: dict[str, Any]
    status: str  # running | ok | failed | cancelled | interrupted (writer gone while running)
    reason: str | None
    summary: dict[str, Any]
    started_at: float
    finished_at: float | None
    step_count: int
    updated_at: float


@dataclass(frozen=True)
class ArtifactRecord:
    name: str
    kind: str
    size: int  # bytes of the original file
    stored_size: int  # bytes inside the session
    codec: str
    source_path: str


def default_session_path() -> Path:
    """Where runs go when no session is named (not created here)."""
    return Path(user_data_dir("stepscope", appauthor=False)) / "sessions" / f"default{SUFFIX}"


def list_sessions(directory: Path | str | None = None) -> list[Path]:
    """The `.stepscope` files in a directory (default: next to the default session), newest first."""
    folder = Path(directory) if directory is not None else default_session_path().parent
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.suffix == SUFFIX and p.is_file()]
    return sorted(found, key=lambda p: (-p.stat().st_mtime, p.name))


def _json(value: Any) -> str:
    def fallback(obj: Any) -> Any:
        return obj.item() if isinstance(obj, np.generic) else str(obj)

    return json.dumps(value, separators=(",", ":"), default=fallback)


def _writer_alive(pid: int, host: str, started: float | None, updated_at: float) -> bool:
    """Is the process that was writing a run still there? Pid reuse is caught by start time."""
    if host != socket.gethostname():
        return time.time() - updated_at < STALE_AFTER_S
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 1.0
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.Error:
        return True  # exists but not ours to inspect


def _own_start_time() -> float | None:
    try:
        return psutil.Process().create_time()
    except psutil.Error:
        return None


def _encode_artifact(event: dict[str, Any]) -> tuple[tuple[Any, ...], list[bytes]]:
    """(row values, compressed chunks) for an artifact event; done before the write lock is taken."""
    path = Path(event["path"])
    chunks: list[bytes] = []
    digest = hashlib.sha256()
    size, codec = 0, "zlib"
    try:
        with path.open("rb") as f:
            while block := f.read(CHUNK_BYTES):
                digest.update(block)
                size += len(block)
                packed = zlib.compress(block, 3) if codec == "zlib" else block  # 3: ~2x faster than 6, ~10 % larger
                if not chunks and len(packed) > 0.95 * len(block):  # already compressed (.gz): keep as is
                    codec, packed = "raw", block
                chunks.append(packed)
    except OSError:
        return (path.name, event.get("kind", ""), str(path), event.get("t"), event.get("bytes", 0), 0, "missing", None), []
    stored = sum(len(c) for c in chunks)
    return (path.name, event.get("kind", ""), str(path), event.get("t"), size, stored, codec, digest.hexdigest()), chunks


def _column(rows: list[tuple[Any, ...]], k: int, dtype: str) -> np.ndarray:
    return np.array([r[k] for r in rows], dtype=dtype)


class Session:
    """One open session file. Writers (`create_or_open`) and readers (`open_readonly`) each own a
    connection used from one thread; make one Session per thread."""

    def __init__(self, conn: sqlite3.Connection, path: Path, readonly: bool, file_version: int) -> None:
        self._conn = conn
        self.path = path
        self.readonly = readonly
        self.file_version = file_version  # the version on disk when opened
        self._ids: dict[str, int] = {}
        self._phase_codes: dict[str, int] = {}

    # -- opening -----------------------------------------------------------------------
    @classmethod
    def create_or_open(cls, path: Path | str) -> Session:
        """Open for writing, creating the file (and its folder) or migrating it in place."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() and (not path.is_file() or path.stat().st_size > 0):
                check_file(path)
            conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
        except (OSError, sqlite3.Error) as exc:
            raise SessionError(f"{path}: cannot open for writing ({one_line(exc)})") from None
        try:
            version = read_version(conn, path)  # refuse foreign files before touching them
            if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] != "wal":
                log.warning("%s: this file system does not support WAL; a crash may lose more than the last flush", path)
            conn.execute("PRAGMA synchronous = NORMAL")  # durable against a crash of the app, which is the goal
            conn.execute("BEGIN IMMEDIATE")
            version = read_version(conn, path)  # again, under the lock: another writer may have created it
            if version < schema.SCHEMA_VERSION:
                migrate(conn, version, path)
            conn.execute("COMMIT")
            conn.execute("PRAGMA foreign_keys = ON")  # after migrating, so migrations may rebuild tables
        except BaseException as exc:
            conn.close()  # rolls back a half-done migration
            if isinstance(exc, SessionError) or not isinstance(exc, Exception):
                raise
            raise SessionError(f"{path}: cannot open for writing ({one_line(exc)})") from None
        return cls(conn, path, readonly=False, file_version=version)

    @classmethod
    def open_readonly(cls, path: Path | str) -> Session:
        """Open for reading without ever writing the file; an older schema is migrated in memory."""
        path = Path(path)
        check_file(path)
        conn = None
        try:
            for options in ("mode=ro", "immutable=1"):  # immutable: a folder we cannot even make -shm in
                conn = sqlite3.connect(f"{path.resolve().as_uri()}?{options}", uri=True, isolation_level=None)
                try:
                    version = read_version(conn, path)
                    break
                except SessionError as exc:
                    if "unable to open" not in str(exc) or options != "mode=ro":
                        raise
                    conn.close()
            if version == 0:
                raise SessionError(f"{path}: an empty SQLite database, not a Stepscope session")
            if version < schema.SCHEMA_VERSION:
                memory = sqlite3.connect(":memory:", isolation_level=None)
                conn.backup(memory)
                conn.close()
                conn = memory
                conn.execute("BEGIN")
                migrate(conn, version, path)
                conn.execute("COMMIT")
        except (sqlite3.Error, SessionError) as exc:
            if conn is not None:
                conn.close()
            if isinstance(exc, SessionError):
                raise
            raise SessionError(f"{path}: cannot read ({one_line(exc)})") from None
        return cls(conn, path, readonly=True, file_version=version)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Session({str(self.path)!r}, readonly={self.readonly})"

    def copy_to(self, path: Path | str) -> None:
        """A consistent snapshot into a new file ("Save As"), even while runs stream into this one."""
        target = Path(path)
        temp = target.with_name(f".{target.name}.{os.getpid()}.partial")
        wal = target.with_name(target.name + "-wal")
        if target.exists() and target.resolve() == self.path.resolve():
            raise SessionError(f"{target}: cannot save a session over itself")
        if wal.exists() and wal.stat().st_size > 0:  # its WAL would be replayed onto the copy
            raise SessionError(f"{target}: that session is open elsewhere or was not closed cleanly; choose another name")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            temp.unlink(missing_ok=True)
            dest = sqlite3.connect(temp, isolation_level=None)
            try:
                self._conn.backup(dest)
                dest.execute("PRAGMA journal_mode = WAL")
            finally:
                dest.close()
            os.replace(temp, target)
        except (OSError, sqlite3.Error) as exc:
            temp.unlink(missing_ok=True)
            raise SessionError(f"{target}: cannot save a copy of {self.path} ({one_line(exc)})") from None

    # -- plumbing ----------------------------------------------------------------------
    def _fail(self, exc: BaseException, doing: str) -> SessionError:
        return SessionError(f"{self.path}: {doing} failed ({one_line(exc)})")

    def _run_key(self, run_id: str) -> int:
        if run_id not in self._ids:
            rows = self._query("SELECT id FROM runs WHERE run_id = ?", (run_id,))
            if not rows:
                raise SessionError(f"{self.path}: no run {run_id!r} in this session")
            self._ids[run_id] = rows[0][0]
        return self._ids[run_id]

    def _write(self, doing: str, work: Callable[[], None]) -> None:
        """Run `work` in one immediate transaction; any failure rolls back and is a SessionError."""
        if self.readonly:
            raise SessionError(f"{self.path}: opened read-only, cannot {doing}")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                work()
                self._conn.execute("COMMIT")
            except BaseException:
                self._phase_codes = {}  # may hold a code the rollback takes back
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError, ValueError, TypeError, KeyError) as exc:
            raise self._fail(exc, doing) from None

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, tuple(args)).fetchall()
        except sqlite3.Error as exc:
            raise self._fail(exc, "reading") from None

    # -- writing -----------------------------------------------------------------------
    def begin_run(self, run_id: str, spec: dict[str, Any], kind: str = "run") -> None:
        """Add a run in status `running`, stamped with this process so a crash reads as interrupted."""
        now = time.time()

        def work() -> None:
            if self._conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone():
                raise ValueError(f"run {run_id!r} already exists")
            self._conn.execute(
                "INSERT INTO runs (run_id, kind, spec, environment, summary, status, started_at, updated_at, "
                "writer_pid, writer_host, writer_started) VALUES (?, ?, ?, '{}', '{}', 'running', ?, ?, ?, ?, ?)",
                (run_id, kind, _json(spec), now, now, os.getpid(), socket.gethostname(), _own_start_time()))

        self._write(f"begin run {run_id}", work)

    def append_events(self, run_id: str, events: list[dict[str, Any]]) -> None:
        """Store raw protocol events in one transaction (an empty list just marks the writer alive).
        Events of unknown types or lacking a required field are skipped, so one can never block the rest."""
        run = self._run_key(run_id)
        known = [e for e in events if e.get("type") in EVENT_FIELDS and "t" in e and all(f in e for f in EVENT_FIELDS[e["type"]])]
        if len(known) < len(events):
            log.warning("%s: skipped %d malformed or unknown events of run %s", self.path, len(events) - len(known), run_id)
            events = known
        artifacts = [_encode_artifact(e) for e in events if e.get("type") == "artifact"]
        self._write(f"record events of run {run_id}", lambda: self._store(run, events, artifacts))

    def _store(self, run: int, events: list[dict[str, Any]], artifacts: list[tuple[tuple[Any, ...], list[bytes]]]) -> None:
        c = self._conn
        by_type: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            by_type.setdefault(event.get("type", ""), []).append(event)
        steps = by_type.get("step", [])
        if steps:
            self._store_steps(run, steps)
        for kind, (table, fields) in EVENT_TABLES.items():
            if kind in by_type:
                c.executemany(f"INSERT INTO {table} (run, {', '.join(fields)}) VALUES (?{', ?' * len(fields)})",
                              [(run, *(e.get(f) for f in fields)) for e in by_type[kind]])
        for hello in by_type.get("hello", []):
            environment = {k: v for k, v in hello.items() if k not in ("type", "t", "spec")}
            environment["variant"] = hello.get("spec", {}).get("variant")
            old = json.loads(c.execute("SELECT spec FROM runs WHERE id = ?", (run,)).fetchone()[0])
            c.execute("UPDATE runs SET environment = ?, spec = ? WHERE id = ?",
                      (_json(environment), _json({**old, **hello.get("spec", {})}), run))
        for event in by_type.get("summary", []):
            c.execute("UPDATE runs SET summary = ? WHERE id = ?", (_json(event["summary"]), run))
        for event in by_type.get("error", []):
            c.execute("UPDATE runs SET reason = ? WHERE id = ?", (event.get("message"), run))
        for values, chunks in artifacts:
            self._store_artifact(run, values, chunks)
        c.execute("UPDATE runs SET updated_at = ?, step_count = step_count + ? WHERE id = ?", (time.time(), len(steps), run))

    def _phase_code(self, name: str) -> int:
        if not self._phase_codes:
            self._phase_codes = {n: code for code, n in self._conn.execute("SELECT code, name FROM step_phases")}
        if name not in self._phase_codes:
            code = len(self._phase_codes)
            self._conn.execute("INSERT INTO step_phases VALUES (?, ?)", (code, name))
            self._phase_codes[name] = code
        return self._phase_codes[name]

    def _store_steps(self, run: int, steps: list[dict[str, Any]]) -> None:
        rows = [(e["index"], self._phase_code(e["phase"]), e["t"], e["step_ms"], e["samples_per_s"], e["loss"]) for e in steps]
        self._insert_block(run, [_column(rows, k, dtype) for k, dtype in enumerate(STEP_COLUMNS.values())])

    def _insert_block(self, run: int, arrays: list[np.ndarray]) -> None:
        block = self._conn.execute("SELECT COALESCE(MAX(block) + 1, 0) FROM step_blocks WHERE run = ?", (run,)).fetchone()[0]
        self._conn.execute("INSERT INTO step_blocks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           (run, block, len(arrays[0]), *(a.tobytes() for a in arrays)))

    def _store_artifact(self, run: int, values: tuple[Any, ...], chunks: list[bytes]) -> None:
        name, taken = values[0], {r[0] for r in self._conn.execute("SELECT name FROM artifacts WHERE run = ?", (run,))}
        number = 1
        while name in taken:
            number += 1
            name = f"{number}-{values[0]}"
        cur = self._conn.execute("INSERT INTO artifacts (run, name, kind, source_path, t, size, stored_size, codec, "
                                 "sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", (run, name, *values[1:]))
        self._conn.executemany("INSERT INTO artifact_chunks VALUES (?, ?, ?)",
                               [(cur.lastrowid, seq, data) for seq, data in enumerate(chunks)])

    def finish_run(self, run_id: str, status: str, reason: str | None, summary: dict[str, Any], log: str) -> None:
        """Close a run: its outcome, headline figures and log; its step blocks merge into one."""
        if status not in FINISHED:
            raise SessionError(f"{self.path}: a run cannot finish as {status!r} (one of {', '.join(FINISHED)})")
        run = self._run_key(run_id)

        def work() -> None:
            blocks = self._conn.execute("SELECT COUNT(*) FROM step_blocks WHERE run = ?", (run,)).fetchone()[0]
            if blocks > 1:
                columns = self._step_arrays(run)
                self._conn.execute("DELETE FROM step_blocks WHERE run = ?", (run,))
                self._insert_block(run, list(columns.values()))
            now = time.time()
            self._conn.execute("UPDATE runs SET status = ?, reason = ?, summary = ?, finished_at = ?, updated_at = ? "
                               "WHERE id = ?", (status, reason, _json(summary), now, now, run))
            self._conn.execute("INSERT OR REPLACE INTO run_logs VALUES (?, ?)", (run, log))

        self._write(f"finish run {run_id}", work)

    # -- reading -----------------------------------------------------------------------
    def runs(self) -> list[RunRecord]:
        """Every run in the order it began; a `running` run whose writer is gone reads `interrupted`."""
        return self._records("")

    def run(self, run_id: str) -> RunRecord:
        return self._records("WHERE id = ?", (self._run_key(run_id),))[0]

    def _records(self, where: str, args: tuple[Any, ...] = ()) -> list[RunRecord]:
        rows = self._query("SELECT run_id, kind, spec, environment, status, reason, summary, started_at, finished_at, "
                           f"step_count, updated_at, writer_pid, writer_host, writer_started FROM runs {where} ORDER BY id",
                           args)
        records = []
        for r in rows:
            status = r[4]
            if status == "running" and not _writer_alive(r[11], r[12], r[13], r[10]):
                status = "interrupted"
            try:
                spec, environment, summary = json.loads(r[2]), json.loads(r[3]), json.loads(r[6])
            except ValueError as exc:
                raise self._fail(exc, f"reading run {r[0]}") from None
            records.append(RunRecord(r[0], r[1], spec, environment, status, r[5], summary, r[7], r[8], r[9], r[10]))
        return records

    def _step_arrays(self, run: int) -> dict[str, np.ndarray]:
        rows = self._conn.execute("SELECT n, idx, phase, t, step_ms, samples_per_s, loss FROM step_blocks "
                                  "WHERE run = ? ORDER BY block", (run,)).fetchall()
        out = {}
        for k, (name, dtype) in enumerate(STEP_COLUMNS.items(), start=1):
            parts = [np.frombuffer(r[k], dtype) for r in rows]
            if any(len(p) != r[0] for p, r in zip(parts, rows)):
                raise ValueError(f"step column {name} has the wrong length")
            out[name] = np.concatenate(parts) if parts else np.empty(0, dtype)
        return out

    def steps(self, run_id: str) -> dict[str, np.ndarray]:
        """Columns index, phase (str), t, step_ms, samples_per_s, loss (NaN where none was reported)."""
        run = self._run_key(run_id)
        try:
            columns = self._step_arrays(run)
            names = np.array([n for _, n in sorted(self._conn.execute("SELECT code, name FROM step_phases"))] or [""])
            columns["phase"] = names[columns["phase"]]
        except (sqlite3.Error, ValueError, IndexError) as exc:
            raise self._fail(exc, f"reading the steps of run {run_id}") from None
        return columns

    def _rows(self, kind: str, run_id: str) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        table, fields = EVENT_TABLES[kind]
        return fields, self._query(f"SELECT {', '.join(fields)} FROM {table} WHERE run = ? ORDER BY rowid",
                                   (self._run_key(run_id),))

    def samples(self, run_id: str) -> dict[str, np.ndarray]:
        """Telemetry columns in float64 (NaN where not reported); the two `*_source` columns as str."""
        fields, rows = self._rows("sample", run_id)
        return {name: np.array([r[k] or "" for r in rows], dtype=str) if name in SAMPLE_TEXTS else _column(rows, k, "<f8")
                for k, name in enumerate(fields)}

    def evals(self, run_id: str) -> list[dict[str, Any]]:
        """Eval events as dicts (t, accuracy, macro_f1, loss, samples); usually one per run."""
        fields, rows = self._rows("eval", run_id)
        return [dict(zip(fields, r)) for r in rows]

    def compiles(self, run_id: str) -> list[dict[str, Any]]:
        """Compile events as dicts (t, ms, what)."""
        fields, rows = self._rows("compile", run_id)
        return [dict(zip(fields, r)) for r in rows]

    def phases(self, run_id: str) -> list[dict[str, Any]]:
        """Phase edges as dicts (t, name, edge) in stream order."""
        fields, rows = self._rows("phase", run_id)
        return [dict(zip(fields, r)) for r in rows]

    def log(self, run_id: str) -> str:
        """The worker's stderr; empty until the run finishes."""
        rows = self._query("SELECT text FROM run_logs WHERE run = ?", (self._run_key(run_id),))
        return rows[0][0] if rows else ""

    def artifacts(self, run_id: str) -> list[ArtifactRecord]:
        rows = self._query("SELECT name, kind, size, stored_size, codec, source_path FROM artifacts WHERE run = ? "
                           "ORDER BY id", (self._run_key(run_id),))
        return [ArtifactRecord(*r) for r in rows]

    def store_trace(self, run_id: str, blobs: dict[str, bytes], events: int, description: str, source: str | None) -> None:
        """Keep a run's parsed trace (replacing an earlier one) and its event count in the summary."""
        run = self._run_key(run_id)

        def work() -> None:
            self._conn.execute("DELETE FROM trace_blobs WHERE run = ?", (run,))
            self._conn.execute("INSERT OR REPLACE INTO traces VALUES (?, ?, ?, ?)", (run, events, description, source))
            self._conn.executemany("INSERT INTO trace_blobs VALUES (?, ?, ?)", [(run, k, v) for k, v in blobs.items()])
            summary = json.loads(self._conn.execute("SELECT summary FROM runs WHERE id = ?", (run,)).fetchone()[0])
            summary["trace_events"] = events
            self._conn.execute("UPDATE runs SET summary = ? WHERE id = ?", (_json(summary), run))

        self._write(f"store the trace of run {run_id}", work)

    def trace(self, run_id: str) -> tuple[dict[str, bytes], int, str] | None:
        """A run's stored trace blobs, event count and description, or None if it has none."""
        run = self._run_key(run_id)
        info = self._query("SELECT events, description FROM traces WHERE run = ?", (run,))
        if not info:
            return None
        blobs = dict(self._query("SELECT name, data FROM trace_blobs WHERE run = ?", (run,)))
        return blobs, info[0][0], info[0][1]

    def artifact_bytes(self, run_id: str, name: str) -> bytes:
        """The artifact exactly as the profiler wrote it (checked against its size and SHA-256)."""
        rows = self._query("SELECT id, codec, size, sha256 FROM artifacts WHERE run = ? AND name = ?",
                           (self._run_key(run_id), name))
        if not rows:
            raise SessionError(f"{self.path}: run {run_id} has no artifact {name!r}")
        key, codec, size, sha = rows[0]
        if codec == "missing":
            raise SessionError(f"{self.path}: artifact {name!r} of run {run_id} was not stored (its file was gone)")
        chunks = self._query("SELECT data FROM artifact_chunks WHERE artifact = ? ORDER BY seq", (key,))
        try:
            data = b"".join(zlib.decompress(c[0]) if codec == "zlib" else c[0] for c in chunks)
        except zlib.error as exc:
            raise self._fail(exc, f"reading artifact {name!r}") from None
        if len(data) != size or hashlib.sha256(data).hexdigest() != sha:
            raise SessionError(f"{self.path}: artifact {name!r} of run {run_id} is damaged (size or checksum differs)")
        return data
