r"""Remakes resources/screenshots/capture.png: capture on demand (docs/capture.md) in the app. A real
200-step PyTorch ConvNet run (batch 16, CPU), "Capture next N steps" pressed twice while it runs
(after steps 60 and 130), and the runs list once it has ended, its two windows as rows under it;
then resources/screenshots/capture-inspector.png: the inspector on the second window.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_capture.py [--out PATH] [--inspector-out PATH]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # read when the QApplication is made, not at import
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from screenshot_common import save_screenshot  # noqa: E402  (beside this script: its folder is on the path when it runs)

from gui.app import make_app  # noqa: E402  (importable only after the sys.path insert above)
from gui.inspector.trace_inspector import TraceInspectorWindow  # noqa: E402  (the same)
from gui.live.main_window import MainWindow  # noqa: E402  (the same)

STEPS = 200
CAPTURES = ((60, 5), (130, 3))  # (after this many steps, capture the next N)


def wait(app: QApplication, condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    return condition()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "screenshots" / "capture.png")
    parser.add_argument("--inspector-out", type=Path, default=ROOT / "resources" / "screenshots" / "capture-inspector.png")
    args = parser.parse_args()
    app = make_app()
    folder = Path(tempfile.mkdtemp(prefix="stepscope-shot-"))
    window = MainWindow(folder / "capture.stepscope", probe_frameworks=("torch",),
                        settings=QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
    window.resize(1500, 940)
    window.show()
    model = window.panel_model
    if not wait(app, lambda: model.frameworks["torch"].imports is not None, 300):
        print("the compatibility probe did not finish", file=sys.stderr)
        return 1
    for framework in model.frameworks:
        model.choose(framework, framework == "torch")
    for name, value in (("workload", "convnet"), ("batch_size", 16), ("steps", STEPS), ("warmup", 3),
                        ("trace_steps", 0), ("repeat", 1)):
        model.set(name, value)
    window.start_runs()
    bar = window.live_view.capture_bar
    assert bar is not None
    for after, steps in CAPTURES:
        def reached(a: int = after) -> bool:
            return any(r.steps_done >= a for r in window.live_model.runs.values())

        if not wait(app, reached, 300):
            print(f"the run never reached step {after}", file=sys.stderr)
            return 1
        bar.amount.setValue(steps)
        bar.capture()
        print(bar.status.text())
    if not wait(app, lambda: not window.busy, 300):
        print("the run did not end", file=sys.stderr)
        return 1
    rows = window.runs_model.rows
    if not rows or len(rows[-1].windows) != len(CAPTURES):
        print(f"expected {len(CAPTURES)} stored windows, found {rows[-1].windows if rows else 'no run'}", file=sys.stderr)
        return 1
    window.runs_list.select([rows[-1].run_id])
    save_screenshot(app, window, args.out, seconds=1.5)
    inspector = TraceInspectorWindow.from_session(window.session_path, rows[-1].run_id, window=len(CAPTURES))
    inspector.resize(1500, 900)
    inspector.show()
    save_screenshot(app, inspector, args.inspector_out, seconds=1.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
