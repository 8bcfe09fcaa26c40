"""What every analysis window (trace inspector, comparison view) does alike: close on Ctrl+W,
and open no larger than the screen it appears on.

Qt's standard Close key differs by platform and desktop (Ctrl+F4 on some Linux themes), while
people expect Ctrl+W everywhere, so both are bound. A window sized for a large monitor would
open with its bottom (the status line, the tables' last rows) off a 1366×768 laptop screen.
"""
from __future__ import annotations

from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QMainWindow

SCREEN_MARGIN = (40, 64)  # px left free across and down: window frame, title bar, panel


def close_action(window: QMainWindow) -> QAction:
    """A "Close" action on Ctrl+W and the platform's Close key, active anywhere in `window`."""
    action = QAction("Close", window)
    keys = [QKeySequence("Ctrl+W")]
    keys += [k for k in QKeySequence.keyBindings(QKeySequence.StandardKey.Close) if k not in keys]
    action.setShortcuts(keys)
    action.setShortcutContext(action.shortcutContext().WindowShortcut)
    action.triggered.connect(window.close)
    window.addAction(action)
    return action


def fit_to_screen(window: QMainWindow, width: int, height: int) -> tuple[int, int]:
    """Resize `window` to width × height, or less where its screen's available area is smaller;
    returns the size chosen."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    if screen is not None:
        area = screen.availableGeometry()
        width = min(width, area.width() - SCREEN_MARGIN[0])
        height = min(height, area.height() - SCREEN_MARGIN[1])
    window.resize(width, height)
    return width, height
