"""Opens the main window, runs one real small torch run from it, and prints which framework
modules the GUI process loaded (run in a subprocess by test_no_framework_import.py, because the
rest of the test process imports frameworks)."""
from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings

from gui.app import make_app
from gui.live.main_window import MainWindow
from tests.gui.conftest import small_torch_settings

FRAMEWORKS = ("torch", "jax", "jaxlib", "tensorflow", "keras")


def main() -> int:
    app = make_app()
    folder = Path(tempfile.mkdtemp(prefix="stepscope-gui-"))
    window = MainWindow(folder / "s.stepscope", settings=QSettings(str(folder / "s.ini"), QSettings.Format.IniFormat),
                        probe_frameworks=("torch",))
    window.show()
    deadline = time.monotonic() + 120
    while not window.panel_model.available("torch") and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    small_torch_settings(window)
    window.start_runs()
    while (window.busy or not window.runs_model.rows) and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.02)
    status = window.runs_model.rows[-1].record.status if window.runs_model.rows else "none"
    window.close()
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in FRAMEWORKS)
    print(f"status={status} loaded={','.join(loaded)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
