"""A worker stand-in for controller tests: speaks the real protocol through the real
claim_protocol_channel/EventWriter, then misbehaves in the way argv[1] names."""
from __future__ import annotations

import ctypes
import os
import signal
import sys
import time

from profilers.protocol import PROTOCOL_VERSION, EventWriter, claim_protocol_channel

SPEC = {"framework": "torch", "workload": "convnet", "mode": "train", "variant": "eager", "batch_size": 8}


def main() -> None:
    behaviour, steps = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5
    writer = EventWriter(claim_protocol_channel())
    writer.emit("hello", protocol=PROTOCOL_VERSION, framework="torch", framework_version="fake", device_kind="cpu",
                device_name="cpu", host={}, spec=SPEC, param_count=1, pid=os.getpid())
    writer.emit("phase", name="measure", edge="start")
    for i in range(steps):
        if behaviour == "garbage":
            os.write(1, b"native library chatter on fd 1\n{not json\n")
            print("python print to stdout", flush=True)
            libc = ctypes.CDLL(None)
            libc.printf(b"C printf to stdout %d\n", i)
            libc.fflush(None)
        writer.emit("step", index=i, phase="measure", step_ms=10.0 + i, samples_per_s=800.0, loss=1.0 / (i + 1))
    if behaviour == "raise":
        writer.emit("error", message="boom: the model diverged", exc_type="RuntimeError", traceback="Traceback ...")
        sys.exit(1)
    if behaviour == "abort":
        sys.stderr.write("about to abort\n")
        sys.stderr.flush()
        os.abort()
    if behaviour == "segfault":
        os.kill(os.getpid(), signal.SIGSEGV)
    if behaviour == "oom-kill":
        os.kill(os.getpid(), signal.SIGKILL)
    if behaviour == "hang":
        while True:  # the device sampler (and the controller's monitor) still talk; the timeout must fire anyway
            writer.emit("device", device_in_use=1024, device_peak=2048, device_memory_source="fake allocator")
            time.sleep(0.05)
    if behaviour == "malformed":
        os.write(writer._fd, b'{"type": "step", "t": 1.0, "index": "three"}\n')
        time.sleep(30)
    if behaviour == "unknown-type":
        writer.emit("telepathy", payload=1)
        time.sleep(30)
    if behaviour == "exit-silently":
        sys.exit(7)
    if behaviour == "cancel-wait":
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(3))
        time.sleep(60)
    if behaviour == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(60)
    writer.emit("phase", name="measure", edge="end")
    writer.emit("summary", summary={"steps": steps})


if __name__ == "__main__":
    main()
