"""Start-up time of the desktop app: from spawning `python main.py` to the main window shown.

The app prints a wall-clock stamp when the window is first shown (STEPSCOPE_STARTUP_PROBE=1)
and quits; the difference to the spawn time is the figure. Median of --repeat runs.

    .venv/bin/python -m bench.gui_startup [--repeat 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import ROOT, write_result


def once(session: Path) -> float:
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"), PYTHONPATH=str(ROOT),
               STEPSCOPE_STARTUP_PROBE="1")
    start = time.time()
    proc = subprocess.run([sys.executable, "main.py", "--session", str(session)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)
    stamp = [line for line in proc.stdout.splitlines() if line.startswith("STEPSCOPE_WINDOW_SHOWN")]
    if proc.returncode != 0 or not stamp:
        raise RuntimeError(f"the app did not report its window ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return float(stamp[0].split()[1]) - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    session = Path(tempfile.mkdtemp(prefix="stepscope-startup-")) / "startup.stepscope"
    once(session)  # warm the file cache, as a second launch would be
    times = [once(session) for _ in range(args.repeat)]
    result = {"repeat": args.repeat, "seconds_median": round(statistics.median(times), 3),
              "seconds_max": round(max(times), 3), "seconds_all": [round(t, 3) for t in times], "goal_s": 1.5}
    print(result)
    print(write_result("gui_startup", result))


if __name__ == "__main__":
    main()
