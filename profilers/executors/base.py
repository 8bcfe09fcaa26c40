"""The executor interface: where a run's process runs (here, over SSH, on a Ray cluster).

The controller (`profilers.runner.RunController`) sees only these two Protocols, so the recorder,
the session and the GUI never learn which executor ran a run; the run's `placement()` is stored
with it (docs/executors.md). An executor turns a failure to start into a one-line `LaunchError`;
anything a worker does after that is the controller's to judge, through `poll()` and `lost()`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol


class ExecutorError(Exception):
    """An `--on` target that cannot be parsed or reached; the message is one line for the user."""


class LaunchError(Exception):
    """The worker could not be started; the message is one line for the user (it becomes the
    failed run's reason)."""


class Launched(Protocol):
    """One started worker, seen from the controller's machine.

    `stdout_fd` carries the event stream (JSON lines), `stderr_fd` the run log; both are local
    readable descriptors that reach end of file when the worker is gone (or the connection is
    lost), and `close()` closes them. `control_fd` (local, writable) forwards control lines to the
    worker's stdin, None where unsupported. `local_pid` is the process to sample here (None when
    it runs elsewhere); `remote` True means samples come in the stream and artifact paths are the
    far side's, to be copied here with `fetch`."""

    stdout_fd: int
    stderr_fd: int
    control_fd: int | None
    local_pid: int | None
    remote: bool

    def poll(self) -> int | None:
        """None while running; then the exit code, negative for a signal (or for a lost link)."""

    def signal(self, sig: int) -> None:
        """Send `sig` to the worker's whole process group, wherever it runs; never raises."""

    def fetch(self, path: str, local_dir: Path) -> Path:
        """Copy a file the worker wrote (its path as the worker named it) into `local_dir`, and
        return the local path; raises LaunchError with one line if it cannot."""

    def lost(self) -> str | None:
        """Why the connection or node was lost (a sentence), None while it holds."""

    def close(self) -> None:
        """Release descriptors and connections; idempotent, never raises."""


class Executor(Protocol):
    """Starts workers somewhere. `name` is "local", "ssh" or "ray"."""

    name: str

    def placement(self) -> dict[str, Any]:
        """Where runs go, stored with each run: {"executor": name, "host": ..., ...}."""

    def launch(self, command: list[str], *, env: dict[str, str], run_id: str, out_dir: Path) -> Launched:
        """Start `command` (a worker's argv as it would run here: `sys.executable -m ...`) with
        `env` added to the executor's own environment (the controller passes only what the run
        needs, e.g. PYTHONUNBUFFERED; the executor sets PYTHONPATH to its own copy of the code).
        `out_dir` is the run's local output directory; a remote executor replaces every argument
        equal to `str(out_dir)` with a directory of its own on the far side and the leading
        `sys.executable` with its environment's interpreter. Raises LaunchError (one line)."""
