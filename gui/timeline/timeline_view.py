"""The trace timeline: one row per thread / device stream, boxes coloured by kind, steps
shaded, an overview strip with a range selector below, and Perfetto's keys (W/S zoom, A/D pan).

`TimelineWidget` is shared by the trace inspector and the comparison view (side-by-side
timelines kept in step through `rangeChanged` / `set_view_range`), so its public API is small
and stable. Times in that API are ns relative to the first event's start, so two traces line
up at their beginnings whatever their clocks.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.GraphicsScene.mouseEvents import MouseClickEvent
from PySide6.QtCore import QEvent, QObject, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QCursor, QFontMetrics, QKeyEvent
from PySide6.QtWidgets import QGraphicsItem, QLabel, QSizePolicy, QToolTip, QVBoxLayout, QWidget

from gui.timeline.row_titles import row_titles
from gui.timeline.timeline_item import KIND_COLORS, LANE_HEIGHT, TimelineItem
from gui.timeline.timeline_lod import TimelineLod
from traces.analysis import NOT_ACTIVITY, OP_KINDS, step_windows
from traces.table import INSTANT, KIND_NAMES, EventTable, Kind

ZOOM_STEP = 0.8  # W / S: the visible range shrinks or grows by this factor
PAN_STEP = 0.2  # A / D: pan by this share of the visible range
LABEL_WIDTH = 190  # px for the row names on the left
_KEYS = (Qt.Key.Key_W, Qt.Key.Key_S, Qt.Key.Key_A, Qt.Key.Key_D)


def format_ns(ns: float) -> str:
    """A duration for people: 850 ns, 12.3 µs, 4.56 ms, 2.01 s."""
    a = abs(ns)
    if a < 1e3:
        return f"{ns:.0f} ns"
    if a < 1e6:
        return f"{ns / 1e3:.3g} µs" if a < 1e5 else f"{ns / 1e3:.1f} µs"
    if a < 1e9:
        return f"{ns / 1e6:.3g} ms" if a < 1e8 else f"{ns / 1e6:.1f} ms"
    return f"{ns / 1e9:.3f} s"


class TimelineWidget(QWidget):
    """A zoomable timeline of `table`. Wheel zooms around the mouse, dragging pans (x only),
    the overview strip's region selects a range, W/S/A/D zoom and pan, hovering shows the
    event, clicking selects it and emits `eventClicked(index)`."""

    rangeChanged = Signal(float, float)
    eventClicked = Signal(int)

    def __init__(self, table: EventTable, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.table = table
        self.lod = TimelineLod(table)
        steps, lo, hi = step_windows(table)
        self._steps = steps
        self._step_lo = (lo - self.lod.t0).astype(np.float64)
        self._step_hi = (hi - self.lod.t0).astype(np.float64)
        self._highlight_count = 0
        self._mouse_x: float | None = None
        self.selected: int | None = None
        self.hovered: int | None = None  # the event under the mouse, as the tooltip shows it

        self.view = pg.PlotWidget()
        self.plot_item: pg.PlotItem = self.view.getPlotItem()
        self.item = TimelineItem(self.lod, self._step_lo, self._step_hi, steps)
        self.plot_item.addItem(self.item)
        self._setup_axes()
        self.box = self.plot_item.getViewBox()
        self.box.invertY(True)
        self.box.setMouseEnabled(x=True, y=False)
        self.plot_item.hideButtons()
        span = float(max(self.lod.span, 1))
        pad = span * 0.02
        self.box.setLimits(xMin=-pad, xMax=span + pad, minXRange=min(span, 200.0), yMin=-0.4, yMax=self.item.height + 0.4)
        self.box.setYRange(-0.3, self.item.height + 0.3, padding=0)
        self.box.setXRange(0.0, span, padding=0)

        self.overview = self._make_overview(span)
        self.legend = self._make_legend()
        self.status = QLabel("Click an event for its details; wheel or W/S zoom, drag or A/D pan.")
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.overview)
        layout.addWidget(self.legend)
        layout.addWidget(self.status)
        rows_px = int(self.item.height * 14)
        self.view.setMinimumHeight(min(max(rows_px, 120), 420))

        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.view.installEventFilter(self)
        self.box.sigXRangeChanged.connect(self._on_range)
        self.region.sigRegionChanged.connect(self._on_region)
        scene = self.view.scene()
        scene.sigMouseClicked.connect(self._on_click)
        self._hover = pg.SignalProxy(scene.sigMouseMoved, rateLimit=30, slot=self._on_hover)
        self._on_range()

    # -- public API ----------------------------------------------------------------------
    def set_view_range(self, lo_ns: float, hi_ns: float) -> None:
        """Show [lo_ns, hi_ns] (relative ns); clamped to the trace (with a small margin)."""
        if hi_ns <= lo_ns:
            raise ValueError(f"an empty time range ({lo_ns} .. {hi_ns} ns)")
        self.box.setXRange(float(lo_ns), float(hi_ns), padding=0)

    def view_range(self) -> tuple[float, float]:
        lo, hi = self.box.viewRange()[0]
        return float(lo), float(hi)

    def step_starts_ns(self) -> np.ndarray:
        """Start of each step (relative ns, sorted); empty when the trace has no step markers."""
        return self._step_lo.copy()

    def highlight(self, name: str | None) -> None:
        """Draw the events called `name` on top of the dimmed rest; None clears."""
        if name is None:
            self.highlight_events(None)
            return
        name_id = self.table.string_id(name)
        self.highlight_events(self.table.name == name_id if name_id >= 0 else np.zeros(len(self.table), bool))

    def highlight_events(self, mask: np.ndarray | None) -> None:
        """Highlight the events where `mask` is true (search matches); None clears."""
        if mask is None:
            self._highlight_count = 0
            self.item.set_highlight(None)
            return
        pyramid = self.lod.subset(np.asarray(mask, bool))
        self._highlight_count = len(pyramid)
        self.item.set_highlight(pyramid)

    def highlighted_count(self) -> int:
        return self._highlight_count

    def visible_box_count(self) -> int:
        """Boxes drawn in the last frame (after level-of-detail merging)."""
        return self.item.box_count

    def select_event(self, index: int | None, centre: bool = False) -> None:
        """Mark event `index` (None clears); with `centre`, move the view onto it, keeping the
        zoom unless the event does not fit."""
        self.selected = index
        self.item.set_selected(index)
        if index is None:
            return
        self.status.setText(self.describe(index))
        if centre:
            start, end = self.lod.relative(index)
            lo, hi = self.view_range()
            width = max(hi - lo, (end - start) * 1.5, 1000.0)
            if end - start > 0.8 * (hi - lo):
                width = (end - start) * 1.5
            mid = (start + end) / 2
            self.set_view_range(mid - width / 2, mid + width / 2)

    def describe(self, index: int) -> str:
        """One line: name, kind, duration, row."""
        t = self.table
        dur = "instant" if t.flags[index] & INSTANT else format_ns(float(t.dur_ns[index]))
        return (f"{t.string(int(t.name[index]))} — {KIND_NAMES[Kind(int(t.kind[index]))].replace('_', ' ')}, {dur}, "
                f"at {format_ns(float(t.start_ns[index] - self.lod.t0))} on {self.row_titles[int(t.row[index])]}")

    # -- construction ------------------------------------------------------------------
    def _setup_axes(self) -> None:
        bottom = self.plot_item.getAxis("bottom")
        bottom.setLabel("time since first event", units="s")
        bottom.setScale(1e-9)  # x is in ns; the axis shows s with SI prefixes (ms, µs)
        left = self.plot_item.getAxis("left")
        left.setWidth(LABEL_WIDTH)
        left.setStyle(tickLength=0, autoExpandTextSpace=False, hideOverlappingLabels=False)
        metrics = QFontMetrics(left.font() if hasattr(left, "font") else self.font())
        ticks = []
        self.row_titles = row_titles(self.table.rows)
        for r, title in enumerate(self.row_titles):
            if not self.lod.lanes[r]:
                continue  # a row without events is not drawn
            centre = self.item.row_top[r] + self.lod.lanes[r] * LANE_HEIGHT / 2
            ticks.append((float(centre), metrics.elidedText(title, Qt.TextElideMode.ElideMiddle, LABEL_WIDTH - 12)))
        left.setTicks([ticks, []])
        for axis in (bottom, left):
            axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def _make_legend(self) -> QLabel:
        """One line naming the colour of each event category this trace holds (and only those)."""
        present = np.flatnonzero(np.bincount(self.table.kind, minlength=len(Kind)))
        self.legend_kinds = [Kind(int(k)) for k in present if int(k) in KIND_NAMES]
        parts = [f'<span style="color:{KIND_COLORS.get(k, KIND_COLORS[Kind.OTHER])}">■</span>&nbsp;'
                 f'{KIND_NAMES[k].replace("_", " ")}' for k in self.legend_kinds]
        legend = QLabel("Colours: " + " &nbsp; ".join(parts))
        legend.setTextFormat(Qt.TextFormat.RichText)
        legend.setWordWrap(True)
        legend.setContentsMargins(LABEL_WIDTH - 60, 0, 0, 0)
        legend.setToolTip("Each box is coloured by its event's category; a box standing for several events "
                          "that are closer than a pixel takes the colour (and the name) of the longest of them")
        return legend

    def _make_overview(self, span: float) -> pg.PlotWidget:
        """The whole trace as an activity profile (busy time per bin), with the view's range."""
        strip = pg.PlotWidget()
        strip.setFixedHeight(58)
        strip.setMenuEnabled(False)
        strip.hideButtons()
        item = strip.getPlotItem()
        item.hideAxis("bottom")
        item.getAxis("left").setWidth(LABEL_WIDTH)
        item.getAxis("left").setStyle(showValues=False, tickLength=0)
        item.setMouseEnabled(x=False, y=False)
        bins = 600
        x = np.arange(bins + 1) * span / bins
        busy = self._activity(x)
        item.plot(x, np.append(busy, busy[-1] if len(busy) else 0.0), stepMode=None, pen=pg.mkPen("#4e79a7", width=1),
                  fillLevel=0, brush=pg.mkBrush(78, 121, 167, 90))
        item.setXRange(0, span, padding=0)
        item.setYRange(0, 1.05, padding=0)
        self.region = pg.LinearRegionItem((0, span), brush=pg.mkBrush(232, 23, 93, 28),
                                          pen=pg.mkPen(QColor(232, 23, 93), width=1))
        self.region.setBounds((0, span))
        item.addItem(self.region)
        strip.setToolTip("Whole trace; drag the shaded region or its edges to choose the range shown above")
        return strip

    def _activity(self, edges: np.ndarray) -> np.ndarray:
        """Per bin between `edges` (relative ns), the time spent in op events (framework ops,
        HLO ops, kernels, copies; every timed event when there are none), relative to the
        busiest bin. Exact overlap from sorted starts and ends: busy time before an edge is the
        sum over events of min(edge, end) - start."""
        t = self.table
        timed = (t.flags & INSTANT) == 0
        work = np.isin(t.kind, OP_KINDS) & timed
        if not work.any():
            work = timed & ~np.isin(t.kind, NOT_ACTIVITY)
        if not work.any():
            return np.zeros(len(edges) - 1)
        starts = (t.start_ns[work] - self.lod.t0).astype(np.float64)  # sorted, as the table is
        ends = np.sort(starts + t.dur_ns[work], kind="stable")  # nearly sorted: timsort is ~5x faster here
        cs, ce = np.concatenate(([0.0], np.cumsum(starts))), np.concatenate(([0.0], np.cumsum(ends)))
        ns = np.searchsorted(starts, edges, side="left")
        ne = np.searchsorted(ends, edges, side="left")
        busy: np.ndarray = np.diff((ns * edges - cs[ns]) - (ne * edges - ce[ne]))
        return busy / busy.max() if busy.max() > 0 else busy

    # -- events --------------------------------------------------------------------------
    def _on_range(self, *args: object) -> None:
        lo, hi = self.view_range()
        self.region.blockSignals(True)
        self.region.setRegion((max(lo, 0.0), min(hi, float(max(self.lod.span, 1)))))
        self.region.blockSignals(False)
        self.rangeChanged.emit(lo, hi)

    def _on_region(self, *args: object) -> None:
        lo, hi = self.region.getRegion()
        if hi > lo:
            self.set_view_range(lo, hi)

    def _pixel_ns(self) -> float:
        lo, hi = self.view_range()
        return (hi - lo) / max(float(self.box.width()), 1.0)

    def _event_at_scene(self, pos: QPointF) -> int | None:
        if not self.box.sceneBoundingRect().contains(pos):
            return None
        p = self.box.mapSceneToView(pos)
        track = self.item.track_at(p.y())
        if track is None:
            return None
        return self.lod.event_at(track, p.x(), 3 * self._pixel_ns())

    def _on_click(self, event: MouseClickEvent) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        index = self._event_at_scene(event.scenePos())
        if index is not None:
            self.select_event(index)
            self.eventClicked.emit(index)

    def _on_hover(self, args: tuple[QPointF]) -> None:
        pos = args[0]
        inside = self.box.sceneBoundingRect().contains(pos)
        self._mouse_x = float(self.box.mapSceneToView(pos).x()) if inside else None
        index = self._event_at_scene(pos) if inside else None
        self.hovered = index
        # Qt shows the view's tooltip after its usual hover delay; one already showing follows the mouse
        text = self.describe(index).replace(" — ", "\n", 1) if index is not None else ""
        self.view.setToolTip(text)
        if QToolTip.isVisible():
            if text:
                QToolTip.showText(QCursor.pos(), text, self.view)
            else:
                QToolTip.hideText()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.KeyPress and isinstance(event, QKeyEvent) and event.key() in _KEYS:
            self.keyPressEvent(event)
            return True
        return super().eventFilter(watched, event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        if key not in _KEYS:
            super().keyPressEvent(event)
            return
        lo, hi = self.view_range()
        width = hi - lo
        if key in (Qt.Key.Key_W, Qt.Key.Key_S):
            factor = ZOOM_STEP if key == Qt.Key.Key_W else 1 / ZOOM_STEP
            anchor = self._mouse_x if self._mouse_x is not None and lo <= self._mouse_x <= hi else (lo + hi) / 2
            self.set_view_range(anchor - (anchor - lo) * factor, anchor + (hi - anchor) * factor)
        else:
            shift = width * PAN_STEP * (-1 if key == Qt.Key.Key_A else 1)
            self.set_view_range(lo + shift, hi + shift)
        event.accept()
