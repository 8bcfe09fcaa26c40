"""The remote shim: what a remote executor (SSH, Ray) starts on the far machine, in front of a worker.

    python -m profilers.remote_shim [--out-dir DIR] [--announce] -- WORKER ARGV

It does there what the controller does for a local worker: starts it (a session of its own),
samples it with `HostMonitor` (`sample` events into the stream it forwards; the worker's `device`
events feed those samples), and passes the worker's stderr through. In the worker's argv,
`@PYTHON@` becomes this interpreter, `@OUT_DIR@` the `--out-dir` given here, and the value of
`--clock-origin` this shim's own start, so samples and events share the far machine's clock.

Its stdin carries control lines: `{"signal": N}` signals the worker's process group (a cancel,
without relying on the SSH server forwarding signals); any other line goes to the worker's stdin.
When the worker has exited it writes one last line `{"type": "exit", "t": ..., "returncode": N}`
for the executor (with `--announce`, also a first line `{"type": "started", "out_dir": ...}`, so an
executor that let the far side's shell choose the directory learns it). When its own stdin ends
or it gets SIGHUP/SIGTERM, the controller is gone: it stops the worker's process group (SIGTERM,
SIGKILL after KILL_AFTER_S) so no worker outlives it.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

from profilers.host_monitor import HostMonitor
from profilers.stream_pump import pump

KILL_AFTER_S = 3.0
PYTHON_TOKEN = "@PYTHON@"
OUT_DIR_TOKEN = "@OUT_DIR@"


def worker_argv(argv: list[str], out_dir: str | None, origin: float) -> list[str]:
    """The worker's argv with this machine's interpreter, output directory and clock origin."""
    resolved = [sys.executable if arg == PYTHON_TOKEN else (out_dir or arg) if arg == OUT_DIR_TOKEN else arg
                for arg in argv]
    for index, arg in enumerate(resolved[:-1]):
        if arg == "--clock-origin":
            resolved[index + 1] = repr(origin)
    return resolved


class Shim:
    """Runs one worker and relays it; `run()` returns once the worker is gone."""

    def __init__(self, argv: list[str], out_fd: int = 1, in_fd: int = 0, others_cpu: bool = False) -> None:
        self._argv = argv
        self._others_cpu = others_cpu  # this machine is the controller's: say how busy the rest of it is
        self._out_fd = out_fd
        self._in_fd = in_fd
        self._write_lock = threading.Lock()
        self._broken = False  # our stdout is gone: the controller cannot hear us any more
        self._stopping = threading.Event()
        self.proc: subprocess.Popen[bytes] | None = None

    def run(self, origin: float) -> int:
        try:
            self.proc = subprocess.Popen(self._argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=None, start_new_session=True)
        except OSError as exc:
            print(f"stepscope shim: could not start the worker ({exc})", file=sys.stderr)
            self._write({"type": "exit", "t": round(time.perf_counter() - origin, 6), "returncode": 127})
            return 1
        monitor = HostMonitor(self.proc.pid, origin, others=self._others_cpu)  # others_cpu: only of the controller's machine
        threading.Thread(target=self._read_control, name="stepscope-shim-control", daemon=True).start()
        assert self.proc.stdout is not None
        pump(self.proc.stdout.fileno(), lambda line: self._relay(line, monitor), monitor, self._write)
        code = self.proc.wait()
        self._write({"type": "exit", "t": round(time.perf_counter() - origin, 6), "returncode": code})
        return 0

    def announce(self, out_dir: str | None) -> None:
        self._write({"type": "started", "out_dir": out_dir, "pid": os.getpid()})

    def stop(self) -> None:
        """The controller is gone: stop the worker's group, harder after KILL_AFTER_S."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._signal(signal.SIGTERM)
        timer = threading.Timer(KILL_AFTER_S, self._signal, args=(signal.SIGKILL,))
        timer.daemon = True
        timer.start()

    def _signal(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _relay(self, line: bytes, monitor: HostMonitor) -> None:
        """Pass a worker line on as it is (the controller judges it), noting what the monitor needs."""
        if b'"device' in line or b'"hello"' in line:
            try:
                event = json.loads(line)
            except ValueError:
                event = None
            if isinstance(event, dict) and event.get("type") == "device":
                monitor.device_reading(event)
            elif isinstance(event, dict) and event.get("type") == "hello" and event.get("device_kind") != "cpu":
                monitor.watch_gpu()
        self._write_bytes(line if line.endswith(b"\n") else line + b"\n")

    def _write(self, event: dict[str, Any]) -> None:
        self._write_bytes(json.dumps(event).encode() + b"\n")

    def _write_bytes(self, data: bytes) -> None:
        if self._broken:
            return
        with self._write_lock:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._out_fd, view):]
            except OSError:  # the connection is gone; keep draining the worker until it stops
                self._broken = True
                self.stop()

    def _read_control(self) -> None:
        """Control lines from the controller until end of file, which means it is gone."""
        assert self.proc is not None and self.proc.stdin is not None
        worker_stdin = self.proc.stdin
        with os.fdopen(self._in_fd, "rb", buffering=0, closefd=False) as stream:
            for line in iter(stream.readline, b""):
                self._control(line, worker_stdin)
        self.stop()

    def _control(self, line: bytes, worker_stdin: Any) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if isinstance(message, dict) and isinstance(message.get("signal"), int):
            self._signal(message["signal"])
            return
        try:
            worker_stdin.write(line)
            worker_stdin.flush()
        except OSError:
            pass  # the worker has closed its stdin or exited


def main(argv: list[str] | None = None) -> int:
    origin = time.perf_counter()
    args = list(sys.argv[1:] if argv is None else argv)
    if "--" not in args:
        print("usage: python -m profilers.remote_shim [--out-dir DIR] -- WORKER ARGV", file=sys.stderr)
        return 2
    split = args.index("--")
    parser = argparse.ArgumentParser(prog="python -m profilers.remote_shim")
    parser.add_argument("--out-dir", default=None, help="the run's output directory here (created)")
    parser.add_argument("--announce", action="store_true", help="first write a `started` line naming --out-dir")
    parser.add_argument("--others-cpu", action="store_true",
                        help="this is the controller's machine: samples carry the rest of its CPU use (others_cpu)")
    options = parser.parse_args(args[:split])
    if options.out_dir:
        Path(options.out_dir).mkdir(parents=True, exist_ok=True)
    shim = Shim(worker_argv(args[split + 1:], options.out_dir, origin), others_cpu=options.others_cpu)
    if options.announce:
        shim.announce(str(Path(options.out_dir).resolve()) if options.out_dir else None)

    def on_hangup(signum: int, frame: FrameType | None) -> None:
        shim.stop()

    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, on_hangup)
    return shim.run(origin)


if __name__ == "__main__":
    sys.exit(main())
