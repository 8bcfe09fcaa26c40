"""A worker stand-in for the window tests: speaks the real protocol (hello on a CPU, compile,
warm-up, measured and trace-window phases) at a pace a test can watch streaming, without a
framework.

    python tests/gui/streaming_worker.py ok|fail STEPS STEP_SECONDS
"""
from __future__ import annotations

import os
import sys
import time

from profilers.protocol import PROTOCOL_VERSION, EventWriter, claim_protocol_channel

SPEC = {"framework": "torch", "workload": "convnet", "mode": "train", "variant": "eager", "batch_size": 8}


def main() -> None:
    behaviour, steps, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    writer = EventWriter(claim_protocol_channel())
    writer.emit("hello", protocol=PROTOCOL_VERSION, framework="torch", framework_version="fake", device_kind="cpu",
                device_name="cpu", host={}, spec=SPEC, param_count=1, pid=os.getpid())
    writer.emit("phase", name="compile", edge="start")
    time.sleep(pause)
    writer.emit("phase", name="compile", edge="end")
    index = 0
    for phase, count in (("warmup", 2), ("measure", steps), ("trace", 2)):
        writer.emit("phase", name=phase, edge="start")
        for _ in range(count):
            time.sleep(pause)
            writer.emit("step", index=index, phase=phase, step_ms=10.0 + index % 3, samples_per_s=800.0, loss=1.0)
            index += 1
        writer.emit("phase", name=phase, edge="end")
        if behaviour == "fail" and phase == "measure":
            writer.emit("error", message="the model diverged (fake)", exc_type="RuntimeError", traceback="Traceback ...")
            sys.exit(1)
    writer.emit("summary", summary={"steps": steps})


if __name__ == "__main__":
    main()
