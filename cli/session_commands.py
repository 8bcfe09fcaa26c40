"""The session commands of main.py: report, compare, export, sessions (and `sessions --repair`).

Each returns an exit code (0 fine, 2 unreadable file or bad argument) and never lets a
SessionError become a traceback: the message names the file and the problem in one line.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, NotRequired, TypedDict

from rich.console import Console
from rich.table import Table

from sessions.compare import METRICS, RunComparison, compare_runs, load_runs
from sessions.export import export_run
from sessions.formatting import format_value, run_heading
from sessions.headline import headline
from sessions.store import Session, SessionError, default_session_path, list_sessions

EXIT_OK, EXIT_USAGE = 0, 2


class RunListing(TypedDict):
    """One run in `sessions --json`."""

    run_id: str
    framework: str | None
    workload: str | None
    status: str
    started_at: float


class SessionListing(TypedDict):
    """One session file in `sessions --json`: its runs, or why it could not be read."""

    path: str
    runs: NotRequired[list[RunListing]]
    needs_repair: NotRequired[bool]  # runs whose writer died: `sessions --repair` makes the file self-contained
    error: NotRequired[str]


def _console() -> Console:
    """Tables are wide: when stdout is not a terminal, do not wrap them at 80 columns."""
    return Console() if sys.stdout.isatty() else Console(width=220)


def _error(command: str, exc: Exception) -> int:
    print(f"stepscope {command}: {exc}", file=sys.stderr)
    return EXIT_USAGE


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def report_rows(path: Path) -> list[dict[str, Any]]:
    with Session.open_readonly(path) as session:
        return [headline(record, session.steps(record.run_id)) for record in session.runs()]


def report_command(path: Path, as_json: bool) -> int:
    try:
        rows = report_rows(path)
    except SessionError as exc:
        return _error("report", exc)
    if as_json:
        print(json.dumps(_json_safe(rows), indent=2))
        return EXIT_OK
    table = Table(title=str(path))
    columns = [("run_id", "run"), ("framework", "framework"), ("workload", "workload"), ("batch_size", "batch"),
               ("status", "status"), ("steps", "steps"), ("step_ms_median", "median ms"), ("step_ms_p95", "p95 ms"),
               ("samples_per_s", "samples/s"), ("compile_ms", "compile ms"), ("peak_host_mb", "host MB"),
               ("peak_device_mb", "device MB"), ("final_loss", "loss"), ("accuracy", "acc.")]
    for key, title in columns:
        text = key in ("run_id", "framework", "workload", "status")
        table.add_column(title, no_wrap=key == "run_id", justify="left" if text else "right")
    for row in rows:
        shown = dict(row, framework=f"{row['framework'] or '—'} {row['variant'] or ''}".strip(),
                     workload=f"{row['workload']} {row['mode'] or ''}".strip())
        table.add_row(*[format_value(shown[key], 3 if key in ("final_loss", "accuracy") else 1) for key, _ in columns])
    console = _console()
    console.print(table)
    for row in rows:
        if row["reason"]:
            console.print(f"[yellow]{row['run_id']}[/yellow] {row['status']}: {row['reason']}")
    if any(row["status"] == "interrupted" for row in rows):
        _offer_repair(path, console)
    return EXIT_OK


def _offer_repair(path: Path, console: Console) -> None:
    """After a crash the interrupted run's last steps may live only in the `-wal` beside the file."""
    try:
        with Session.open_readonly(path) as session:
            orphaned = session.orphaned_runs()
    except SessionError:
        return
    if orphaned:
        console.print(f"[yellow]{len(orphaned)} run(s) lost their writer; before copying this file run:[/yellow] "
                      f"stepscope sessions --repair {path}", soft_wrap=True)


def ops_command(path: Path, run_id: str, as_json: bool, by: str = "self", limit: int = 20) -> int:
    """The top ops of a run's trace window, and what that trace does and does not contain."""
    from sessions.traces import load_trace
    from traces.analysis import top_ops

    try:
        with Session.open_readonly(path) as session:
            table, description = load_trace(session, run_id)
    except SessionError as exc:
        return _error("report", exc)
    kinds = ("framework_op", "hlo_op", "kernel")
    rows = top_ops(table, by=by, category=kinds, limit=limit)
    if as_json:
        print(json.dumps({"run_id": run_id, "events": len(table), "source": description,
                          "ops": [{"name": r.name, "kind": str(r.kind), "count": r.count, "self_ms": r.self_ns / 1e6,
                                   "total_ms": r.total_ns / 1e6, "mean_ms": r.mean_ns / 1e6, "percent": r.percent}
                                  for r in rows]}, indent=2))
        return EXIT_OK
    console = _console()
    console.print(f"[bold]{run_id}[/bold]: {description}")
    if not rows:
        console.print("This trace has no framework-op, HLO-op or kernel events, so there is no per-op table: "
                      "the time is in the runtime/executor events listed above.")
        return EXIT_OK
    table_view = Table(title=f"Top {len(rows)} ops by {by} time (framework ops, HLO ops, kernels)")
    for title in ("op", "kind", "count", "self ms", "total ms", "mean ms", "% of self"):
        table_view.add_column(title, justify="left" if title in ("op", "kind") else "right", overflow="fold")
    for r in rows:
        kind = getattr(r.kind, "name", str(r.kind)).lower()
        table_view.add_row(r.name, kind, f"{r.count:,}", f"{r.self_ns / 1e6:,.3f}", f"{r.total_ns / 1e6:,.3f}",
                           f"{r.mean_ns / 1e6:,.4f}", f"{r.percent:.1f}")
    console.print(table_view)
    return EXIT_OK


def families_command(path: Path, run_id: str, as_json: bool) -> int:
    """A run's op time by family (traces.family_breakdown), per step, with each family's top ops."""
    from sessions.trace_hlo import run_hlo_index
    from sessions.traces import load_trace
    from traces.family_breakdown import family_breakdown

    try:
        with Session.open_readonly(path) as session:
            table, description = load_trace(session, run_id)
            hlo, problem = run_hlo_index(session, run_id)
    except SessionError as exc:
        return _error("report", exc)
    result = family_breakdown(table, hlo=hlo)
    notes = [*result.notes, *([problem] if problem else [])]
    if as_json:
        print(json.dumps(_json_safe({"run_id": run_id, "source": description, **result.to_dict(), "notes": notes}), indent=2))
        return EXIT_OK
    console = _console()
    steps = len(result.steps)
    window = f"{steps} step{'s' if steps != 1 else ''}, {sum(result.step_ns) / 1e6:,.2f} ms of wall time" if steps \
        else "the whole trace (no step markers)"
    console.print(f"[bold]{run_id}[/bold]: self time of {result.basis}; {window}; "
                  f"{result.total_ns / 1e6:,.2f} ms of op time", soft_wrap=True)
    if not result.total_ns:
        console.print("No op events in the step windows: this trace holds no framework ops, XLA ops or kernels to sort.")
        return EXIT_OK
    view = Table(title="Op time by family (self time; share of all op time)")
    for title in ("family", "ms", "ms / step", "share", "ops", "top ops (ms)"):
        view.add_column(title, justify="left" if title in ("family", "top ops (ms)") else "right", overflow="fold")
    for row in result.rows:
        if not row.count:
            continue
        tops = ", ".join(f"{op.name} ({op.self_ns / 1e6:,.2f})" for op in row.top_ops[:3])
        view.add_row(row.family, f"{row.self_ns / 1e6:,.2f}", f"{row.self_ns / 1e6 / steps:,.2f}" if steps else "—",
                     f"{100 * row.share:.1f} %", f"{row.count:,}", tops)
    console.print(view)
    for note in notes:
        console.print(f"Note: {note}.", soft_wrap=True)
    return EXIT_OK


def write_compare_reports(result: RunComparison, html: Path | None, markdown: Path | None) -> None:
    """The --html / --markdown documents, with op diffs of every traced row against the baseline
    (a group of repeats by its first run's trace)."""
    from sessions.compare_report import build_report, op_diffs_against_baseline, write_report

    diffs = op_diffs_against_baseline([row.source for row in result.runs], [row.label for row in result.runs])
    report = build_report(result, diffs)
    for path, fmt in ((html, "html"), (markdown, "markdown")):
        if path is not None:
            print(f"wrote {write_report(path, report, fmt)}", file=sys.stderr)


def compare_command(refs: list[str], as_json: bool, html: Path | None = None, markdown: Path | None = None) -> int:
    try:
        runs = load_runs(refs)
    except SessionError as exc:
        return _error("compare", exc)
    if len(runs) < 2:
        return _error("compare", SessionError("name at least two runs (a session with several runs, or FILE:RUN_ID ...)"))
    result = compare_runs(runs)
    if html is not None or markdown is not None:
        try:
            write_compare_reports(result, html, markdown)
        except SessionError as exc:
            return _error("compare", exc)
    if as_json:
        print(json.dumps(_json_safe(result.to_dict()), indent=2, default=str))
        return EXIT_OK
    from sessions.compare_report import repeats_text

    console = _console()
    rows = result.runs
    table = Table(title=f"Compared with {rows[0].label}")
    table.add_column("metric")
    for row in rows:
        table.add_column(f"{run_heading(row.record)}\n{row.label}", overflow="fold")
    if any(row.run_count > 1 for row in rows):
        table.add_row("runs pooled (median step time, run-first CI)", *[repeats_text(row.record) for row in rows])
    for key, title, better in METRICS:
        cells = []
        for i, (run, delta) in enumerate(zip(rows, result.deltas(key), strict=True)):
            value = format_value(run.record.get(key), 3 if key in ("final_loss", "accuracy") else 2)
            if delta is not None and i:
                good = (delta < 0) == (better == "lower")
                value += f" [{'green' if good else 'red'}]({delta:+.1f} %)[/]"
            cells.append(value)
        table.add_row(title, *cells)
    table.add_row("step time vs baseline (95 % CI)", "baseline",
                  *[("—" if c is None else c.describe()) for c in result.step_time[1:]])
    console.print(table)
    differences = result.environment_differences()
    if differences:
        env = Table(title="Environment differences")
        env.add_column("field")
        for row in rows:
            env.add_column(row.label, overflow="fold")
        for key, values in differences.items():
            env.add_row(key, *[format_value(v) for v in values])
        console.print(env)
    else:
        console.print("Environments: identical in every recorded field.")
    return EXIT_OK


def export_command(path: Path, run_id: str, fmt: str, out: Path) -> int:
    try:
        written = export_run(path, run_id, fmt, out)
    except (SessionError, OSError) as exc:
        return _error("export", exc)
    for file in written:
        print(file)
    return EXIT_OK


def sessions_command(directory: Path | None, as_json: bool) -> int:
    directory = directory or default_session_path().parent
    listing: list[SessionListing] = []
    for path in list_sessions(directory):
        try:
            with Session.open_readonly(path) as session:
                # A program's spec names no framework (workloads.program): its environment does.
                runs = [RunListing(run_id=r.run_id, framework=(r.spec or {}).get("framework")
                                   or (r.environment or {}).get("framework") or (r.summary or {}).get("framework"),
                                   workload=(r.spec or {}).get("workload"), status=r.status, started_at=r.started_at)
                        for r in session.runs()]
                orphaned = bool(session.orphaned_runs())
            listing.append({"path": str(path), "runs": runs, "needs_repair": orphaned})
        except SessionError as exc:
            listing.append({"path": str(path), "error": str(exc)})
    if as_json:
        print(json.dumps(listing, indent=2, default=str))
        return EXIT_OK
    console = _console()
    if not listing:
        console.print(f"No sessions in {directory}")
    for entry in listing:
        if "error" in entry:
            console.print(f"[red]{entry['path']}[/red]: {entry['error']}")
            continue
        console.print(f"[bold]{entry['path']}[/bold] — {len(entry['runs'])} run(s)")
        for run in entry["runs"]:
            console.print(f"  {run['run_id']}  {run['framework'] or '—':<6} {run['workload'] or '—':<12} {run['status']}")
        if entry.get("needs_repair"):
            console.print(f"  [yellow]a run's writer died; before copying this file run:[/yellow] "
                          f"stepscope sessions --repair {entry['path']}", soft_wrap=True)
    return EXIT_OK


def repair_command(path: Path, as_json: bool) -> int:
    """Exit 0 when the file alone now holds every run; 1 when another process kept part of its
    WAL (a live writer or reader: repair again once it is closed); 2 when it is not a session."""
    from sessions.repair import repair_session

    try:
        done = repair_session(path)
    except SessionError as exc:
        return _error("sessions --repair", exc)
    if as_json:
        print(json.dumps({"path": str(done.path), "runs": done.runs, "interrupted": done.interrupted,
                          "self_contained": done.self_contained}, indent=2))
    else:
        marked = f"; marked interrupted: {', '.join(done.interrupted)}" if done.interrupted else ""
        print(f"{done.path}: {done.runs} run(s){marked}")
        print("the file alone now holds every run" if done.self_contained else
              "another process still has this session open, so part of it stays in the -wal file; "
              "close it and repair again")
    return EXIT_OK if done.self_contained else 1
