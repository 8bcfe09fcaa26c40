"""A live curve: a pyqtgraph plot redrawn by a timer from a GrowingSeries, never per event.

Peak downsampling + clip-to-view keep a frame under ~10 ms up to millions of points, and a
1-pixel pen avoids pyqtgraph's slow wide-line path (see STACK-NOTES: Qt).
"""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QWidget

from gui.live_model import GrowingSeries

FRAME_INTERVAL_MS = 33  # ~30 fps


class LivePlot(pg.PlotWidget):
    def __init__(self, series: GrowingSeries, title: str = "", y_label: str = "", color: str = "#1f77b4",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent=parent, title=title)
        self.series = series
        self.setLabel("left", y_label)
        self.showGrid(x=True, y=True, alpha=0.2)
        self.curve = self.plot(pen=pg.mkPen(color, width=1))
        self.curve.setDownsampling(auto=True, method="peak")
        self.curve.setClipToView(True)
        self.frames = 0
        self._drawn_version = -1
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._on_frame)
        self._timer.start(FRAME_INTERVAL_MS)

    def _on_frame(self) -> None:
        if self.series.version != self._drawn_version:
            self._drawn_version = self.series.version
            self.curve.setData(self.series.x, self.series.y)
        self.frames += 1
