"""The inspector's Stragglers tab: a multi-rank run's straggler table (`sessions.stragglers`, the
same numbers `run` and `report` print), one row per step, sortable by any column, exported to CSV
from its context menu like every table of the app.

Shown where the trace has two ranks or more (rows grouped "rank N: ..."); the step times are every
rank's recorded steps when the session has them, else each rank's step markers in the trace, and
the panel says which. Selecting a step emits its number, so the window can show it on the timeline.
The runs list's details show the same panel for a selected multi-rank run, from its steps alone
(gui/live/straggler_details.py).
"""
from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from gui.view_export import install_export_menu
from sessions.stragglers import StragglerRow, StragglerTable

SORT_ROLE = Qt.ItemDataRole.UserRole  # the cell's number, so columns sort by value, not by text
BASE_COLUMNS = ("Step", "Phase", "Slowest rank", "Slowest (ms)", "Fastest (ms)", "Spread (ms)", "Spread (%)")
SLOW_COLOR = "#d0392b"
SOURCES = {"session": "Step times: every rank's recorded steps.",
           "trace": "Step times: each rank's step markers in this trace (the session holds no per-rank steps)."}
NO_WAITS = ("The trace holds no collective ops (all-reduce, all-gather, broadcast, barrier, ... by gloo, NCCL, "
            "c10d or XLA names), so there is no time in collectives per rank.")
NO_RANK_ROWS = ("The trace's rows are not grouped by rank (\u201crank N: \u2026\u201d), so its collectives cannot be "
                "given per rank.")
WAITS = ("In collectives (ms): the time each rank spent in collective ops within its own step window "
         "(nested and overlapping ones counted once; device kernels where the rank has them). In a blocking "
         "collective the ranks that arrive early wait longest, the straggler least; a collective that overlaps "
         "compute (DDP's all-reduce during backward) counts the overlap too. — : the trace does not cover "
         "that step.")


Index = QModelIndex | QPersistentModelIndex
ROOT = QModelIndex()  # the invalid index: "no parent" in Qt's signatures


class StragglerModel(QAbstractTableModel):
    """A StragglerTable as table cells: text for display and CSV, numbers for sorting."""

    def __init__(self, table: StragglerTable, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.table = table
        self.headers = [*BASE_COLUMNS, *(f"In collectives, rank {r} (ms)" for r in table.ranks if table.has_waits)]

    def rowCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self.table.rows)

    def columnCount(self, parent: Index = ROOT) -> int:
        return 0 if parent.isValid() else len(self.headers)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return self.headers[section]
        return None

    def values(self, row: StragglerRow) -> list[Any]:
        return [row.step, row.phase, row.slowest_rank, row.slowest_ms, row.fastest_ms, row.spread_ms, row.spread_pct,
                *row.collective_wait_ms]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.table.rows[index.row()]
        value = self.values(row)[index.column()]
        col = index.column()
        if role == SORT_ROLE:
            return value if not isinstance(value, float) or math.isfinite(value) else -math.inf
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 2:
                return f"rank {value}"
            if isinstance(value, float):
                return "—" if not math.isfinite(value) else f"{value:.1f}" if col == 6 else f"{value:.2f}"
            return str(value)
        if role == Qt.ItemDataRole.TextAlignmentRole and col != 1:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and col >= len(BASE_COLUMNS) and math.isfinite(value) \
                and self.table.ranks[col - len(BASE_COLUMNS)] == row.slowest_rank:
            return QColor(SLOW_COLOR)  # the slowest rank's own time in collectives
        if role == Qt.ItemDataRole.ForegroundRole and col == 2:
            return QColor(SLOW_COLOR)
        return None


class StragglerPanel(QWidget):
    """The summary sentence, where the numbers come from, and the sortable table."""

    stepSelected = Signal(int)

    def __init__(self, table: StragglerTable, parent: QWidget | None = None, waits_note: str | None = None) -> None:
        """`waits_note`: what to say of the time in collectives instead (a table made without a trace)."""
        super().__init__(parent)
        self.model = StragglerModel(table, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setSortRole(SORT_ROLE)
        self.summary = QLabel(table.summary())
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        waits = waits_note or (WAITS if table.has_waits else NO_WAITS if table.trace_ranks else NO_RANK_ROWS)
        self.note = QLabel(" ".join([SOURCES.get(table.source, ""), waits]))
        self.note.setWordWrap(True)
        self.note.setEnabled(False)  # the muted colour: an explanation, not a figure
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(20)
        self.view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        install_export_menu(self.view, table_model=self.proxy, name="stragglers")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.summary)
        layout.addWidget(self.note)
        layout.addWidget(self.view, 1)
        self.view.selectionModel().selectionChanged.connect(self._on_selection)

    def _on_selection(self, *_: object) -> None:
        rows = self.view.selectionModel().selectedRows()
        if rows:
            self.stepSelected.emit(self.table_row(rows[0].row()).step)

    def table_row(self, proxy_row: int) -> StragglerRow:
        """The table's row shown at `proxy_row` (in the current sort)."""
        return self.model.table.rows[self.proxy.mapToSource(self.proxy.index(proxy_row, 0)).row()]
