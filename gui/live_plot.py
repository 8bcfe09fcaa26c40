"""Live curves: a pyqtgraph plot redrawn from GrowingSeries on a timer, never per event.

Peak downsampling + clip-to-view keep a frame under ~10 ms up to millions of points, and a
1-pixel pen avoids pyqtgraph's slow wide-line path (see STACK-NOTES: Qt). A plot either runs
its own 30 fps timer (standalone) or is refreshed by a view that owns one timer for all plots.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QGraphicsItem, QWidget

from gui.live_model import GrowingSeries

FRAME_INTERVAL_MS = 33  # ~30 fps
PHASE_BRUSHES = {"compile": (240, 120, 40, 45), "warmup": (128, 128, 128, 40), "trace": (150, 80, 200, 45)}


class LivePlot(pg.PlotWidget):
    """One metric, one curve per run. `refresh()` redraws only curves whose series changed."""

    def __init__(self, series: GrowingSeries | None = None, title: str = "", y_label: str = "",
                 color: str = "#1f77b4", parent: QWidget | None = None, own_timer: bool = True) -> None:
        super().__init__(parent=parent, title=title)
        self.setLabel("left", y_label)
        self.showGrid(x=False, y=True, alpha=0.15)
        self.setMenuEnabled(False)
        # Every repaint of the view replays each axis' tick text (~2 ms an axis offscreen); cached
        # as a pixmap, an axis whose range did not change is blitted instead.
        for name in ("left", "bottom"):
            self.getPlotItem().getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.getPlotItem().enableAutoRange(y=False)
        self._y_range: tuple[float, float] | None = None  # the range this plot set last
        self._curves: dict[str, tuple[pg.PlotDataItem, GrowingSeries, list[int]]] = {}
        self._regions: list[pg.LinearRegionItem] = []
        self.frames = 0
        self.series = series
        self.curve: pg.PlotDataItem | None = None
        if series is not None:
            self.curve = self.add_curve("default", series, color)
        self._timer: QTimer | None = None
        if own_timer:
            self._timer = QTimer(self)
            self._timer.timeout.connect(self._on_frame)
            self._timer.start(FRAME_INTERVAL_MS)

    def add_curve(self, key: str, series: GrowingSeries, color: str, name: str | None = None) -> pg.PlotDataItem:
        curve = self.plot(pen=pg.mkPen(color, width=1), name=name)
        curve.setDownsampling(auto=True, method="peak")
        curve.setClipToView(True)
        self._curves[key] = (curve, series, [-1])
        return curve

    def clear_curves(self) -> None:
        for curve, _, _ in self._curves.values():
            self.removeItem(curve)
        self._curves.clear()
        self._y_range = None
        self.set_phases([])

    def set_phases(self, spans: list[tuple[str, float, float]]) -> None:
        """Shade compile / warm-up / trace windows (measure is left clear). Existing regions are
        moved rather than recreated, so a growing span costs no scene rebuild per frame."""
        wanted = [(name, start, end) for name, start, end in spans if name in PHASE_BRUSHES and end > start]
        while len(self._regions) > len(wanted):
            self.removeItem(self._regions.pop())
        for k, (name, start, end) in enumerate(wanted):
            if k < len(self._regions):
                region = self._regions[k]
                region.setBrush(pg.mkBrush(*PHASE_BRUSHES[name]))
                region.setRegion((start, end))
                continue
            region = pg.LinearRegionItem((start, end), movable=False, brush=pg.mkBrush(*PHASE_BRUSHES[name]), pen=pg.mkPen(None))
            region.setZValue(-10)
            self.addItem(region)
            self._regions.append(region)

    def point_count(self) -> int:
        return sum(len(series) for _, series, _ in self._curves.values())

    def refresh(self) -> None:
        changed = False
        for curve, series, drawn in self._curves.values():
            if series.version != drawn[0]:
                drawn[0] = series.version
                curve.setData(series.x, series.y)
                changed = True
        if changed:
            self._follow_y()
        self.frames += 1

    def _follow_y(self) -> None:
        """Widen the y range only when data leaves it, with a margin: a range that moves every
        frame re-renders the axis every frame. Once the user zooms or pans, leave it alone."""
        low = min((s.y_min for _, s, _ in self._curves.values()), default=np.inf)
        high = max((s.y_max for _, s, _ in self._curves.values()), default=-np.inf)
        if not (np.isfinite(low) and np.isfinite(high)):
            return
        view = self.getViewBox()
        if self._y_range is not None:
            shown = tuple(view.viewRange()[1])
            if abs(shown[0] - self._y_range[0]) > 1e-9 or abs(shown[1] - self._y_range[1]) > 1e-9:
                return  # the user moved the view
            if self._y_range[0] <= low and high <= self._y_range[1]:
                return
        span = max(high - low, abs(high) * 0.1, 1e-9)
        view.setYRange(low - 0.1 * span, high + 0.15 * span, padding=0)
        self._y_range = tuple(view.viewRange()[1])

    def _on_frame(self) -> None:
        self.refresh()
