"""The SSH executor: the worker runs on another machine, behind `profilers.remote_shim`, over one
SSH connection per run that carries everything: the event stream (the shim's stdout), the run log
(its stderr), control lines and cancels (its stdin) and the artifacts (SFTP). Nothing needs an
open port on the far side. The connection's data is copied into local pipes, so the controller
reads an SSH worker exactly as it reads a local one.

If the connection drops, the pipes end, `lost()` says why and the controller ends the run
`interrupted`; on the far side the shim sees its stdin end (or SIGHUP) and stops the worker.
"""
from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal as signals
import sys
import threading
from pathlib import Path
from typing import Any

import asyncssh

from profilers.executors.base import ExecutorError, LaunchError
from profilers.executors.remote_paths import local_copy_path
from profilers.executors.ssh_connection import SshConnection, SshTarget
from profilers.executors.ssh_setup import ROOT_SHELL, environment_id, no_environment
from profilers.remote_shim import OUT_DIR_TOKEN, PYTHON_TOKEN

EXIT_MARK = b'{"type": "exit"'  # the shim's last line (json.dumps' separators)
STARTED_MARK = b'{"type": "started"'  # its first, with --announce: the run's directory there
READ_CHUNK = 1 << 16
LOST_RETURNCODE = 255  # what `ssh` itself returns when the connection fails


class _Relay(asyncio.Protocol):
    """Lines the controller writes to `control_fd`, passed on to the shim's stdin."""

    def __init__(self, process: asyncssh.SSHClientProcess[bytes]) -> None:
        self._process = process

    def data_received(self, data: bytes) -> None:
        try:
            self._process.stdin.write(data)
        except (asyncssh.Error, OSError, BrokenPipeError):
            pass  # the channel is gone: lost() says so


class SshLaunched:
    """A worker on the far side of `conn`; its output is copied into local pipes on `conn`'s loop."""

    local_pid: int | None = None
    remote = True
    control_fd: int | None

    def __init__(self, conn: SshConnection, command_line: str) -> None:
        self._conn = conn
        self._remote_out_dir: str | None = None  # from the shim's `started` line
        self._returncode: int | None = None
        self._lost: str | None = None
        self._done = threading.Event()
        self._closed = False
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        ctl_r, ctl_w = os.pipe()
        self.stdout_fd, self.stderr_fd, self.control_fd = out_r, err_r, ctl_w
        self._control_w = ctl_w
        try:
            self._process: asyncssh.SSHClientProcess[bytes] = conn.call(
                self._start(command_line, out_w, err_w, ctl_r), timeout=60.0)
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            for fd in (out_r, err_r, ctl_w):
                os.close(fd)
            raise LaunchError(f"could not start the worker on {conn.target.host}: {exc}") from None

    async def _start(self, command_line: str, out_w: int, err_w: int, ctl_r: int) -> asyncssh.SSHClientProcess[bytes]:
        loop = asyncio.get_running_loop()
        process = await self._conn.conn.create_process(command_line, encoding=None)
        out, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(out_w, "wb", buffering=0))
        err, _ = await loop.connect_write_pipe(asyncio.Protocol, os.fdopen(err_w, "wb", buffering=0))
        control, _ = await loop.connect_read_pipe(lambda: _Relay(process), os.fdopen(ctl_r, "rb", buffering=0))
        loop.create_task(self._relay(process, out, err, control))
        return process

    async def _relay(self, process: asyncssh.SSHClientProcess[bytes], out: asyncio.WriteTransport,
                     err: asyncio.WriteTransport, control: asyncio.ReadTransport) -> None:
        """Copy the stream (minus the shim's exit line) and the log until both end."""
        log_copy = asyncio.ensure_future(_copy(process.stderr, err))
        pending = b""
        try:
            while chunk := await process.stdout.read(READ_CHUNK):
                pending += chunk
                end = pending.rfind(b"\n") + 1
                if end:
                    out.write(self._without_exit(pending[:end]))
                    pending = pending[end:]
        except (asyncssh.Error, OSError):
            pass  # the connection broke: what arrived is delivered, lost() says why
        if pending:
            out.write(pending)
        await asyncio.gather(log_copy, return_exceptions=True)
        out.close()
        err.close()
        control.close()
        try:
            await asyncio.wait_for(process.wait_closed(), 5.0)
        except (asyncssh.Error, OSError, TimeoutError):
            pass
        self._finish(process)

    def _without_exit(self, lines: bytes) -> bytes:
        """The lines minus the shim's own (`started`, `exit`), which are noted here."""
        if EXIT_MARK not in lines and STARTED_MARK not in lines:
            return lines
        kept = []
        for line in lines.splitlines(keepends=True):
            try:
                if line.startswith(EXIT_MARK):
                    self._returncode = int(json.loads(line)["returncode"])
                elif line.startswith(STARTED_MARK):
                    self._remote_out_dir = str(json.loads(line)["out_dir"])
                else:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):
                kept.append(line)  # not the shim's after all: the controller judges it
        return b"".join(kept)

    def _finish(self, process: asyncssh.SSHClientProcess[bytes]) -> None:
        """The outcome once the channel has ended: the shim's exit line, else why there was none."""
        if self._returncode is None:
            if self._conn.lost_reason is not None or process.exit_status is None and process.exit_signal is None:
                self._lost = self._conn.lost_reason or f"the SSH session on {self._conn.target.host} ended without an exit status"
                self._returncode = LOST_RETURNCODE
            elif process.exit_signal is not None:
                self._returncode = -_signal_number(process.exit_signal[0])
            else:
                self._returncode = process.exit_status
        self._done.set()

    # -- Launched ----------------------------------------------------------------------
    def poll(self) -> int | None:
        return self._returncode if self._done.is_set() else None

    def signal(self, sig: int) -> None:
        """Through the shim's stdin: OpenSSH's server does not forward every signal request."""
        if self._done.is_set() or self._closed:
            return
        line = json.dumps({"signal": int(sig)}).encode() + b"\n"
        try:
            self._conn.loop.call_soon_threadsafe(self._write_stdin, line)
        except RuntimeError:
            pass  # the loop is closed: the connection is gone

    def _write_stdin(self, data: bytes) -> None:
        try:
            self._process.stdin.write(data)
        except (asyncssh.Error, OSError, BrokenPipeError):
            pass

    def fetch(self, path: str, local_dir: Path) -> Path:
        local = local_copy_path(path, self._remote_out_dir or "/nonexistent", local_dir)
        local.parent.mkdir(parents=True, exist_ok=True)

        async def get() -> None:
            async with self._conn.conn.start_sftp_client() as sftp:
                await sftp.get(path, str(local), recurse=True)
        try:
            self._conn.call(get(), timeout=600.0)
        except (asyncssh.Error, OSError, TimeoutError) as exc:
            raise LaunchError(f"could not copy {path} from {self._conn.target.host}: {exc}") from None
        return local

    def lost(self) -> str | None:
        return self._lost if self._done.is_set() else self._conn.lost_reason

    def close(self) -> None:
        """Tell the shim we are gone (stdin EOF) if it still runs, remove the run's remote
        directory (its artifacts are here now), and drop the connection."""
        if self._closed:
            return
        self._closed = True
        if not self._done.is_set():
            self._conn.loop.call_soon_threadsafe(self._process.stdin.write_eof)
        elif self._conn.lost_reason is None and self._remote_out_dir:
            try:
                self._conn.run(f"rm -rf {shlex.quote(self._remote_out_dir)}", timeout=30.0)
            except ExecutorError:
                pass  # a directory left behind costs disk, not the run
        self._conn.close()
        for fd in (self.stdout_fd, self.stderr_fd, self._control_w):
            try:
                os.close(fd)
            except OSError:
                pass


class SshExecutor:
    """Runs workers on one SSH host, one connection per run."""

    name = "ssh"

    def __init__(self, target: SshTarget) -> None:
        self.target = target

    @classmethod
    def from_target(cls, text: str) -> SshExecutor:
        return cls(SshTarget.parse(text))

    def placement(self) -> dict[str, Any]:
        return {"executor": "ssh", "host": self.target.host, "user": self.target.user, "port": self.target.port}

    def connect(self) -> SshConnection:
        """A connection of this executor's own (remote setup, env); ExecutorError if none."""
        return SshConnection(self.target)

    def launch(self, command: list[str], *, env: dict[str, str], run_id: str, out_dir: Path) -> SshLaunched:
        try:
            conn = self.connect()
        except ExecutorError as exc:
            raise LaunchError(str(exc)) from None
        try:
            return SshLaunched(conn, self.launch_line(command, env, run_id, out_dir))
        except BaseException:
            conn.close()
            raise

    def launch_line(self, command: list[str], env: dict[str, str], run_id: str, out_dir: Path) -> str:
        """One shell line that checks for this version's environment and starts the shim in it:
        one SSH session per run, no round trip before it. Without the environment it writes an
        `error` event naming the set-up command, which becomes the run's reason."""
        env_id = environment_id()
        missing = json.dumps({"type": "error", "t": 0.0, "message": no_environment(self.target.host, str(self.target), env_id),
                              "exc_type": "LaunchError", "traceback": ""})
        argv = [PYTHON_TOKEN if index == 0 and arg == sys.executable else OUT_DIR_TOKEN if arg == str(out_dir) else arg
                for index, arg in enumerate(command)]
        variables = " ".join(shlex.quote(f"{key}={value}") for key, value in env.items() if key != "PYTHONPATH")
        return (f'R={ROOT_SHELL}; E="$R/{env_id}"; '
                f'if [ ! -f "$E/ready.json" ]; then printf "%s\\n" {shlex.quote(missing)}; exit 97; fi; '
                f'cd "$E/code" && exec env {variables} PYTHONPATH="$E/code" "$(cat "$E/python")" -m profilers.remote_shim '
                f'--announce --out-dir "$R/runs/{run_id}" -- ' + " ".join(shlex.quote(arg) for arg in argv))


async def _copy(stream: asyncssh.SSHReader[bytes], sink: asyncio.WriteTransport) -> None:
    try:
        while chunk := await stream.read(READ_CHUNK):
            sink.write(chunk)
    except (asyncssh.Error, OSError):
        pass


def _signal_number(name: str) -> int:
    try:
        return int(signals.Signals[f"SIG{name}"])
    except KeyError:
        return int(signals.SIGKILL)
