"""`attach HOST:PORT --for 3s`: a trace of a running program's profiler server, stored as a run
(kind `imported`, its spec's `attached_to` the address), which the inspector, `report --ops` and
`compare` read like any; `attach --pid PID --for 3s`: any running Python program's stacks,
sampled by py-spy, printed as a call tree and the hottest functions, and kept as a
folded-stacks file (not a run: a sampled profile has no timeline, steps or ops to store).

Progress is a bar on stderr when it is a terminal; with `--progress-jsonl`, JSON lines on stdout
for the app (gui/attach/attach_model.py):

    {"stage": "capturing", "elapsed": S, "seconds": S}   while the window runs
    {"stage": "reading" | "summarising" | "storing"}      after it (a server capture)
    {"run_id": ..., "events": N, "session": ..., "description": ...}   the last line (HOST:PORT)
    {"stacks": PATH, "samples": N, "pid": PID}                          the last line (--pid)

Ctrl+C (SIGINT) and SIGTERM stop the capture and store nothing: exit code 130. A capture that
gave nothing exits 1 with the reason in one line; bad arguments exit 2.
"""
from __future__ import annotations

import argparse
import json
import re
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from cli.stack_report import print_stacks
from profilers.attach_child import AttachCancelled, AttachError
from profilers.attach_server import capture_from_server, parse_address
from profilers.pyspy_sampler import sample_stacks
from sessions.locations import default_stacks_dir
from sessions.store import SessionError, default_session_path
from sessions.traces import EmptyTraceError, import_trace
from traces.folded_stacks import read_folded
from traces.progress import ReadCancelled, ReadProgress
from traces.table import TraceError

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
STAGE_TEXT = {"reading": "reading the capture", "summarising": "summarising the trace", "storing": "storing the run"}
_DURATION = re.compile(r"^(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|min)?$")
MAX_SECONDS = 600.0


def parse_duration(text: str) -> float:
    """"3s", "2.5", "500ms", "1m" in seconds; ValueError with the sentence to print."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise ValueError(f"--for {text!r} is not a duration (e.g. 3s, 500ms, 1m)")
    scale = {"ms": 1e-3, "m": 60.0, "min": 60.0}.get(match.group("unit") or "s", 1.0)
    seconds = float(match.group("value")) * scale
    if not 0.1 <= seconds <= MAX_SECONDS:
        raise ValueError(f"--for {text}: a window from 100ms to {MAX_SECONDS:.0f}s")
    return seconds


class _Reporter:
    """The progress as JSON lines (for the app) or a bar on stderr (a terminal only, so a
    failure stays the one line on stderr)."""

    def __init__(self, jsonl: bool, what: str, seconds: float) -> None:
        self.jsonl = jsonl
        self.seconds = seconds
        console = Console(stderr=True)
        self._shown = not jsonl and console.is_terminal
        self._progress = Progress(TextColumn("{task.description:<34}"), BarColumn(),
                                  TextColumn("{task.completed:.1f} of {task.total:g} s"), console=console, transient=True)
        self._task = self._progress.add_task(what, total=seconds)
        self._last_emit = 0.0

    @contextmanager
    def shown(self) -> Iterator[None]:
        if self._shown:
            self._progress.start()
        try:
            yield
        finally:
            if self._shown:
                self._progress.stop()

    def tick(self, elapsed: float) -> None:
        if self.jsonl:
            now = time.monotonic()
            if now - self._last_emit >= 0.2:
                self._last_emit = now
                emit({"stage": "capturing", "elapsed": round(elapsed, 2), "seconds": self.seconds})
        else:
            self._progress.update(self._task, completed=elapsed)

    def stage(self, name: str) -> None:
        if self.jsonl:
            emit({"stage": name})
        else:
            self._progress.update(self._task, completed=self.seconds, description=STAGE_TEXT.get(name, name))


def emit(record: dict[str, object]) -> None:
    print(json.dumps(record), flush=True)


@contextmanager
def _stop_on_signals(cancel: threading.Event, progress: ReadProgress) -> Iterator[None]:
    """The first SIGINT/SIGTERM stops the capture (and the read after it); a second raises
    KeyboardInterrupt at once. Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: object) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        progress.cancel()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _fail(message: str, code: int) -> int:
    print(f"stepscope attach: {message}", file=sys.stderr)
    return code


def attach_command(args: argparse.Namespace) -> int:
    """Exit codes: 0 captured, 1 the capture gave nothing (the reason), 2 bad arguments or an
    unreadable session, 130 stopped."""
    try:
        seconds = parse_duration(args.duration)
        if (args.target is None) == (args.pid is None):
            raise ValueError("give either HOST:PORT (a profiler server) or --pid PID (a Python process), not both")
        if args.pid is not None:
            if args.attach_session is not None:
                raise ValueError("--session is for HOST:PORT: a process's stacks are kept as a file (--out), not a run")
            if args.logdir is not None:
                raise ValueError("--logdir is for HOST:PORT: where its profiler server saves the capture")
            if not 1 <= args.rate <= 1000:
                raise ValueError(f"--rate {args.rate}: from 1 to 1000 samples a second")
            return _attach_pid(args.pid, seconds, args)
        pid_only = [name for name, given in (("--out", args.out is not None), ("--rate", args.rate != 100),
                                             ("--idle", args.idle), ("--nonblocking", args.nonblocking)) if given]
        if pid_only:
            raise ValueError(f"{', '.join(pid_only)}: for --pid only")
        return _attach_server(parse_address(args.target), seconds, args)
    except ValueError as exc:
        return _fail(str(exc), EXIT_USAGE)


@contextmanager
def _capture_folder(shared: Path | None) -> Iterator[Path]:
    """Where the server is told to save its capture: `--logdir` (a folder the program's machine
    shares with this one; kept), else a temporary folder here (the program runs on this machine)."""
    if shared is not None:
        shared.mkdir(parents=True, exist_ok=True)
        yield shared.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="stepscope-attach-") as folder:
        yield Path(folder)


def _attach_server(address: str, seconds: float, args: argparse.Namespace) -> int:
    session_path: Path = args.attach_session or default_session_path()
    reporter = _Reporter(args.progress_jsonl, f"capturing from {address}", seconds)
    cancel = threading.Event()
    progress = ReadProgress()
    origin = {"imported_from": f"the profiler server at {address}", "attached_to": address, "window_s": seconds}
    try:
        with _stop_on_signals(cancel, progress), reporter.shown(), _capture_folder(args.logdir) as logdir:
            capture_from_server(address, seconds, logdir, reporter.tick, cancel)
            reporter.stage("reading")
            run_id, table, description = import_trace(session_path, logdir, progress=progress,
                                                      on_stage=reporter.stage, origin=origin)
    except (AttachCancelled, ReadCancelled, KeyboardInterrupt):
        return _fail(f"stopped; nothing was stored in {session_path}", EXIT_INTERRUPTED)
    except AttachError as exc:
        return _fail(str(exc), EXIT_FAILED)
    except EmptyTraceError:
        return _fail(f"the profiler server at {address} answered, but its trace holds no events: nothing ran in its "
                     f"program during the {seconds:g} s window; capture while it works, or for longer (--for)",
                     EXIT_FAILED)
    except (TraceError, SessionError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    if args.progress_jsonl:
        emit({"run_id": run_id, "events": len(table), "session": str(session_path), "description": description})
    else:
        print(f"attached to {address} for {seconds:g} s: {len(table):,} events stored as run {run_id} in {session_path}")
        print(description)
    return EXIT_OK


def default_stacks_path(pid: int) -> Path:
    """Beside the sessions folder: <user data>/stepscope/stacks/pid<PID>-<time>.folded."""
    return default_stacks_dir() / f"pid{pid}-{time.strftime('%Y%m%d-%H%M%S')}.folded"


def _attach_pid(pid: int, seconds: float, args: argparse.Namespace) -> int:
    out: Path = args.out or default_stacks_path(pid)
    reporter = _Reporter(args.progress_jsonl, f"sampling process {pid}", seconds)
    cancel = threading.Event()
    try:
        with _stop_on_signals(cancel, ReadProgress()), reporter.shown():
            samples = sample_stacks(pid, seconds, out, rate=args.rate, idle=args.idle, nonblocking=args.nonblocking,
                                    on_tick=reporter.tick, cancel=cancel)
        profile = read_folded(out)
    except (AttachCancelled, KeyboardInterrupt):
        out.unlink(missing_ok=True)
        return _fail("stopped; no stacks were kept", EXIT_INTERRUPTED)
    except AttachError as exc:
        return _fail(str(exc), EXIT_FAILED)
    except TraceError as exc:
        return _fail(str(exc), EXIT_FAILED)
    if args.progress_jsonl:
        emit({"stacks": str(out), "samples": samples, "pid": pid})
        return EXIT_OK
    print_stacks(profile, f"process {pid}, {seconds:g} s at {args.rate} samples/s", args.limit)
    print(f"stacks kept in {out} (folded stacks: speedscope, flamegraph.pl and inferno read them)")
    return EXIT_OK


