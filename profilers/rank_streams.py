"""The ranks of a distributed program (docs/programs.md, "Multi-rank programs"): a Unix socket the
controller listens on (`STEPSCOPE_RANKS`), one stream per rank process that connects, each read by
a thread of its own that also samples that rank's process tree at 10 Hz.

A rank's processes are not the controller's children (torchrun starts each in a session of its
own), so a rank that dies is seen here: its stream ends without the agent's last line
(`{"end": true, ...}`, written at exit). Its pid comes from the socket itself (SO_PEERCRED), so
the controller can stop whatever is left of every rank when the run ends.
"""
from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from profilers.control_socket import CaptureControl, CaptureRefused, listen_private, runtime_dir
from profilers.host_monitor import HostMonitor
from profilers.protocol import MAX_LINE_BYTES
from profilers.stream_pump import yield_to_workload

log = logging.getLogger("stepscope.profilers")

READ_BYTES = 1 << 16


@dataclass
class RankStream:
    """One rank process's connection: its pid, the rank it says it is, how it ended."""

    conn: socket.socket
    pid: int
    rank: int | None = None
    ended: bool = False  # its last line came: it exited on its own
    error: str | None = None  # the uncaught exception it ended with, if any
    monitor: HostMonitor | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, line: bytes) -> bool:
        """A control line to this rank; False when it is gone."""
        with self.lock:
            try:
                self.conn.sendall(line)
            except OSError:
                return False
        return True


OnLine = Callable[[RankStream, bytes], None]
OnSample = Callable[[RankStream, dict[str, Any]], None]
OnClose = Callable[[RankStream], None]


class RankServer:
    """Accepts the ranks' streams for one run; `close()` removes the socket."""

    def __init__(self, path: Path, sock: socket.socket, clock_origin: float, on_line: OnLine, on_sample: OnSample,
                 on_close: OnClose) -> None:
        self.path = path
        self._sock = sock
        self._origin = clock_origin
        self._on_line, self._on_sample, self._on_close = on_line, on_sample, on_close
        self.streams: list[RankStream] = []
        self.threads: list[threading.Thread] = []
        self._closed = threading.Event()
        self._lock = threading.Lock()
        thread = threading.Thread(target=self._accept, name=f"stepscope-ranks-{path.stem}", daemon=True)
        thread.start()

    @classmethod
    def open(cls, run_id: str, clock_origin: float, on_line: OnLine, on_sample: OnSample,
             on_close: OnClose) -> RankServer | None:
        """The run's rank socket, or None (logged) where none can be made: a multi-rank program then
        records its launcher's direct child only."""
        path = runtime_dir() / f"{run_id}.ranks.sock"
        try:
            sock = listen_private(path, 64)
        except OSError as exc:
            log.warning("run %s records no ranks of a distributed program: no rank socket (%s)", run_id, exc)
            return None
        return cls(path, sock, clock_origin, on_line, on_sample, on_close)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            pid, uid, _ = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
            if uid != os.getuid():
                conn.close()
                continue
            stream = RankStream(conn, pid)
            try:
                # No others_cpu here: it would count the other ranks; the whole program's samples carry it.
                stream.monitor = HostMonitor(pid, self._origin, with_children=True, others=False)
            except Exception as exc:  # a rank gone already: its stream still holds what it wrote
                log.debug("rank process %d not sampled: %s", pid, exc)
            thread = threading.Thread(target=self._read, args=(stream,), name=f"stepscope-rank-{pid}", daemon=True)
            with self._lock:
                self.streams.append(stream)
                self.threads.append(thread)
            thread.start()

    def _read(self, stream: RankStream) -> None:
        """Lines as they come, the rank's samples when due, until its stream ends."""
        yield_to_workload()
        fd = stream.conn.fileno()
        pending = b""
        monitor = stream.monitor
        try:
            while True:
                wait = monitor.seconds_to_next() if monitor is not None and stream.rank is not None else None
                ready, _, _ = select.select([fd], [], [], wait)
                if ready:
                    chunk = stream.conn.recv(READ_BYTES)
                    if not chunk:
                        break
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        self._line(stream, line)
                    if len(pending) > MAX_LINE_BYTES:
                        self._on_line(stream, pending)
                        pending = b""
                if monitor is not None and stream.rank is not None and (sample := monitor.sample_if_due()) is not None:
                    self._on_sample(stream, {**sample, "rank": stream.rank})
        except OSError as exc:
            log.debug("rank stream of pid %d ended: %s", stream.pid, exc)
        finally:
            if pending.strip():
                self._line(stream, pending)
            if monitor is not None:
                monitor.close()
            self._on_close(stream)
            with stream.lock:
                stream.conn.close()

    def _line(self, stream: RankStream, line: bytes) -> None:
        if line.startswith(b'{"end"'):
            try:
                last = json.loads(line)
                stream.ended, stream.error = True, last.get("error")
                return
            except ValueError:
                pass
        if line.strip():
            self._on_line(stream, line)

    def broadcast(self, captures: CaptureControl, steps: int | None, seconds: float | None,
                  ranks: tuple[int, ...] | None) -> int:
        """One capture window on every rank (or the chosen `ranks`): its number, or CaptureRefused."""
        with self._lock:
            targets = [s for s in self.streams if s.rank is not None and not s.ended and (ranks is None or s.rank in ranks)]
        if not targets:
            raise CaptureRefused("no rank of the program is connected yet" if ranks is None
                                 else f"none of ranks {', '.join(map(str, ranks))} is connected")
        read_fd, write_fd = os.pipe()  # numbered and written by CaptureControl, as for one process
        try:
            window = captures.request(write_fd, steps, seconds)
            line = os.read(read_fd, 4096)
        finally:
            os.close(read_fd)
            os.close(write_fd)
        sent = [s.rank for s in targets if s.send(line)]
        if not sent:
            raise CaptureRefused("every chosen rank has ended")
        return window

    def kill_all(self) -> None:
        """SIGKILL whatever is left of every rank (each may lead a session of its own) and its children."""
        with self._lock:
            pids = [s.pid for s in self.streams]
        for pid in pids:
            try:
                victims = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
            except psutil.Error:
                continue
            try:
                if os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
            for proc in victims:
                try:
                    proc.kill()
                except psutil.Error:
                    pass

    def close(self) -> None:
        self._closed.set()
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self._sock.close()
        finally:
            self.path.unlink(missing_ok=True)
