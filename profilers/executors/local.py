"""The local executor: the worker as a child process of this one (the default, and the
behaviour Stepscope always had). `PopenLaunched` also wraps a process a caller started itself
(a user's program, profilers.program_runner), so the controller drives both the same way."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from profilers.executors.base import LaunchError

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


class PopenLaunched:
    """A local process in a session of its own (so a signal reaches its children too)."""

    control_fd: int | None = None
    remote = False

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self.local_pid: int | None = proc.pid
        assert proc.stdout is not None and proc.stderr is not None
        self.stdout_fd = proc.stdout.fileno()
        self.stderr_fd = proc.stderr.fileno()
        self.control_fd = proc.stdin.fileno() if proc.stdin is not None else None  # a worker's stdin (docs/capture.md)

    def poll(self) -> int | None:
        return self.proc.poll()

    def signal(self, sig: int) -> None:
        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)  # the worker's own children (e.g. torch.compile's) too
        except (ProcessLookupError, PermissionError):
            pass

    def fetch(self, path: str, local_dir: Path) -> Path:
        """Already here: the path itself, not a copy."""
        return Path(path)

    def lost(self) -> str | None:
        return None

    def close(self) -> None:
        for stream in (self.proc.stdout, self.proc.stderr, self.proc.stdin):
            if stream is not None:
                stream.close()


class LocalExecutor:
    """Runs the worker here, in a new session, with the project on its PYTHONPATH."""

    name = "local"

    def placement(self) -> dict[str, Any]:
        return {"executor": "local", "host": platform.node()}

    def launch(self, command: list[str], *, env: dict[str, str], run_id: str, out_dir: Path) -> PopenLaunched:
        full_env = dict(os.environ)
        full_env.update(env)
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
        try:
            proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=PROJECT_ROOT, env=full_env, start_new_session=True,
            )
        except OSError as exc:
            raise LaunchError(f"could not start the worker ({exc})") from exc
        return PopenLaunched(proc)
