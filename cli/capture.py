"""`capture RUN_ID --steps N | --seconds T`: arm a capture window in a run that is running now, from
a second terminal (docs/capture.md), through the run's control socket.

A run that cannot be reached is one line: with `--session`, why (it ended, and how; it is not in
that session; it runs in another process that opened no socket); without, that nothing runs under
that id on this machine.
"""
from __future__ import annotations

import sys
from pathlib import Path

from cli.program_run import parse_ranks
from profilers.control_socket import CaptureRefused, send_capture
from sessions.store import Session, SessionError
from workloads.spec import SpecError

EXIT_OK, EXIT_USAGE = 0, 2


def capture_command(run_id: str, steps: int | None, seconds: float | None, session_path: Path | None,
                    ranks_text: str | None = None) -> int:
    """Exit codes: 0 the window was armed, 2 the run cannot be reached or refused it (one line)."""
    try:
        ranks = parse_ranks(ranks_text)
        if ranks is not None and not ranks:
            raise SpecError("--ranks names no rank (e.g. --ranks 0,3)")
        window = send_capture(run_id, steps=steps, seconds=seconds, ranks=ranks)
    except SpecError as exc:
        print(f"stepscope capture: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CaptureRefused as exc:
        print(f"stepscope capture: {_why(run_id, session_path) or exc}", file=sys.stderr)
        return EXIT_USAGE
    what = f"the next {steps} steps" if steps is not None else f"{seconds:g} s"
    if ranks is not None:
        what += f" on rank{'s' if len(ranks) > 1 else ''} {', '.join(map(str, ranks))}"
    print(f"capture window {window} armed in run {run_id}: {what}; it is stored with the run when the run ends")
    return EXIT_OK


def _why(run_id: str, session_path: Path | None) -> str | None:
    """What the session says about a run whose socket did not answer; None to keep the socket's reason."""
    if session_path is None:
        return None
    try:
        with Session.open_readonly(session_path) as session:
            if run_id not in {r.run_id for r in session.runs()}:
                return f"run {run_id} is not in {session_path}"
            record = session.run(run_id)
    except SessionError as exc:
        return str(exc)
    if record.status != "running":
        return f"run {run_id} has ended ({record.status}); a capture can only be armed while a run is running"
    return None
