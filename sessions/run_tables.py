"""How a run's events lie in the session's tables, shared by the run writer and reader.

Steps are kept as blocks of column arrays (one row per flush, merged into one row when the run
finishes) because reading a million narrow rows through sqlite3 takes seconds; samples, phases,
compiles and evals are few and stay one row each. Spec, environment and summary are JSON text.
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any

import numpy as np

STEP_COLUMNS = {"index": "<i8", "phase": "u1", "t": "<f8", "step_ms": "<f8", "samples_per_s": "<f8", "loss": "<f8"}
SAMPLE_TEXTS = ("device_memory_source", "gpu_util_source")
EVENT_TABLES = {  # event type -> the table holding one row per event, and its columns after `run`
    "sample": ("samples", ("t", "host_rss", "cpu_percent", "device_in_use", "device_peak", "device_memory_source",
                           "gpu_util", "gpu_mem_used", "gpu_util_source", "others_cpu")),  # others_cpu: v6
    "phase": ("phases", ("t", "name", "edge")),
    "compile": ("compiles", ("t", "ms", "what")),
    "eval": ("evals", ("t", "accuracy", "macro_f1", "loss", "samples")),
}


def json_text(value: Any) -> str:
    """Compact JSON for the spec/environment/summary columns; numpy scalars become numbers."""
    def fallback(obj: Any) -> Any:
        return obj.item() if isinstance(obj, np.generic) else str(obj)

    return json.dumps(value, separators=(",", ":"), default=fallback)


def column(rows: list[tuple[Any, ...]], k: int, dtype: str) -> np.ndarray:
    """The k-th field of every row as one array."""
    return np.array([r[k] for r in rows], dtype=dtype)


def insert_step_block(conn: sqlite3.Connection, run: int, arrays: list[np.ndarray], rank: int = 0) -> None:
    """Append one block of step columns (in STEP_COLUMNS order) after the run's (rank's) last block."""
    block = conn.execute("SELECT COALESCE(MAX(block) + 1, 0) FROM step_blocks WHERE run = ? AND rank = ?",
                         (run, rank)).fetchone()[0]
    conn.execute("INSERT INTO step_blocks (run, rank, block, n, idx, phase, t, step_ms, samples_per_s, loss) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (run, rank, block, len(arrays[0]), *(a.tobytes() for a in arrays)))


def step_ranks(conn: sqlite3.Connection, run: int) -> list[int]:
    """The ranks a run has steps of, in order ([0] for a one-process run with steps)."""
    return [r[0] for r in conn.execute("SELECT DISTINCT rank FROM step_blocks WHERE run = ? ORDER BY rank", (run,))]


def read_step_arrays(conn: sqlite3.Connection, run: int, rank: int = 0) -> dict[str, np.ndarray]:
    """All of a run's (rank's) step blocks, concatenated per column; ValueError when a block is damaged."""
    rows = conn.execute("SELECT n, idx, phase, t, step_ms, samples_per_s, loss FROM step_blocks "
                        "WHERE run = ? AND rank = ? ORDER BY block", (run, rank)).fetchall()
    out = {}
    for k, (name, dtype) in enumerate(STEP_COLUMNS.items(), start=1):
        parts = [np.frombuffer(r[k], dtype) for r in rows]
        if any(len(p) != r[0] for p, r in zip(parts, rows, strict=True)):
            raise ValueError(f"step column {name} has the wrong length")
        out[name] = np.concatenate(parts) if parts else np.empty(0, dtype)
    return out
