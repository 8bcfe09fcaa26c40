"""The inspector's Families tab: a trace's op time by family (convolution, matmul, elementwise, ...),
as one stacked bar of shares and a table of time, time per step, share, op count and top ops.

The numbers are `traces.family_breakdown`'s, the same `report --families` prints; the panel only
draws them. Unclassified time stays visible as "other" with its op names, and the panel says on
which events the split was measured (a CPU trace's ops, or the device's kernels).
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableView, QVBoxLayout, QWidget

from gui.view_export import install_export_menu
from traces.family_breakdown import FamilyBreakdown, FamilyRow
from traces.op_families import FAMILY_MEANING
from traces.op_vocabulary import (
    COMMUNICATION,
    CONVOLUTION,
    DATA_MOVEMENT,
    ELEMENTWISE,
    GATHER_SCATTER,
    MATMUL,
    OPTIMIZER,
    OTHER,
    OVERHEAD,
    REDUCTION,
)

FAMILY_COLORS = {CONVOLUTION: "#4e79a7", MATMUL: "#f28e2b", ELEMENTWISE: "#59a14f", REDUCTION: "#e15759",
                 GATHER_SCATTER: "#b07aa1", OPTIMIZER: "#edc948", DATA_MOVEMENT: "#76b7b2", COMMUNICATION: "#ff9da7",
                 OVERHEAD: "#9c755f", OTHER: "#bab0ac"}
COLUMNS = ("family", "ms", "ms / step", "share", "ops", "top ops (self ms)")
LABEL_MIN_SHARE = 0.06  # a segment this wide has room for its percentage


def shown_rows(breakdown: FamilyBreakdown) -> list[FamilyRow]:
    """The families with any op, largest first."""
    return sorted((r for r in breakdown.rows if r.count), key=lambda r: -r.self_ns)


class FamiliesPanel(QWidget):
    """One horizontal bar split by family share, and the table behind it."""

    def __init__(self, breakdown: FamilyBreakdown, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.breakdown = breakdown
        self.rows = shown_rows(breakdown)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.message = QLabel(self._summary())
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.message)
        self.plot: pg.PlotWidget | None = None
        self.segments: list[pg.BarGraphItem] = []
        self.model = QStandardItemModel(0, len(COLUMNS), self)
        self.model.setHorizontalHeaderLabels(list(COLUMNS))
        self.view = QTableView()
        if not breakdown.total_ns:
            layout.addStretch(1)
            return
        self.plot = self._bar()
        layout.addWidget(self.plot)
        self._fill_table()
        layout.addWidget(self.view, 1)

    def _summary(self) -> str:
        b = self.breakdown
        if not b.total_ns:
            return ("This trace has no op events in its step windows (framework ops, XLA ops or kernels), so its time "
                    "cannot be split by family: see the description above for what it does contain.")
        steps = len(b.steps)
        window = (f"{steps} step{'s' if steps != 1 else ''} ({sum(b.step_ns) / 1e6:,.2f} ms of wall time)" if steps
                  else "the whole trace (no step markers)")
        text = (f"Self time of {b.basis}, over {window}: {b.total_ns / 1e6:,.2f} ms of op time. Shares are of that op "
                "time; ops on several threads or streams can add up to more than the wall time.")
        if b.notes:
            text += " " + "; ".join(n[:1].upper() + n[1:] for n in b.notes) + "."
        return text

    def _bar(self) -> pg.PlotWidget:
        plot = pg.PlotWidget()
        plot.setFixedHeight(150)
        plot.setMouseEnabled(x=False, y=False)
        plot.hideButtons()
        plot.setLabel("bottom", "share of op time", units="%")
        plot.getAxis("left").setTicks([[]])
        plot.getAxis("left").setWidth(8)
        backdrop = self.palette().color(QPalette.ColorRole.Base)
        backdrop.setAlpha(225)
        plot.addLegend(offset=(6, 4), brush=pg.mkBrush(backdrop), pen=pg.mkPen(128, 128, 128, 120),
                       labelTextColor=self.palette().color(QPalette.ColorRole.Text), colCount=5)
        left = 0.0
        for row in self.rows:
            width = 100 * row.share
            segment = pg.BarGraphItem(x0=[left], width=[width], y=[0.0], height=[0.8], brush=FAMILY_COLORS[row.family],
                                      pen=pg.mkPen(None), name=f"{row.family} {100 * row.share:.1f} %")
            plot.addItem(segment)
            self.segments.append(segment)
            if row.share >= LABEL_MIN_SHARE:
                label = pg.TextItem(f"{100 * row.share:.0f} %", color="#ffffff", anchor=(0.5, 0.5))
                label.setPos(left + width / 2, 0.0)
                plot.addItem(label)
            left += width
        plot.setXRange(0, 100, padding=0.01)
        plot.setYRange(-0.5, 1.6, padding=0)  # headroom above the bar for the legend
        install_export_menu(plot, plot=plot, name="op-families")
        return plot

    def _fill_table(self) -> None:
        steps = len(self.breakdown.steps)
        for row in self.rows:
            tops = ", ".join(f"{op.name} ({op.self_ns / 1e6:,.2f})" for op in row.top_ops)
            cells = [row.family, f"{row.self_ns / 1e6:,.3f}", f"{row.self_ns / 1e6 / steps:,.3f}" if steps else "—",
                     f"{100 * row.share:.1f} %", f"{row.count:,}", tops]
            items = [QStandardItem(text) for text in cells]
            items[0].setData(QColor(FAMILY_COLORS[row.family]), Qt.ItemDataRole.DecorationRole)
            items[0].setToolTip(FAMILY_MEANING[row.family])
            items[-1].setToolTip("\n".join(f"{op.name}: {op.self_ns / 1e6:,.3f} ms in {op.count:,} {op.kind.replace('_', ' ')}"
                                           f"{'s' if op.count != 1 else ''}" for op in row.top_ops))
            for item in items[1:5]:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for item in items:
                item.setEditable(False)
            self.model.appendRow(items)
        self.view.setModel(self.model)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(20)
        header = self.view.horizontalHeader()
        for c in range(len(COLUMNS) - 1):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)
        install_export_menu(self.view, table_model=self.model, name="op-families")
