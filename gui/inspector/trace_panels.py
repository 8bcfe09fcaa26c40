"""The trace inspector's tabs: top ops, per-step breakdown, memory, and the clicked event.

Each panel takes the analysis result (or the table) in its constructor and only draws it;
the numbers come from `traces.analysis`, the same the CLI reports. When a trace lacks
what a panel shows (no step markers, no memory counters) the panel says so in words instead
of drawing an empty plot.
"""
from __future__ import annotations

import json

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QItemSelection, Qt, Signal
from PySide6.QtGui import QFontDatabase, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from gui.inspector.top_ops_table import TopOpsFilter, TopOpsModel
from gui.timeline.timeline_view import format_ns
from gui.view_export import install_export_menu
from traces.analysis import MemorySeries, OpRow, StepBreakdown
from traces.call_stack import python_stack
from traces.table import INSTANT, KIND_NAMES, EventTable, Kind

# (field of StepBreakdown, legend name, colour); memcpy only appears when a trace has copies
BREAKDOWN_BARS = (("compute", "compute", "#59a14f"), ("memcpy", "memory copies", "#f28e2b"),
                  ("host_overhead", "host overhead", "#b07aa1"), ("input", "input", "#9c755f"),
                  ("compile", "compile", "#e15759"), ("idle", "idle (nothing recorded)", "#c8c8c8"))
MEMORY_COLORS = ("#4e79a7", "#e15759", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948", "#9c755f")


def _legend(plot: pg.PlotWidget, widget: QWidget, columns: int = 1) -> None:
    """A legend on a backdrop of the window colour, so it stays readable over bars and curves;
    with several `columns` it is one row along the top (the plot leaves headroom for it)."""
    backdrop = widget.palette().color(QPalette.ColorRole.Base)
    backdrop.setAlpha(225)
    text = widget.palette().color(QPalette.ColorRole.Text)
    plot.addLegend(offset=(10, 6) if columns > 1 else (-10, 10), brush=pg.mkBrush(backdrop), pen=pg.mkPen(128, 128, 128, 120),
                   labelTextColor=text, colCount=columns)


def _note(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class TopOpsPanel(QWidget):
    """Every op, sortable, filtered by name and category; selecting one emits its name."""

    opSelected = Signal(str)

    def __init__(self, rows: list[OpRow], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = TopOpsModel(rows, self)
        self.proxy = TopOpsFilter(self.model, self)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("filter ops by name…")
        self.filter_edit.setClearButtonEnabled(True)
        self.category = QComboBox()
        self.category.addItem("all categories", None)
        for kind in self.model.categories():
            self.category.addItem(kind.replace("_", " "), kind)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(4, Qt.SortOrder.DescendingOrder)  # self time, as ranked
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(20)
        header = self.view.horizontalHeader()
        header.setResizeContentsPrecision(200)  # size columns from the first rows, not all of thousands
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, self.proxy.columnCount()):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        install_export_menu(self.view, table_model=self.proxy, name="top-ops")
        self.summary = QLabel()
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.category)
        top.addWidget(self.summary)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        if not self.model.rows:
            layout.addWidget(_note("This trace has no op events (framework ops, HLO ops, kernels or copies): "
                                   "see the description above for what it does contain."))
        layout.addWidget(self.view, 1)
        self.filter_edit.textChanged.connect(self._on_filter)
        self.category.currentIndexChanged.connect(self._on_filter)
        self.view.selectionModel().selectionChanged.connect(self._on_selection)
        self._on_filter()

    def select_row(self, proxy_row: int) -> None:
        self.view.selectRow(proxy_row)

    def _on_filter(self, *args: object) -> None:
        self.proxy.set_text(self.filter_edit.text())
        self.proxy.set_category(self.category.currentData())
        self.summary.setText(f"{self.proxy.rowCount():,} of {self.model.rowCount():,} ops")

    def _on_selection(self, selected: QItemSelection, deselected: QItemSelection) -> None:
        rows = self.view.selectionModel().selectedRows()
        if rows:
            self.opSelected.emit(self.proxy.op(rows[0].row()).name)


class StepBreakdownPanel(QWidget):
    """Stacked bars per step: where each step's wall time went."""

    def __init__(self, breakdown: StepBreakdown, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.breakdown = breakdown
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        no_steps = len(breakdown) == 1 and int(breakdown.steps[0]) == -1
        text = f"Compute is measured as: {breakdown.basis}."
        if no_steps:
            text = ("This trace has no step markers (ProfilerStep#N, StepTraceAnnotation / step_num), so time cannot be "
                    "split per step: the one bar is the whole trace. " + text)
        notes = [n for n in breakdown.notes if not n.startswith("no step markers")]
        if notes:
            text += " " + "; ".join(notes) + "."
        if breakdown.attribution:  # kernels counted in the step that launched them, or by time
            text += " " + breakdown.attribution[:1].upper() + breakdown.attribution[1:] + "."
        self.message = _note(text)
        layout.addWidget(self.message)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("left", "time", units="s")
        self.plot.getAxis("left").setScale(1e-9)  # bars are in ns
        self.plot.setLabel("bottom", "step")
        self.plot.showGrid(y=True, alpha=0.15)
        _legend(self.plot, self, columns=len(BREAKDOWN_BARS))
        self.plot.setMouseEnabled(y=False)
        self.bars = self._draw(no_steps)
        install_export_menu(self.plot, plot=self.plot, name="step-breakdown")
        layout.addWidget(self.plot, 1)

    def _draw(self, no_steps: bool) -> list[pg.BarGraphItem]:
        b = self.breakdown
        x = np.arange(len(b), dtype=np.float64)
        bottom = np.zeros(len(b))
        bars = []
        for field, name, color in BREAKDOWN_BARS:
            values = getattr(b, f"{field}_ns").astype(np.float64)
            if field == "memcpy" and not values.any():
                continue
            bar = pg.BarGraphItem(x=x, height=values, y0=bottom.copy(), width=0.7, brush=color, pen=pg.mkPen(None),
                                  name=name)
            self.plot.addItem(bar)
            bars.append(bar)
            bottom += values
        labels = ["whole trace"] if no_steps else [str(int(s)) for s in b.steps]
        every = max(1, len(labels) // 30)
        self.plot.getAxis("bottom").setTicks([[(float(i), labels[i]) for i in range(0, len(labels), every)]])
        self.plot.setXRange(-0.6, len(b) - 0.4, padding=0)
        top = float(bottom.max()) if len(bottom) and bottom.max() > 0 else 1.0
        self.plot.setYRange(0, top * 1.5, padding=0)  # headroom for the legend row
        return bars


class MemoryPanel(QWidget):
    """Memory counters over time, or a sentence saying the trace has none."""

    def __init__(self, series: list[MemorySeries], t0_ns: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.plot: pg.PlotWidget | None = None
        if not series:
            self.message = _note("This trace has no memory data: the profiler recorded no allocator counters "
                                 "(JAX and TensorFlow on CPU report none; PyTorch needs profile_memory=True).")
            self.message.setAlignment(Qt.AlignmentFlag.AlignCenter)
            layout.addWidget(self.message, 1)
            return
        peaks = ", ".join(f"{s.label} peak {s.peak / 1e6:,.1f} MB" for s in series)
        self.message = _note(f"{len(series)} memory series; {peaks}.")
        layout.addWidget(self.message)
        self.plot = pg.PlotWidget()
        self.plot.setLabel("left", "memory", units="B")
        self.plot.setLabel("bottom", "time since first event", units="s")
        self.plot.getAxis("bottom").setScale(1e-9)
        self.plot.showGrid(y=True, alpha=0.15)
        _legend(self.plot, self)
        for k, s in enumerate(series):
            self.plot.plot((s.ts_ns - t0_ns).astype(np.float64), s.bytes, name=s.label,
                           pen=pg.mkPen(MEMORY_COLORS[k % len(MEMORY_COLORS)], width=1))
        install_export_menu(self.plot, plot=self.plot, name="memory")
        layout.addWidget(self.plot, 1)


class EventDetailsPanel(QWidget):
    """Everything the table keeps about one event: name, kind, row, times, step, arguments
    (input shapes, HLO module, stack when the profiler recorded them)."""

    def __init__(self, table: EventTable, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = table
        self.t0 = int(table.start_ns[0]) if len(table) else 0
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setPlaceholderText("Click an event in the timeline (or press Enter in the search box) to see it here.")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.text)
        self.index: int | None = None

    def show_event(self, index: int) -> None:
        self.index = index
        self.text.setPlainText(self.describe(index))

    def describe(self, index: int) -> str:
        t = self.table
        row = t.rows[int(t.row[index])]
        instant = bool(t.flags[index] & INSTANT)
        lines = [
            f"name:      {t.string(int(t.name[index]))}",
            f"category:  {KIND_NAMES[Kind(int(t.kind[index]))].replace('_', ' ')}"
            + (f"  (trace category: {t.string(int(t.cat[index]))})" if t.cat[index] >= 0 else ""),
            f"row:       {row.label}" + ("  (device)" if row.device else ""),
            (f"start:     {format_ns(float(t.start_ns[index] - self.t0))} after the first event  "
             f"(trace clock {int(t.start_ns[index]):,} ns)"),
            "duration:  instant" if instant else f"duration:  {format_ns(float(t.dur_ns[index]))}  ({int(t.dur_ns[index]):,} ns)",
            f"step:      {int(t.step[index])}" if t.step[index] >= 0 else "step:      outside every step",
        ]
        args = t.event_args(index)
        if args:
            lines.append("arguments:")
            for key, value in args.items():
                shown = value if isinstance(value, str) else json.dumps(value)
                if key.lower() in ("stack", "call stack") and isinstance(value, list):
                    shown = "\n" + "\n".join(f"    {frame}" for frame in value)
                lines.append(f"  {key}: {shown}")
        else:
            lines.append("arguments: none kept for this event")
        frames = python_stack(t, index)
        if frames:
            lines.append("call stack (Python, outermost first):")
            lines.extend(f"    {frame}" for frame in frames)
        return "\n".join(lines)
