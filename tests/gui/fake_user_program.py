"""A stand-in for the user's own training script (docs/programs.md): it speaks the agent's side of
the contract by hand, without a framework and without the agent, so the app's path for programs
(form → queue → ProgramController → session and live plots) is tested on its own.

    python tests/gui/fake_user_program.py [STEPS [STEP_SECONDS [--wait]]]

It writes to the event pipe named by STEPSCOPE_CHANNEL ("<fd>:<inode>", checked as the agent
does), with times on the controller's clock (STEPSCOPE_CLOCK_ORIGIN): `program`, `step_source`,
a `notice`, `hello` at the first step, then `step` events with no samples/s (batch size
unknown). It prints to stdout (the run log keeps it) and exits 0; with --wait it then waits to
be stopped (SIGINT, as Stop sends), to test cancelling.
"""
from __future__ import annotations

import json
import os
import sys
import time


def channel() -> int:
    fd_text, _, inode = os.environ["STEPSCOPE_CHANNEL"].partition(":")
    fd = int(fd_text)
    if os.fstat(fd).st_ino != int(inode):
        raise SystemExit("STEPSCOPE_CHANNEL names another file")
    return fd


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    pause = float(sys.argv[2]) if len(sys.argv) > 2 else 0.02
    origin = float(os.environ["STEPSCOPE_CLOCK_ORIGIN"])
    fd = channel()

    def emit(kind: str, **fields: object) -> None:
        line = json.dumps({"type": kind, "t": round(time.perf_counter() - origin, 6), **fields}) + "\n"
        os.write(fd, line.encode())

    print("fake training starts", flush=True)
    emit("program", framework="torch", framework_version="2.0", pid=os.getpid())
    emit("step_source", source="torch.optim", detail="steps are counted between two optimizer steps (fake)")
    emit("notice", message="The fake program runs no real framework.")
    last = time.perf_counter()
    for index in range(steps):
        time.sleep(pause)
        if index == 0:
            emit("hello", protocol=1, framework="torch", framework_version="2.0", device_kind="cpu", device_name="cpu",
                 host={}, spec={}, param_count=None, pid=os.getpid())
        now = time.perf_counter()
        emit("step", index=index, phase="warmup" if index == 0 else "measure", step_ms=(now - last) * 1000.0,
             samples_per_s=None, loss=1.0 / (index + 1))
        last = now
    print(f"fake training done after {steps} steps", flush=True)
    if "--wait" in sys.argv:
        time.sleep(120)  # until Stop's SIGINT ends it (KeyboardInterrupt)


if __name__ == "__main__":
    main()
