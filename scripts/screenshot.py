"""Remakes resources/screenshots/main-window.png: the main window during a real three-framework
ConvNet run (small sizes; takes a minute or two on a laptop CPU).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py [--out PATH] [--dark]
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

from gui.app import apply_theme, make_app  # noqa: E402  (importable only after the sys.path insert above)
from gui.live.main_window import MainWindow  # noqa: E402  (the same)


def wait(app: QApplication, condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    return condition()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="1500x940", help="window size WxH (default 1500x940; 1024x700 checks a small screen)")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "screenshots" / "main-window.png")
    parser.add_argument("--dark", action="store_true")
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    app = make_app()
    if args.dark:
        apply_theme(app, dark=True)
    folder = Path(tempfile.mkdtemp(prefix="stepscope-shot-"))
    window = MainWindow(folder / "convnet-comparison.stepscope",
                        settings=QSettings(str(folder / "settings.ini"), QSettings.Format.IniFormat))
    window.resize(*(int(v) for v in args.size.lower().split("x")))
    window.show()
    model = window.panel_model
    if not wait(app, lambda: all(s.imports is not None for s in model.frameworks.values()), 300):
        print("the compatibility probe did not finish", file=sys.stderr)
        return 1
    for fw in model.frameworks:
        model.choose(fw, model.available(fw))
    for name, value in (("workload", "convnet"), ("batch_size", 16), ("steps", args.steps), ("warmup", 3),
                        ("trace_steps", 0), ("repeat", 1)):
        model.set(name, value)
    total = len(model.specs())
    window.start_runs()
    # the shot: the last framework well into its run, the earlier ones finished and overlaid
    wait(app, lambda: len(window.live_model.runs) == total
         and list(window.live_model.runs.values())[-1].steps_done >= args.steps // 2, 600)
    wait(app, lambda: False, 0.5)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    window.grab().save(str(args.out))
    print(args.out)
    window.stop_runs()
    wait(app, lambda: not window.busy, 60)
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
