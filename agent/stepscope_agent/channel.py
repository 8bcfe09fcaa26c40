"""The event channel to the controller: JSON lines on the pipe whose write end it passed us.

`STEPSCOPE_CHANNEL` is "<fd>:<inode>". A process writes only if that descriptor is open and
still the pipe the controller made (a Python started by the program with the fd number reused
stays silent), and only the process that claimed it: forked children (DataLoader workers) and
processes it starts with the fd inherited (`os.system("python x.py")`) are silent, so lines never
interleave. Writes of a line are atomic below PIPE_BUF; a gone controller silences the channel.
"""
from __future__ import annotations

import json
import math
import os
import threading
import time
from typing import Any

OWNER_VARIABLE = "STEPSCOPE_CHANNEL_OWNER"


def _clean(value: Any) -> Any:
    """JSON without NaN/Infinity (the controller's parser is strict JSON): non-finite floats -> None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


FLUSH_S = 0.05  # step events wait at most this long in the process before they are written


def _number(x: float | None) -> str:
    """A JSON number, or null for None and for what strict JSON cannot hold (NaN, Infinity)."""
    if x is None or not math.isfinite(x):
        return "null"
    return repr(float(x))


class Channel:
    def __init__(self, fd: int, clock_origin: float) -> None:
        self._fd = fd
        self._origin = clock_origin
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._pending = bytearray()
        self._steps: list[tuple[float, int, str, float, float | None, float | None]] = []
        self._flushed = 0.0
        self.open = True
        self.rank: int | None = None  # a rank of a distributed job tags every event (docs/programs.md)
        self._rank_text = ""
        self._socket: Any = None  # the rank's stream (ranks.py), kept open as long as the channel

    def join_rank(self, sock: Any, rank: int) -> None:
        """From now on this process is rank `rank`: every event carries it and goes to its own stream."""
        with self._lock:
            self._write_pending()
            self._socket, self._fd, self.rank = sock, sock.fileno(), rank
            self._rank_text = f',"rank":{rank}'
            self.open = True

    def end(self, last_line: bytes) -> None:
        """At exit: what is still buffered, then the rank stream's last line (ranks.end_line)."""
        self.flush()
        if self._socket is not None and self.open and os.getpid() == self._pid:
            self._send(last_line, flush=True)

    def now(self) -> float:
        """Seconds on the controller's clock (perf_counter is CLOCK_MONOTONIC, shared by all processes)."""
        return time.perf_counter() - self._origin

    def at(self, perf_counter_value: float) -> float:
        return max(perf_counter_value - self._origin, 0.0)

    def emit(self, kind: str, /, t: float | None = None, **fields: Any) -> None:
        if not self.open or os.getpid() != self._pid:
            return
        if t is None:
            t = self.now()
        event = {"type": kind, "t": round(t, 6)}
        event.update(_clean(fields))
        if self.rank is not None:
            event["rank"] = self.rank
        self._send((json.dumps(event, separators=(",", ":")) + "\n").encode("utf-8"), flush=True)

    def step(self, t: float, index: int, phase: str, step_ms: float, samples_per_s: float | None,
             loss: float | None) -> None:
        """A `step` event, kept as a tuple and formatted (by hand: a tenth of json.dumps's cost)
        and sent with the next flush: at most FLUSH_S after the previous one, with the next other
        event, or at exit. Formatting in a batch costs the program a third of formatting each step
        between its framework calls (cold caches); a crash loses at most the last FLUSH_S of steps."""
        if self._pid != os.getpid() or not self.open:
            return
        self._steps.append((t, index, phase, step_ms, samples_per_s, loss))
        if time.perf_counter() - self._flushed >= FLUSH_S:
            self._send(b"", flush=True)

    def flush(self) -> None:
        self._send(b"", flush=True)

    def _send(self, data: bytes, flush: bool) -> None:
        with self._lock:
            if self._steps:  # steps first: they happened before whatever event comes now
                steps, self._steps, rank = self._steps, [], self._rank_text
                self._pending += "".join([
                    f'{{"type":"step","t":{t:.6f},"index":{index},"phase":"{phase}","step_ms":{step_ms:.6f},'
                    f'"samples_per_s":{"null" if per_s is None else f"{per_s:.3f}"},"loss":{_number(loss)}{rank}}}\n'
                    for t, index, phase, step_ms, per_s, loss in steps]).encode("ascii")
            self._pending += data
            if not flush or not self._pending:
                return
            self._write_pending()

    def _write_pending(self) -> None:
        """Write what is pending (the caller holds the lock)."""
        if self._pending and self.open:
            self._flushed = time.perf_counter()
            try:
                view = memoryview(bytes(self._pending))
                self._pending.clear()
                while view:
                    view = view[os.write(self._fd, view):]
            except OSError:  # the controller is gone (EPIPE) or the descriptor was closed by the program
                self.open = False

    def close_in_child(self) -> None:
        self.open = False


def open_channel(environ: Any = None) -> Channel | None:
    """The channel the controller left for this process, or None (no channel, a stale descriptor,
    or a process started by the program rather than the program itself)."""
    env = os.environ if environ is None else environ
    text = env.get("STEPSCOPE_CHANNEL", "")
    owner = env.get(OWNER_VARIABLE)
    if not text or (owner and owner != str(os.getpid())):
        return None
    try:
        fd_text, inode_text = text.split(":")
        fd, inode = int(fd_text), int(inode_text)
        if os.fstat(fd).st_ino != inode:
            return None
        origin = float(env.get("STEPSCOPE_CLOCK_ORIGIN", "nan"))
    except (ValueError, OSError):
        return None
    if not math.isfinite(origin):
        origin = time.perf_counter()
    env[OWNER_VARIABLE] = str(os.getpid())  # inherited: later Pythons know they are not the program
    os.set_inheritable(fd, False)  # and programs it starts (a shell, a compiler) do not hold the pipe open
    channel = Channel(fd, origin)
    os.register_at_fork(after_in_child=channel.close_in_child)
    return channel
