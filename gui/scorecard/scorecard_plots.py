"""The Scorecard window's plots: scaling (log-log, one plot per purpose, each framework's points,
fitted power law and the band its exponent's interval spans), time to accuracy (accuracy vs wall
time, the target as a line) and batch-1 latency (each framework's requests, their box and p50 /
p95 / p99 marked).

Each is redrawn whole from a Scorecard (a few hundred points at most), with 1-pixel pens and
solid symbols, and offers Export as PNG/SVG on its right-click menu (gui/view_export.py).
"""
from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui.live.live_model import FALLBACK_COLOR, FRAMEWORK_COLORS
from gui.scorecard.scorecard_model import (
    SCALING_PURPOSES,
    LatencySpread,
    absent_reason,
    latency_spreads,
    number,
    ordered_frameworks,
    scaling_for,
    wrapped,
)
from gui.view_export import install_export_menu
from sessions.scorecard_model import Scorecard

BAND_ALPHA = 48


def color_of(framework: str, alpha: int = 255) -> QColor:
    color = QColor(FRAMEWORK_COLORS.get(framework, FALLBACK_COLOR))
    color.setAlpha(alpha)
    return color


def make_plot(title: str, left: str, bottom: str, name: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(title=title)
    plot.setMinimumSize(220, 200)
    plot.showGrid(x=True, y=True, alpha=0.25)
    plot.setLabel("left", left)
    plot.setLabel("bottom", bottom)
    install_export_menu(plot, plot=plot, name=name)
    return plot


def show_empty(plot: pg.PlotWidget, text: str) -> None:
    """An empty plot says why, on bare axes (no ticks: there is nothing to read off them)."""
    for name in ("left", "bottom"):
        plot.getAxis(name).setTicks([[], []])
    plot.setXRange(0, 1, padding=0)
    plot.setYRange(0, 1, padding=0)
    note = pg.TextItem(text, color="#8c959f", anchor=(0.5, 0.5))
    plot.addItem(note)
    note.setPos(0.5, 0.5)


def reset_ticks(plot: pg.PlotWidget) -> None:
    for name in ("left", "bottom"):
        plot.getAxis(name).setTicks(None)


def short_number(value: float) -> str:
    """A tick label: 512, 12.3k, 1.6M, 0.05."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def log_ticks(low: float, high: float) -> list[float]:
    """Round values (1, 2, 5 × 10^k; every 1–9 × 10^k on a short range) between low and high:
    pyqtgraph's own log ticks label every minor tick of a range under a decade, unreadably."""
    decades = range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1)
    for mantissas in ((1, 2, 5), tuple(range(1, 10))):
        ticks = [m * 10.0**k for k in decades for m in mantissas if low <= m * 10.0**k <= high]
        if len(ticks) >= 3:
            return ticks
    return [low, high]


def set_log_view(plot: pg.PlotWidget, xs: list[float], ys: list[float]) -> None:
    """Range and label both log axes of `plot` (log mode: view coordinates are log10): the
    measured sizes as the x ticks, round values as the y ticks."""
    (x0, x1), (y0, y1) = (min(xs), max(xs)), (min(ys), max(ys))
    pad_x, pad_y = max(0.08, 0.06 * math.log10(x1 / x0)), max(0.08, 0.08 * math.log10(y1 / y0))
    plot.setXRange(math.log10(x0) - pad_x, math.log10(x1) + pad_x, padding=0)
    plot.setYRange(math.log10(y0) - pad_y, math.log10(y1) + pad_y, padding=0)
    sizes = sorted(set(xs))
    x_ticks = sizes if len(sizes) <= 8 else log_ticks(x0, x1)
    plot.getAxis("bottom").setTicks([[(math.log10(v), short_number(v)) for v in x_ticks]])
    plot.getAxis("left").setTicks([[(math.log10(v), short_number(v)) for v in log_ticks(y0, y1)]])


class ScalingPlots(QWidget):
    """One log-log plot per scaling purpose (dataset size, parameter count, batch size)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plots: dict[str, pg.PlotWidget] = {}
        for purpose, title, bottom, left in SCALING_PURPOSES:
            plot = make_plot(title, left, bottom, f"scorecard-{purpose}")
            plot.setLogMode(x=True, y=True)
            backdrop = plot.palette().color(QPalette.ColorRole.Base)
            backdrop.setAlpha(190)  # legible over a band, in the light and the dark theme
            plot.addLegend(offset=(8, 8), labelTextSize="8pt", verSpacing=-6, brush=pg.mkBrush(backdrop))
            layout.addWidget(plot)
            self.plots[purpose] = plot
        self.legends: dict[str, list[str]] = {}  # purpose -> the legend's lines, as drawn

    def redraw(self, card: Scorecard) -> None:
        for purpose, plot in self.plots.items():
            plot.clear()
            reset_ticks(plot)
            series = scaling_for(card, purpose)
            self.legends[purpose] = [s.legend for s in series]
            legend = plot.getPlotItem().legend
            if legend is not None:
                legend.setVisible(bool(series))  # an empty legend is a blank box
            if not series:
                show_empty(plot, wrapped(absent_reason(card, f"{purpose}_exponent", "no fit yet: it needs two sizes or more")))
                continue
            for s in series:
                pen = pg.mkPen(color_of(s.framework), width=1)
                if s.band_low:  # the band's edges faintly drawn: FillBetweenItem fills between drawn curves only
                    edge = pg.mkPen(color_of(s.framework, 90), width=1)
                    low = pg.PlotDataItem(s.line_x, s.band_low, pen=edge)
                    high = pg.PlotDataItem(s.line_x, s.band_high, pen=edge)
                    plot.addItem(low)
                    plot.addItem(high)
                    plot.addItem(pg.FillBetweenItem(low, high, brush=pg.mkBrush(color_of(s.framework, BAND_ALPHA))))
                plot.addItem(pg.PlotDataItem(s.line_x, s.line_y, pen=pen, name=s.legend))
                plot.addItem(pg.PlotDataItem(s.sizes, s.costs, pen=None, symbol="o", symbolSize=6,
                                             symbolPen=None, symbolBrush=color_of(s.framework)))
            # ranged on the points and lines: a wide band (few points) is clipped rather than squashing them
            set_log_view(plot, [x for s in series for x in s.sizes], [y for s in series for y in (*s.costs, *s.line_y)])


class AccuracyPlot(QWidget):
    """Held-out accuracy against wall time (compilation and evaluation included), per framework."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plot = make_plot("Time to accuracy", "held-out accuracy", "wall time since the start (s)", "scorecard-accuracy")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.addLegend(offset=(-8, -8), labelTextSize="8pt", verSpacing=-6)
        layout.addWidget(self.plot)
        self.target_line: pg.InfiniteLine | None = None

    def redraw(self, card: Scorecard) -> None:
        self.plot.clear()
        reset_ticks(self.plot)
        self.target_line = None
        curves = {fw: c for fw, c in card.curves.items() if c}
        for fw in ordered_frameworks(curves):
            seconds, accuracy = zip(*sorted(curves[fw]), strict=True)
            self.plot.addItem(pg.PlotDataItem(list(seconds), list(accuracy), pen=pg.mkPen(color_of(fw), width=1), name=fw,
                                              symbol="o", symbolSize=5, symbolPen=None, symbolBrush=color_of(fw)))
        target = card.target_accuracy
        if target is not None:
            self.target_line = pg.InfiniteLine(pos=target, angle=0, pen=pg.mkPen("#6e7781", width=1, style=Qt.PenStyle.DashLine),
                                               label=f"target {100 * target:g} %",
                                               labelOpts={"position": 0.05, "color": "#6e7781", "anchors": [(0, 1), (0, 1)]})
            self.plot.addItem(self.target_line)
        if not curves:
            show_empty(self.plot, wrapped(absent_reason(card, "time_to_accuracy_s", "no time-to-accuracy run yet")))
        else:
            self.plot.autoRange()


class LatencyPlot(QWidget):
    """Batch-1 latency per framework on a log axis: every request as a dot, the quartiles as a
    box, and ticks with labels at p50, p95 and p99."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plot = make_plot("Inference latency at batch 1", "latency per request (ms)", "", "scorecard-latency")
        self.plot.setLogMode(x=False, y=True)
        self.plot.showGrid(x=False, y=True, alpha=0.25)
        layout.addWidget(self.plot)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)
        self.spreads: list[LatencySpread] = []

    @property
    def _y_range(self) -> tuple[float, float]:
        """The view's y range (log10 of ms), set by hand so label spacing can be known."""
        low = math.log10(min(min(s.samples) for s in self.spreads))
        high = math.log10(max(max(s.samples) for s in self.spreads))
        pad = max(0.05, 0.06 * (high - low))
        return low - pad, high + pad

    def _label_heights(self, values: list[float]) -> list[float]:
        """Where the labels of ascending `values` go (log10 of ms): at their marks, pushed up
        just enough that two labels never overlap."""
        low, high = self._y_range
        gap = (high - low) * 15 / max(self.plot.height() - 60, 200)  # a label is ~15 px tall
        heights: list[float] = []
        for value in values:
            y = math.log10(value)
            heights.append(max(y, heights[-1] + gap) if heights else y)
        return heights

    def redraw(self, card: Scorecard) -> None:
        self.plot.clear()
        reset_ticks(self.plot)
        self.spreads = latency_spreads(card)
        self.plot.getAxis("bottom").setTicks([[(i, s.framework) for i, s in enumerate(self.spreads)]])
        rng = np.random.default_rng(0)  # the same jitter every redraw: dots do not dance
        for i, s in enumerate(self.spreads):
            x = i + rng.uniform(-0.28, 0.28, len(s.samples))
            self.plot.addItem(pg.PlotDataItem(x, s.samples, pen=None, symbol="o", symbolSize=3, symbolPen=None,
                                              symbolBrush=color_of(s.framework, 150)))
            box_x = [i - 0.34, i + 0.34, i + 0.34, i - 0.34, i - 0.34]
            box_y = [s.p25, s.p25, s.p75, s.p75, s.p25]
            self.plot.addItem(pg.PlotDataItem(box_x, box_y, pen=pg.mkPen(color_of(s.framework), width=1)))
            marks = (("p50", s.p50, 0.4), ("p95", s.p95, 0.25), ("p99", s.p99, 0.25))
            for (name, value, width), y in zip(marks, self._label_heights([m[1] for m in marks]), strict=True):
                self.plot.addItem(pg.PlotDataItem([i - width, i + width], [value, value], pen=pg.mkPen("#24292f", width=1)))
                label = pg.TextItem(f"{name} {number(value)} ms", color="#57606a", anchor=(0, 0.5))
                label.setPos(i + 0.42, y)
                self.plot.addItem(label)
        if self.spreads:
            self.plot.setXRange(-0.6, len(self.spreads) - 0.1, padding=0)
            self.plot.setYRange(*self._y_range, padding=0)
            low, high = (10**v for v in self._y_range)
            self.plot.getAxis("left").setTicks([[(math.log10(v), short_number(v)) for v in log_ticks(low, high)]])
            self.caption.setText(" · ".join(f"{s.framework}: p50 {number(s.p50)} ms, p95 {number(s.p95)} ms, "
                                            f"p99 {number(s.p99)} ms ({len(s.samples)} requests)" for s in self.spreads))
        else:
            show_empty(self.plot, wrapped(absent_reason(card, "latency_p50_ms", "no batch-1 latency run yet")))
            self.caption.setText("")
