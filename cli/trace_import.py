"""`import TRACE`: an outside trace into a session, with a progress bar on stderr (bytes read of
the total, MB/s, time left, then the stages after the read named) when stderr is a terminal; or,
with `--progress-jsonl`, one JSON object a line on stdout, which the app follows from its child
process (gui/live/import_dialog.py):

    {"done": BYTES, "total": BYTES}              while reading (total 0: not known)
    {"stage": "summarising" | "storing"}         once the file is read
    {"run_id": ..., "events": N, "session": ..., "description": ...}   the last line, on success

Ctrl+C (SIGINT) and SIGTERM cancel cooperatively through traces.progress: the reader stops at its
next chunk and the run is written in one transaction, so nothing is stored; one line on stderr,
exit code 130. A second one stops at once (KeyboardInterrupt), still storing nothing.
"""
from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from sessions.store import SessionError, default_session_path
from sessions.traces import import_trace
from traces.progress import ReadCancelled, ReadProgress
from traces.table import TraceError

EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130
STAGE_TEXT = {"summarising": "summarising the trace", "storing": "storing the run"}


class _JsonLines:
    """The machine-readable progress: flushed at once, so the app sees each line as it comes."""

    def __enter__(self) -> _JsonLines:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, done: int, total: int) -> None:
        self._emit({"done": done, "total": total})

    def stage(self, name: str) -> None:
        self._emit({"stage": name})

    def _emit(self, record: dict[str, object]) -> None:
        print(json.dumps(record), flush=True)


class _ProgressBar:
    """A rich bar on stderr while a terminal shows it (bytes of the total, MB/s, time left); once
    every byte is read the reader may still be decoding, which the bar then says. Silent when
    stderr is not a terminal, so a failure stays the one line on stderr."""

    def __init__(self, trace: Path) -> None:
        console = Console(stderr=True)
        self._shown = console.is_terminal
        self._progress = Progress(TextColumn("{task.description:<24}"), BarColumn(), DownloadColumn(),
                                  TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=True)
        self._reading = f"reading {trace.name}"
        self._task = self._progress.add_task(self._reading, total=None)
        self._stage: str | None = None

    def __enter__(self) -> _ProgressBar:
        if self._shown:
            self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._shown:
            self._progress.stop()

    def update(self, done: int, total: int) -> None:
        if self._stage is not None:
            return
        finished = total > 0 and done >= total
        self._progress.update(self._task, completed=done, total=total or None,
                              description="finishing the parse" if finished else self._reading)

    def stage(self, name: str) -> None:
        self._stage = name
        self._progress.update(self._task, description=STAGE_TEXT.get(name, name))


@contextmanager
def _cancel_on_signals(progress: ReadProgress) -> Iterator[None]:
    """The first SIGINT/SIGTERM asks the read to stop; a second raises KeyboardInterrupt at once
    (a read stuck in one slow system call hears no cooperative cancel). Main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_signal(signum: int, frame: object) -> None:
        if progress.cancelled:
            raise KeyboardInterrupt
        progress.cancel()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def import_command(trace: Path, session_path: Path | None, framework: str | None, progress_jsonl: bool = False) -> int:
    """Exit codes: 0 imported, 2 an unreadable trace or session (one line), 130 cancelled."""
    session_path = session_path or default_session_path()
    view: _JsonLines | _ProgressBar = _JsonLines() if progress_jsonl else _ProgressBar(trace)
    progress = ReadProgress(view.update)
    try:
        with _cancel_on_signals(progress), view:
            run_id, table, description = import_trace(session_path, trace, framework, progress=progress,
                                                      on_stage=view.stage)
    except (ReadCancelled, KeyboardInterrupt):
        print(f"stepscope import: cancelled; nothing was stored in {session_path}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (TraceError, SessionError) as exc:
        print(f"stepscope import: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if progress_jsonl:
        print(json.dumps({"run_id": run_id, "events": len(table), "session": str(session_path),
                          "description": description}), flush=True)
    else:
        print(f"imported {len(table):,} events as run {run_id} into {session_path}")
        print(description)
    return EXIT_OK
