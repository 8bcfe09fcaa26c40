"""The main window's layout: the banner over the run tabs | live plots over the runs list.

Apart from the window so the window reads as wiring; the sizes are the ones a 1024-1440 px wide
window starts with (the splitters keep what the user drags them to).
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow, QSplitter, QVBoxLayout, QWidget

from gui.live.run_tabs import RunTabs


def arrange(window: QMainWindow, banner: QWidget, run_tabs: RunTabs, live_view: QWidget, runs_list: QWidget) -> None:
    """Make the window's central widget from its four parts (the run tabs scroll page by page;
    their column starts as wide as their wider page needs, 320 px at least)."""
    run_tabs.setMinimumWidth(300)
    right = QSplitter(Qt.Orientation.Vertical)
    right.addWidget(live_view)
    right.addWidget(runs_list)
    right.setStretchFactor(0, 3)
    right.setStretchFactor(1, 1)
    right.setSizes([620, 220])
    main = QSplitter(Qt.Orientation.Horizontal)
    main.addWidget(run_tabs)
    main.addWidget(right)
    main.setStretchFactor(1, 1)
    left = max(320, run_tabs.wanted_width())
    main.setSizes([left, 1440 - left])
    central = QWidget()
    layout = QVBoxLayout(central)
    layout.setContentsMargins(4, 4, 4, 4)
    layout.addWidget(banner)
    layout.addWidget(main, 1)
    window.setCentralWidget(central)
