"""The live view: six linked plots (step time with its median, throughput, loss, host and device
memory, CPU/GPU utilisation) drawn from a LiveModel by one ~30 fps timer.

The timer drains the model's inbox and then redraws whatever changed, so a burst of events costs
one frame, not one repaint per event. All plots share the x axis: seconds since the worker started.
"""
from __future__ import annotations

import time

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QGridLayout, QWidget

from gui.live.live_model import LiveModel
from gui.live.live_plot import FRAME_INTERVAL_MS, LivePlot

MEDIAN_INTERVAL_S = 0.25  # the median line is an O(steps) sort: recompute it a few times a second, not per frame

# plot key -> (title, y label, metric series names in the model)
PLOTS = {
    "step_ms": ("Step time", "ms", ("step_ms",)),
    "samples_per_s": ("Throughput", "samples/s", ("samples_per_s",)),
    "loss": ("Loss", "", ("loss",)),
    "host_mb": ("Host memory (RSS)", "MB", ("host_mb",)),
    "device_mb": ("Device memory", "MB", ("device_mb",)),
    "util": ("CPU / GPU utilisation", "%", ("cpu_percent", "gpu_util")),
}


class LiveViewPanel(QWidget):
    """Views a LiveModel; `frameDrawn` fires after each timer frame that had something new."""

    frameDrawn = Signal()

    def __init__(self, model: LiveModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.plots: dict[str, LivePlot] = {}
        layout = QGridLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        bottom_row = len(PLOTS) - 2
        for k, (key, (title, unit, _)) in enumerate(PLOTS.items()):
            plot = LivePlot(title=title, y_label=unit, own_timer=False)
            if k >= bottom_row:  # the x axes are linked: only the bottom row draws one
                plot.setLabel("bottom", "time since worker start", units="s")
                plot.getPlotItem().getAxis("bottom").enableAutoSIPrefix(False)
            else:
                plot.hideAxis("bottom")
            plot.getPlotItem().enableAutoRange(x=False)
            if k:
                plot.setXLink(self.plots["step_ms"])
            self.plots[key] = plot
            layout.addWidget(plot, k // 2, k % 2)
        self.legend = self.plots["step_ms"].addLegend(offset=(-10, 10), labelTextSize="8pt")
        self._medians: dict[str, pg.InfiniteLine] = {}
        self._median_at: dict[str, tuple[int, float]] = {}  # run -> (steps, time) of its last median
        self._model_version = -1
        self._phase_key: tuple[tuple[str, int, float], ...] = ()
        self._x_end: float | None = None  # right edge of the followed x range; None before data
        self.frame_times_ms: list[float] = []
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)  # a coarse timer may run 5 % slow: under 30 fps
        self._timer.timeout.connect(self._on_frame)
        self._timer.start(FRAME_INTERVAL_MS)

    def apply_theme(self, background: str, foreground: str) -> None:
        for plot in self.plots.values():
            plot.setBackground(background)
            for name in ("left", "bottom"):
                axis = plot.getPlotItem().getAxis(name)
                axis.setPen(foreground)
                axis.setTextPen(foreground)
            plot.getPlotItem().titleLabel.setText(plot.getPlotItem().titleLabel.text, color=foreground)

    def point_count(self) -> int:
        """Samples behind all curves: grows with the data."""
        return sum(plot.point_count() for plot in self.plots.values())

    def drawn_point_count(self) -> int:
        """Points the curves were last given: bounded by the plots' widths, not by the data."""
        return sum(plot.drawn_point_count() for plot in self.plots.values())

    def _rebuild(self) -> None:
        self.legend.clear()
        for plot in self.plots.values():
            plot.clear_curves()
        step_plot = self.plots["step_ms"]
        for line in self._medians.values():
            step_plot.removeItem(line)
        self._medians.clear()
        self._median_at.clear()
        for run in self.model.runs.values():
            for key, (_, _, metrics) in PLOTS.items():
                for metric in metrics:
                    color = run.color if metric != "gpu_util" else "#2ca02c"
                    name = run.label if key == "step_ms" else None
                    self.plots[key].add_curve(f"{run.run_id}:{metric}", run.series[metric], color, name)
            line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(run.color, width=1, style=Qt.PenStyle.DashLine))
            line.setVisible(False)
            step_plot.addItem(line)
            self._medians[run.run_id] = line
        self._model_version = self.model.version
        self._phase_key = ()
        self._x_end = None

    def _update_phases(self) -> None:
        key = tuple((r.run_id, r.phase_version, round(r.last_t, 1)) for r in self.model.runs.values())
        if key == self._phase_key:
            return
        self._phase_key = key
        spans = [(name, start, end if end is not None else run.last_t)
                 for run in self.model.runs.values() for name, start, end in run.phases]
        for plot in self.plots.values():
            plot.set_phases(spans)

    def _follow_x(self) -> None:
        """Grow the shared x range in steps of a quarter, not every frame: a range that changes
        every frame makes pyqtgraph re-render every axis every frame, the main cost of a frame.
        Once the user pans or zooms away from the followed range, leave the view alone."""
        last = max((run.last_t for run in self.model.runs.values()), default=0.0)
        if last <= 0:
            return
        view = self.plots["step_ms"].getViewBox()
        current_end = view.viewRange()[0][1]
        if self._x_end is not None and abs(current_end - self._x_end) > 1e-6:
            return  # the user moved the view
        if self._x_end is None or last > self._x_end:
            start = min((float(s.x[0]) for run in self.model.runs.values() for s in run.series.values() if len(s)),
                        default=0.0)
            self._x_end = last + max(5.0, 0.25 * (last - start))
            view.setXRange(start, self._x_end, padding=0)
            self._x_end = view.viewRange()[0][1]

    def _update_medians(self, now: float) -> None:
        for run_id, line in self._medians.items():
            run = self.model.runs[run_id]
            steps, at = self._median_at.get(run_id, (-1, -MEDIAN_INTERVAL_S))
            if run.steps_done == steps or now - at < MEDIAN_INTERVAL_S:
                continue  # a throttled change is picked up by a later tick, data or not
            self._median_at[run_id] = (run.steps_done, now)
            median = run.median_step_ms()
            line.setVisible(median is not None)
            if median is not None:
                line.setValue(median)

    def _on_frame(self) -> None:
        start = time.perf_counter()
        changed = self.model.drain() > 0
        if self.model.version != self._model_version:
            self._rebuild()
            changed = True
        if changed:
            self._update_phases()
            self._follow_x()
        self._update_medians(start)
        for plot in self.plots.values():
            plot.refresh()  # also after a pan or resize with no new data; a no-op when nothing moved
        if changed:
            self.frame_times_ms.append((time.perf_counter() - start) * 1000.0)
            self.frameDrawn.emit()
