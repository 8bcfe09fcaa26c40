"""The live view's utilisation plot draws other processes' CPU (the samples' `others_cpu`) as a thin
grey curve and names it in the plot's title, only where a run has the figure."""
from __future__ import annotations

import numpy as np
from pytestqt.qtbot import QtBot

from gui.live.live_model import LiveModel
from gui.live.live_view import OTHERS_COLOR, PLOTS, LiveViewPanel


def _stored(model: LiveModel, run_id: str, samples: dict[str, np.ndarray]) -> None:
    t = 1.0 + np.arange(5) * 0.1
    steps = {"t": t, "phase": np.array(["measure"] * 5), "step_ms": np.full(5, 10.0), "samples_per_s": np.full(5, 800.0),
             "loss": np.ones(5)}
    model.add_stored(run_id, "torch", f"torch {run_id}", steps, {"t": t, "host_rss": np.full(5, 2.0**30), **samples}, [],
                     "cpu")


def test_other_processes_are_a_grey_curve_named_only_where_measured(qtbot: QtBot) -> None:
    view = LiveViewPanel(LiveModel())
    qtbot.addWidget(view)
    view.resize(1000, 620)
    _stored(view.model, "old", {"cpu_percent": np.full(5, 100.0)})  # a run from before v6: no figure
    view._on_frame()
    title = view.plots["util"].getPlotItem().titleLabel.text
    assert title == PLOTS["util"][0]
    _stored(view.model, "busy", {"cpu_percent": np.full(5, 100.0), "others_cpu": np.array([40.0, 50, 45, np.nan, 48])})
    view._on_frame()
    assert "other processes" in view.plots["util"].getPlotItem().titleLabel.text
    grey = view.plots["util"]._curves["busy:others_cpu"]
    assert len(grey.series) == 4 and grey.opts["pen"].color().name() == OTHERS_COLOR and grey.opts["pen"].width() <= 1
    assert len(view.plots["util"]._curves["old:others_cpu"].series) == 0
