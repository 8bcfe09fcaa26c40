"""`python main.py run`: one workload headless, with a progress bar and a summary table.

Output: the progress bar and table go to stderr when --json is given, so stdout carries
exactly one JSON object (the `report --json` fields, docs/architecture.md) that scripts can parse.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from cli.ctrl_c import CancelOnCtrlC
from profilers.executors import Executor, ExecutorError, executor_for
from profilers.runner import RunController, RunResult, new_run_id
from profilers.summary import BUSY_MACHINE_PERCENT
from sessions.formatting import format_value
from sessions.headline import CONTRACT_FIELDS
from sessions.record_run import RecordedRun, record_run
from sessions.store import SessionError, default_session_path
from workloads.spec import RunSpec

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def default_runs_dir() -> Path:
    return Path(user_data_dir("stepscope", appauthor=False)) / "runs"


def result_record(result: RunResult[Any]) -> dict[str, Any]:
    """The run as one flat JSON-able object with the `report --json` fields (docs/architecture.md);
    a worker's run or a program's (cli.program_run)."""
    record: dict[str, Any] = {"run_id": result.run_id, "status": result.status, "reason": result.reason,
                              "trace_events": None, "out_dir": str(result.out_dir)}
    record.update(result.summary)
    record["ranks"] = result.summary.get("ranks") or 1
    spec = result.spec.to_dict()
    for key in ("framework", "workload", "mode", "variant", "batch_size"):
        if record.get(key) is None:
            record[key] = spec.get(key)
    return {key: record.get(key) for key in (*CONTRACT_FIELDS, "artifacts", "out_dir")}


class _ProgressView:
    """Turns events into a rich progress bar: phase name, steps done of steps planned."""

    def __init__(self, progress: Progress, spec: RunSpec) -> None:
        self._progress = progress
        trace = spec.trace_steps + (1 if spec.framework == "torch" and spec.trace_steps else 0)
        measured = _planned_measured_steps(spec)
        self._task = progress.add_task("starting worker",
                                       total=None if measured is None else spec.warmup + measured + trace)
        self._done = 0

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "hello":
            where = f"{event['framework']} {event['framework_version']} on {event['device_name']}"
            self._progress.update(self._task, description=where)
        elif kind == "phase" and event["edge"] == "start":
            self._progress.update(self._task, description=f"{event['name']}")
        elif kind == "step":
            self._done += 1
            self._progress.update(self._task, completed=self._done,
                                  description=f"{event['phase']}  {event['step_ms']:.1f} ms/step")


def _planned_measured_steps(spec: RunSpec) -> int | None:
    """The measured steps a spec asks for: `steps` (a time-to-accuracy run's cap), or its epochs' steps
    where the training set's size is given; None where only the worker knows it."""
    if spec.epochs is None:
        return spec.steps
    return spec.epochs * (spec.data_size // spec.batch_size) if spec.data_size else None


def _fmt(value: Any, digits: int = 2) -> str:
    """The summary table's figures read without thousands separators."""
    return format_value(value, digits, grouping=False)


def summary_table(record: dict[str, Any], title: str | None = None) -> Table:
    title = title or f"{record['framework']} · {record['workload']} · {record['mode']} · {record['variant']}"
    table = Table(title=title, show_header=False)

    def unit(value: Any, suffix: str, digits: int = 2) -> str | None:
        return None if value is None else f"{_fmt(value, digits)} {suffix}"

    device = record["device_name"] if str(record["device_name"] or "").startswith(str(record["device"])) else (
        f"{record['device']} ({record['device_name']})")
    rows = [
        ("status", record["status"] + (f" — {record['reason']}" if record["reason"] else "")),
        ("device", device if record["device"] else None),
        ("measured steps", record["steps"]),
        ("step time median / p95", f"{_fmt(record['step_ms_median'])} / {_fmt(record['step_ms_p95'])} ms"),
        ("throughput", unit(record["samples_per_s"], "samples/s", 1)),
        ("compile", unit(record["compile_ms"], "ms", 1) or "— (nothing compiled in this variant)"),
        ("peak host memory", unit(record["peak_host_mb"], "MB", 1)),
        ("peak device memory", unit(record["peak_device_mb"], "MB", 1) or "— (the framework reports none on this device)"),
        ("final loss", _fmt(record["final_loss"], 4)),
        ("accuracy / macro-F1", f"{_fmt(record['accuracy'], 3)} / {_fmt(record['macro_f1'], 3)}"),
        ("parameters", f"{record['param_count']:,}" if record["param_count"] else None),
    ]
    rows += _scorecard_rows(record)
    guard = record.get("trace_guard")
    if guard:
        rows.append(("trace window", f"{guard['steps']} of {guard['steps_requested']} steps ({guard['action']})"))
    for artifact in record["artifacts"] or []:
        rows.append((f"artifact ({artifact['kind']})", f"{artifact['path']} ({artifact['bytes']:,} bytes)"))
    for name, value in rows:
        table.add_row(name, _fmt(value))
    return table


def _scorecard_rows(record: dict[str, Any]) -> list[tuple[str, Any]]:
    """Rows for the scorecard's run settings: time per epoch, and time to the target accuracy."""
    rows: list[tuple[str, Any]] = []
    if record.get("epochs"):
        rows.append(("time per epoch (median)", f"{_fmt(record.get('epoch_s_median'), 3)} s over {record['epochs']} epochs"))
    target = record.get("time_to_target")
    if target:
        outcome = "reached" if target["reached"] else "not reached"
        rows.append((f"time to {_fmt(100 * target['target'], 1)} % accuracy",
                     f"{_fmt(target['seconds'], 2)} s, {outcome} after {target['steps']} steps "
                     f"(accuracy {_fmt(target['accuracy'], 3)})"))
    return rows


def run_command(spec: RunSpec, as_json: bool, out_dir: Path | None, timeout: float,
                session_path: Path | None = None, repeat: int = 1, on: str = "local") -> int:
    """Run `spec` `repeat` times, each in a fresh worker (where `on` says), recording into the session."""
    console = Console(stderr=True)
    spec = spec.resolved()
    try:
        executor = executor_for(on)
    except ExecutorError as exc:
        console.print(f"stepscope run: {escape(str(exc))}", soft_wrap=True)
        return EXIT_USAGE
    session_path = session_path or default_session_path()
    records, codes = [], []
    for attempt in range(repeat):
        run_id = new_run_id()
        run_dir = (out_dir / run_id if repeat > 1 else out_dir) if out_dir else default_runs_dir() / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        if repeat > 1:
            console.print(f"run {attempt + 1} of {repeat}")
        try:
            recorded, interrupted = _run_one(spec, session_path, run_id, run_dir, timeout, console, executor)
        except SessionError as exc:
            console.print(f"stepscope run: {exc}")
            return EXIT_USAGE
        result = recorded.result
        record = result_record(result)
        record["session"] = str(session_path)
        record["trace_events"] = recorded.trace_events
        record.update(trace_guard=result.summary.get("trace_guard"), notices=result.summary.get("notices", []))
        record.update({key: result.summary.get(key) for key in ("epochs", "epoch_s_median", "time_to_target")})
        if recorded.trace_problem:
            console.print(f"[yellow]trace not parsed:[/yellow] {escape(recorded.trace_problem)}", soft_wrap=True)
        records.append(record)
        console.print(summary_table(record))
        print_busy_machine(record, console)
        _print_trace_outcome(record, console)
        if result.status != "ok":
            console.print(f"[red]run {result.status}:[/red] {result.reason}")
            console.print(f"the worker's log: {_save_log(result)}")
        if recorded.session_problem:
            console.print(f"[red]session not fully written:[/red] {recorded.session_problem}")
        ok = result.status == "ok" and not recorded.session_problem
        codes.append(EXIT_OK if ok else (130 if interrupted else EXIT_FAILED))
        if interrupted or recorded.stop_reason:  # after a full disk the next run could not be recorded either
            break
    console.print(f"session: {session_path}")
    if as_json:
        print(json.dumps(records[0] if repeat == 1 else records, indent=2))
    return max(codes)


def print_busy_machine(record: dict[str, Any], console: Console) -> None:
    """One yellow line when other processes kept the CPUs busy while the run measured: on 2 cores one
    busy process made a PyTorch step 10-15x slower, so such times are no quiet machine's."""
    others = record.get("others_cpu_percent")
    if others is not None and others > BUSY_MACHINE_PERCENT:
        console.print(f"[yellow]busy machine:[/yellow] other processes used {others:.0f} % of the CPUs while this run "
                      f"measured: its times are not a quiet machine's{_threads_hint(record)}", soft_wrap=True)


def _threads_hint(record: dict[str, Any]) -> str:
    """PyTorch on the CPU runs a thread per core, and each parallel region waits for its slowest
    thread: beside one busy process on 2 cores an MLP step took 168 ms with 2 threads, 2.4 ms with
    1. Said where this run's threads were PyTorch's default (no OMP_NUM_THREADS handed down)."""
    if record.get("framework") != "torch" or record.get("device") != "cpu" or os.environ.get("OMP_NUM_THREADS"):
        return ""
    return ("; PyTorch's threads, one per core, wait on the busy ones: fewer may be much faster "
            "(OMP_NUM_THREADS=1 before the command)")


def _print_trace_outcome(record: dict[str, Any], console: Console) -> None:
    """What the capture size guard did to the trace window (unless it simply fit), and the worker's
    notices (a trace file it could not keep, and why)."""
    guard = record.get("trace_guard")
    if guard and guard.get("action") != "fits":
        console.print(f"[yellow]trace guard ({guard['action']}):[/yellow] {escape(guard['message'])}", soft_wrap=True)
    for message in record.get("notices") or []:
        console.print(f"[yellow]notice:[/yellow] {escape(message)}", soft_wrap=True)


def _run_one(spec: RunSpec, session_path: Path, run_id: str, run_dir: Path, timeout: float,
             console: Console, executor: Executor) -> tuple[RecordedRun, bool]:
    """One recorded run under a progress bar; Ctrl+C cancels the worker (the run is kept). When the
    session can take no more (a full disk), one line says so at once; the run then ends `failed`."""
    def on_problem(message: str) -> None:
        console.print(f"[red]stepscope run:[/red] {escape(message)}", soft_wrap=True)

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as progress, \
            CancelOnCtrlC[RunController]() as ctrl_c:
        recorded = record_run(spec, session_path, out_dir=run_dir, on_event=_ProgressView(progress, spec),
                              on_started=ctrl_c.started, on_problem=on_problem, progress_timeout=timeout,
                              run_id=run_id, executor=executor)
    return recorded, ctrl_c.interrupted.is_set()


def _save_log(result: RunResult) -> Path:
    path = result.out_dir / "worker.log"
    path.write_text(result.log, encoding="utf-8")
    return path
