"""Live curves: a pyqtgraph plot redrawn from GrowingSeries on a timer, never per event.

A frame costs O(pixels), not O(points): each curve is given only about two points per pixel
column of the visible range (each column's min and max, from `gui.live.decimation`), so pyqtgraph's
own clip-to-view, peak downsampling and finite checks, which walk every point every frame, are
not used. A curve whose decimated points did not change is not touched, so a plot with nothing
new does not repaint. Pens are 1 px and cosmetic, antialiasing off (wider or antialiased pens are far slower). A plot
either runs its own ~30 fps timer (standalone) or is refreshed by a view that owns one timer.
A right click offers the view box's menu (view all, axes) and Export as PNG / SVG.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QGraphicsItem, QLabel, QWidget

from gui.live.decimation import ColumnEnvelope
from gui.live.growing_series import GrowingSeries
from gui.view_export import install_export_menu

FRAME_INTERVAL_MS = 30  # ~33 fps: the headroom keeps the rate over 30 fps when some ticks come late (load, a range change)
PHASE_BRUSHES = {"compile": (240, 120, 40, 45), "warmup": (128, 128, 128, 40), "trace": (150, 80, 200, 45)}


class SeriesCurve(pg.PlotCurveItem):
    """A curve that draws a decimated view of a GrowingSeries but reports the whole series'
    bounds, so auto-range (where a plot uses it) sees all the data, not just what is drawn."""

    def __init__(self, series: GrowingSeries, color: str, name: str | None = None) -> None:
        pen = pg.mkPen(color, width=1)
        pen.setCosmetic(True)
        super().__init__(pen=pen, name=name, antialias=False, connect="all", skipFiniteCheck=True)
        self.series = series
        self.envelope = ColumnEnvelope()
        self.drawn: tuple[int, tuple[float, float, int]] | None = None  # (series version, view) last drawn

    def dataBounds(self, ax: int, frac: float = 1.0,
                   orthoRange: tuple[float, float] | None = None) -> tuple[float | None, float | None]:
        s = self.series
        if not len(s):
            return (None, None)
        if ax == 0:
            x = s.x
            return (float(x[0]), float(x[-1])) if s.sorted else (float(x.min()), float(x.max()))
        return (s.y_min, s.y_max) if s.y_min <= s.y_max else (None, None)

    def redraw(self, x0: float, x1: float, columns: int) -> bool:
        """Give the curve the points for the view [x0, x1], `columns` px wide; False when they
        are the ones it already has (then nothing is repainted)."""
        s = self.series
        if s.sorted:
            xs, ys = self.envelope.points(s.x, s.y, s.pyramid, x0, x1, columns)
        else:  # never from a worker; draw everything rather than decimate wrongly
            xs, ys = s.x, s.y
        self.drawn = (s.version, (x0, x1, columns))
        old_x, old_y = self.xData, self.yData
        if old_x is not None and np.array_equal(old_x, xs) and np.array_equal(old_y, ys, equal_nan=True):
            view = self.getViewBox()
            if view is not None and any(view.state["autoRange"]):
                self.invalidateBounds()  # the series grew: let auto-range see it
                self.informViewBoundsChanged()
            return False
        finite = bool(np.isfinite(ys).all())
        self.setData(xs, ys, connect="all" if finite else "finite", skipFiniteCheck=True)
        return True


class LivePlot(pg.PlotWidget):
    """One metric, one curve per run. `refresh()` redraws only curves whose series or view changed."""

    def __init__(self, series: GrowingSeries | None = None, title: str = "", y_label: str = "",
                 color: str = "#1f77b4", parent: QWidget | None = None, own_timer: bool = True) -> None:
        super().__init__(parent=parent, title=title)
        self.setLabel("left", y_label)
        self.showGrid(x=False, y=True, alpha=0.15)
        # The plot's own "Plot Options" (log scale, pyqtgraph's downsampling, ...) would fight the
        # decimation; the view box's menu (view all, axes) stays, with the export actions added.
        self.getPlotItem().setMenuEnabled(False, True)
        self.export_actions = install_export_menu(self, plot=self, name=(title or "plot").lower().replace(" ", "-"))
        self.note = QLabel(self)  # why a plot is empty, over its middle; hidden when there is nothing to say
        self.note.setWordWrap(True)
        self.note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.note.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.note.hide()
        # Every repaint of the view replays each axis' tick text (~2 ms an axis offscreen); cached
        # as a pixmap, an axis whose range did not change is blitted instead.
        for name in ("left", "bottom"):
            self.getPlotItem().getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.getPlotItem().enableAutoRange(y=False)
        self._y_range: tuple[float, float] | None = None  # the range this plot set last
        self._curves: dict[str, SeriesCurve] = {}
        self._regions: list[pg.LinearRegionItem] = []
        self.frames = 0
        self.series = series
        self.curve: SeriesCurve | None = None
        if series is not None:
            self.curve = self.add_curve("default", series, color)
        self._timer: QTimer | None = None
        if own_timer:
            self._timer = QTimer(self)
            self._timer.setTimerType(Qt.TimerType.PreciseTimer)
            self._timer.timeout.connect(self._on_frame)
            self._timer.start(FRAME_INTERVAL_MS)

    def add_curve(self, key: str, series: GrowingSeries, color: str, name: str | None = None) -> SeriesCurve:
        curve = SeriesCurve(series, color, name)
        self.addItem(curve)  # with a name, also into the legend
        self._curves[key] = curve
        return curve

    def clear_curves(self) -> None:
        for curve in self._curves.values():
            self.removeItem(curve)
        self._curves.clear()
        self._y_range = None
        self.set_phases([])

    def set_note(self, text: str) -> None:
        """Say why the plot is empty (e.g. no device memory on a CPU); "" hides the note."""
        if text != self.note.text():
            self.note.setText(text)
        self.note.setVisible(bool(text))
        self._place_note()

    def _place_note(self) -> None:
        self.note.setGeometry(self.rect().adjusted(60, 30, -20, -20))

    def resizeEvent(self, ev: QResizeEvent | None) -> None:
        super().resizeEvent(ev)
        if getattr(self, "note", None) is not None:  # also called from pyqtgraph's __init__, before the note exists
            self._place_note()

    def set_phases(self, spans: list[tuple[str, float, float]]) -> None:
        """Shade compile / warm-up / trace windows (measure is left clear). Existing regions are
        moved rather than recreated, so a growing span costs no scene rebuild per frame."""
        wanted = [(name, start, end) for name, start, end in spans if name in PHASE_BRUSHES and end > start]
        while len(self._regions) > len(wanted):
            self.removeItem(self._regions.pop())
        for k, (name, start, end) in enumerate(wanted):
            if k < len(self._regions):
                region = self._regions[k]
                if region.brush.color().getRgb() != PHASE_BRUSHES[name]:
                    region.setBrush(pg.mkBrush(*PHASE_BRUSHES[name]))
                if tuple(region.getRegion()) != (start, end):
                    region.setRegion((start, end))
                continue
            region = pg.LinearRegionItem((start, end), movable=False, brush=pg.mkBrush(*PHASE_BRUSHES[name]), pen=pg.mkPen(None))
            region.setZValue(-10)
            self.addItem(region)
            self._regions.append(region)

    def point_count(self) -> int:
        """Samples behind the curves (not the decimated points drawn)."""
        return sum(len(curve.series) for curve in self._curves.values())

    def drawn_point_count(self) -> int:
        """Points handed to pyqtgraph: about two per pixel column per curve, whatever the data size."""
        return sum(0 if curve.xData is None else len(curve.xData) for curve in self._curves.values())

    def _view_columns(self) -> tuple[float, float, int]:
        view = self.getViewBox()
        x0, x1 = view.viewRange()[0]
        return float(x0), float(x1), max(1, round(view.width() * self.devicePixelRatioF()))

    def refresh(self) -> bool:
        """Redraw the curves whose series grew or whose view moved; cheap when neither happened.
        True when some curve got new points."""
        self.frames += 1
        if not self._curves:
            return False
        view = self._view_columns()
        changed = grew = False
        for curve in self._curves.values():
            if curve.drawn != (curve.series.version, view):
                grew |= curve.drawn is None or curve.drawn[0] != curve.series.version
                changed |= curve.redraw(*view)
        if grew:
            self._follow_y()
        return changed

    def _follow_y(self) -> None:
        """Widen the y range only when data leaves it, with a margin: a range that moves every
        frame re-renders the axis every frame. Once the user zooms or pans, leave it alone."""
        low = min((c.series.y_min for c in self._curves.values()), default=np.inf)
        high = max((c.series.y_max for c in self._curves.values()), default=-np.inf)
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
