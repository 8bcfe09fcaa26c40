"""A run's large binary content in the session: the profiler's artifact files and the parsed trace.

Artifacts are stored in independently compressed chunks (so no file has to fit in one SQLite
value) and read back checked against their size and SHA-256. Compression happens before the
write lock is taken, so a big trace never holds up other writers.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sessions.run_tables import json_text
from sessions.schema import SessionError
from sessions.session_file import SessionFile

CHUNK_BYTES = 4 << 20  # artifacts are stored in independently compressed chunks of this size


@dataclass(frozen=True)
class ArtifactRecord:
    name: str
    kind: str
    size: int  # bytes of the original file
    stored_size: int  # bytes inside the session
    codec: str
    source_path: str
    window: int | None = None  # the trace window it belongs to (docs/capture.md); None before schema v4


@dataclass(frozen=True)
class TraceWindow:
    """One stored trace window of a run: 0 the run's planned window, 1, 2, ... captures on demand."""

    window: int
    label: str  # "steps 120–129", "12.0–14.0 s"; "" for a trace stored before windows had labels
    first_step: int | None
    last_step: int | None
    events: int

    @property
    def title(self) -> str:
        return self.label or "trace window"


@dataclass(frozen=True)
class EncodedArtifact:
    """An artifact file read and compressed, ready to insert (codec `missing`: the file was gone)."""

    name: str
    kind: str
    source_path: str
    t: float | None
    size: int
    stored_size: int
    codec: str  # zlib | raw | missing
    sha256: str | None
    chunks: list[bytes] = field(default_factory=list)
    window: int | None = None


def encode_artifact(event: dict[str, Any]) -> EncodedArtifact:
    """Read and compress the file an `artifact` event names; done before the write lock is taken."""
    path = Path(event["path"])
    window = event.get("window") if isinstance(event.get("window"), int) else None
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
        return EncodedArtifact(path.name, event.get("kind", ""), str(path), event.get("t"), event.get("bytes", 0), 0,
                               "missing", None, window=window)
    stored = sum(len(c) for c in chunks)
    return EncodedArtifact(path.name, event.get("kind", ""), str(path), event.get("t"), size, stored, codec,
                           digest.hexdigest(), chunks, window)


def insert_artifact(conn: sqlite3.Connection, run: int, artifact: EncodedArtifact) -> None:
    """Store one artifact of `run`, numbering its name (`2-name`) if the run already has one so named."""
    name, taken = artifact.name, {r[0] for r in conn.execute("SELECT name FROM artifacts WHERE run = ?", (run,))}
    number = 1
    while name in taken:
        number += 1
        name = f"{number}-{artifact.name}"
    cur = conn.execute("INSERT INTO artifacts (run, name, kind, source_path, t, size, stored_size, codec, sha256, "
                       "window_index) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       (run, name, artifact.kind, artifact.source_path, artifact.t, artifact.size, artifact.stored_size,
                        artifact.codec, artifact.sha256, artifact.window))
    conn.executemany("INSERT INTO artifact_chunks VALUES (?, ?, ?)",
                     [(cur.lastrowid, seq, data) for seq, data in enumerate(artifact.chunks)])


class BlobStore(SessionFile):
    """Reading artifacts back, and keeping or reading a run's parsed trace."""

    def artifacts(self, run_id: str) -> list[ArtifactRecord]:
        rows = self._query("SELECT name, kind, size, stored_size, codec, source_path, window_index FROM artifacts WHERE run = ? "
                           "ORDER BY id", (self._run_key(run_id),))
        return [ArtifactRecord(*r) for r in rows]

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

    def store_trace(self, run_id: str, blobs: dict[str, bytes], events: int, description: str, source: str | None,
                    window: TraceWindow | None = None) -> None:
        """Keep one parsed trace window of a run (replacing an earlier one of that number; default:
        window 0, unlabelled). The summary's `trace_events` is its first window's event count."""
        run = self._run_key(run_id)
        window = window or TraceWindow(0, "", None, None, events)

        def work() -> None:
            key = (run, window.window)
            self._conn.execute("DELETE FROM trace_blobs WHERE run = ? AND window_index = ?", key)
            self._conn.execute("INSERT OR REPLACE INTO traces VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               (*key, window.label, window.first_step, window.last_step, events, description, source))
            self._conn.executemany("INSERT INTO trace_blobs VALUES (?, ?, ?, ?)", [(*key, k, v) for k, v in blobs.items()])
            first = self._conn.execute("SELECT events FROM traces WHERE run = ? ORDER BY window_index LIMIT 1", (run,))
            summary = json.loads(self._conn.execute("SELECT summary FROM runs WHERE id = ?", (run,)).fetchone()[0])
            summary["trace_events"] = first.fetchone()[0]
            self._conn.execute("UPDATE runs SET summary = ? WHERE id = ?", (json_text(summary), run))

        self._write(f"store the trace of run {run_id}", work)

    def trace_windows(self, run_id: str) -> list[TraceWindow]:
        """The run's stored trace windows, in window order (empty: no parsed trace)."""
        rows = self._query("SELECT window_index, label, first_step, last_step, events FROM traces WHERE run = ? "
                           "ORDER BY window_index", (self._run_key(run_id),))
        return [TraceWindow(*r) for r in rows]

    def trace(self, run_id: str, window: int | None = None) -> tuple[dict[str, bytes], int, str] | None:
        """A run's stored trace blobs, event count and description (of `window`; None: its first
        stored window), or None if it has none."""
        run = self._run_key(run_id)
        info = self._query("SELECT window_index, events, description FROM traces WHERE run = ? "
                           "AND (? IS NULL OR window_index = ?) ORDER BY window_index LIMIT 1", (run, window, window))
        if not info:
            return None
        number, events, description = info[0]
        blobs = dict(self._query("SELECT name, data FROM trace_blobs WHERE run = ? AND window_index = ?", (run, number)))
        return blobs, events, description
