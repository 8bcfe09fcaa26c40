"""A user's program stand-in for the program controller's tests: it plays its own agent, reading
STEPSCOPE_CHANNEL, STEPSCOPE_CLOCK_ORIGIN and STEPSCOPE_PLAN itself and writing contract events
(docs/programs.md) straight to the passed descriptor, then behaves or misbehaves as argv[1] says.
Standard library only; the tests run it with `python -S` so the real agent stays out of it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time


class Channel:
    def __init__(self) -> None:
        self.fd: int | None = None
        spec = os.environ.get("STEPSCOPE_CHANNEL", "")
        fd_text, _, inode = spec.partition(":")
        if fd_text.isdigit():
            try:
                if os.fstat(int(fd_text)).st_ino == int(inode):
                    self.fd = int(fd_text)
            except OSError:
                pass
        self.origin = float(os.environ.get("STEPSCOPE_CLOCK_ORIGIN", time.perf_counter()))

    def emit(self, kind: str, **fields: object) -> None:
        if self.fd is None:
            return
        line = json.dumps({"type": kind, "t": round(max(time.perf_counter() - self.origin, 0.0), 6), **fields}) + "\n"
        os.write(self.fd, line.encode())

    def hide_from_children(self) -> None:
        """What the agent does once it has claimed the channel: exec'd children do not inherit it."""
        if self.fd is not None:
            os.set_inheritable(self.fd, False)


def steps(channel: Channel, count: int, step_s: float = 0.005, batch: int | None = None) -> None:
    channel.emit("program", framework="torch", framework_version="fake-2.0", pid=os.getpid())
    channel.emit("step_source", source="stepscope.step", detail="the program calls stepscope.step() in its loop")
    for i in range(count):
        time.sleep(step_s)
        if i == 0:
            channel.emit("hello", protocol=1, framework="torch", framework_version="fake-2.0", device_kind="cpu",
                         device_name="cpu", host={}, spec={}, param_count=None, pid=os.getpid())
        per_s = batch * 1000.0 / (step_s * 1000) if batch else None
        channel.emit("step", index=i, phase="warmup" if i == 0 else "measure", step_ms=step_s * 1000, samples_per_s=per_s,
                     loss=1.0 / (i + 1))
        print(f"fake: step {i}", flush=True)


def main() -> None:
    behaviour = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    channel = Channel()
    if behaviour == "ok":
        steps(channel, count)
        channel.emit("notice", message="the fake agent has something to say")
        print("fake: done", flush=True)
        sys.stderr.write("fake: a warning on stderr\n")
    elif behaviour == "batch":
        steps(channel, count, batch=32)
    elif behaviour == "no-framework":
        print("plain python, no framework", flush=True)
    elif behaviour == "plan":
        print(json.dumps({"plan": json.loads(os.environ["STEPSCOPE_PLAN"]), "channel": channel.fd is not None,
                          "pythonpath": os.environ.get("PYTHONPATH", ""), "user": os.environ.get("FAKE_USER_VAR"),
                          "cwd": os.getcwd()}), flush=True)
    elif behaviour == "exit":
        steps(channel, count)
        sys.stderr.write("Traceback (most recent call last):\n  File \"train.py\", line 3\nRuntimeError: CUDA out of memory\n")
        sys.exit(3)
    elif behaviour == "raise":
        steps(channel, count)
        raise ValueError("the loss went to NaN")
    elif behaviour == "segfault":
        steps(channel, count)
        os.kill(os.getpid(), signal.SIGSEGV)
    elif behaviour == "hang":
        steps(channel, count)
        time.sleep(60)
    elif behaviour == "chatty":  # no steps, but output: alive, never hung
        for i in range(count):
            print(f"working {i}", flush=True)
            time.sleep(0.2)
    elif behaviour == "flood":  # count MiB of numbered lines on stdout, as fast as it can
        block = b"".join(b"%07d flood line of the fake program\n" % i for i in range(30000))[: 1 << 20]
        for _ in range(count):
            sys.stdout.buffer.write(block)
        sys.stdout.flush()
    elif behaviour == "fork-alloc":  # a worker process holding 200 MB, left behind when the parent exits
        pid = os.fork()
        if pid == 0:
            hold = bytearray(200 << 20)
            for i in range(0, len(hold), 4096):
                hold[i] = 1
            time.sleep(60)
            os._exit(0)
        print(f"child {pid}", flush=True)
        steps(channel, count, step_s=0.1)
    elif behaviour == "ignore-sigint":  # and SIGTERM, with a child that does the same
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        print(f"child {pid}", flush=True)
        steps(channel, count)
        time.sleep(60)
    elif behaviour == "grandchildren":  # a non-Python grandchild started each way, then exit
        channel.hide_from_children()
        spawned = subprocess.Popen(["sleep", "30"])
        print(f"spawned {spawned.pid}", flush=True)
        os.system("sleep 31 & echo shell $!")
        steps(channel, count)
    elif behaviour == "leak-channel":  # the worst case: a backgrounded grandchild keeps the pipe open
        os.system("sleep 32 & echo shell $!")
        steps(channel, count)
    elif behaviour == "escape":  # a grandchild in a session of its own, holding every pipe open
        os.system("setsid sleep 33 & echo escaped $!")
        steps(channel, count)
    elif behaviour == "malformed":
        steps(channel, count)
        assert channel.fd is not None
        os.write(channel.fd, b'{"type": "step", "t": 1.0, "index": "three"}\n')
        time.sleep(30)
    elif behaviour == "stdin":
        print(f"read {sys.stdin.read()!r}", flush=True)
    else:
        sys.exit(f"unknown behaviour {behaviour}")


if __name__ == "__main__":
    main()
