"""`python main.py sweep`: many runs over a grid of settings, each a fresh worker, recorded into
one session as one sweep, with a progress bar that says the time left; interrupted (Ctrl+C, a
crash), the same command again resumes it (`sessions.sweep_runner`).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from cli.run import default_runs_dir
from profilers.executors import Executor, ExecutorError, executor_for
from sessions.formatting import format_value
from sessions.headline import headline
from sessions.store import Session, SessionError, default_session_path
from sessions.sweep_plan import SweepPlan
from sessions.sweep_runner import SweepRunner, SweepStatus
from workloads.spec import SpecError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
AXIS_OPTIONS = {"framework": "frameworks", "workload": "workloads", "mode": "modes", "variant": "variants",
                "batch_size": "batch_sizes", "model_scale": "model_scales", "data_size": "data_sizes"}
NUMBER_AXES = {"batch_size": (int, "whole numbers"), "model_scale": (float, "numbers (width multipliers, e.g. 0.5,1,2)"),
               "data_size": (int, "whole numbers (training samples)")}


# Options a preset fixes itself, with their defaults: given with --preset, they are refused.
PRESET_FIXES = {"workloads": "convnet", "modes": "train", "variants": "default", "batch_sizes": "64", "steps": 50,
                "warmup": 5, "trace_steps": 0, "data": "digits", "seed": 0, "no_eval": False,
                "model_scales": None, "data_sizes": None, "epochs": None}


def _frameworks(text: str | None) -> list[str] | None:
    return None if text is None else [v.strip() for v in text.split(",") if v.strip()]


def plan_from_args(args: argparse.Namespace) -> SweepPlan:
    """The plan the options describe: a preset's (narrowed by --frameworks, its repeats replaced by
    --repeat), or a grid where a comma list is an axis and one value a fixed setting."""
    if args.preset is not None:
        given = [f"--{name.replace('_', '-')}" for name, default in PRESET_FIXES.items() if getattr(args, name) != default]
        if given:
            raise SpecError(f"--preset fixes the grid; {', '.join(given)} cannot be combined with it "
                            "(--frameworks, --repeat and --device can)")
        from sessions.scorecard_presets import preset_plan

        plan = preset_plan(args.preset, _frameworks(args.frameworks), args.repeat, args.device)
        return plan if not args.name else dataclasses.replace(plan, name=args.name)
    axes: dict[str, list[Any]] = {}
    base: dict[str, Any] = {"steps": args.steps, "warmup": args.warmup, "trace_steps": args.trace_steps,
                            "device": args.device, "data": args.data, "seed": args.seed, "evaluate": not args.no_eval}
    if args.epochs is not None:
        base["epochs"] = args.epochs
    for axis in AXIS_OPTIONS:
        text = getattr(args, AXIS_OPTIONS[axis]) if axis != "framework" else args.frameworks or "jax,torch,tf"
        if text is None:
            continue
        values: list[Any] = [v.strip() for v in str(text).split(",") if v.strip()]
        if axis in NUMBER_AXES:
            kind, what = NUMBER_AXES[axis]
            try:
                values = [kind(v) for v in values]
            except ValueError:
                raise SpecError(f"--{AXIS_OPTIONS[axis].replace('_', '-')} takes {what}, not {text!r}") from None
        if len(values) == 1 and axis != "framework":
            base[axis] = values[0]
        else:
            axes[axis] = values
    return SweepPlan.grid(axes=axes, base=base, repeat=1 if args.repeat is None else args.repeat, name=args.name or "")


class _TimeLeft(ProgressColumn):
    """The sweep's own estimate (per cell, from finished points), not rich's rate guess."""

    def __init__(self, status: list[SweepStatus]) -> None:
        super().__init__()
        self._status = status

    def render(self, task: Task) -> Text:
        left = self._status[0].seconds_left() if self._status else None
        if left is None:
            return Text("time left: -", style="progress.remaining")
        minutes, seconds = divmod(int(left + 0.5), 60)
        return Text(f"time left ~{minutes}:{seconds:02d}", style="progress.remaining")


def sweep_command(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        plan = plan_from_args(args)
        plan.points()  # every point's spec checked before anything starts
    except SpecError as exc:
        print(f"stepscope sweep: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        executor = _executor(args, console)
    except ExecutorError as exc:
        console.print(f"stepscope sweep: {escape(str(exc))}", soft_wrap=True)
        return EXIT_USAGE
    session_path = args.session or default_session_path()
    latest: list[SweepStatus] = []
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), _TimeLeft(latest), console=console, transient=True) as progress:
        task = progress.add_task("starting", total=len(plan.points()))

        def on_status(status: SweepStatus) -> None:
            latest[:] = [status]
            now = status.current.label if status.current else f"probing {status.probing}" if status.probing else "finishing"
            if len(status.running) > 1:
                now = f"{len(status.running)} at once: " + ", ".join(p.label for p in status.running)
            progress.update(task, completed=status.finished, total=status.total, description=now)

        runner = SweepRunner(plan, session_path, runs_dir=args.out_dir or default_runs_dir(), on_status=on_status,
                             progress_timeout=args.timeout, executor=executor)
        previous = signal.signal(signal.SIGINT, lambda signum, frame: runner.cancel())
        try:
            status = runner.run()
        except SessionError as exc:
            print(f"stepscope sweep: {exc}", file=sys.stderr)
            return EXIT_USAGE
        finally:
            signal.signal(signal.SIGINT, previous)
    if status.resumed:
        console.print(f"resumed sweep {status.sweep_id}: points finished before were kept")
    rows = _rows(session_path, status)
    if args.json:
        print(json.dumps({"sweep_id": status.sweep_id, "session": str(session_path), "points": rows,
                          "stopped": status.stopped}, indent=2))
    else:
        _print_table(console, rows)
    console.print(f"sweep {status.sweep_id}: {status.finished} of {status.total} points finished, "
                  f"{len(status.failed)} failed; session {session_path}")
    if args.preset is not None and not status.stopped:
        console.print(f"the scorecard: ./stepscope scorecard {escape(str(session_path))}")
    if status.stopped:
        console.print(f"[yellow]stopped: {escape(status.stopped)}[/yellow] — run the same command again to resume")
        return EXIT_INTERRUPTED if status.stopped == "cancelled" else EXIT_FAILED
    if status.interrupted:
        console.print(f"[yellow]{len(status.interrupted)} point(s) lost their node or connection (interrupted)[/yellow] "
                      "— run the same command again to measure them")
    return EXIT_FAILED if status.failed or status.interrupted else EXIT_OK


def _executor(args: argparse.Namespace, console: Console) -> Executor | None:
    """Where the points run (None: here, the default); ExecutorError for a bad or unreachable target."""
    on = (args.on or "local").strip()
    ray_options = {"--gpus-per-run": args.gpus_per_run != 0, "--cpus-per-run": args.cpus_per_run != 1}
    if not (on == "ray" or on.startswith("ray:")):
        given = [name for name, set_ in ray_options.items() if set_]
        if given:
            raise ExecutorError(f"{', '.join(given)} needs a Ray target (--on ray, ray:auto or ray://HOST:PORT)")
        return None if on == "local" else executor_for(on)
    if args.gpus_per_run < 0 or args.cpus_per_run < 0 or (args.gpus_per_run == 0 and args.cpus_per_run == 0):
        raise ExecutorError("--gpus-per-run and --cpus-per-run take numbers >= 0, not both 0")
    console.print("starting a Ray runtime here…" if on == "ray" else f"joining the Ray cluster {escape(on)}…")
    from profilers.executors.ray import RayExecutor

    executor = executor_for(on)
    assert isinstance(executor, RayExecutor)
    executor.gpus_per_run, executor.cpus_per_run = args.gpus_per_run, args.cpus_per_run
    return executor


def _rows(session_path: Path, status: SweepStatus) -> list[dict[str, Any]]:
    rows = []
    with Session.open_readonly(session_path) as session:
        for p in status.points:
            row: dict[str, Any] = {"point": p.point, "label": p.label, "repeat": p.repeat, "status": p.status,
                                   "reason": p.reason, "run_id": p.run_id}
            if p.run_id and p.status in ("ok", "failed"):
                try:
                    row.update({k: v for k, v in headline(session.run(p.run_id), session.steps(p.run_id)).items()
                                if k in ("step_ms_median", "samples_per_s", "accuracy", "peak_host_mb", "compile_ms")})
                except SessionError:
                    pass
            rows.append(row)
    return rows


def _print_table(console: Console, rows: list[dict[str, Any]]) -> None:
    table = Table(title="sweep points", title_justify="left")
    table.add_column("point", no_wrap=True)
    for name in ("#", "status", "step ms", "samples/s", "acc.", "RSS MB"):
        table.add_column(name, justify="right" if name != "status" else "left", no_wrap=True)
    reasons = any(row.get("reason") for row in rows)
    if reasons:
        table.add_column("reason", overflow="fold")
    for row in rows:
        style = {"ok": "", "failed": "red"}.get(row["status"], "yellow")
        cells: list[Any] = [escape(row["label"]), str(row["repeat"] + 1), Text(row["status"], style=style),
                            format_value(row.get("step_ms_median")), format_value(row.get("samples_per_s"), 0),
                            format_value(row.get("accuracy"), 3), format_value(row.get("peak_host_mb"), 0)]
        table.add_row(*cells, *([escape(row.get("reason") or "")] if reasons else []))
    console.print(table)
