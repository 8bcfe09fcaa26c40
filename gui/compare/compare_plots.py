"""The overlays of the comparison window: step-time distributions (a box per run), loss per
step and memory over time, one colour per run and the same legend on every plot.

Redrawn whole when the choice of runs changes (a handful of runs of at most thousands of
points each: cheaper than bookkeeping), with 1-pixel pens as pyqtgraph advises.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QWidget

from gui.compare.compare_model import CompareModel, RunEntry
from gui.view_export import install_export_menu
from sessions.schema import SessionError

PLOTS = (  # key, title, left axis, bottom axis, legend corner (pyqtgraph offset: negative = from the right / bottom)
    ("step_ms", "Measured step times", "step time (ms)", "", None),  # the ticks name the runs
    ("loss", "Loss per step", "loss", "step", (-8, 8)),  # loss falls: the top right is usually free
    ("memory", "Memory (dashed: device)", "MB", "time since start (s)", (-8, -8)),  # memory grows
)


def _alpha(color: str, alpha: int) -> QColor:
    c = QColor(color)
    c.setAlpha(alpha)
    return c


class CompareOverlays(QWidget):
    """Three plots side by side; `redraw(model)` draws the chosen runs of `model`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.plots: dict[str, pg.PlotWidget] = {}
        self.problems: list[str] = []  # runs whose curves could not be read, as messages
        for key, title, left, bottom, corner in PLOTS:
            plot = pg.PlotWidget(title=title)
            plot.setMinimumSize(150, 180)  # three fit beside each other in a 1024-px window
            plot.showGrid(x=key != "step_ms", y=True, alpha=0.25)
            plot.setLabel("left", left)
            if bottom:
                plot.setLabel("bottom", bottom)
            if corner is not None:
                plot.addLegend(offset=corner, labelTextSize="8pt", verSpacing=-6)
            plot.getPlotItem().setMenuEnabled(True)
            install_export_menu(plot, plot=plot, name=f"compare-{key}")
            layout.addWidget(plot)
            self.plots[key] = plot

    def apply_theme(self, background: str, foreground: str) -> None:
        """Follow the window's palette: plot background, axes, titles and legends."""
        for plot in self.plots.values():
            item = plot.getPlotItem()
            plot.setBackground(background)
            for name in ("left", "bottom"):
                item.getAxis(name).setPen(foreground)
                item.getAxis(name).setTextPen(foreground)
            item.titleLabel.setText(item.titleLabel.text, color=foreground)
            if item.legend is not None:
                item.legend.setBrush(_alpha(background, 210))
                item.legend.setPen(_alpha(foreground, 60))
                item.legend.setLabelTextColor(foreground)

    def legend_count(self, key: str) -> int:
        legend = self.plots[key].getPlotItem().legend
        return len(legend.items) if legend is not None else 0

    def curve_points(self, key: str) -> int:
        """Points drawn on one plot, over all its data items (tests and the screenshot check it)."""
        total = 0
        for item in self.plots[key].getPlotItem().listDataItems():
            x, _ = item.getData()
            total += 0 if x is None else len(x)
        return total

    def redraw(self, model: CompareModel) -> None:
        for plot in self.plots.values():
            plot.getPlotItem().clear()
        self.problems = []
        chosen = model.chosen()
        ticks = []
        seen: dict[str, int] = {}
        for i, entry in enumerate(chosen):
            try:
                curves = model.curves(entry.key)
            except SessionError as exc:
                self.problems.append(str(exc))
                continue
            self._box(i, entry, curves.step_ms)
            framework = entry.figures.get("framework") or "?"
            seen[framework] = seen.get(framework, 0) + 1
            ticks.append((i, framework if seen[framework] == 1 else f"{framework} {seen[framework]}"))
            pen = pg.mkPen(entry.color, width=1)
            self.plots["loss"].plot(curves.step_index, curves.loss, pen=pen, name=entry.title,
                                    symbol="o", symbolSize=4, symbolPen=None, symbolBrush=entry.color)
            self.plots["memory"].plot(curves.t, curves.host_mb, pen=pen, name=entry.title)
            if np.isfinite(curves.device_mb).any():
                dashed = pg.mkPen(entry.color, width=1, style=Qt.PenStyle.DashLine)
                self.plots["memory"].plot(curves.t, curves.device_mb, pen=dashed)
        self.plots["step_ms"].getAxis("bottom").setTicks([ticks])
        if chosen:
            self.plots["step_ms"].setXRange(-0.6, len(chosen) - 0.4, padding=0)
        for plot in self.plots.values():
            plot.enableAutoRange(axis="y")
        self.plots["loss"].enableAutoRange(axis="x")
        self.plots["memory"].enableAutoRange(axis="x")

    def _box(self, i: int, entry: RunEntry, step_ms: np.ndarray) -> None:
        """A box (quartiles), whiskers (p5–p95), the median, and every step as a dot."""
        plot = self.plots["step_ms"]
        values = step_ms[np.isfinite(step_ms)]
        rng = np.random.default_rng(i)  # fixed jitter, so redraws do not shuffle the dots
        dots = pg.PlotDataItem(i + rng.uniform(-0.18, 0.18, len(values)), values, pen=None, symbol="o", symbolSize=5,
                               symbolPen=None, symbolBrush=_alpha(entry.color, 200))
        plot.addItem(dots)
        if not len(values):
            return
        p5, q1, med, q3, p95 = np.percentile(values, [5, 25, 50, 75, 95])
        plot.addItem(pg.BarGraphItem(x=[i], y0=[q1], height=[max(q3 - q1, 1e-9)], width=0.5,
                                     brush=_alpha(entry.color, 60), pen=pg.mkPen(entry.color, width=1)))
        plot.addItem(pg.PlotDataItem([i, i, i, i, i - 0.25, i + 0.25], [p5, q1, q3, p95, med, med],
                                     pen=pg.mkPen(entry.color, width=2), connect="pairs"))
