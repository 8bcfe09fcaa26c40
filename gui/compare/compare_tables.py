"""The tables of the comparison window: the summary (metric rows × run columns with deltas,
the step-time ratio, its interval and the verdict), the environment differences, and the op
diff of two runs.

Summary and environment are filled from the same `sessions.compare_report` tables the
Markdown/HTML report is written from, so the window and the saved report say the same thing.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from gui.compare.compare_model import RunEntry
from sessions.compare import RunComparison
from sessions.compare_report import Cell, Table, environment_table, metrics_table, verdict_tone
from traces.op_diff import OpDelta, OpDiff

TONES = {  # background, text: readable on the light and the dark palette alike
    "good": ("#dafbe1", "#116329"),
    "bad": ("#ffebe9", "#a40e26"),
}
SAME = "#6e7781"
STATUS_TONES = {"slower": "bad", "faster": "good", "added": "", "removed": "", "unchanged": "same"}


class SortItem(QTableWidgetItem):
    """A cell that sorts by a number (UserRole) when it has one, by its text otherwise."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        a, b = self.data(Qt.ItemDataRole.UserRole), other.data(Qt.ItemDataRole.UserRole)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            return a < b
        return self.text() < other.text()


def make_item(cell: Cell, sort_key: Any = None, right: bool = True) -> QTableWidgetItem:
    item = SortItem(cell.text)
    item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
    if sort_key is not None:
        item.setData(Qt.ItemDataRole.UserRole, sort_key)
    item.setTextAlignment((Qt.AlignmentFlag.AlignRight if right else Qt.AlignmentFlag.AlignLeft) | Qt.AlignmentFlag.AlignVCenter)
    if cell.tone in TONES:
        background, text = TONES[cell.tone]
        item.setBackground(QBrush(QColor(background)))
        item.setForeground(QBrush(QColor(text)))
    elif cell.tone == "same":
        item.setForeground(QBrush(QColor(SAME)))
    return item


def read_only_table(parent: QWidget | None = None) -> QTableWidget:
    table = QTableWidget(parent)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setAlternatingRowColors(True)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 6)
    table.setWordWrap(True)
    return table


def show_table(widget: QTableWidget, table: Table, header: list[str] | None = None) -> None:
    """Fill `widget` with a report table (text columns left, numbers right)."""
    widget.setSortingEnabled(False)
    widget.clear()
    widget.setColumnCount(len(table.header))
    widget.setRowCount(len(table.rows))
    widget.setHorizontalHeaderLabels(header or table.header)
    for r, row in enumerate(table.rows):
        for c, cell in enumerate(row):
            widget.setItem(r, c, make_item(cell, right=table.align(c) == "right"))
    widget.resizeColumnsToContents()


def summary_table(comparison: RunComparison) -> Table:
    """The report's metric table plus two rows: the step-time ratio with its 95 % interval, and the verdict."""
    table = metrics_table(comparison)
    ratio, verdict = [Cell("step time ratio (95 % CI)")], [Cell("verdict (step time)")]
    for i, cmp in enumerate(comparison.step_time):
        if i == 0:
            ratio.append(Cell("baseline", "same"))
            verdict.append(Cell("baseline", "same"))
        elif cmp is None:
            ratio.append(Cell("—"))
            verdict.append(Cell("no steps to compare", "same"))
        else:
            ratio.append(Cell(f"{cmp.ratio:.3f}× ({cmp.ci_low:.3f}–{cmp.ci_high:.3f})"))
            verdict.append(Cell(cmp.verdict, verdict_tone(cmp.verdict)))
    table.rows += [ratio, verdict]
    return table


def run_headers(entries: list[RunEntry]) -> list[str]:
    """Column headers in three short lines (framework and variant; batch and run; baseline), so
    four or five runs fit side by side."""
    return [entry.title.replace(" · ", "\n", 1) + ("\n(baseline)" if i == 0 else "") for i, entry in enumerate(entries)]


def show_summary(widget: QTableWidget, comparison: RunComparison, entries: list[RunEntry]) -> None:
    show_table(widget, summary_table(comparison), ["metric", *run_headers(entries)])
    for c, entry in enumerate(entries, start=1):
        header = widget.horizontalHeaderItem(c)
        if header is not None:
            header.setForeground(QBrush(QColor(entry.color)))
            header.setToolTip(f"{entry.label}\n{entry.path}")


def show_environment(widget: QTableWidget, comparison: RunComparison, entries: list[RunEntry]) -> bool:
    """Fill the environment table; False (and an empty table) when every recorded field agrees."""
    table = environment_table(comparison)
    if table is None:
        widget.clear()
        widget.setRowCount(0)
        widget.setColumnCount(1)
        widget.setHorizontalHeaderLabels(["The environments agree in every recorded field"])
        widget.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        return False
    show_table(widget, table, ["field", *run_headers(entries)])
    return True


# the key columns first (status, op, the change), so they stay in view without scrolling sideways
OP_HEADER = ["status", "op", "Δ ms / step", "Δ %", "baseline ms / step", "other ms / step", "calls / step", "kind"]
OP_NAME_MAX_PX = 360  # longer op names are elided (the full name is the cell's tooltip)


def show_op_diff(widget: QTableWidget, diff: OpDiff, statuses: set[str]) -> int:
    """The ops of `diff` whose status is in `statuses`, largest change first; returns the row count."""
    rows: list[OpDelta] = [r for r in diff.rows if r.status in statuses]
    widget.setSortingEnabled(False)
    widget.clear()
    widget.setColumnCount(len(OP_HEADER))
    widget.setRowCount(len(rows))
    widget.setHorizontalHeaderLabels(OP_HEADER)
    for i, r in enumerate(rows):
        cells = [
            (Cell(r.status, STATUS_TONES[r.status]), None, False), (Cell(r.name), None, False),
            (Cell(f"{r.delta_ns / 1e6:+,.3f}", STATUS_TONES[r.status]), r.delta_ns, True),
            (Cell("new" if r.delta_percent is None else f"{r.delta_percent:+.1f} %"),
             float("inf") if r.delta_percent is None else r.delta_percent, True),
            (Cell(f"{r.base_ns / 1e6:,.3f}"), r.base_ns, True), (Cell(f"{r.other_ns / 1e6:,.3f}"), r.other_ns, True),
            (Cell(f"{r.base_count:g} → {r.other_count:g}"), r.other_count - r.base_count, True),
            (Cell(r.kind), None, False),
        ]
        for c, (cell, key, right) in enumerate(cells):
            item = make_item(cell, key, right)
            if c == 1:
                item.setToolTip(r.name)  # long names (autograd::engine::…, fusions) are elided
            widget.setItem(i, c, item)
    widget.setSortingEnabled(True)
    widget.resizeColumnsToContents()
    widget.setColumnWidth(1, min(max(widget.columnWidth(1), 200), OP_NAME_MAX_PX))
    return len(rows)
