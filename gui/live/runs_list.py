"""The runs list: every run of the session with its headline figures, and a details pane that
shows a failed run's reason and the worker's log (its stderr), and a multi-rank run's straggler
table beside it. A run with captures on demand (docs/capture.md) shows each of its trace windows as
a row under it, labelled by its steps."""
from __future__ import annotations

import html

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QMenu,
    QPlainTextEdit,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.live.live_model import FRAMEWORK_COLORS
from gui.live.runs_model import COLUMNS, RunRow, RunsModel, format_cell
from gui.live.straggler_details import StragglerDetails
from gui.view_export import export_actions

WINDOW_ROLE = Qt.ItemDataRole.UserRole + 1  # a trace window's row: its window number
STATUS_COLORS = {"ok": "#2e9d4a", "failed": "#d0392b", "cancelled": "#b7791f", "interrupted": "#8e44ad",
                 "running": "#2f7ed8"}
NUMERIC = {key for key, _, fmt in COLUMNS[3:-1] if key not in ("status", "where")}  # right-aligned
INTERRUPTED_TIP = "interrupted: its connection or node was lost (or the app crashed); every step received is kept"


class RunsListPanel(QWidget):
    """A view of RunsModel; `selectionChanged` carries the selected run ids. Double-click (or
    the context menu) asks for a run's trace inspector; the menu also compares the selection."""

    selectionChanged = Signal(list)
    inspectRequested = Signal(str)  # run id
    inspectWindowRequested = Signal(str, int)  # run id, trace window
    compareRequested = Signal(list)  # run ids

    def __init__(self, model: RunsModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.tree = QTreeWidget()
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setHeaderLabels([header for _, header, _ in COLUMNS])
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemSelectionChanged.connect(self._on_selection_changed)
        self.tree.itemDoubleClicked.connect(lambda item, _col: self._inspect(item))
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._on_context_menu)
        details = QWidget()
        details_layout = QVBoxLayout(details)
        details_layout.setContentsMargins(4, 0, 0, 0)
        self.reason = QLabel("Select runs to see their curves; a failed run shows why here.")
        self.reason.setWordWrap(True)
        self.reason.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setPlaceholderText("worker log (stderr)")
        self.log_view.setFont(QFont("monospace", 8))
        self.log_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        details_layout.addWidget(self.reason)
        self.details_tabs = StragglerDetails(self.log_view)  # the log, and a multi-rank run's straggler table
        details_layout.addWidget(self.details_tabs, 1)
        splitter.addWidget(self.tree)
        splitter.addWidget(details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout.addWidget(splitter)

    def refresh(self, select: list[str] | None = None) -> None:
        """Rebuild from the model (after `model.reload()`), keeping or setting the selection."""
        keep = select if select is not None else self.selected_ids()
        self.tree.blockSignals(True)
        self.tree.clear()
        for row in self.model.rows:
            item = QTreeWidgetItem([format_cell(key, row.figures.get(key)) for key, _, _ in COLUMNS])
            item.setData(0, Qt.ItemDataRole.UserRole, row.run_id)
            fw = row.figures.get("framework")
            item.setForeground(0, QColor(FRAMEWORK_COLORS.get(fw or "", "#888888")))
            status_col = [k for k, _, _ in COLUMNS].index("status")
            item.setForeground(status_col, QColor(STATUS_COLORS.get(row.record.status, "#888888")))
            if row.record.reason:
                item.setToolTip(status_col, row.record.reason)
            if row.record.status == "interrupted":  # not a failure of the run itself: set apart
                font = item.font(status_col)
                font.setItalic(True)
                font.setBold(True)
                item.setFont(status_col, font)
                item.setToolTip(status_col, f"{INTERRUPTED_TIP}: {row.record.reason}" if row.record.reason else INTERRUPTED_TIP)
            for col in (c for c, (key, _, _) in enumerate(COLUMNS) if key in NUMERIC):
                item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.tree.addTopLevelItem(item)
            item.setSelected(row.run_id in keep)
            if row.shows_windows:
                self._add_windows(item, row)
        self.tree.setRootIsDecorated(any(row.shows_windows for row in self.model.rows))
        self.tree.blockSignals(False)
        self._show_details()

    def update_live(self, run_id: str, steps_done: int, expected: int, median_ms: float | None,
                    framework: str | None = None) -> bool:
        """Show a streaming run's steps so far and running median in its row, from the live model
        (no file read, twice a second), and its framework once a program has imported one; False
        when the run has no row yet."""
        keys = [key for key, _, _ in COLUMNS]
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole) == run_id:
                item.setText(keys.index("steps"), f"{steps_done}/{expected}" if expected else str(steps_done))
                item.setText(keys.index("step_ms_median"), format_cell("step_ms_median", median_ms))
                if framework and item.text(keys.index("framework")) != framework:
                    item.setText(keys.index("framework"), framework)
                    item.setForeground(keys.index("framework"), QColor(FRAMEWORK_COLORS.get(framework, "#888888")))
                return True
        return False

    def _add_windows(self, item: QTreeWidgetItem, row: RunRow) -> None:
        """One row per trace window under the run's row; double-click opens that window."""
        for window in row.windows:
            child = QTreeWidgetItem([f"Trace window {window.window}: {window.title} ({window.events:,} events)"])
            child.setData(0, Qt.ItemDataRole.UserRole, row.run_id)
            child.setData(0, WINDOW_ROLE, window.window)
            child.setToolTip(0, "Double-click to open this window in the trace inspector")
            item.addChild(child)
            child.setFirstColumnSpanned(True)
        item.setExpanded(True)

    def _inspect(self, item: QTreeWidgetItem) -> None:
        run_id, window = item.data(0, Qt.ItemDataRole.UserRole), item.data(0, WINDOW_ROLE)
        if window is None:
            self.inspectRequested.emit(run_id)
        else:
            self.inspectWindowRequested.emit(run_id, int(window))

    def selected_ids(self) -> list[str]:
        """The selected runs, once each (a trace window's row selects its run)."""
        return list(dict.fromkeys(item.data(0, Qt.ItemDataRole.UserRole) for item in self.tree.selectedItems()))

    def select(self, run_ids: list[str]) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item is not None:
                item.setSelected(item.data(0, Qt.ItemDataRole.UserRole) in run_ids)

    def _on_context_menu(self, pos: QPoint) -> None:
        ids = self.selected_ids()
        menu = QMenu(self)
        inspect = menu.addAction("Inspect trace…")
        inspect.setEnabled(len(ids) == 1)
        current = self.tree.currentItem()
        inspect.triggered.connect(lambda: self._inspect(current) if current is not None and current.isSelected()
                                  else self.inspectRequested.emit(ids[-1]))
        compare = menu.addAction("Compare selected runs…" if len(ids) > 1 else "Compare runs…")
        compare.setEnabled(self.tree.topLevelItemCount() > 0)
        compare.triggered.connect(lambda: self.compareRequested.emit(ids))
        menu.addSeparator()
        for action in export_actions(self, table_model=self.tree.model(), name="runs"):
            menu.addAction(action)
        menu.exec(self.tree.viewport().mapToGlobal(pos))

    def _on_selection_changed(self) -> None:
        self._show_details()
        self.selectionChanged.emit(self.selected_ids())

    def _show_details(self) -> None:
        ids = self.selected_ids()
        row = self.model.row(ids[-1]) if ids else None
        if row is None:
            self.reason.setText("Select runs to see their curves; a failed run shows why here.")
            self.log_view.clear()
            self.details_tabs.show_run(None, self.model)
            return
        status = row.record.status
        text = f"<b>{row.run_id}</b> — {status}"
        if row.record.reason:
            text += f": {html.escape(row.record.reason)}"
        self.reason.setText(text)
        self.log_view.setPlainText(self.model.log(row.run_id) if status != "running" else "")
        self.details_tabs.show_run(row, self.model)
