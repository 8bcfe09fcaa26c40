"""A multi-rank run's trace windows in the session (docs/programs.md, "Multi-rank programs"): each
window is ONE table, every rank's rows a group of their own ("rank N: ..."), on one clock.

Per-rank Chrome traces (PyTorch) are read by `traces.rank_reader`, as an imported directory of
rank files is, aligned by each trace's `baseTimeNanoseconds`; their `distributedInfo` (which
HolisticTraceAnalysis needs) stays in the stored artifacts untouched. Per-rank XPlanes (JAX) carry
no absolute time base: each rank's table moves onto the controller's clock by the end of a traced
step, which both its trace (the step marker) and its `step` events (`t`) record.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from profilers.artifact_checks import artifact_problem
from profilers.hooks import Artifact
from sessions.blob_store import TraceWindow
from sessions.store import Session
from traces.rank_merge import merge_rank_tables
from traces.rank_reader import RankFile, file_rank, read_ranks
from traces.readers import read_trace
from traces.table import EventTable, Limits, TraceError, table_to_blobs


def ranked_windows(events: list[dict[str, Any]]) -> list[tuple[TraceWindow, dict[int, list[Artifact]]]]:
    """The run's trace windows, each with every rank's artifacts, labelled by rank 0's `capture`
    event of that window (or the lowest rank's that sent one)."""
    captures: dict[int, dict[str, Any]] = {}
    for event in sorted((e for e in events if e.get("type") == "capture"), key=lambda e: -int(e.get("rank") or 0)):
        captures[int(event["window"])] = event
    grouped: dict[int, dict[int, list[Artifact]]] = {}
    for event in events:
        if event.get("type") == "artifact":
            by_rank = grouped.setdefault(int(event.get("window") or 0), {})
            by_rank.setdefault(int(event.get("rank") or 0), []).append(Artifact(event["kind"], Path(event["path"])))
    windows = []
    for number in sorted(grouped):
        capture = captures.get(number, {})
        windows.append((TraceWindow(number, str(capture.get("label") or ""), capture.get("first_step"),
                                    capture.get("last_step"), 0), grouped[number]))
    return windows


def ingest_rank_window(session_path: Path, run_id: str, framework: str | None, window: TraceWindow,
                       by_rank: dict[int, list[Artifact]], events: list[dict[str, Any]]) -> EventTable:
    """Read each rank's preferred whole artifact, merge them and store the table as `window`;
    TraceError (one line, naming the ranks' problems) when no rank left a readable one."""
    from sessions.traces import pick_artifact
    from traces.analysis import describe_source

    picked: dict[int, Artifact] = {}
    problems = []
    for rank, artifacts in sorted(by_rank.items()):
        candidates = list(artifacts)
        while (artifact := pick_artifact(framework, candidates)) is not None:
            candidates.remove(artifact)
            problem = artifact_problem(artifact.kind, artifact.path)
            if not problem:
                picked[rank] = artifact
                break
            problems.append(f"rank {rank}: {problem}")
    if not picked:
        raise TraceError(f"run {run_id}", "; ".join(problems) or "no rank has a trace artifact")
    table = merged_table(picked, events, framework)
    if not len(table):
        raise TraceError(f"run {run_id}", "the ranks' traces hold no events")
    description = describe_source(table)
    source = str(Path(picked[min(picked)].path).parent)
    with Session.create_or_open(session_path) as session:
        session.store_trace(run_id, table_to_blobs(table), len(table), description, source,
                            replace(window, events=len(table)))
    return table


def merged_table(picked: dict[int, Artifact], events: list[dict[str, Any]], framework: str | None) -> EventTable:
    """One table of the ranks' artifacts: Chrome traces through rank_reader, anything else merged."""
    if len(picked) > 1 and all(a.kind == "chrome-trace" for a in picked.values()):
        files = []
        for rank, artifact in sorted(picked.items()):
            said = file_rank(artifact.path)
            files.append(said if said is not None and said.rank == rank else RankFile(rank, artifact.path, "stepscope"))
        return read_ranks(files, Limits(), framework)
    tables = {rank: read_trace(artifact.path, framework=framework) for rank, artifact in picked.items()}
    offsets = {rank: step_offset_ns(table, events, rank) for rank, table in tables.items()}
    known = [o for o in offsets.values() if o is not None]
    note = ", aligned by a traced step's end on the controller's clock" if len(known) == len(offsets) else \
        "; not every rank's trace shares a step with its step events, so those ranks' times are as written"
    base = min(known) if known else 0
    return merge_rank_tables(tables, {r: (o - base if o is not None else 0) for r, o in offsets.items()}, note)


def step_offset_ns(table: EventTable, events: list[dict[str, Any]], rank: int) -> int | None:
    """What moves `rank`'s trace onto the controller's clock: the ns from the trace's end of a step to
    the same step's end in the rank's `step` events (the first step both hold); None without one."""
    from traces.analysis import step_windows

    numbers, _, ends = step_windows(table)
    if not len(numbers):
        return None
    ended = {e["index"]: e["t"] for e in events if e.get("type") == "step" and int(e.get("rank") or 0) == rank}
    for number, end in zip(numbers.tolist(), ends.tolist(), strict=True):
        if number in ended:
            return round(float(ended[number]) * 1e9) - int(end)
    return None


def ingest_ranked(session_path: Path, run_id: str, framework: str | None,
                  events: list[dict[str, Any]]) -> tuple[int | None, str | None]:
    """`sessions.traces.ingest_result` for a run whose artifacts carry ranks: every window merged."""
    from sessions.store import SessionError

    count: int | None = None
    problems = []
    for window, by_rank in ranked_windows(events):
        try:
            table = ingest_rank_window(session_path, run_id, framework, window, by_rank, events)
        except (TraceError, SessionError, OSError) as exc:
            problems.append(str(exc) if window.window == 0 else f"{window.title}: {exc}")
            continue
        count = len(table) if count is None else count
    return count, "; ".join(problems) or None
