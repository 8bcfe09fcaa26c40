"""Live curves: a pyqtgraph plot redrawn from GrowingSeries on a timer, never per event.

Peak downsampling + clip-to-view keep a frame under ~10 ms up to millions of points, and a
1-pixel pen avoids pyqtgraph's slow wide-line path (see STACK-NOTES: Qt). A plot either runs
its own 30 fps timer (standalone) or is refreshed by a view that owns one timer for all plots.
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QWidget

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
        self.set_phases([])

    def set_phases(self, spans: list[tuple[str, float, float]]) -> None:
        """Shade compile / warm-up / trace windows (measure is left clear)."""
        for region in self._regions:
            self.removeItem(region)
        self._regions = []
        for name, start, end in spans:
            rgba = PHASE_BRUSHES.get(name)
            if rgba is None or end <= start:
                continue
            region = pg.LinearRegionItem((start, end), movable=False, brush=pg.mkBrush(*rgba), pen=pg.mkPen(None))
            region.setZValue(-10)
            self.addItem(region)
            self._regions.append(region)

    def point_count(self) -> int:
        return sum(len(series) for _, series, _ in self._curves.values())

    def refresh(self) -> None:
        for curve, series, drawn in self._curves.values():
            if series.version != drawn[0]:
                drawn[0] = series.version
                curve.setData(series.x, series.y)
        self.frames += 1

    def _on_frame(self) -> None:
        self.refresh()
