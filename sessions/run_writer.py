"""Writing runs into a session while they stream: begin, append events in small transactions, finish.

Each run is stamped with the writing process (pid, host, start time), so a run whose writer
died reads as `interrupted`. Only JSON, SQL values and raw little-endian arrays are stored, so
opening someone else's session never runs code.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import psutil

from profilers.protocol import EVENT_FIELDS
from sessions.blob_store import EncodedArtifact, encode_artifact, insert_artifact
from sessions.run_tables import (
    EVENT_TABLES,
    STEP_COLUMNS,
    column,
    insert_step_block,
    json_text,
    read_step_arrays,
    step_ranks,
)
from sessions.schema import SessionError
from sessions.session_file import SessionFile

log = logging.getLogger("stepscope.sessions")

FINISHED = ("ok", "failed", "cancelled", "interrupted")  # interrupted: a remote worker's connection was lost


def _own_start_time() -> float | None:
    try:
        return psutil.Process().create_time()
    except psutil.Error:
        return None


class RunWriter(SessionFile):
    """The writing half of a session: one run at a time per call, each call one transaction."""

    def __init__(self, conn: sqlite3.Connection, path: Path, readonly: bool, file_version: int) -> None:
        super().__init__(conn, path, readonly, file_version)
        self._phase_codes: dict[str, int] = {}  # step_phases rows, cached for the step blocks

    def _forget_uncommitted(self) -> None:
        self._phase_codes = {}  # may hold a code the rollback takes back

    def begin_run(self, run_id: str, spec: dict[str, Any], kind: str = "run") -> None:
        """Add a run in status `running`, stamped with this process so a crash reads as interrupted."""
        now = time.time()

        def work() -> None:
            if self._conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone():
                raise ValueError(f"run {run_id!r} already exists")
            self._conn.execute(
                "INSERT INTO runs (run_id, kind, spec, environment, summary, status, started_at, updated_at, "
                "writer_pid, writer_host, writer_started) VALUES (?, ?, ?, '{}', '{}', 'running', ?, ?, ?, ?, ?)",
                (run_id, kind, json_text(spec), now, now, os.getpid(), socket.gethostname(), _own_start_time()))

        self._write(f"begin run {run_id}", work)

    def append_events(self, run_id: str, events: list[dict[str, Any]]) -> None:
        """Store raw protocol events in one transaction (an empty list just marks the writer alive).
        Events of unknown types or lacking a required field are skipped, so one can never block the rest."""
        run = self._run_key(run_id)
        known = [e for e in events if e.get("type") in EVENT_FIELDS and "t" in e and all(f in e for f in EVENT_FIELDS[e["type"]])]
        if len(known) < len(events):
            log.warning("%s: skipped %d malformed or unknown events of run %s", self.path, len(events) - len(known), run_id)
            events = known
        artifacts = [encode_artifact(e) for e in events if e.get("type") == "artifact"]
        self._write(f"record events of run {run_id}", lambda: self._store(run, events, artifacts))

    def _store(self, run: int, events: list[dict[str, Any]], artifacts: list[EncodedArtifact]) -> None:
        c = self._conn
        by_type: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            by_type.setdefault(event.get("type", ""), []).append(event)
        steps = by_type.get("step", [])
        if steps:
            self._store_steps(run, steps)
        for kind, (table, fields) in EVENT_TABLES.items():
            if kind in by_type:
                ranked = (*fields, "rank") if kind == "sample" else fields  # (v5) a rank's own processes; NULL: all
                c.executemany(f"INSERT INTO {table} (run, {', '.join(ranked)}) VALUES (?{', ?' * len(ranked)})",
                              [(run, *(e.get(f) for f in ranked)) for e in by_type[kind]])
        for hello in by_type.get("hello", []):
            self._store_hello(run, hello)
        for event in by_type.get("summary", []):
            c.execute("UPDATE runs SET summary = ? WHERE id = ?", (json_text(event["summary"]), run))
        for event in by_type.get("error", []):
            c.execute("UPDATE runs SET reason = ? WHERE id = ?", (event.get("message"), run))
        for artifact in artifacts:
            insert_artifact(c, run, artifact)
        counted = sum(1 for e in steps if not e.get("rank"))  # step_count: rank 0's, as RunReader.steps
        c.execute("UPDATE runs SET updated_at = ?, step_count = step_count + ? WHERE id = ?", (time.time(), counted, run))

    def _store_hello(self, run: int, hello: dict[str, Any]) -> None:
        """Rank 0's `hello` (a one-process run's) is the run's environment; another rank's adds its host and
        pid under the environment's `ranks`."""
        c = self._conn
        spec, environment_text = c.execute("SELECT spec, environment FROM runs WHERE id = ?", (run,)).fetchone()
        ranks = json.loads(environment_text).get("ranks") or {}
        rank = hello.get("rank") or 0
        if hello.get("rank") is not None:
            ranks[str(rank)] = {"hostname": hello.get("hostname"), "pid": hello.get("pid")}
        if rank:
            environment = {**json.loads(environment_text), "ranks": ranks}
            c.execute("UPDATE runs SET environment = ? WHERE id = ?", (json_text(environment), run))
            return
        environment = {k: v for k, v in hello.items() if k not in ("type", "t", "spec", "rank")}
        environment["variant"] = hello.get("spec", {}).get("variant")
        if ranks:
            environment["ranks"] = ranks
        c.execute("UPDATE runs SET environment = ?, spec = ? WHERE id = ?",
                  (json_text(environment), json_text({**json.loads(spec), **hello.get("spec", {})}), run))

    def _phase_code(self, name: str) -> int:
        if not self._phase_codes:
            self._phase_codes = {n: code for code, n in self._conn.execute("SELECT code, name FROM step_phases")}
        if name not in self._phase_codes:
            code = len(self._phase_codes)
            self._conn.execute("INSERT INTO step_phases VALUES (?, ?)", (code, name))
            self._phase_codes[name] = code
        return self._phase_codes[name]

    def _store_steps(self, run: int, steps: list[dict[str, Any]]) -> None:
        by_rank: dict[int, list[tuple[Any, ...]]] = {}
        for e in steps:
            by_rank.setdefault(e.get("rank") or 0, []).append(
                (e["index"], self._phase_code(e["phase"]), e["t"], e["step_ms"], e["samples_per_s"], e["loss"]))
        for rank, rows in by_rank.items():
            insert_step_block(self._conn, run, [column(rows, k, dtype) for k, dtype in enumerate(STEP_COLUMNS.values())],
                              rank)

    def finish_run(self, run_id: str, status: str, reason: str | None, summary: dict[str, Any], log: str) -> None:
        """Close a run: its outcome, headline figures and log; its step blocks merge into one (per rank)."""
        if status not in FINISHED:
            raise SessionError(f"{self.path}: a run cannot finish as {status!r} (one of {', '.join(FINISHED)})")
        run = self._run_key(run_id)

        def work() -> None:
            for rank in step_ranks(self._conn, run):
                blocks = self._conn.execute("SELECT COUNT(*) FROM step_blocks WHERE run = ? AND rank = ?",
                                            (run, rank)).fetchone()[0]
                if blocks > 1:
                    columns = read_step_arrays(self._conn, run, rank)
                    self._conn.execute("DELETE FROM step_blocks WHERE run = ? AND rank = ?", (run, rank))
                    insert_step_block(self._conn, run, list(columns.values()), rank)
            now = time.time()
            self._conn.execute("UPDATE runs SET status = ?, reason = ?, summary = ?, finished_at = ?, updated_at = ? "
                               "WHERE id = ?", (status, reason, json_text(summary), now, now, run))
            self._conn.execute("INSERT OR REPLACE INTO run_logs VALUES (?, ?)", (run, log))

        self._write(f"finish run {run_id}", work)

    def mark_ended(self, run_id: str, status: str, reason: str | None) -> None:
        """Only the outcome, in one small UPDATE: what still fits when the disk is full and
        `finish_run` (which merges step blocks and stores the log) could not be written."""
        run = self._run_key(run_id)

        def work() -> None:
            now = time.time()
            self._conn.execute("UPDATE runs SET status = ?, reason = ?, finished_at = ?, updated_at = ? WHERE id = ?",
                               (status, reason, now, now, run))

        self._write(f"mark run {run_id} {status}", work)

    def mark_interrupted(self, run_ids: list[str], reason: str) -> None:
        """Store `interrupted` for runs whose writer died while they were `running` (a repair), so
        the file says so on every host at once instead of after run_reader.STALE_AFTER_S."""
        def work() -> None:
            now = time.time()
            for run_id in run_ids:
                self._conn.execute("UPDATE runs SET status = 'interrupted', reason = COALESCE(reason, ?), "
                                   "finished_at = COALESCE(finished_at, updated_at), updated_at = ? "
                                   "WHERE run_id = ? AND status = 'running'", (reason, now, run_id))

        self._write("mark interrupted runs", work)
