"""Top ops as a Qt table: every op of every op kind (no limit), ranked by self time, with a
proxy that filters by name text and by category and sorts on the numbers, not their text.

The rows come from `traces.analysis.top_ops`, the same figures the CLI's
`report --ops` prints, so the GUI and the CLI never disagree.
"""
from __future__ import annotations

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel, Qt

from traces.analysis import OpRow

COLUMNS = ("name", "category", "count", "total ms", "self ms", "mean µs", "% self")
SORT_ROLE = Qt.ItemDataRole.UserRole + 1  # raw numbers for sorting
_Index = QModelIndex | QPersistentModelIndex
_ROOT = QModelIndex()  # the invalid index: "no parent" in Qt's signatures


def _cells(op: OpRow) -> tuple[tuple[str, object], ...]:
    """(shown text, sort value) per column."""
    return ((op.name, op.name.lower()), (op.kind.replace("_", " "), op.kind), (f"{op.count:,}", op.count),
            (f"{op.total_ns / 1e6:,.3f}", op.total_ns), (f"{op.self_ns / 1e6:,.3f}", op.self_ns),
            (f"{op.mean_ns / 1e3:,.1f}", op.mean_ns), (f"{op.percent:.1f}", op.percent))


class TopOpsModel(QAbstractTableModel):
    """One row per (op name, kind), as `top_ops(table, by="self", limit=None)` ranks them."""

    def __init__(self, rows: list[OpRow], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.rows = rows
        self._cells = [_cells(r) for r in rows]

    def op(self, row: int) -> OpRow:
        return self.rows[row]

    def categories(self) -> list[str]:
        """The kinds present, in order of first appearance (the biggest first)."""
        return list(dict.fromkeys(r.kind for r in self.rows))

    def rowCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: _Index = _ROOT) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        text, value = self._cells[index.row()][index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            return text
        if role == SORT_ROLE:
            return value
        if role == Qt.ItemDataRole.ToolTipRole and index.column() == 0:
            return text
        if role == Qt.ItemDataRole.TextAlignmentRole and index.column() >= 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None


class TopOpsFilter(QSortFilterProxyModel):
    """Keeps rows whose name contains the text (case-insensitive) and whose kind is the chosen
    category (None: all); sorts on SORT_ROLE."""

    def __init__(self, source: TopOpsModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSourceModel(source)
        self.source = source
        self.setSortRole(SORT_ROLE)
        self._text = ""
        self._category: str | None = None

    def set_text(self, text: str) -> None:
        self.beginFilterChange()  # Qt 6.9+: invalidateFilter() is deprecated
        self._text = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_category(self, category: str | None) -> None:
        self.beginFilterChange()
        self._category = category or None
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def op(self, proxy_row: int) -> OpRow:
        return self.source.op(self.mapToSource(self.index(proxy_row, 0)).row())

    def filterAcceptsRow(self, source_row: int, source_parent: _Index) -> bool:
        op = self.source.op(source_row)
        if self._category is not None and op.kind != self._category:
            return False
        return not self._text or self._text in op.name.lower()
