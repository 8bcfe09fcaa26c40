"""Reading runs back from a session: their records, step columns, telemetry, events and log.

A run still marked `running` reads as `interrupted` once the process that was writing it is
gone (or, for another host, once it has been silent for STALE_AFTER_S).
"""
from __future__ import annotations

import json
import socket
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import psutil

from sessions.run_tables import EVENT_TABLES, SAMPLE_TEXTS, column, read_step_arrays, step_ranks
from sessions.session_file import SessionFile

STALE_AFTER_S = 60.0  # a run written from another host reads as interrupted after this silence


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


class RunReader(SessionFile):
    """The reading half of a session; every read is one query on this thread's connection."""

    def runs(self) -> list[RunRecord]:
        """Every run in the order it began; a `running` run whose writer is gone reads `interrupted`."""
        return self._records("")

    def orphaned_runs(self) -> list[str]:
        """Runs still stored `running` whose writer is gone (a crash, a kill): until a repair
        (`sessions --repair`, sessions.repair) their last steps may live only in the `-wal` file
        beside this one, which a copy of the file alone lacks."""
        return [r.run_id for r in self._records("WHERE status = 'running'") if r.status == "interrupted"]

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

    def steps(self, run_id: str) -> dict[str, np.ndarray]:
        """Columns index, phase (str), t, step_ms, samples_per_s, loss (NaN where none was reported);
        of a multi-rank run, rank 0's (`rank_steps` has every rank's)."""
        return self._rank_steps(run_id, self._run_key(run_id), 0)

    def rank_steps(self, run_id: str) -> dict[int, dict[str, np.ndarray]]:
        """Every rank's steps, rank -> the columns `steps` gives ({0: steps} for a one-process run)."""
        run = self._run_key(run_id)
        try:
            ranks = step_ranks(self._conn, run) or [0]
        except sqlite3.Error as exc:
            raise self._fail(exc, f"reading the ranks of run {run_id}") from None
        return {rank: self._rank_steps(run_id, run, rank) for rank in ranks}

    def _rank_steps(self, run_id: str, run: int, rank: int) -> dict[str, np.ndarray]:
        try:
            columns = read_step_arrays(self._conn, run, rank)
            names = np.array([n for _, n in sorted(self._conn.execute("SELECT code, name FROM step_phases"))] or [""])
            columns["phase"] = names[columns["phase"]]
        except (sqlite3.Error, ValueError, IndexError) as exc:
            raise self._fail(exc, f"reading the steps of run {run_id}") from None
        return columns

    def _rows(self, kind: str, run_id: str, where: str = "") -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
        table, fields = EVENT_TABLES[kind]
        return fields, self._query(f"SELECT {', '.join(fields)} FROM {table} WHERE run = ?{where} ORDER BY rowid",
                                   (self._run_key(run_id),))

    def _dicts(self, kind: str, run_id: str) -> list[dict[str, Any]]:
        fields, rows = self._rows(kind, run_id)
        return [dict(zip(fields, r, strict=True)) for r in rows]  # each row selected exactly `fields`

    def samples(self, run_id: str) -> dict[str, np.ndarray]:
        """Telemetry columns in float64 (NaN where not reported); the two `*_source` columns as str.
        The whole program's (of a multi-rank run too: `rank_samples` has each rank's processes)."""
        return _sample_columns(*self._rows("sample", run_id, " AND rank IS NULL"))

    def rank_samples(self, run_id: str) -> dict[int, dict[str, np.ndarray]]:
        """Each rank's samples (its own process tree), rank -> the columns `samples` gives; a run
        without ranked samples (one process) is {0: samples}."""
        ranks = [r[0] for r in self._query("SELECT DISTINCT rank FROM samples WHERE run = ? AND rank IS NOT NULL "
                                            "ORDER BY rank", (self._run_key(run_id),))]
        if not ranks:
            return {0: self.samples(run_id)}
        return {rank: _sample_columns(*self._rows("sample", run_id, f" AND rank = {int(rank)}")) for rank in ranks}

    def evals(self, run_id: str) -> list[dict[str, Any]]:
        """Eval events as dicts (t, accuracy, macro_f1, loss, samples); usually one per run."""
        return self._dicts("eval", run_id)

    def compiles(self, run_id: str) -> list[dict[str, Any]]:
        """Compile events as dicts (t, ms, what)."""
        return self._dicts("compile", run_id)

    def phases(self, run_id: str) -> list[dict[str, Any]]:
        """Phase edges as dicts (t, name, edge) in stream order."""
        return self._dicts("phase", run_id)

    def log(self, run_id: str) -> str:
        """The worker's stderr; empty until the run finishes."""
        rows = self._query("SELECT text FROM run_logs WHERE run = ?", (self._run_key(run_id),))
        return rows[0][0] if rows else ""


def _sample_columns(fields: tuple[str, ...], rows: list[tuple[Any, ...]]) -> dict[str, np.ndarray]:
    return {name: np.array([r[k] or "" for r in rows], dtype=str) if name in SAMPLE_TEXTS else column(rows, k, "<f8")
            for k, name in enumerate(fields)}
