"""The Scorecard window's tables (metrics, compatibility, claims): a `ShownTable` from the model
drawn as a read-only QTableWidget, each cell's tone as its colour and its tip as its tooltip,
with Export as CSV on the right-click menu (what the table shows, row for row).
"""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from gui.scorecard.scorecard_model import ShownCell, ShownTable
from gui.view_export import install_export_menu

TONES = {  # background, text: readable on the light and the dark palette alike
    "best": ("#dafbe1", "#116329"),
    "ok": ("#dafbe1", "#116329"),
    "good": ("#dafbe1", "#116329"),
    "fail": ("#ffebe9", "#a40e26"),
    "bad": ("#ffebe9", "#a40e26"),
    "unsure": ("#fff8c5", "#7d4e00"),
}
GREY = "#8c959f"


def scorecard_table(name: str, wrap_columns: tuple[int, ...] = (), stretch_columns: tuple[int, ...] = (),
                    parent: QWidget | None = None) -> QTableWidget:
    """An empty read-only table with its CSV export; `wrap_columns` share the spare width and
    wrap their text (long claims and reasons; rows grow to fit them), `stretch_columns` share it
    without wrapping, the others fit their contents (bold figures included)."""
    table = QTableWidget(parent)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setAlternatingRowColors(True)
    table.setWordWrap(bool(wrap_columns))  # figures never wrap: a wrapped interval reads as two numbers
    table.verticalHeader().setVisible(False)
    table.setProperty("wrap_columns", list(wrap_columns))
    table.setProperty("stretch_columns", list(stretch_columns))
    if wrap_columns:
        table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    install_export_menu(table, table_model=table.model(), name=name)
    return table


def _item(cell: ShownCell, left: bool) -> QTableWidgetItem:
    text, tone, tip = cell.text, cell.tone, cell.tip
    item = QTableWidgetItem(text)
    item.setFlags(Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsEnabled)
    if cell.centred:
        align = Qt.AlignmentFlag.AlignHCenter
    else:
        align = Qt.AlignmentFlag.AlignLeft if left else Qt.AlignmentFlag.AlignRight
    item.setTextAlignment(align | Qt.AlignmentFlag.AlignVCenter)
    if tip:
        item.setToolTip(tip)
    if tone in TONES:
        background, foreground = TONES[tone]
        item.setBackground(QBrush(QColor(background)))
        item.setForeground(QBrush(QColor(foreground)))
    if tone == "best":
        font = QFont(item.font())
        font.setBold(True)
        item.setFont(font)
    elif tone == "absent":
        item.setForeground(QBrush(QColor(GREY)))
        font = QFont(item.font())
        font.setItalic(True)
        item.setFont(font)
    return item


def fill_table(widget: QTableWidget, table: ShownTable) -> None:
    """Replace `widget`'s contents with `table`: its leading text columns (and any wrapped one)
    aligned left, the figures right."""
    wrap = set(widget.property("wrap_columns") or [])
    stretch = wrap | set(widget.property("stretch_columns") or [])
    widget.clear()
    widget.setColumnCount(len(table.header))
    widget.setRowCount(len(table.rows))
    widget.setHorizontalHeaderLabels(table.header)
    for r, row in enumerate(table.rows):
        for c, cell in enumerate(row):
            widget.setItem(r, c, _item(cell, left=c < table.text_columns or c in wrap))
    header = widget.horizontalHeader()
    widget.resizeColumnsToContents()
    for c in range(len(table.header)):
        header.setSectionResizeMode(c, QHeaderView.ResizeMode.Stretch if c in stretch else QHeaderView.ResizeMode.Interactive)
    if not wrap:
        widget.resizeRowsToContents()
