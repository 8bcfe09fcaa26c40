"""Issue 17, item 3, in the live plots: events with a "rank" field (the event stream's contract)
draw one curve per rank, in shades of the run's colour, named "rank N" in the legend; a run whose
events carry no rank draws as before; a stored multi-rank run shows its ranks too."""
from __future__ import annotations

import colorsys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from gui.live import stored_ranks
from gui.live.live_model import FRAMEWORK_COLORS, LiveModel, rank_color
from gui.live.live_view import LiveViewPanel
from gui.live.runs_model import RunsModel
from gui.live.stored_ranks import add_stored_ranks


def hello(rank: int | None, world: int = 2) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "hello", "t": 0.1, "protocol": 1, "framework": "torch", "framework_version": "2.9",
                             "device_kind": "cpu", "device_name": "cpu", "host": {}, "spec": {}, "param_count": 10,
                             "pid": 100}
    if rank is not None:
        event.update(rank=rank, world_size=world, host="node-a")
    return event


def step(rank: int | None, index: int, ms: float) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "step", "t": 1.0 + index * 0.01, "index": index, "phase": "measure",
                             "step_ms": ms, "samples_per_s": 1000.0 / ms, "loss": 1.0}
    if rank is not None:
        event["rank"] = rank
    return event


def sample(rank: int | None, t: float, rss: float) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "sample", "t": t, "host_rss": rss, "cpu_percent": 50.0, "device_in_use": None,
                             "device_peak": None, "device_memory_source": None, "gpu_util": None, "gpu_mem_used": None}
    if rank is not None:
        event["rank"] = rank
    return event


@pytest.fixture
def view(qtbot: QtBot) -> LiveViewPanel:
    panel = LiveViewPanel(LiveModel())
    qtbot.addWidget(panel)
    panel.resize(1000, 620)
    panel.show()
    return panel


def curve_keys(view: LiveViewPanel, plot: str) -> list[str]:
    return list(view.plots[plot]._curves)


def test_ranked_events_make_one_series_per_rank(view: LiveViewPanel) -> None:
    model = view.model
    model.announce("r", "torch", "PyTorch ddp", 4)
    model.post("r", hello(0))
    model.post("r", hello(1))
    for i in range(4):  # the two ranks' events interleave, as the controller receives them
        model.post("r", step(0, i, 10.0 + i))
        model.post("r", step(1, i, 20.0 + i))
    model.post("r", sample(0, 1.5, 2**30))
    model.post("r", sample(1, 1.5, 3 * 2**30))
    model.post("r", sample(None, 1.6, 5 * 2**30))  # no rank: the whole program, which the ranks' curves show
    view._on_frame()
    run = model.runs["r"]
    assert run.world_size == 2 and [r.rank for r in run.ranks()] == [0, 1]
    zero, one = run.ranks()
    assert zero.series["step_ms"].y.tolist() == [10.0, 11.0, 12.0, 13.0]
    assert one.series["step_ms"].y.tolist() == [20.0, 21.0, 22.0, 23.0]
    assert one.by_step["step_ms"].x.tolist() == [0.0, 1.0, 2.0, 3.0]
    assert zero.series["host_mb"].y.tolist() == [1024.0] and one.series["host_mb"].y.tolist() == [3072.0]
    assert curve_keys(view, "step_ms") == ["r:step_ms", "r#rank1:step_ms"]
    assert curve_keys(view, "host_mb") == ["r:host_mb", "r#rank1:host_mb"]
    colors = [c.opts["pen"].color().name() for c in view.plots["step_ms"]._curves.values()]
    assert colors[0] == FRAMEWORK_COLORS["torch"] and colors[1] != colors[0]
    assert view.rank_labels() == ["rank 0", "rank 1"]
    assert "rank&nbsp;0" in view.legend.text() and "rank&nbsp;1" in view.legend.text()


def test_a_rank_that_appears_later_gets_its_curve(view: LiveViewPanel) -> None:
    model = view.model
    model.announce("r", "jax", "JAX", 2)
    model.post("r", step(0, 0, 5.0))
    view._on_frame()
    assert curve_keys(view, "step_ms") == ["r:step_ms"]
    model.post("r", step(3, 0, 7.0))
    view._on_frame()
    assert curve_keys(view, "step_ms") == ["r:step_ms", "r#rank3:step_ms"]
    assert view.plots["step_ms"]._curves["r#rank3:step_ms"].series.y.tolist() == [7.0]


def test_the_whole_programs_samples_leave_once_ranks_sample(view: LiveViewPanel) -> None:
    model = view.model
    model.announce("r", "torch", "PyTorch ddp", 2)
    model.post("r", sample(None, 0.5, 2**30))  # the launcher, before any rank connected
    view._on_frame()
    old = view.plots["host_mb"]._curves["r:host_mb"].series
    assert old.y.tolist() == [1024.0]
    model.post("r", sample(0, 1.0, 2 * 2**30))
    model.post("r", sample(None, 1.0, 9 * 2**30))
    model.post("r", sample(1, 1.0, 3 * 2**30))
    view._on_frame()
    curves = view.plots["host_mb"]._curves
    assert list(curves) == ["r:host_mb", "r#rank1:host_mb"]
    assert curves["r:host_mb"].series is not old and curves["r:host_mb"].series.y.tolist() == [2048.0]
    assert curves["r#rank1:host_mb"].series.y.tolist() == [3072.0]


def test_events_without_rank_draw_as_before(view: LiveViewPanel) -> None:
    model = view.model
    model.announce("s", "torch", "PyTorch", 3)
    model.post("s", hello(None))
    for i in range(3):
        model.post("s", step(None, i, 4.0))
    view._on_frame()
    run = model.runs["s"]
    assert not run.multi_rank and run.ranks() == [run] and run.rank_runs == {}
    assert curve_keys(view, "step_ms") == ["s:step_ms"]
    assert view.rank_labels() == [] and "rank" not in view.legend.text()


def test_rank_colours_are_one_family_and_distinct() -> None:
    base = FRAMEWORK_COLORS["jax"]
    shades = [rank_color(base, r) for r in range(8)]
    assert shades[0] == base and len(set(shades)) == 8

    def hue(color: str) -> float:
        return colorsys.rgb_to_hls(*(int(color[k:k + 2], 16) / 255 for k in (1, 3, 5)))[0]
    assert all(abs(hue(c) - hue(base)) < 0.1 for c in shades)


def stored_run(model: LiveModel) -> None:
    t = np.arange(6) * 0.1
    steps = {"t": t, "index": np.arange(6), "phase": np.array(["measure"] * 6), "step_ms": np.full(6, 10.0),
             "samples_per_s": np.full(6, 100.0), "loss": np.ones(6)}
    model.add_stored("r", "torch", "PyTorch r", steps, {"t": t, "host_rss": np.full(6, 2.0**30)}, [], "cpu")


def test_a_stored_run_shows_its_ranks(view: LiveViewPanel) -> None:
    model = view.model
    stored_run(model)
    t = np.arange(5) * 0.1
    rank1 = {"t": t, "index": np.arange(5), "phase": np.array(["measure"] * 5), "step_ms": np.full(5, 14.0),
             "samples_per_s": np.full(5, 80.0), "loss": np.ones(5)}
    add_stored_ranks(model, "r", {0: {}, 1: rank1}, {1: {"t": t, "host_rss": np.full(5, 2.0**31)}})
    view._on_frame()
    assert curve_keys(view, "step_ms") == ["r:step_ms", "r#rank1:step_ms"]
    assert view.plots["step_ms"]._curves["r#rank1:step_ms"].series.y.tolist() == [14.0] * 5
    assert view.plots["host_mb"]._curves["r#rank1:host_mb"].series.y.tolist() == [2048.0] * 5
    assert view.plots["host_mb"]._curves["r:host_mb"].series.y.tolist() == [1024.0] * 6  # no rank 0 samples: as stored
    add_stored_ranks(model, "r", {}, {0: {"t": t, "host_rss": np.full(5, 2.0**29)}})  # rank 0's own process tree
    view._on_frame()
    assert view.plots["host_mb"]._curves["r:host_mb"].series.y.tolist() == [512.0] * 5
    assert view.rank_labels() == ["rank 0", "rank 1"]


class FakeSession:
    """Stands in for a schema-v5 session: only the per-rank readers show_ranks asks for."""

    def rank_steps(self, run_id: str) -> dict[int, dict[str, np.ndarray]]:
        t = np.arange(3) * 0.1
        return {r: {"t": t, "index": np.arange(3), "phase": np.array(["measure"] * 3), "step_ms": np.full(3, 10.0 + r),
                    "samples_per_s": np.full(3, 100.0), "loss": np.ones(3)} for r in (0, 1, 2)}


def runs_with(summary: dict[str, Any]) -> RunsModel:
    runs = RunsModel(Path("unused.stepscope"))
    runs.rows = [cast(Any, SimpleNamespace(run_id="r", record=SimpleNamespace(summary=summary)))]
    return runs


def test_show_ranks_reads_only_multi_rank_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Path] = []

    @contextmanager
    def open_readonly(path: Path) -> Any:
        opened.append(path)
        yield FakeSession()

    monkeypatch.setattr(stored_ranks.Session, "open_readonly", open_readonly)
    model = LiveModel()
    stored_run(model)
    assert not stored_ranks.show_ranks(model, runs_with({}), "r")  # no "ranks": one rank, nothing read
    assert not stored_ranks.show_ranks(model, runs_with({"ranks": 1}), "r")
    assert opened == []
    assert stored_ranks.show_ranks(model, runs_with({"ranks": 3}), "r")
    assert [r.rank for r in model.runs["r"].ranks()] == [0, 1, 2]
    assert model.runs["r"].rank_runs[2].series["step_ms"].y.tolist() == [12.0] * 3
    assert stored_ranks.run_ranks({"ranks": True}) == 1 and stored_ranks.run_ranks(None) == 1
