"""Remakes resources/screenshots/attach.png: File → Attach… on a real running program
(examples/torch_loop.py, a plain PyTorch loop): the dialog part-way through sampling its stacks
with py-spy, and the flame view it opens, side by side.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot_attach.py [--seconds S] [--out PATH]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere
OUT = ROOT / "resources" / "screenshots" / "attach.png"
GAP_PX = 16


def shoot(seconds: float, out: Path) -> Path:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QColor, QImage, QPainter
    from screenshot_common import settle  # beside this script: its folder is on the path when it runs

    from gui.app import make_app
    from gui.attach.flame_view import FlameWindow
    from gui.live import attach_dialog
    from gui.live.main_window import MainWindow

    app = make_app()
    program = subprocess.Popen([sys.executable, str(ROOT / "examples" / "torch_loop.py"), "--steps", "100000"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with tempfile.TemporaryDirectory(prefix="stepscope-shot-") as tmp:
            time.sleep(8.0)  # torch imported, the loop running
            settings = QSettings(str(Path(tmp) / "settings.ini"), QSettings.Format.IniFormat)
            window = MainWindow(Path(tmp) / "attach.stepscope", settings=settings, probe_frameworks=())
            window.show()
            dialog = attach_dialog.attach_from(window, str(program.pid), seconds, start=True, stacks_dir=Path(tmp))
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and (dialog.state is None or (dialog.state.fraction or 0) < 0.4):
                app.processEvents()
                time.sleep(0.02)
            dialog_image = dialog.grab().toImage()
            while time.monotonic() < deadline and not window.findChildren(FlameWindow):
                app.processEvents()
                time.sleep(0.05)
            views = window.findChildren(FlameWindow)
            if not views:
                raise SystemExit("no flame view opened (see the notifications)")
            view = views[0]
            view.resize(1100, 620)
            settle(app, 1.0)
            flame_image = view.grab().toImage()
            canvas = QImage(flame_image.width() + GAP_PX + dialog_image.width(),
                            max(flame_image.height(), dialog_image.height()), QImage.Format.Format_ARGB32)
            canvas.fill(QColor(0, 0, 0, 0))
            painter = QPainter(canvas)
            painter.drawImage(0, 0, flame_image)
            painter.drawImage(flame_image.width() + GAP_PX, 0, dialog_image)
            painter.end()
            out.parent.mkdir(parents=True, exist_ok=True)
            if not canvas.save(str(out)):
                raise SystemExit(f"{out}: could not write the screenshot")
            view.close()
            window.close()
    finally:
        program.kill()
        program.wait()
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    print(shoot(args.seconds, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
