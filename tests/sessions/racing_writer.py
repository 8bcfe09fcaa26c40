"""Records ROUNDS short runs into one session while re-reading that session between steps, as
the desktop app does (its recorder streams while the runs list reloads). Two of these at once on
one file reproduce issue 15's "two writers lose data"; test_two_writers.py runs them.

    python tests/sessions/racing_writer.py SESSION NAME ROUNDS STEPS

Prints one line per finished run: `run RUN_ID PROBLEM` (PROBLEM is `-` when the recorder stored
everything), and `read-error MESSAGE` for each failed re-read, so the test can say what went wrong.
"""
from __future__ import annotations

import sys
import time

from sessions.recorder import SessionRecorder
from sessions.store import Session, SessionError


def step(i: int) -> dict[str, object]:
    return {"type": "step", "t": i * 0.001, "index": i, "phase": "measure", "step_ms": 1.0, "samples_per_s": 8000.0,
            "loss": 1.0 / (i + 1)}


def reread(path: str) -> None:
    """What the runs list does on each refresh: open read-only, read every run and its steps."""
    try:
        with Session.open_readonly(path) as session:
            for record in session.runs():
                session.steps(record.run_id)
    except SessionError as exc:
        print(f"read-error {exc}", flush=True)


def main() -> None:
    path, name, rounds, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    for r in range(rounds):
        run_id = f"{name}-{r}"
        recorder = SessionRecorder(path, run_id, {"framework": "torch"}, flush_interval=0.005)
        for i in range(steps):
            recorder.on_event(step(i))
            if i % 4 == 0:
                reread(path)
            time.sleep(0.002)
        problem = recorder.finish_with("ok", None, {"steps": steps}, f"log of {run_id}")
        print(f"run {run_id} {problem or '-'}", flush=True)


if __name__ == "__main__":
    main()
