"""Remakes resources/screenshots/import-dialog.png: File → Import Trace's dialog part-way through
a real import of a generated 3,000,000-event Kineto-shaped trace (the tests' generator; its child
process reads it; the shot is taken once a third of it is read and the rate is known, then the
import is cancelled).

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_import.py [--events N] [--out PATH]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere
OUT = ROOT / "resources" / "screenshots" / "import-dialog.png"
OPS_PER_STEP = 599


def shoot(events: int, out: Path) -> Path:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings

    from gui.app import make_app
    from gui.live.import_dialog import import_into
    from gui.live.main_window import MainWindow
    from tests.cli.test_import_progress import write_kineto_trace

    app = make_app()
    with tempfile.TemporaryDirectory(prefix="stepscope-shot-") as tmp:
        trace = Path(tmp) / "train_step.pt.trace.json"
        write_kineto_trace(trace, max(1, events // (OPS_PER_STEP + 1)), OPS_PER_STEP)
        settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
        window = MainWindow(Path(tmp) / "cnn.stepscope", settings=settings, probe_frameworks=())
        window.show()
        dialog = import_into(window, trace=trace)
        if dialog is None:
            raise RuntimeError("the import did not start")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
                (dialog.state.fraction or 0) >= 0.3 and dialog.state.seconds_left() is not None):
            app.processEvents()
            time.sleep(0.01)
        app.processEvents()
        out.parent.mkdir(parents=True, exist_ok=True)
        if (dialog.state.fraction or 0) < 0.3 or not dialog.grab().save(str(out)):
            raise RuntimeError(f"{out}: no screenshot (the read reported {dialog.state.detail_text()})")
        dialog.cancel()
        while dialog.running:
            app.processEvents()
            time.sleep(0.02)
        window.close()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=3_000_000)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    print(shoot(args.events, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
