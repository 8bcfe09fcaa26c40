"""The ranks of a multi-rank run on the terminal (docs/programs.md, "Multi-rank programs"): each
rank's step figures and the straggler table (`sessions.stragglers`), printed at the end of a
multi-rank `run -- COMMAND` and by `report FILE --ranks RUN_ID`.
"""
from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sessions.formatting import format_value
from sessions.headline import measured_step_ms
from sessions.stats import step_stats
from sessions.store import Session, SessionError
from sessions.traces import load_trace
from traces.table import EventTable

EXIT_OK, EXIT_USAGE = 0, 2


def rank_rows(session: Session, run_id: str) -> list[dict[str, Any]]:
    """One row per rank: its host and pid (from its `hello`), measured steps, median and p95 step time."""
    environment = session.run(run_id).environment or {}
    hosts = environment.get("ranks") or {}
    rows = []
    for rank, steps in session.rank_steps(run_id).items():
        stats = step_stats(measured_step_ms(steps))
        said = hosts.get(str(rank)) or {}
        rows.append({"rank": rank, "host": said.get("hostname"), "pid": said.get("pid"), "steps": stats.n,
                     "step_ms_median": stats.median, "step_ms_p95": stats.p95})
    return rows


def _trace(session: Session, run_id: str) -> EventTable | None:
    if session.trace(run_id) is None:
        return None
    try:
        return load_trace(session, run_id)[0]
    except SessionError:
        return None


def straggler_text(session: Session, run_id: str, limit: int = 20) -> tuple[str | None, Any]:
    """The straggler table as text, and the table itself; (None, None) where sessions.stragglers is missing."""
    try:
        from sessions.stragglers import format_table, straggler_table
    except ImportError:
        return None, None
    table = straggler_table(session.rank_steps(run_id), _trace(session, run_id))
    return format_table(table, limit=limit), table


def print_ranks(session: Session, run_id: str, console: Console, limit: int = 20) -> None:
    """The ranks' table and the straggler table of a multi-rank run."""
    table = Table(title=f"run {run_id}: ranks")
    for title in ("rank", "host", "pid", "steps", "median ms", "p95 ms"):
        table.add_column(title, justify="left" if title == "host" else "right")
    for row in rank_rows(session, run_id):
        table.add_row(*(format_value(row[k], 1) for k in ("rank", "host", "pid", "steps", "step_ms_median", "step_ms_p95")))
    console.print(table)
    text, _ = straggler_text(session, run_id, limit)
    if text is None:
        console.print("[yellow]no straggler table: sessions/stragglers.py is not there[/yellow]")
    else:
        console.print(escape(text), soft_wrap=True)


def rank_report_command(path: Path, run_id: str, as_json: bool, limit: int) -> int:
    """`report FILE --ranks RUN_ID`."""
    try:
        with Session.open_readonly(path) as session:
            record = session.run(run_id)
            if as_json:
                _, stragglers = straggler_text(session, run_id, limit)
                print(json.dumps(_plain({"run_id": run_id, "ranks": record.summary.get("ranks", 1),
                                         "per_rank": rank_rows(session, run_id),
                                         "stragglers": dataclasses.asdict(stragglers) if stragglers is not None else None}),
                                 indent=2))
                return EXIT_OK
            print_ranks(session, run_id, Console(), limit)
    except (SessionError, KeyError, IndexError) as exc:
        print(f"stepscope report: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _plain(value: Any) -> Any:
    """JSON-ready: numpy arrays and scalars as lists and numbers, NaN as null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value
