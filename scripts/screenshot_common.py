"""What every screenshot script does last: let the window draw, save its image, say where.

Why a settle loop and not one processEvents: plots and tables lay out over several event-loop turns
(deferred resizes, timers), and a grab taken at once shows them half drawn."""
from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtWidgets import QApplication, QWidget


def settle(app: QApplication, seconds: float) -> None:
    """Run the event loop for `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)


def save_screenshot(app: QApplication, window: QWidget, out: Path, seconds: float = 1.0) -> None:
    """After `seconds` of drawing, `window`'s image to `out` (its path printed), then the window closed."""
    settle(app, seconds)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        raise SystemExit(f"{out}: could not write the screenshot")
    print(out)
    window.close()
