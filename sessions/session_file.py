"""Opening, closing and copying a session file, and the transactions every read and write goes through.

Writers migrate in place on open, all or nothing. Read-only opens never write the file: an
older one is copied into memory (backup API) and migrated there, which costs its size in RAM.
Like any WAL database, a read-only open may leave empty `-wal`/`-shm` files beside the session.

A session file is only ever opened through SQLite while this process holds a connection to it:
closing any other descriptor of the file would drop all of the process's POSIX locks on it,
SQLite's included, and another process would then checkpoint and delete the WAL under a live
writer (issue 15). The connections open here are counted per file, and the one plain read (the
header, to explain why SQLite refused a file) happens only when that count is zero.
"""
from __future__ import annotations

import collections
import logging
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from sessions import schema
from sessions.schema import DiskFull, SessionError, UnreadableFile, check_path, header_problem, migrate, one_line, read_version

log = logging.getLogger("stepscope.sessions")

# Test-only: a writer's connection may grow the file to at most this many pages, after which SQLite
# raises SQLITE_FULL exactly as on a full disk (tests/sessions/test_disk_full.py). Unset in real use.
MAX_PAGES_ENV = "STEPSCOPE_TEST_MAX_PAGES"

_open_here: collections.Counter[str] = collections.Counter()  # open connections per file (resolved path)
_open_lock = threading.Lock()


def _hold(path: Path) -> str:
    """Count a connection to `path` as open in this process (before it is opened); returns its key."""
    key = str(path.resolve())
    with _open_lock:
        _open_here[key] += 1
    return key


def _release(key: str) -> None:
    with _open_lock:
        _open_here[key] -= 1
        if _open_here[key] <= 0:
            del _open_here[key]


def _explained(path: Path, exc: SessionError) -> SessionError:
    """SQLite's refusal of a file, in words read from its header when that is safe: never while
    this process holds a connection to the file (the lock keeps one from opening meanwhile)."""
    if not isinstance(exc, UnreadableFile):
        return exc
    with _open_lock:
        problem = None if _open_here[str(path.resolve())] else header_problem(path)
    return SessionError(f"{path}: {problem}") if problem else exc


def _wal_has_frames(path: Path) -> bool:
    """A non-empty `-wal` beside the file: another writer is live, or one crashed (`stat` only)."""
    try:
        return path.with_name(path.name + "-wal").stat().st_size > 0
    except OSError:
        return False


def _connect(path: Path, options: str) -> tuple[sqlite3.Connection, int]:
    """A connection opened with URI `options`, and the file's schema version."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?{options}", uri=True, isolation_level=None)
    try:
        return conn, read_version(conn, path)
    except (SessionError, sqlite3.Error):
        conn.close()
        raise


def _connect_readonly(path: Path) -> tuple[sqlite3.Connection, int]:
    """`mode=ro`, else `immutable=1` for a folder SQLite cannot even create the `-shm` file in."""
    try:
        return _connect(path, "mode=ro")
    except SessionError as exc:
        if "unable to open" not in str(exc):
            raise
    return _connect(path, "immutable=1")


def _readonly_connection(path: Path) -> tuple[sqlite3.Connection, int]:
    """A read-only connection at the current schema: an older file is migrated in memory."""
    try:
        conn, version = _connect_readonly(path)
    except sqlite3.Error as exc:
        raise SessionError(f"{path}: cannot read ({one_line(exc)})") from None
    try:
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
        conn.close()
        if isinstance(exc, SessionError):
            raise
        raise SessionError(f"{path}: cannot read ({one_line(exc)})") from None
    return conn, version


def _writable_connection(path: Path) -> tuple[sqlite3.Connection, int]:
    """A WAL-mode connection with the file created or migrated in place (all or nothing)."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
    except sqlite3.Error as exc:
        raise SessionError(f"{path}: cannot open for writing ({one_line(exc)})") from None
    try:
        version = read_version(conn, path)  # refuse foreign files before touching them
        if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0] != "wal":
            log.warning("%s: this file system does not support WAL; a crash may lose more than the last flush", path)
        conn.execute("PRAGMA synchronous = NORMAL")  # durable against a crash of the app, which is the goal
        if os.environ.get(MAX_PAGES_ENV, "").isdigit():
            conn.execute(f"PRAGMA max_page_count = {int(os.environ[MAX_PAGES_ENV])}")
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
    return conn, version


def _create_whole(path: Path) -> None:
    """Make a new session beside `path` and link it into place only once its schema is in, so a
    reader polling for the file (`capture`, `report`, another window) never finds it half made:
    an empty database while the writer sets WAL mode and writes the schema. `link` fails when
    another writer made the file first, and then theirs is used. Where the file system has no hard
    links, the file is made in place as before."""
    made = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")  # SQLite makes it, mode as its own
    try:
        try:
            conn, _ = _writable_connection(made)
        except SessionError as exc:
            raise type(exc)(str(exc).replace(str(made), str(path))) from None
        conn.close()  # the last connection: SQLite folds the WAL in and deletes it
        try:
            os.link(made, path)
        except FileExistsError:
            pass
        except OSError as exc:
            log.debug("%s: no hard link (%s); the session is made in place", path, one_line(exc))
    finally:
        for leftover in (made, made.with_name(made.name + "-wal"), made.with_name(made.name + "-shm")):
            leftover.unlink(missing_ok=True)


class SessionFile:
    """One open session file and its connection, used from one thread; make one per thread.
    The run writer, run reader and blob store build on it (`sessions.store.Session`)."""

    def __init__(self, conn: sqlite3.Connection, path: Path, readonly: bool, file_version: int) -> None:
        self._conn = conn
        self.path = path
        self.readonly = readonly
        self.file_version = file_version  # the version on disk when opened
        self._ids: dict[str, int] = {}
        self._held: str | None = None  # this connection's place in the per-process count (_hold)
        self._in_transaction = False  # inside `transaction`: writes join it instead of committing

    # -- opening -----------------------------------------------------------------------
    @classmethod
    def create_or_open(cls, path: Path | str) -> Self:
        """Open for writing, creating the file (and its folder) or migrating it in place. A WAL
        left by a crashed writer is folded into the main file at once (`checkpoint`)."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() and (not path.is_file() or path.stat().st_size > 0):
                check_path(path)
            schema.check_writable(path)
            if not path.exists():
                _create_whole(path)
        except OSError as exc:
            raise SessionError(f"{path}: cannot open for writing ({one_line(exc)})") from None
        session = cls._opened(path, readonly=False)
        if _wal_has_frames(path):
            try:
                session.checkpoint()
            except SessionError as exc:  # the file still works; a later writer's close folds it in
                log.warning("%s", exc)
        return session

    @classmethod
    def open_readonly(cls, path: Path | str) -> Self:
        """Open for reading without ever writing the file; an older schema is migrated in memory."""
        path = Path(path)
        check_path(path)
        return cls._opened(path, readonly=True)

    @classmethod
    def _opened(cls, path: Path, readonly: bool) -> Self:
        key = _hold(path)
        try:
            conn, version = _readonly_connection(path) if readonly else _writable_connection(path)
        except BaseException as exc:
            _release(key)
            if isinstance(exc, SessionError):
                raise _explained(path, exc) from None
            raise
        session = cls(conn, path, readonly=readonly, file_version=version)
        session._held = key
        return session

    def close(self) -> None:
        """A writer folds what it wrote into the main file first (SQLite does that itself only
        when the last connection anywhere closes, and another window may keep the file open)."""
        if not self.readonly:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.Error as exc:  # a full disk, say: the WAL still holds it, and SQLite reads it there
                log.debug("%s: not folded into the file on close (%s)", self.path, one_line(exc))
        self._conn.close()
        if self._held is not None:
            _release(self._held)
            self._held = None

    def checkpoint(self, mode: str = "PASSIVE") -> bool:
        """Fold the WAL into the main file, so the `.stepscope` file alone (copied or mailed without
        its `-wal`) holds every committed run. PASSIVE never waits and leaves frames a live reader
        still needs; TRUNCATE waits for readers (the busy timeout) and empties the WAL. True when
        the whole WAL is in the main file."""
        if self.readonly:
            raise SessionError(f"{self.path}: opened read-only, cannot fold its WAL into the file")
        try:
            busy, frames, done = self._conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        except sqlite3.Error as exc:
            raise self._fail(exc, "folding the WAL into the file") from None
        return not busy and frames == done

    def __enter__(self) -> Self:
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
        full = isinstance(exc, sqlite3.Error) and (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_FULL
        return (DiskFull if full else SessionError)(f"{self.path}: {doing} failed ({one_line(exc)})")

    def _run_key(self, run_id: str) -> int:
        if run_id not in self._ids:
            rows = self._query("SELECT id FROM runs WHERE run_id = ?", (run_id,))
            if not rows:
                raise SessionError(f"{self.path}: no run {run_id!r} in this session")
            self._ids[run_id] = rows[0][0]
        return self._ids[run_id]

    def _forget_uncommitted(self) -> None:
        """Drop whatever a rolled-back transaction may have cached; writers that cache override it."""

    def _write(self, doing: str, work: Callable[[], None]) -> None:
        """Run `work` in one immediate transaction; any failure rolls back and is a SessionError."""
        if self.readonly:
            raise SessionError(f"{self.path}: opened read-only, cannot {doing}")
        try:
            if self._in_transaction:  # `transaction` commits or rolls back the whole
                work()
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                work()
                self._conn.execute("COMMIT")
            except BaseException:
                self._forget_uncommitted()
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError, ValueError, TypeError, KeyError) as exc:
            raise self._fail(exc, doing) from None

    @contextmanager
    def transaction(self, doing: str) -> Iterator[None]:
        """Several writes as one: all of them commit together or none does, so work stopped halfway
        (an import cancelled, its process killed) leaves no half run behind. Does not nest."""
        if self.readonly or self._in_transaction:
            why = "opened read-only" if self.readonly else "already in a transaction"
            raise SessionError(f"{self.path}: cannot {doing} ({why})")
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._fail(exc, doing) from None
        self._in_transaction = True
        try:
            yield
            self._conn.execute("COMMIT")
        except BaseException as exc:
            self._forget_uncommitted()
            self._ids.clear()  # may name rows the rollback takes back
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                raise self._fail(exc, doing) from None
            raise
        finally:
            self._in_transaction = False

    def _query(self, sql: str, args: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._conn.execute(sql, tuple(args)).fetchall()
        except sqlite3.Error as exc:
            raise self._fail(exc, "reading") from None
