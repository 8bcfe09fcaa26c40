"""The two ways to start a run, as tabs on the left of the main window: a built-in workload
(the run panel) or the user's own program (the program panel).

Tabs rather than one long form so each fits a 1024x700 window without scrolling past the other;
each page still scrolls on its own on a smaller screen. Ctrl+Shift+P and Ctrl+Shift+B switch
between them from anywhere in the window, and Start (Ctrl+R) starts what the shown tab holds.
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QScrollArea, QTabWidget, QWidget

PROGRAM_SHORTCUT = "Ctrl+Shift+P"
BUILT_IN_SHORTCUT = "Ctrl+Shift+B"


class RunTabs(QTabWidget):
    """"Built-in" (`run_panel`) and "Your program" (`program_panel`), each in a scroll area."""

    def __init__(self, run_panel: QWidget, program_panel: QWidget, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.run_panel, self.program_panel = run_panel, program_panel
        self.setDocumentMode(True)
        for panel, title, shortcut, tip in (
                (run_panel, "Built-in", BUILT_IN_SHORTCUT, "Compare the frameworks on a built-in workload"),
                (program_panel, "Your program", PROGRAM_SHORTCUT, "Profile your own training script")):
            scroll = QScrollArea()
            scroll.setWidget(panel)
            scroll.setWidgetResizable(True)
            scroll.setFrameShape(QScrollArea.Shape.NoFrame)
            index = self.addTab(scroll, title)
            self.setTabToolTip(index, f"{tip} ({QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)})")
            key = QShortcut(QKeySequence(shortcut), self)
            key.setContext(Qt.ShortcutContext.WindowShortcut)
            key.activated.connect(lambda i=index: self.show_page(i))

    def show_page(self, index: int) -> None:
        self.setCurrentIndex(index)
        if index == 1:
            self.program_panel.setFocus()  # the panel hands focus to its command field

    def show_program(self) -> None:
        self.show_page(1)

    def wanted_width(self) -> int:
        """The width that shows the wider page whole beside its vertical scroll bar: the
        window's left column starts at it (`main_layout.arrange`), so no page starts clipped
        behind a horizontal scroll bar."""
        widest = 0
        for i in range(self.count()):
            scroll = self.widget(i)
            if isinstance(scroll, QScrollArea) and (page := scroll.widget()) is not None:
                bar = scroll.verticalScrollBar().sizeHint().width()
                widest = max(widest, page.sizeHint().width() + bar + 2 * scroll.frameWidth())
        return widest

    @property
    def program_shown(self) -> bool:
        return self.currentIndex() == 1
