"""Issue 15, item 8, in the live view itself: overlaid runs go over the step number with their
phases shaded once (not a patchwork of one band per run), the legend and the phase key sit
above the plots instead of over the curves, and a right click exports a plot as PNG or SVG."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QRect
from pytestqt.qtbot import QtBot

from gui.live.live_model import LiveModel
from gui.live.live_view import LiveViewPanel


def stored(model: LiveModel, run_id: str, framework: str, t0: float) -> None:
    """A run of 2 warm-up, 10 measured and 2 trace steps, starting `t0` s after its worker."""
    t = t0 + np.arange(14) * 0.1
    phase = np.array(["warmup"] * 2 + ["measure"] * 10 + ["trace"] * 2)
    steps = {"t": t, "phase": phase, "step_ms": np.full(14, 10.0), "samples_per_s": np.full(14, 800.0),
             "loss": np.ones(14)}
    edges = [{"t": t0 - 0.5, "name": "compile", "edge": "start"}, {"t": t0 - 0.1, "name": "compile", "edge": "end"},
             {"t": t[0], "name": "warmup", "edge": "start"}, {"t": t[1], "name": "warmup", "edge": "end"},
             {"t": t[12], "name": "trace", "edge": "start"}, {"t": t[13], "name": "trace", "edge": "end"}]
    model.add_stored(run_id, framework, f"{framework} {run_id}", steps, {"t": t, "host_rss": np.full(14, 2.0**30)}, edges,
                     "cpu")


@pytest.fixture
def view(qtbot: QtBot) -> LiveViewPanel:
    panel = LiveViewPanel(LiveModel())
    qtbot.addWidget(panel)
    panel.resize(1000, 620)
    panel.show()
    return panel


def regions(view: LiveViewPanel, key: str) -> list[tuple[float, float]]:
    return sorted(tuple(r.getRegion()) for r in view.plots[key]._regions)


def test_overlaid_runs_go_over_steps_with_each_phase_shaded_once(view: LiveViewPanel) -> None:
    stored(view.model, "a", "torch", 3.0)
    view._on_frame()
    assert not view.by_step and len(regions(view, "step_ms")) == 3  # one run: over time, compile shaded too
    stored(view.model, "b", "jax", 7.5)  # started later: over time its bands would fall elsewhere
    view._on_frame()
    assert view.by_step
    assert regions(view, "step_ms") == [(-0.5, 1.5), (11.5, 13.5)]  # warm-up and trace, once for both runs
    curve = next(iter(view.plots["step_ms"]._curves.values()))
    assert curve.xData[0] == 0.0 and curve.xData[-1] == 13.0  # the step number, per run
    assert len(regions(view, "host_mb")) == 3  # telemetry stays over time: the newest run's bands only
    view.set_x_mode("time")
    view._on_frame()
    assert not view.by_step and len(regions(view, "step_ms")) == 3


def test_the_legend_and_phase_key_do_not_cover_the_plots(view: LiveViewPanel) -> None:
    stored(view.model, "a", "torch", 3.0)
    stored(view.model, "b", "jax", 4.0)
    view._on_frame()
    assert view.legend_labels() == ["torch a", "jax b"]
    assert "torch a" in view.legend.text() and "warm-up" in view.phase_key.text()
    plots = QRect(view.pages.mapTo(view, view.pages.rect().topLeft()), view.pages.size())
    for label in (view.legend, view.phase_key):
        assert label.isVisible() and not label.geometry().intersects(plots)


def test_device_memory_says_why_it_is_empty_on_a_cpu(view: LiveViewPanel) -> None:
    stored(view.model, "a", "torch", 3.0)
    view._on_frame()
    note = view.plots["device_mb"].note
    assert note.isVisible() and "CPU" in note.text()
    assert not view.plots["host_mb"].note.isVisible()


def test_right_click_exports_a_live_plot_as_png_and_svg(
        view: LiveViewPanel, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stored(view.model, "a", "torch", 3.0)
    view._on_frame()
    plot = view.plots["step_ms"]
    menu = plot.getViewBox().menu
    labels = [action.text() for action in menu.actions()]
    assert "Export as PNG…" in labels and "Export as SVG…" in labels
    for suffix in ("png", "svg"):
        target = tmp_path / f"step.{suffix}"
        monkeypatch.setattr("gui.view_export.QFileDialog.getSaveFileName", lambda *a, t=target: (str(t), ""))
        next(a for a in menu.actions() if a.text() == f"Export as {suffix.upper()}…").trigger()
        assert target.stat().st_size > 1000
