"""QApplication set-up, theme and the GUI entry point `main(argv) -> int`.

The theme follows the system: Fusion with a light or dark palette chosen from the platform's
colour scheme, switched live when it changes. STEPSCOPE_STARTUP_PROBE=1 prints when the window is
first shown and quits (bench/gui_startup.py measures start-up with it).
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

from gui import gui_thread_gc
from gui.live.main_window import MainWindow
from gui.notifications import NotificationManager


def dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor("#1e2127"), QColor("#282c34"), QColor("#dcdfe4")
    role = QPalette.ColorRole
    for which, color in ((role.Window, window), (role.WindowText, text), (role.Base, base),
                         (role.AlternateBase, QColor("#252930")), (role.Text, text),
                         (role.Button, QColor("#31363f")), (role.ButtonText, text),
                         (role.ToolTipBase, base), (role.ToolTipText, text),
                         (role.Highlight, QColor("#2f7ed8")), (role.HighlightedText, QColor("#ffffff")),
                         (role.PlaceholderText, QColor("#7f8590")), (role.Link, QColor("#5aa2f0"))):
        p.setColor(which, color)
    for which in (role.Text, role.ButtonText, role.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, which, QColor("#6b717c"))
    return p


def apply_theme(app: QApplication, dark: bool | None = None) -> None:
    """Light or dark Fusion; `dark=None` follows the system colour scheme."""
    if dark is None:
        dark = QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark
    app.setStyle("Fusion")
    app.setPalette(dark_palette() if dark else app.style().standardPalette())


def make_app(argv: list[str] | None = None) -> QApplication:
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(argv or [sys.argv[0]])
    app.setApplicationName("Stepscope")
    app.setOrganizationName("Stepscope")
    gui_thread_gc.start()  # no widget freed by a collection that a worker thread triggered
    pg.setConfigOptions(antialias=False, background=None)
    apply_theme(app)
    QGuiApplication.styleHints().colorSchemeChanged.connect(lambda _scheme: apply_theme(app))
    return app


def main(session: Path | None = None, settings_path: Path | None = None) -> int:
    """Open the main window on `session` (default: the default session) and run the event loop."""
    app = make_app()
    notifications = NotificationManager()
    notifications.install_hooks()
    settings = QSettings(str(settings_path), QSettings.Format.IniFormat) if settings_path else None
    probe = os.environ.get("STEPSCOPE_STARTUP_PROBE") == "1"
    window = MainWindow(session, settings=settings, notifications=notifications,
                        probe_frameworks=() if probe else ("jax", "torch", "tf"))
    if session is not None and window.session_path == Path(session):  # named by the user, and opened
        window.recent.remember(Path(session))
    window.show()
    if probe:
        def report() -> None:
            print(f"STEPSCOPE_WINDOW_SHOWN {time.time():.6f}", flush=True)
            window.close()
            app.quit()
        QTimer.singleShot(0, report)
    try:
        return app.exec()
    finally:
        notifications.restore_hooks()
