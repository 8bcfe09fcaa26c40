"""`attach HOST:PORT`: a trace of a running program's profiler server, captured by a child process
(profilers/server_capture.py), so neither the command line's process nor the app's loads a
profiler client that blocks in native code for the whole window: Ctrl+C and Cancel stop the
child, and a server that never answers is given up at a deadline.
"""
from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from profilers.attach_child import AttachError, run_watched

ANSWER_GRACE_S = 30.0  # past the window: connecting, the server's export, the transfer
_ADDRESS = re.compile(r"^(?:grpc://)?(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")


def parse_address(text: str) -> str:
    """HOST:PORT (a name, an IPv4 address, or [IPv6]), a grpc:// prefix allowed; ValueError
    with the sentence to print when it is not one."""
    match = _ADDRESS.match(text.strip())
    if match is None or not 0 < int(match.group("port")) < 65536:
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. localhost:9999, the port the program gave "
                         "jax.profiler.start_server or tf.profiler.experimental.server.start)")
    return f"{match.group('host')}:{int(match.group('port'))}"


def capture_from_server(address: str, seconds: float, logdir: Path,
                        on_tick: Callable[[float], object] | None = None,
                        cancel: threading.Event | None = None) -> list[Path]:
    """The XPlane files of a `seconds` capture written under `logdir`; AttachError with the reason
    when none came, AttachCancelled when `cancel` was set first."""
    argv = [sys.executable, "-m", "profilers.server_capture", address, repr(float(seconds)), str(logdir)]
    code, stdout, stderr = run_watched(argv, seconds, seconds + ANSWER_GRACE_S, f"the profiler server at {address}",
                                       on_tick, cancel)
    answer = _last_json(stdout)
    if answer is None:
        last = next((line for line in reversed(stderr.splitlines()) if line.strip()), "")
        raise AttachError(f"the capture process ended with exit code {code} and no answer ({last.strip()[:200]})")
    if not answer.get("ok"):
        raise AttachError(str(answer.get("reason")))
    xplanes = answer.get("xplanes")
    return [Path(str(p)) for p in xplanes] if isinstance(xplanes, list) else []


def _last_json(stdout: str) -> dict[str, object] | None:
    for line in reversed(stdout.splitlines()):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            return record
    return None
