"""What runs on a Ray node for one run: `RunHost`, made a Ray actor by `profilers.executors.ray`.

It starts the remote shim (`python -m profilers.remote_shim -- WORKER ARGV`, docs/executors.md)
on its node and buffers the shim's stdout and stderr for the controller, which long-polls them
with `take()`. A long poll rather than a Ray streaming generator, because generators do not work
over Ray Client (`ray://`), which is how a laptop reaches a cluster; a poll returns as soon as a
line is there, so an event still arrives in about one round trip. The shim's stdin stays open
while the actor lives: when the actor's process or node dies, the shim sees end of file and stops
the worker, so a worker never outlives its run. Plain Python, no Ray import: Ray wraps it.
"""
from __future__ import annotations

import json
import os
import platform
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from profilers.remote_shim import KILL_AFTER_S

CODE_ROOT = Path(__file__).resolve().parent.parent.parent  # this copy of the project, on this node
BUFFER_LIMIT = 8 << 20  # bytes held for the controller before the shim is left to block on its pipe
READ_CHUNK = 1 << 20
EXIT_MARK = b'{"type": "exit"'  # the shim's last line (json.dumps' separators)


class RunHost:
    """One run on one node: `start`, then `take` until it returns an exit code; `write` forwards
    control lines, `signal` reaches the worker's process group, `read` returns an artifact's bytes,
    `close` stops everything and removes the node-side output directory."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._out_dir: Path | None = None
        self._ready = threading.Condition()
        self._out = bytearray()
        self._err = bytearray()
        self._returncode: int | None = None  # the worker's, from the shim's exit line
        self._shim_code: int | None = None  # the shim's own, once both its pipes have closed
        self._finished = False
        self._closing = False  # close() was called: what the shim still writes is dropped

    def start(self, argv: list[str], env: dict[str, str], controller_host: str | None = None) -> dict[str, Any]:
        """Start the shim around `argv` (the worker's, with the shim's `@PYTHON@` and `@OUT_DIR@`
        tokens for this node's interpreter and a fresh output directory). Returns where it runs.
        On the controller's own machine (`controller_host` is this node's name: a local Ray
        runtime) the samples also say how busy the rest of it was, other points included."""
        self._out_dir = Path(tempfile.mkdtemp(prefix="stepscope-ray-"))
        full_env = dict(os.environ)
        full_env.update(env)
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CODE_ROOT), os.environ.get("PYTHONPATH")]))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "profilers.remote_shim", "--out-dir", str(self._out_dir),
             *(["--others-cpu"] if controller_host == platform.node() else []), "--", *argv],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=CODE_ROOT, env=full_env, start_new_session=True,
        )
        threading.Thread(target=self._pump, name="stepscope-ray-pump", daemon=True).start()
        return {"hostname": platform.node(), "shim_pid": self._proc.pid, "out_dir": str(self._out_dir)}

    def take(self, wait_s: float) -> tuple[bytes, bytes, int | None, int | None]:
        """What the shim wrote since the last call (stdout, stderr), waiting up to `wait_s` for
        something; then, once all is taken, (b"", b"", the worker's exit code, the shim's own).
        The worker's code is None when the shim died without reporting one."""
        with self._ready:
            self._ready.wait_for(lambda: self._out or self._err or self._finished, timeout=wait_s)
            out, err = bytes(self._out), bytes(self._err)
            self._out.clear()
            self._err.clear()
            self._ready.notify_all()  # the pump may be waiting for room
            if out or err or not self._finished:
                return out, err, None, None
            return b"", b"", self._returncode, self._shim_code

    def write(self, data: bytes) -> bool:
        """Forward control lines to the shim's stdin (the worker's); False once it is closed."""
        if self._proc is None or self._proc.stdin is None:
            return False
        try:
            self._proc.stdin.write(data)
            self._proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            return False
        return True

    def signal(self, sig: int) -> None:
        """`sig` to the worker's process group, through the shim's control line `{"signal": N}`."""
        self.write(json.dumps({"signal": int(sig)}).encode() + b"\n")

    def read(self, path: str, offset: int, size: int) -> bytes:
        """`size` bytes of a file the worker wrote under its output directory, from `offset`."""
        assert self._out_dir is not None
        target = Path(path).resolve()
        if not target.is_relative_to(self._out_dir.resolve()):
            raise PermissionError(f"{path} is not in this run's output directory")
        with target.open("rb") as f:
            f.seek(offset)
            return f.read(size)

    def close(self) -> None:
        """Close the shim's stdin (it stops the worker and exits), kill what is left, remove the
        output directory. Idempotent."""
        proc = self._proc
        with self._ready:
            self._closing = True
            self._ready.notify_all()
        if proc is not None:
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
            try:
                proc.wait(timeout=KILL_AFTER_S + 2.0)  # the shim's own SIGTERM-then-SIGKILL of the worker
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                proc.wait(timeout=5.0)
        if self._out_dir is not None:
            shutil.rmtree(self._out_dir, ignore_errors=True)

    # -- the pump: the shim's two pipes into the buffers -------------------------------
    def _pump(self) -> None:
        proc = self._proc
        assert proc is not None and proc.stdout is not None and proc.stderr is not None
        selector = selectors.DefaultSelector()
        for stream, is_out in ((proc.stdout, True), (proc.stderr, False)):
            os.set_blocking(stream.fileno(), False)
            selector.register(stream, selectors.EVENT_READ, is_out)
        partial = bytearray()  # stdout after its last newline: whole lines only, to find the exit line
        while selector.get_map():
            for key, _ in selector.select():
                try:
                    chunk = os.read(key.fd, READ_CHUNK)
                except BlockingIOError:
                    continue
                if not chunk:
                    selector.unregister(key.fileobj)
                    if key.data and partial:
                        self._put(self._without_exit(bytes(partial)), b"")
                    continue
                if key.data:
                    partial += chunk
                    end = partial.rfind(b"\n") + 1
                    if end:
                        lines = bytes(partial[:end])
                        del partial[:end]
                        self._put(self._without_exit(lines), b"")
                else:
                    self._put(b"", chunk)
        code = proc.wait()
        with self._ready:
            self._shim_code = code
            self._finished = True
            self._ready.notify_all()

    def _without_exit(self, lines: bytes) -> bytes:
        """The shim's last line `{"type": "exit", "returncode": N}` is for the executor: keep N,
        drop the line (a cheap substring test spares every other line a JSON parse)."""
        if EXIT_MARK not in lines:
            return lines
        kept = []
        for line in lines.splitlines(keepends=True):
            if line.startswith(EXIT_MARK):
                try:
                    self._returncode = int(json.loads(line)["returncode"])
                    continue
                except (ValueError, KeyError, TypeError):
                    pass  # not the shim's after all: the controller judges it
            kept.append(line)
        return b"".join(kept)

    def _put(self, out: bytes, err: bytes) -> None:
        if not out and not err:
            return
        with self._ready:
            self._ready.wait_for(lambda: self._closing or len(self._out) + len(self._err) < BUFFER_LIMIT)
            if self._closing:
                return
            self._out += out
            self._err += err
            self._ready.notify_all()
