"""The live view: six plots (step time with its median, throughput, loss on the left; host and
device memory, CPU/GPU utilisation on the right) drawn from a LiveModel by one ~30 fps timer.

The timer drains the model's inbox and then redraws whatever changed, so a burst of events costs
one frame, not one repaint per event. One run is drawn over time since its worker started; runs
overlaid are drawn over the step number by default (x axis "auto"), so their phases line up
instead of shading a patchwork, while the telemetry column stays over time. The run legend and
the key to the shaded phases sit above the plots, never over a curve; with no run to show, a
hint says what to do instead of empty 0-1 axes (issue 15). A multi-rank run draws one curve per
rank in shades of its colour, named "rank N" in the legend; its ranks count as overlaid runs
for the x axis, so each rank's step N sits above the others'.
"""
from __future__ import annotations

import html
import time

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QComboBox, QGridLayout, QHBoxLayout, QLabel, QStackedWidget, QVBoxLayout, QWidget

from gui.live.capture_bar import CaptureBar, CaptureTarget
from gui.live.live_model import LiveModel, RunSeries, rank_color
from gui.live.live_plot import FRAME_INTERVAL_MS, PHASE_BRUSHES, LivePlot

MEDIAN_INTERVAL_S = 0.25  # the median line is an O(steps) sort: recompute it a few times a second, not per frame

# plot key -> (title, y label, metric series names in the model); laid out row by row, two a row,
# so the per-step metrics make the left column and the telemetry (always over time) the right.
PLOTS = {
    "step_ms": ("Step time", "ms", ("step_ms",)),
    "host_mb": ("Host memory (RSS)", "MB", ("host_mb",)),
    "samples_per_s": ("Throughput", "samples/s", ("samples_per_s",)),
    "device_mb": ("Device memory", "MB", ("device_mb",)),
    "loss": ("Loss", "", ("loss",)),
    "util": ("CPU / GPU utilisation", "%", ("cpu_percent", "gpu_util", "others_cpu")),
}
STEP_PLOTS = ("step_ms", "samples_per_s", "loss")
X_MODES = {"auto": "x: auto", "time": "x: time", "steps": "x: steps"}
PHASE_LABELS = {"compile": "compile", "warmup": "warm-up", "trace": "trace window"}
CPU_DEVICE_NOTE = ("No device memory on a CPU: JAX, PyTorch and TensorFlow report allocator figures only "
                   "for accelerators. Host memory (RSS) is the CPU's figure.")
OTHERS_COLOR = "#9a9a9a"  # other processes' CPU: grey, under the runs' own colours
OTHERS_TITLE = f'CPU / GPU utilisation &nbsp;<span style="color:{OTHERS_COLOR}">\u2501 other processes</span>'
NO_DEVICE_NOTE = "The framework reported no allocator figures for this device."
NO_THROUGHPUT_NOTE = ("No throughput: the batch size is not known. Give it in the \u201cYour program\u201d form "
                      "(or to stepscope.step) to see samples/s.")
FIRST_RUN_HINT = ("Nothing measured yet.\n\n1. Pick a preset on the left (e.g. \u201cConvNet \u2014 all three "
                  "frameworks\u201d) or tick frameworks and settings.\n2. Press Start (Ctrl+R): each framework runs in "
                  "a worker of its own and streams its step times here.\n\nOr profile your own training script: "
                  "the \u201cYour program\u201d tab (Ctrl+Shift+P).")


class LiveViewPanel(QWidget):
    """Views a LiveModel; `frameDrawn` fires after each timer frame that had something new."""

    frameDrawn = Signal()

    def __init__(self, model: LiveModel, parent: QWidget | None = None, capture: CaptureTarget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.plots: dict[str, LivePlot] = {}
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        header = QHBoxLayout()
        header.setContentsMargins(4, 0, 4, 0)
        self.legend = QLabel()  # the runs' colours, above the plots so it never covers a curve
        self.legend.setWordWrap(True)
        header.addWidget(self.legend, 1)
        self.phase_key = QLabel()
        self.phase_key.setToolTip("Shaded windows; measured steps are unshaded. With several runs over time, "
                                  "the newest run's windows are shaded.")
        header.addWidget(self.phase_key)
        self.x_mode_box = QComboBox()
        for mode, text in X_MODES.items():
            self.x_mode_box.addItem(text, mode)
        self.x_mode_box.setToolTip("x axis of the step plots: time since each worker started, or the step "
                                   "number (auto: steps when runs or a run's ranks are overlaid, so their steps line up)")
        self.x_mode_box.currentIndexChanged.connect(lambda _i: self.set_x_mode(self.x_mode_box.currentData()))
        header.addWidget(self.x_mode_box)
        self.capture_bar = CaptureBar(capture) if capture is not None else None  # capture on demand (docs/capture.md)
        if self.capture_bar is not None:
            header.addWidget(self.capture_bar)
        outer.addLayout(header)
        self.pages = QStackedWidget()
        self.hint = QLabel(FIRST_RUN_HINT)  # instead of six empty plots with 0-1 axes
        self.hint.setWordWrap(True)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setMargin(40)
        self.hint.setObjectName("liveHint")
        grid_page = QWidget()
        layout = QGridLayout(grid_page)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        for k, (key, (title, unit, _)) in enumerate(PLOTS.items()):
            plot = LivePlot(title=title, y_label=unit, own_timer=False)
            if k < len(PLOTS) - 2:  # a column's x axes are linked: only its bottom plot draws one
                plot.hideAxis("bottom")
            plot.getPlotItem().getAxis("bottom").enableAutoSIPrefix(False)
            plot.getPlotItem().enableAutoRange(x=False)
            if k > 1:
                plot.setXLink(self.plots["step_ms" if key in STEP_PLOTS else "host_mb"])
            self.plots[key] = plot
            layout.addWidget(plot, k // 2, k % 2)
        self.pages.addWidget(self.hint)
        self.pages.addWidget(grid_page)
        outer.addWidget(self.pages, 1)
        self.x_mode = "auto"
        self.by_step = False  # the step plots' x is the step number (else time since worker start)
        self._apply_x_axes()
        self._medians: dict[str, pg.InfiniteLine] = {}
        self._median_at: dict[str, tuple[int, float]] = {}  # run -> (steps, time) of its last median
        self._model_version = -1
        self._phase_key: tuple[object, ...] = ()
        self._x_end: dict[str, float | None] = {}  # plot -> right edge of its followed x range; None before data
        self.frame_times_ms: list[float] = []
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)  # a coarse timer may run 5 % slow: under 30 fps
        self._timer.timeout.connect(self._on_frame)
        self._timer.start(FRAME_INTERVAL_MS)

    def set_hint(self, text: str) -> None:
        """What to do, shown instead of the plots while no run is on them."""
        self.hint.setText(text)

    def set_x_mode(self, mode: str) -> None:
        """"time", "steps" or "auto" (steps when more than one run, or a multi-rank run, is shown)."""
        if mode not in X_MODES:
            raise ValueError(f"unknown x axis mode {mode!r}")
        self.x_mode = mode
        self.x_mode_box.setCurrentIndex(list(X_MODES).index(mode))
        self._model_version = -1  # the next frame rebuilds the curves on the other x

    def legend_labels(self) -> list[str]:
        """The runs named in the legend, in order."""
        return [run.label for run in self.model.runs.values()]

    def _apply_x_axes(self) -> None:
        """Label the bottom axes and link the step column to the telemetry column only over time."""
        step_bottom, time_bottom = self.plots["loss"], self.plots["util"]
        if self.by_step:
            step_bottom.setLabel("bottom", "step")
            self.plots["host_mb"].setXLink(None)
        else:
            step_bottom.setLabel("bottom", "time since the run started", units="s")
            self.plots["host_mb"].setXLink(self.plots["step_ms"])
        time_bottom.setLabel("bottom", "time since the run started", units="s")

    def rank_labels(self) -> list[str]:
        """The ranks named in the legend ("rank N"), run by run."""
        return [f"rank {r.rank}" for run in self.model.runs.values() if run.multi_rank for r in run.ranks()]

    def _update_legend(self) -> None:
        runs = []
        for run in self.model.runs.values():
            name = html.escape(run.label)
            if run.multi_rank:
                ranks = "&nbsp;".join(f'<span style="color:{rank_color(run.color, r.rank)}">\u2501\u2501</span>'
                                      f"&nbsp;rank&nbsp;{r.rank}" for r in run.ranks())
                runs.append(f"{name}:&nbsp;{ranks}")
            else:
                runs.append(f'<span style="color:{run.color}">\u2501\u2501</span>&nbsp;{name}')
        median = '<span style="color:gray">\u2504 median</span>' if runs else ""
        self.legend.setText("&nbsp;&nbsp;&nbsp;".join([*runs, median]) if runs else "")
        keys = [f'<span style="background-color:rgba({r},{g},{b},{min(255, 3 * a)})">&nbsp;&nbsp;&nbsp;&nbsp;</span>'
                f"&nbsp;{PHASE_LABELS[name]}" for name, (r, g, b, a) in PHASE_BRUSHES.items()]
        self.phase_key.setText("&nbsp;&nbsp;".join(keys) if runs else "")

    def _update_notes(self) -> None:
        """Say why device memory is empty, once the runs' devices are known; name the grey curve of
        other processes' CPU once a run has one."""
        runs = [rank for run in self.model.runs.values() for rank in run.ranks()]
        note = ""
        if runs and not any(len(run.series["device_mb"]) for run in runs):
            kinds = {run.device_kind for run in runs}
            note = CPU_DEVICE_NOTE if "cpu" in kinds else (NO_DEVICE_NOTE if None not in kinds else "")
        self.plots["device_mb"].set_note(note)
        no_rate = any(run.steps_done for run in runs) and not any(len(run.series["samples_per_s"]) for run in runs)
        self.plots["samples_per_s"].set_note(NO_THROUGHPUT_NOTE if no_rate else "")  # a program's unknown batch size
        title = OTHERS_TITLE if any(len(run.series["others_cpu"]) for run in runs) else PLOTS["util"][0]
        if title != self.plots["util"].getPlotItem().titleLabel.text:  # the grey curve named once it has data
            self.plots["util"].getPlotItem().titleLabel.setText(title)  # keeps the theme colour

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
        overlaid = len(self.model.runs) > 1 or any(run.multi_rank for run in self.model.runs.values())
        by_step = self.x_mode == "steps" or (self.x_mode == "auto" and overlaid)
        if by_step != self.by_step:
            self.by_step = by_step
            self._apply_x_axes()
        self.pages.setCurrentIndex(1 if self.model.runs else 0)
        self._update_legend()
        for plot in self.plots.values():
            plot.clear_curves()
        step_plot = self.plots["step_ms"]
        for line in self._medians.values():
            step_plot.removeItem(line)
        self._medians.clear()
        self._median_at.clear()
        for run in self.model.runs.values():
            for rank in run.ranks():  # just the run itself unless it has several ranks
                for key, (_, _, metrics) in PLOTS.items():
                    for metric in metrics:
                        color = OTHERS_COLOR if metric == "others_cpu" else \
                            rank_color(run.color if metric != "gpu_util" else "#2ca02c", rank.rank)
                        series = rank.by_step[metric] if by_step and key in STEP_PLOTS else rank.series[metric]
                        self.plots[key].add_curve(f"{rank.run_id}:{metric}", series, color)
            line = pg.InfiniteLine(angle=0, movable=False, pen=pg.mkPen(run.color, width=1, style=Qt.PenStyle.DashLine))
            line.setVisible(False)
            step_plot.addItem(line)
            self._medians[run.run_id] = line
        self._model_version = self.model.version
        self._phase_key = ()
        self._x_end = {}
        self._update_notes()

    @staticmethod
    def _time_spans(run: RunSeries) -> list[tuple[str, float, float]]:
        return [(name, start, end if end is not None else run.last_t) for name, start, end in run.phases]

    def _update_phases(self) -> None:
        """Shade each run's phases; where runs overlay, shade them once, not one band per run:
        over steps, runs with the same settings share their windows (set of spans); over time
        they would not, so only the newest run's are shaded there."""
        runs = list(self.model.runs.values())
        key = (self.by_step, *((r.run_id, r.phase_version, round(r.last_t, 1), r.steps_done) for r in runs))
        if key == self._phase_key:
            return
        self._phase_key = key
        newest = self._time_spans(runs[-1]) if runs else []
        step_spans = sorted({(name, first - 0.5, last + 0.5) for run in runs for name, first, last in run.step_phases})
        for name, plot in self.plots.items():
            plot.set_phases(step_spans if self.by_step and name in STEP_PLOTS else newest)

    def _follow_x(self) -> None:
        """Grow each followed x range in steps of a quarter, not every frame: a range that changes
        every frame makes pyqtgraph re-render every axis every frame, the main cost of a frame.
        Once the user pans or zooms away from the followed range, leave the view alone."""
        runs = self.model.runs.values()
        ranks = [rank for run in runs for rank in run.ranks()]
        last_t = max((run.last_t for run in ranks), default=0.0)
        first_t = min((float(s.x[0]) for run in ranks for s in run.series.values() if len(s)), default=0.0)
        if self.by_step:
            self._follow("step_ms", 0.0, max((run.steps_done - 1 for run in ranks), default=0), 5.0)
            self._follow("host_mb", first_t, last_t, 5.0)
        else:  # the columns are linked: one range for both
            self._follow("step_ms", first_t, last_t, 5.0)

    def _follow(self, key: str, start: float, last: float, least: float) -> None:
        if last <= 0:
            return
        view = self.plots[key].getViewBox()
        end = self._x_end.get(key)
        if end is not None and abs(view.viewRange()[0][1] - end) > 1e-6:
            return  # the user moved the view
        if end is None or last > end:
            view.setXRange(start, last + max(least, 0.25 * (last - start)), padding=0)
            self._x_end[key] = view.viewRange()[0][1]

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

    def catch_up(self) -> None:
        """Draw whatever is queued now, not at the next tick: a run's last events were posted before
        its end reached the GUI thread, so its row and its curves then agree."""
        self._on_frame()

    def _on_frame(self) -> None:
        start = time.perf_counter()
        changed = self.model.drain() > 0
        if self.model.version != self._model_version:
            self._rebuild()
            changed = True
        if changed:
            self._update_phases()
            self._follow_x()
            self._update_notes()
        self._update_medians(start)
        for plot in self.plots.values():
            plot.refresh()  # also after a pan or resize with no new data; a no-op when nothing moved
        if changed:
            self.frame_times_ms.append((time.perf_counter() - start) * 1000.0)
            self.frameDrawn.emit()
