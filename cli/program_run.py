"""`python main.py run [options] -- COMMAND ...`: the user's own program under Stepscope
(docs/programs.md), recorded into a session like a built-in run.

The program owns the terminal: its stdout and stderr pass through byte for byte, and its stdin is
the caller's. Stepscope's own lines go to stderr, each on a line of its own and starting with
`stepscope:`: one when recording starts, the step source as soon as it is known, the agent's
notices, and at the end the summary table. `--json` prints the run's record on stdout once the
program's output has ended. The exit code is the program's (docs/architecture.md,
"The command line"): 0, its own code, 128 + the signal that killed it, 130 on Ctrl-C; 1 when
Stepscope itself stopped the run, 2 for a command line Stepscope cannot run.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from pathlib import Path
from typing import Any, BinaryIO

from rich.console import Console
from rich.markup import escape

from cli.ctrl_c import CancelOnCtrlC
from cli.run import default_runs_dir, print_busy_machine, result_record, summary_table
from profilers.program_launch import find_executable
from profilers.program_runner import ProgramController
from profilers.runner import new_run_id
from sessions.record_run import RecordedRun, record_run
from sessions.store import Session, SessionError, default_session_path
from workloads.program import ProgramSpec
from workloads.spec import SpecError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def parse_window(text: str) -> tuple[int, int]:
    """`--steps A:B` with a COMMAND; SpecError in one line for anything else."""
    first, colon, end = text.partition(":")
    try:
        if not colon:
            raise ValueError(text)
        return int(first), int(end)
    except ValueError:
        raise SpecError(f"--steps takes A:B with a COMMAND (steps A to B-1 are traced, e.g. --steps 10:13), "
                        f"not {text!r}") from None


def parse_ranks(text: str | None) -> tuple[int, ...] | None:
    """`--ranks 0,3`; SpecError in one line for anything else."""
    if text is None:
        return None
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise SpecError(f"--ranks takes rank numbers separated by commas (e.g. --ranks 0,3), not {text!r}") from None


def program_spec(args: argparse.Namespace) -> ProgramSpec:
    """The ProgramSpec the command line asks for; SpecError for what does not apply to a program."""
    command = list(args.program)
    if command[:1] == ["--"]:
        command = command[1:]
    if args.framework is not None:
        raise SpecError("--framework is for the built-in workloads; your program's framework is detected")
    if args.repeat != 1:
        raise SpecError("--repeat is for the built-in workloads; run your program again to repeat it")
    for option in ("model_scale", "data_size", "epochs", "target_accuracy", "eval_every"):
        if getattr(args, option, None) is not None:
            raise SpecError(f"--{option.replace('_', '-')} is for the built-in workloads; your program sets its own")
    if args.trace_guard is not None:
        raise SpecError("--trace-guard is for the built-in workloads; your program's capture is checked after it is written "
                        "(docs/programs.md)")
    return ProgramSpec(
        command=tuple(command), cwd=os.getcwd(), name=args.name,
        steps_window=parse_window(args.steps) if args.steps is not None else None,
        trace_at=args.trace_at, trace_for=args.trace_for, batch_size=args.batch_size, with_stack=args.with_stack,
        ranks=parse_ranks(getattr(args, "ranks", None)),
    ).resolved()


class Terminal:
    """The program's output and Stepscope's lines on one terminal: the program's bytes pass
    unchanged, and a line of Stepscope's starts on a line of its own on stderr."""

    def __init__(self, out: BinaryIO, err: BinaryIO) -> None:
        self._out, self._err = out, err
        self._lock = threading.Lock()
        self._err_at_line_start = True

    def stdout(self, chunk: bytes) -> None:
        with self._lock:
            self._out.write(chunk)
            self._out.flush()

    def stderr(self, chunk: bytes) -> None:
        with self._lock:
            self._err.write(chunk)
            self._err.flush()
            self._err_at_line_start = chunk.endswith(b"\n")

    def say(self, text: str) -> None:
        with self._lock:
            prefix = b"" if self._err_at_line_start else b"\n"
            self._err.write(prefix + f"stepscope: {text}\n".encode())
            self._err.flush()
            self._err_at_line_start = True


class _Announcer:
    """Says what the agent finds out as it happens: the step source, and its notices."""

    def __init__(self, terminal: Terminal) -> None:
        self._terminal = terminal
        self.said: set[str] = set()

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "step_source" and not event.get("rank"):  # (each rank of a distributed program finds the same)
            self._terminal.say(f"steps from {event['source']} — {event['detail']}")
        elif kind == "notice" and event["message"] not in self.said:
            self.said.add(event["message"])
            self._terminal.say(event["message"])


def program_run(args: argparse.Namespace) -> int:
    try:
        spec = program_spec(args)
    except SpecError as exc:
        print(f"stepscope run: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if find_executable(spec) is None:
        print(f"stepscope run: command not found: {spec.command[0]} (not on PATH: activate the environment that "
              "has it, or give its path)", file=sys.stderr)
        return EXIT_USAGE
    session_path = args.session or default_session_path()
    run_id = new_run_id()
    out_dir = args.out_dir or default_runs_dir() / run_id
    out_dir.mkdir(parents=True, exist_ok=True)
    terminal = Terminal(sys.stdout.buffer, sys.stderr.buffer)
    announcer = _Announcer(terminal)
    terminal.say(f"recording {spec.label} into {session_path}")
    controllers: list[ProgramController] = []
    try:
        recorded, interrupted = _record(spec, session_path, run_id, out_dir, args.timeout, terminal, announcer, controllers)
    except SessionError as exc:
        terminal.say(str(exc))
        return EXIT_USAGE
    code = exit_code(recorded, interrupted, controllers[0] if controllers else None)
    record = _report(recorded, session_path, terminal, announcer)
    record["exit_code"] = code
    if args.json:
        print(json.dumps(record, indent=2), flush=True)
    return code


def _record(spec: ProgramSpec, session_path: Path, run_id: str, out_dir: Path, timeout: float, terminal: Terminal,
            announcer: _Announcer, controllers: list[ProgramController]) -> tuple[RecordedRun[ProgramSpec], bool]:
    """The recorded run; Ctrl-C cancels the program (SIGINT to it, then SIGTERM, then SIGKILL),
    also while the controller is still starting its readers (`cli.ctrl_c`)."""
    with CancelOnCtrlC[ProgramController]() as ctrl_c:
        def on_started(controller: ProgramController) -> None:
            controllers.append(controller)
            ctrl_c.started(controller)

        recorded = record_run(spec, session_path, out_dir=out_dir, on_event=announcer, on_started=on_started,
                              on_problem=terminal.say, progress_timeout=timeout, run_id=run_id,
                              on_stdout=terminal.stdout, on_stderr=terminal.stderr)
    return recorded, ctrl_c.interrupted.is_set()


def exit_code(recorded: RecordedRun[ProgramSpec], interrupted: bool, controller: ProgramController | None) -> int:
    """The program's exit code as the shell would see it, or Stepscope's own (module docstring)."""
    result = recorded.result
    if interrupted:
        return EXIT_INTERRUPTED
    if recorded.stop_reason or recorded.session_problem or (controller is not None and controller.stopped_by_stepscope):
        return EXIT_FAILED
    if result.status == "ok":
        return EXIT_OK
    if result.returncode is not None and result.returncode > 0:
        return result.returncode
    if result.returncode is not None and result.returncode < 0:
        return 128 - result.returncode
    return EXIT_FAILED


def _report(recorded: RecordedRun[ProgramSpec], session_path: Path, terminal: Terminal,
            announcer: _Announcer) -> dict[str, Any]:
    """The summary on stderr; the record `--json` prints."""
    result = recorded.result
    summary = result.summary
    record = result_record(result)
    record.update(session=str(session_path), trace_events=recorded.trace_events,
                  steps_from=summary.get("steps_from"), notices=summary.get("notices", []))
    for message in summary.get("notices", []):
        if message not in announcer.said:
            terminal.say(message)
    console = Console(stderr=True)
    title = f"{result.spec.label} · {record['framework'] or 'no framework'}"
    console.print(summary_table(record, title=title))
    print_busy_machine(record, console)
    if summary.get("steps_from"):
        sources = [e for e in result.events if e["type"] == "step_source"]
        detail = f" — {sources[-1]['detail']}" if sources else ""
        console.print(f"steps from: {escape(summary['steps_from'] + detail)}", soft_wrap=True)
    if recorded.trace_problem:
        console.print(f"[yellow]trace not parsed:[/yellow] {escape(recorded.trace_problem)}", soft_wrap=True)
    if (summary.get("ranks") or 1) > 1 and not recorded.session_problem:  # a distributed program's ranks
        _print_ranks(session_path, result.run_id, console)
    if result.status != "ok":
        console.print(f"[red]run {result.status}:[/red] {escape(result.reason or '')}", soft_wrap=True)
    if recorded.session_problem:
        console.print(f"[red]session not fully written:[/red] {escape(recorded.session_problem)}", soft_wrap=True)
    console.print(f"session: {session_path}", soft_wrap=True)
    return record


def _print_ranks(session_path: Path, run_id: str, console: Console) -> None:
    """Each rank's figures and the straggler table (cli.rank_report), read back from the session."""
    from cli.rank_report import print_ranks

    try:
        with Session.open_readonly(session_path) as session:
            print_ranks(session, run_id, console)
    except SessionError as exc:
        console.print(f"[yellow]ranks not shown:[/yellow] {escape(str(exc))}", soft_wrap=True)
