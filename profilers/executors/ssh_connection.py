"""One SSH connection (asyncssh) for threads that do not run asyncio: the connection lives on an
event loop in a thread of its own, and `call` runs a coroutine there and waits for it.

Authentication is the user's own SSH set-up, read by asyncssh: the agent, the default keys and
`~/.ssh/config` (Host aliases, HostName, User, Port, IdentityFile, UserKnownHostsFile, ...);
host keys are checked against known_hosts. Nothing is stored and no password is ever asked for.
Keep-alives notice a connection that went silent (a dropped network) within KEEPALIVE_S x 3.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import asyncssh

from profilers.executors.base import ExecutorError

T = TypeVar("T")
CONNECT_TIMEOUT_S = 20.0
KEEPALIVE_S = 10


@dataclass(frozen=True)
class SshTarget:
    """`ssh://[user@]host[:port]`; user and port None: ~/.ssh/config's, else the defaults."""

    host: str
    user: str | None = None
    port: int | None = None

    @classmethod
    def parse(cls, text: str) -> SshTarget:
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError:
            raise ExecutorError(f"bad port in {text!r}: use ssh://[user@]host[:port]") from None
        if parts.scheme != "ssh" or not parts.hostname or parts.path not in ("", "/") or parts.password:
            raise ExecutorError(f"cannot read {text!r} as an SSH target: use ssh://[user@]host[:port] "
                                "(a Host alias of ~/.ssh/config works as the host; never a password)")
        return cls(parts.hostname, parts.username or None, port)

    def __str__(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"ssh://{user}{self.host}{port}"


class _Watcher(asyncssh.SSHClient):
    """Remembers why the connection ended, for `lost()`."""

    def __init__(self, owner: SshConnection) -> None:
        self._owner = owner

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._owner.closing:
            detail = f": {exc}" if exc else ""
            self._owner.lost_reason = f"the SSH connection to {self._owner.target.host} was lost{detail}"


class SshConnection:
    """Connects in the constructor (ExecutorError with one line if it cannot); `close()` when done."""

    def __init__(self, target: SshTarget, connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
        self.target = target
        self.lost_reason: str | None = None
        self.closing = False
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=f"stepscope-ssh-{target.host}", daemon=True)
        self._thread.start()
        try:
            self.conn: asyncssh.SSHClientConnection = self.call(self._connect(connect_timeout))
        except BaseException:
            self._stop_loop()
            raise

    async def _connect(self, timeout: float) -> asyncssh.SSHClientConnection:
        target = self.target
        try:
            conn, _ = await asyncio.wait_for(asyncssh.create_connection(
                lambda: _Watcher(self), target.host, port=target.port or (), username=target.user or (),
                keepalive_interval=KEEPALIVE_S, keepalive_count_max=3), timeout)
            return conn
        except asyncssh.HostKeyNotVerifiable as exc:
            raise ExecutorError(f"{target.host}'s host key is not trusted ({exc.reason}): connect once with "
                                f"`ssh {target.host}` to check and keep it in ~/.ssh/known_hosts") from None
        except asyncssh.PermissionDenied:
            raise ExecutorError(f"{target} refused every key offered: load yours into ssh-agent or name it with "
                                "IdentityFile in ~/.ssh/config (Stepscope never asks for passwords)") from None
        except asyncssh.Error as exc:
            raise ExecutorError(f"SSH to {target} failed: {exc.reason}") from None
        except TimeoutError:
            raise ExecutorError(f"SSH to {target} timed out after {timeout:.0f} s") from None
        except (OSError, ValueError) as exc:  # refused, unreachable, unknown host; a bad ~/.ssh/config line
            raise ExecutorError(f"cannot reach {target}: {exc}") from None

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run `coro` on the connection's loop and return its result (its exception raised here)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def run(self, command: str, timeout: float | None = 60.0) -> asyncssh.SSHCompletedProcess:
        """A shell command on the far side, to completion; ExecutorError if the connection fails."""
        try:
            return self.call(self.conn.run(command, check=False, encoding="utf-8", errors="replace"), timeout)
        except (asyncssh.Error, OSError) as exc:
            raise ExecutorError(f"SSH to {self.target} failed: {exc}") from None

    def put_bytes(self, data: bytes, remote_path: str) -> None:
        """Write `data` to a file on the far side over SFTP."""
        async def put() -> None:
            async with self.conn.start_sftp_client() as sftp, sftp.open(remote_path, "wb") as remote:
                await remote.write(data)
        try:
            self.call(put(), timeout=600.0)
        except (asyncssh.Error, OSError) as exc:
            raise ExecutorError(f"could not write {remote_path} on {self.target.host}: {exc}") from None

    def close(self) -> None:
        """Idempotent; never raises."""
        if self.closing:
            return
        self.closing = True
        try:
            self.conn.close()
            self.call(self.conn.wait_closed(), timeout=5.0)
        except Exception:  # already gone: nothing left to release but the loop
            pass
        self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5.0)
        if not self._thread.is_alive():
            self.loop.close()
