"""The Scorecard window: it renders a Scorecard (every tab, the best marked only where set,
cells not measurable here greyed with their note), exports its tables as CSV, runs a real tiny
sweep with live progress, and Stop leaves the sweep `stopped` (resumable) in the session."""
from __future__ import annotations

import csv
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyqtgraph as pg
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QMenu, QTableWidget, QTableWidgetItem
from pytestqt.qtbot import QtBot

from gui.live.main_window import MainWindow
from gui.scorecard import scorecard_model as model
from gui.scorecard.scorecard_plots import log_ticks
from gui.scorecard.scorecard_window import ScorecardWindow
from gui.view_export import export_plot, export_table_csv
from sessions.scorecard_model import Cell, Claim, MetricRow, Scorecard
from sessions.store import PointRecord, Session
from sessions.sweep_plan import Grid, SweepPlan
from sessions.sweep_runner import SweepStatus

NOTE = "not measurable on this device: a CPU has no GPU utilisation"
LATENCY_MS = [float(v) for v in range(1, 101)]  # p50 50.5, p95 95.05, p99 99.01 (numpy's linear percentiles)


def constructed_scorecard() -> Scorecard:
    """A small Scorecard with every part filled, built from the contract's dataclasses."""
    rows = [
        MetricRow("train_step_ms", "Training time", "median step", "lower",
                  {"torch": Cell(3.02, 2.95, 3.1, "ms", ("r1",)), "jax": Cell(4.21, 4.1, 4.35, "ms", ("r2",))}, "torch"),
        MetricRow("gpu_util", "GPU utilisation", "mean GPU busy", "higher",
                  {"torch": Cell(None, None, None, "%", (), NOTE), "jax": Cell(None, None, None, "%", (), NOTE)}, None),
        MetricRow("peak_rss_mb", "Memory footprint", "peak host RSS, training", "lower",
                  {"torch": Cell(455.0, None, None, "MB", ("r1",)), "jax": Cell(1210.4, None, None, "MB", ("r2",))}, None),
    ]
    claims = [Claim("torch.compile speeds PyTorch up by up to 2x over eager", "compiled / eager step time 0.93",
                    0.93, 0.88, 0.99, "x", "does not hold", "a 7 % gain, far from 2x", ("r3", "r4")),
              Claim("JAX costs 15-30 % less compute for large-scale training", "", None, None, None, "",
                    "not measurable here", "large-scale training is beyond this hardware", ())]
    fits: dict[str, dict[str, dict[str, Any]]] = {"scale_batch": {
        "torch": {"exponent": 0.74, "prefactor": 0.01, "ci_low": 0.71, "ci_high": 0.76,
                  "sizes": [8.0, 32.0, 128.0], "costs": [100.0, 280.0, 780.0], "r_squared": 0.99},
        "jax": {"exponent": 1.02, "prefactor": 0.01, "ci_low": None, "ci_high": None,
                "sizes": [8.0, 32.0], "costs": [50.0, 205.0], "r_squared": 1.0}}}
    compatibility = {
        "torch": [{"workload": "mlp", "variant": "eager", "mode": "train", "device": "cpu", "ok": True, "reason": ""},
                  {"workload": "mlp", "variant": "compile", "mode": "train", "device": "cpu", "ok": False,
                   "reason": "InductorError: no C++ compiler"}],
        "jax": [{"workload": "mlp", "variant": "jit", "mode": "train", "device": "cpu", "ok": True, "reason": ""}]}
    return Scorecard(session="s.stepscope", sweep_id="abc123", device="cpu", versions={"torch": "2.13.0", "jax": "0.10.2"},
                     rows=rows, claims=claims, curves={"torch": [(1.0, 0.4), (2.5, 0.8), (4.0, 0.93)], "jax": [(1.5, 0.5)]},
                     fits=fits, latency_samples={"torch": LATENCY_MS}, compatibility=compatibility,
                     frameworks=["jax", "torch"], target_accuracy=0.9,
                     failed_points=[{"label": "torch compiled", "purpose": "variants", "reason": "no C++ compiler"}])


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path) -> ScorecardWindow:
    plan = SweepPlan((Grid({"framework": ["torch", "jax"]}, {"workload": "mlp", "steps": 3}, "train"),))
    win = ScorecardWindow(tmp_path / "empty.stepscope", presets={"tiny": plan}, runs_dir=tmp_path / "runs")
    qtbot.addWidget(win)
    win.show()
    return win


def cell(table: QTableWidget, row: int, column: int) -> QTableWidgetItem:
    item = table.item(row, column)
    assert item is not None, f"no item at {row}, {column}"
    return item


def heading(table: QTableWidget, column: int) -> str:
    item = table.horizontalHeaderItem(column)
    assert item is not None
    return item.text()


def texts(table: QTableWidget) -> list[list[str]]:
    return [[cell(table, r, c).text() for c in range(table.columnCount())] for r in range(table.rowCount())]


def test_figures_read_with_their_interval_at_one_precision() -> None:
    assert model.figure_text(3.021, 2.951, 3.104, "ms") == "3.02 [2.95, 3.10] ms"
    assert model.figure_text(0.2134, 0.2091, 0.218, "ms") == "0.213 [0.209, 0.218] ms"
    assert model.figure_text(12345.6, None, None, "samples/s") == "12,346 samples/s"
    assert model.figure_text(1.0, 0.97, 1.08, "") == "1.00 [0.97, 1.08]"
    assert model.figure_text(0.926, 0.113, 34.078, "ms") == "0.926 [0.113, 34.1] ms"  # a skewed interval
    assert model.figure_text(89.17, 86.7, 91.2, "%") == "89.2 [86.7, 91.2] %"
    assert model.exponent_text(1.02, 0.97, 1.08) == "b = 1.02 [0.97, 1.08]"
    assert log_ticks(8, 128) == [10.0, 20.0, 50.0, 100.0]
    assert log_ticks(0.15, 0.45) == pytest.approx([0.2, 0.3, 0.4])  # under a decade: every 1-9 step
    assert log_ticks(0.15, 0.26) == [0.15, 0.26]  # too short for three: its ends


def test_the_ticked_frameworks_narrow_the_preset(window: ScorecardWindow) -> None:
    assert [p.label for p in window.chosen_plan().points()] == ["torch eager", "jax compiled"]
    window.framework_checks["jax"].setChecked(False)
    assert [p.label for p in window.chosen_plan().points()] == ["torch eager"]
    window.framework_checks["torch"].setChecked(False)
    assert window.start_sweep() is False and not window.sweep.running
    assert window.banner.isVisible() and window.banner.text().startswith("Cannot run this sweep: the preset measures none")


def test_the_window_renders_a_scorecard(window: ScorecardWindow, qtbot: QtBot, tmp_path: Path) -> None:
    window.show_scorecard(constructed_scorecard())
    assert window.header.text() == "Device: cpu · jax 0.10.2 · torch 2.13.0 · sweep abc123 · 1 point failed (hover for why)"
    assert window.header.toolTip() == "torch compiled (variants): no C++ compiler"
    # Metrics: frameworks in the app's order; the best bold and green only where the model set it.
    table = window.metrics_table
    assert texts(table) == [
        ["Training time", "median step", "4.21 [4.10, 4.35] ms", "3.02 [2.95, 3.10] ms", "torch"],
        ["GPU utilisation", "mean GPU busy", "not measurable here", "not measurable here", ""],
        ["Memory footprint", "peak host RSS, training", "1,210 MB", "455 MB", ""],
    ]
    best, other = cell(table, 0, 3), cell(table, 0, 2)
    assert best.font().bold() and best.background().color() == QColor("#dafbe1")
    assert not other.font().bold() and other.background().style() == Qt.BrushStyle.NoBrush
    assert not any(cell(table, 2, c).font().bold() for c in range(5))  # no best where the intervals do not separate
    absent = cell(table, 1, 2)
    assert absent.toolTip() == NOTE and absent.foreground().color() == QColor("#8c959f") and absent.font().italic()
    # Scaling: the fitted line, its band where there is an interval, and the exponent in the legend.
    assert window.scaling.legends["scale_batch"] == ["jax: b = 1.02 (no interval: two points)", "torch: b = 0.74 [0.71, 0.76]"]
    batch_plot = window.scaling.plots["scale_batch"]
    assert batch_plot.getPlotItem().ctrl.logXCheck.isChecked() and batch_plot.getPlotItem().ctrl.logYCheck.isChecked()
    assert sum(isinstance(i, pg.FillBetweenItem) for i in batch_plot.getPlotItem().items) == 1  # torch's band only
    assert window.scaling.legends["scale_data"] == []
    # Time to accuracy: one curve per framework.
    curves = [i for i in window.accuracy.plot.getPlotItem().items if isinstance(i, pg.PlotDataItem)]
    assert sorted(c.name() for c in curves) == ["jax", "torch"]
    assert list(curves[-1].getData()[1]) == [0.4, 0.8, 0.93]
    target = window.accuracy.target_line
    assert target is not None and target.value() == 0.9 and target.label.format == "target 90 %"
    # Latency: the percentiles of the requests.
    (spread,) = window.latency.spreads
    assert (spread.framework, spread.p50, spread.p95) == ("torch", 50.5, 95.05) and spread.p99 == pytest.approx(99.01)
    assert "torch: p50 50.5 ms, p95 95.0 ms, p99 99.0 ms (100 requests)" == window.latency.caption.text()
    # Compatibility: green and red cells with the reason as the tooltip, and the shares.
    assert texts(window.compat_table) == [["mlp", "train", "runs", "runs", "fails"],
                                          ["runs here", "", "1/1 (100 %)", "1/1 (100 %)", "0/1 (0 %)"]]
    assert [heading(window.compat_table, c) for c in range(5)] == [
        "Workload", "Mode", "jax jit", "torch eager", "torch compile"]
    assert cell(window.compat_table, 0, 4).toolTip() == "InductorError: no C++ compiler"
    assert cell(window.compat_table, 0, 4).background().color() == QColor("#ffebe9")
    assert window.compat_summary.text() == "Runs here: jax 1/1 (100 %) · torch 1/2 (50 %)"
    # Claims: the verdict coloured, the reason beside it.
    assert texts(window.claims_table) == [
        ["torch.compile speeds PyTorch up by up to 2x over eager", "compiled / eager step time 0.93", "[0.880, 0.990] x",
         "does not hold", "a 7 % gain, far from 2x"],
        ["JAX costs 15-30 % less compute for large-scale training", "", "", "not measurable here",
         "large-scale training is beyond this hardware"]]
    assert cell(window.claims_table, 0, 3).background().color() == QColor("#ffebe9")
    # Every plot exports.
    for name, plot in (("batch", batch_plot), ("accuracy", window.accuracy.plot), ("latency", window.latency.plot)):
        window.tabs.setCurrentWidget(plot.parentWidget())
        qtbot.waitExposed(plot)
        assert export_plot(plot, tmp_path / f"{name}.png").stat().st_size > 1000
        assert "<svg" in export_plot(plot, tmp_path / f"{name}.svg").read_text()


def test_tables_export_as_csv(window: ScorecardWindow, tmp_path: Path) -> None:
    window.show_scorecard(constructed_scorecard())
    with export_table_csv(window.metrics_table.model(), tmp_path / "metrics.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows == [["Metric", "Measure", "jax", "torch", "Best"],
                    ["Training time", "median step", "4.21 [4.10, 4.35] ms", "3.02 [2.95, 3.10] ms", "torch"],
                    ["GPU utilisation", "mean GPU busy", "not measurable here", "not measurable here", ""],
                    ["Memory footprint", "peak host RSS, training", "1,210 MB", "455 MB", ""]]
    claims = export_table_csv(window.claims_table.model(), tmp_path / "claims.csv").read_text(encoding="utf-8").splitlines()
    assert claims[0] == "Claim,Measured,Interval,Verdict,Why" and claims[1].endswith(",does not hold,\"a 7 % gain, far from 2x\"")
    actions = [a.text() for a in window.metrics_table.actions()]
    assert actions == ["Export as CSV…"]


def sweep_status(session_path: Path) -> tuple[str, list[str]]:
    with Session.open_readonly(session_path) as session:
        (sweep,) = session.sweeps()
        return sweep.status, [p.status for p in session.sweep_points(sweep.sweep_id)]


@pytest.mark.slow
def test_a_sweep_runs_from_the_window(qtbot: QtBot, tmp_path: Path) -> None:
    """A real tiny sweep (torch, mlp, 2 points of 3 steps): progress moves, the scorecard fills."""
    plan = SweepPlan((Grid({}, {"framework": "torch", "workload": "mlp", "steps": 3, "warmup": 1, "trace_steps": 0,
                                "batch_size": 16}, "train"),), repeat=2)
    session = tmp_path / "sweep.stepscope"
    window = ScorecardWindow(session, presets={"tiny": plan}, runs_dir=tmp_path / "runs")
    qtbot.addWidget(window)
    window.show()
    seen: list[tuple[int, int]] = []
    window.sweep.statusChanged.connect(lambda status: seen.append((status.finished, status.total)))
    with qtbot.waitSignal(window.sweep.sweepFinished, timeout=240_000):
        window.run_button.click()
        assert not window.run_button.isEnabled() and window.stop_button.isEnabled()
    assert (0, 2) in seen and (1, 2) in seen and seen[-1] == (2, 2)
    assert (window.progress.value(), window.progress.maximum()) == (2, 2)
    assert window.progress_label.text() == "done: 2 of 2 points"
    assert sweep_status(session) == ("done", ["ok", "ok"])
    sweep_id = window.status.sweep_id if window.status is not None else None
    assert window.scorecard is not None and window.scorecard.sweep_id == sweep_id  # rebuilt before the sweep ended
    step_time = window.scorecard.row("train_step_ms")
    assert step_time is not None and step_time.cells["torch"].value is not None  # measured by the two real points
    assert window.metrics_table.rowCount() == len(window.scorecard.rows)
    headings = [heading(window.metrics_table, c) for c in range(window.metrics_table.columnCount())]
    row = [r.key for r in window.scorecard.rows].index("train_step_ms")
    assert cell(window.metrics_table, row, headings.index("torch")).text().endswith(" ms")
    assert window.run_button.isEnabled() and window.run_button.text() == "Run"


def steps_streamed(window: ScorecardWindow) -> int:
    """Steps the running point's worker has streamed into the session so far."""
    current = window.status.current if window.status is not None else None
    if current is None or current.run_id is None or not window.session_path.exists():
        return 0
    with Session.open_readonly(window.session_path) as session:
        return next((r.step_count for r in session.runs() if r.run_id == current.run_id), 0)


@pytest.mark.slow
def test_stop_leaves_the_sweep_stopped_and_resumable(qtbot: QtBot, tmp_path: Path) -> None:
    plan = SweepPlan((Grid({}, {"framework": "torch", "workload": "mlp", "steps": 100_000, "warmup": 1, "trace_steps": 0,
                                "evaluate": False}, "train"),), repeat=3)
    session = tmp_path / "stop.stepscope"
    window = ScorecardWindow(session, presets={"tiny": plan}, runs_dir=tmp_path / "runs")
    qtbot.addWidget(window)
    window.show()
    window.run_button.click()
    qtbot.waitUntil(lambda: steps_streamed(window) > 0, timeout=60_000)  # a live worker, mid-training
    with qtbot.waitSignal(window.sweep.sweepFinished, timeout=60_000):
        window.stop_button.click()
    assert sweep_status(session) == ("stopped", ["cancelled", "pending", "pending"])
    assert window.status is not None and window.status.stopped == "cancelled"
    assert window.progress_label.text() == "stopped (cancelled): 0 of 3 points kept; Run resumes"
    # the button is relabelled once the session has been read again, on a thread: wait for it, not a moment
    qtbot.waitUntil(lambda: window.run_button.isEnabled() and window.run_button.text() == "Resume", timeout=30_000)


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # the offscreen platform stacks no windows
def test_analyse_menu_opens_one_scorecard_window_per_session(make_window: Callable[..., MainWindow]) -> None:
    main = make_window()
    analyse = next(a.menu() for a in main.menuBar().actions() if a.text() == "&Analyse")
    assert isinstance(analyse, QMenu)
    action = next(a for a in analyse.actions() if a.text() == "&Scorecard…")
    assert action.shortcut().toString() == "Ctrl+Shift+C"
    action.trigger()
    action.trigger()
    opened = [w for w in main.analysis.views if isinstance(w, ScorecardWindow)]
    assert len(opened) == 1 and opened[0].session_path == main.session_path
    assert list(opened[0].presets) == ["scorecard-quick", "scorecard-full"]
    opened[0].close()


def test_the_progress_line_says_what_runs_now() -> None:
    def point(index: int, status: str, purpose: str, seconds: float | None) -> PointRecord:
        return PointRecord(index, index, 0, f"torch eager · b={8 * (index + 1)}", purpose, {"framework": "torch"},
                           f"r{index}", status, None, 100.0 if seconds else None, 100.0 + seconds if seconds else None)

    done = point(0, "ok", "train,scale_batch", 30.0)
    running = point(1, "running", "scale_batch", None)
    status = SweepStatus("s1", False, [done, running, point(2, "pending", "latency", None)], current=running)
    assert model.progress_text(status) == "now: torch eager · b=16, for scale batch (point 2) · ~1:00 left"
    status.probing = "jax"
    assert model.progress_text(status).startswith("now: probing what jax runs here")
    status.probing, status.current = None, done
    assert model.progress_text(status) == "point 1 (torch eager · b=8) ok; updating the scorecard…"


def test_the_sweep_is_not_running_when_its_finished_signal_is_handled(qtbot: QtBot, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The sweep's thread is still alive for a moment after it emits sweepFinished; on a loaded machine
    the window handled the signal first, asked `running`, and left the button reading Run, not Resume."""
    from gui.scorecard import scorecard_threads

    class QuickRunner:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def run(self) -> SweepStatus:
            return SweepStatus("s1", False, [], stopped="cancelled")

        def cancel(self) -> None:
            pass

    emit = scorecard_threads._emit

    def emit_then_linger(signal: Any, value: object) -> None:
        emit(signal, value)
        time.sleep(0.5)  # the thread still alive while the window handles the queued signal

    monkeypatch.setattr(scorecard_threads, "SweepRunner", QuickRunner)
    monkeypatch.setattr(scorecard_threads, "_emit", emit_then_linger)
    sweep = scorecard_threads.SweepThread(tmp_path / "s.stepscope", tmp_path / "runs")
    seen: list[bool] = []
    sweep.sweepFinished.connect(lambda status: seen.append(sweep.running))
    sweep.start(SweepPlan((Grid({}, {"framework": "torch", "workload": "mlp"}, "train"),)))
    qtbot.waitUntil(lambda: bool(seen), timeout=10_000)
    assert seen == [False]
    sweep.join(5)
