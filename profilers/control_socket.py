"""Capture requests to a running run (docs/capture.md): numbered and written as control lines by
its controller, and reachable from another process through a Unix socket the controller opens per
run, so `./stepscope capture RUN_ID` in a second terminal and the app's button take the same path.

The socket lives in `platformdirs.user_runtime_dir("stepscope")` (a folder only its owner can
enter), is itself owner-only, and is removed when the run ends: no socket means no running run.
A client sends one JSON line and reads one back; the server serves each on a thread of its own.
"""
from __future__ import annotations

import json
import logging
import math
import os
import socket
import stat
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import platformdirs

from profilers.capture_windows import CaptureRequest

log = logging.getLogger("stepscope.profilers")

REPLY_TIMEOUT_S = 5.0
MAX_REQUEST_BYTES = 4096
Handler = Callable[[int | None, float | None, tuple[int, ...] | None], int]  # (steps, seconds, ranks) -> window


class CaptureRefused(Exception):
    """A capture that cannot be armed; the message is one line for the user."""


def runtime_dir() -> Path:
    """The per-user runtime folder; without XDG_RUNTIME_DIR platformdirs falls back to /tmp/runtime-UID
    (and warns): still one user's, since ControlServer makes it 0700."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", platformdirs.RuntimeDirWarning)
        return Path(platformdirs.user_runtime_dir("stepscope", ensure_exists=False))


def listen_private(path: Path, backlog: int) -> socket.socket:
    """A listening Unix socket at `path` that only this user can reach: its folder owner-only (and
    ours), the socket file created owner-only, never briefly open to others. OSError otherwise."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.parent.stat().st_uid != os.getuid():
        raise OSError(f"{path.parent} belongs to another user")
    os.chmod(path.parent, 0o700)
    path.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        sock.bind(str(path))
    finally:
        os.umask(old_umask)
    sock.listen(backlog)
    return sock


def socket_path(run_id: str) -> Path:
    return runtime_dir() / f"{run_id}.sock"


def check_amount(steps: int | None, seconds: float | None) -> None:
    """CaptureRefused unless exactly one of a step count (>= 1) and a duration (> 0 s) is given."""
    if (steps is None) == (seconds is None):
        raise CaptureRefused("give either a number of steps or a number of seconds to capture")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise CaptureRefused(f"the steps to capture must be a whole number of at least 1, not {steps!r}")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                or not math.isfinite(seconds) or seconds <= 0):
        raise CaptureRefused(f"the seconds to capture must be more than 0, not {seconds!r}")


class CaptureControl:
    """A run's capture windows: numbers them (1, 2, ...; 0 is the planned window) and writes each
    request as one control line to the run's control descriptor."""

    def __init__(self) -> None:
        self._next = 1
        self._lock = threading.Lock()

    def request(self, fd: int | None, steps: int | None, seconds: float | None) -> int:
        check_amount(steps, seconds)
        if fd is None:
            raise CaptureRefused("this run takes no capture requests (where it runs, there is no control channel)")
        with self._lock:
            line = CaptureRequest(self._next, steps, None if seconds is None else float(seconds)).to_line()
            try:
                os.write(fd, line)  # a few dozen bytes into an empty pipe: atomic, and it does not block
            except OSError:
                raise CaptureRefused("the run has ended (its control channel is closed)") from None
            self._next += 1
            return self._next - 1


class ControlServer:
    """The Unix socket of one running run; `close()` removes it."""

    def __init__(self, path: Path, sock: socket.socket, handler: Handler) -> None:
        self.path = path
        self._sock = sock
        self._handler = handler
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"stepscope-control-{path.stem}", daemon=True)
        self._thread.start()

    @classmethod
    def open(cls, run_id: str, handler: Handler) -> ControlServer | None:
        """The run's socket, or None (logged) where it cannot be made: the run goes on without it."""
        path = socket_path(run_id)
        try:
            sock = listen_private(path, 4)
        except OSError as exc:
            log.warning("run %s takes capture requests only from this process: no control socket (%s)", run_id, exc)
            return None
        return cls(path, sock, handler)

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._answer, args=(conn,), name="stepscope-control-client", daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(REPLY_TIMEOUT_S)
            try:
                reply = self._reply(_read_line(conn))
                conn.sendall((json.dumps(reply) + "\n").encode("utf-8"))
            except OSError:
                pass  # the client went away

    def _reply(self, line: bytes) -> dict[str, Any]:
        try:
            asked = json.loads(line).get("capture")
            if not isinstance(asked, dict):
                raise CaptureRefused("not a capture request")
            ranks = asked.get("ranks")
            if ranks is not None and (not isinstance(ranks, list) or not ranks
                                      or not all(isinstance(r, int) and not isinstance(r, bool) and r >= 0 for r in ranks)):
                raise CaptureRefused(f"the ranks to capture must be rank numbers, not {ranks!r}")
            window = self._handler(asked.get("steps"), asked.get("seconds"), None if ranks is None else tuple(ranks))
        except (ValueError, AttributeError, TypeError):
            return {"ok": False, "error": "not a capture request"}
        except CaptureRefused as exc:
            return {"ok": False, "error": str(exc)}
        return {"ok": True, "window": window}

    def close(self) -> None:
        self._closed.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (close alone leaves it blocked)
        except OSError:
            pass
        try:
            self._sock.close()
        finally:
            self.path.unlink(missing_ok=True)


def send_capture(run_id: str, steps: int | None = None, seconds: float | None = None,
                 ranks: tuple[int, ...] | None = None) -> int:
    """Ask the running run `run_id` on this machine for a capture window (on `ranks` only, for a
    distributed program); its number, or CaptureRefused with one line (not running here, refused
    by the run, no answer)."""
    check_amount(steps, seconds)
    path = socket_path(run_id)
    try:
        mode = path.stat().st_mode
    except OSError:
        raise CaptureRefused(f"run {run_id} is not running on this machine (no control socket at {path})") from None
    if not stat.S_ISSOCK(mode):
        raise CaptureRefused(f"{path} is not a run's control socket")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(REPLY_TIMEOUT_S)
        try:
            sock.connect(str(path))
            sock.sendall((json.dumps({"capture": {"steps": steps, "seconds": seconds,
                                                    "ranks": None if ranks is None else list(ranks)}}) + "\n").encode("utf-8"))
            reply = json.loads(_read_line(sock) or b"{}")
        except (ConnectionRefusedError, FileNotFoundError):
            raise CaptureRefused(f"run {run_id} has ended (its control socket is left over, nobody answers)") from None
        except (OSError, ValueError) as exc:
            raise CaptureRefused(f"run {run_id} did not answer the capture request ({exc})") from None
    if not reply.get("ok"):
        raise CaptureRefused(f"run {run_id} refused the capture: {reply.get('error') or 'no reason given'}")
    return int(reply["window"])


def _read_line(sock: socket.socket) -> bytes:
    data = b""
    while b"\n" not in data and len(data) < MAX_REQUEST_BYTES:
        chunk = sock.recv(MAX_REQUEST_BYTES)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0]
