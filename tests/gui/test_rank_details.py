"""A selected multi-rank run shows its straggler table in the runs list's details, beside the log,
from every rank's recorded steps (a run without a trace window too), and its per-rank curves in the
live plots; a one-process run shows neither. The session is written by the session's own writer
from event dicts as the controller streams them (the event stream's contract)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytestqt.qtbot import QtBot

from gui.live.main_window import MainWindow
from gui.live.runs_list import RunsListPanel
from gui.live.runs_model import RunsModel
from sessions.store import Session

# rank -> its step times; rank 1 is the slowest in steps 1 and 2, rank 0 in step 3
STEP_MS = {0: [500.0, 10.0, 10.0, 16.0], 1: [480.0, 12.0, 15.0, 11.0]}


def write_run(session: Session, run_id: str, ranks: dict[int, list[float]] | None) -> None:
    """A program run; with `ranks`, every event tagged with its rank, as a distributed program's are."""
    session.begin_run(run_id, {"kind": "program", "command": ["torchrun", "train.py"]}, kind="program")
    events: list[dict[str, Any]] = []
    for rank, times in (ranks or {0: [5.0, 5.0, 5.0]}).items():
        tag = {"rank": rank} if ranks else {}
        events.append({"type": "hello", "t": 0.1, "protocol": 1, "framework": "torch", "framework_version": "2.9",
                       "device_kind": "cpu", "device_name": "cpu", "host": {}, "spec": {}, "param_count": None,
                       "pid": 100 + rank, **({"world_size": len(ranks), "hostname": "vm"} if ranks else {}), **tag})
        events += [{"type": "step", "t": 1.0 + i * 0.1, "index": i, "phase": "warmup" if i == 0 else "measure",
                    "step_ms": ms, "samples_per_s": None, "loss": None, **tag} for i, ms in enumerate(times)]
    session.append_events(run_id, events)
    session.finish_run(run_id, "ok", None, {"ranks": len(ranks)} if ranks else {}, "")


def make_session(path: Path) -> None:
    session = Session.create_or_open(path)
    try:
        write_run(session, "20260101-000000-single", None)
        write_run(session, "20260101-000001-ranked", STEP_MS)
    finally:
        session.close()


def test_the_details_show_a_multi_rank_runs_stragglers(qtbot: QtBot, tmp_path: Path) -> None:
    path = tmp_path / "ranks.stepscope"
    make_session(path)
    model = RunsModel(path)
    model.reload()
    panel = RunsListPanel(model)
    qtbot.addWidget(panel)
    panel.refresh()
    tabs = panel.details_tabs
    panel.select(["20260101-000001-ranked"])
    assert [tabs.tabText(k) for k in range(tabs.count())] == ["Log", "Stragglers (2 ranks)"]
    assert tabs.panel is not None
    table = tabs.panel.model.table
    assert [(r.step, r.slowest_rank, r.spread_ms) for r in table.rows] == [(0, 0, 20.0), (1, 1, 2.0), (2, 1, 5.0),
                                                                          (3, 0, 5.0)]
    assert "rank 1 was the slowest in 2 of them" in tabs.panel.summary.text()  # warm-up step 0 left out
    assert "no trace window" in tabs.panel.note.text()
    tabs.setCurrentWidget(tabs.panel)
    panel.select(["20260101-000000-single"])
    assert [tabs.tabText(k) for k in range(tabs.count())] == ["Log"] and tabs.panel is None


def test_the_main_window_draws_a_stored_runs_ranks(make_window: Callable[..., MainWindow], tmp_path: Path) -> None:
    path = tmp_path / "ranks.stepscope"
    make_session(path)
    window = make_window(session=path)
    window.runs_list.select(["20260101-000001-ranked"])
    window.live_view._on_frame()
    run = window.live_model.runs["20260101-000001-ranked"]
    assert [r.rank for r in run.ranks()] == [0, 1]
    assert run.rank_runs[1].series["step_ms"].y.tolist() == STEP_MS[1][1:]  # a program's warm-up step 0 left off
    assert window.live_view.rank_labels() == ["rank 0", "rank 1"]
    window.runs_list.select(["20260101-000000-single"])
    window.live_view._on_frame()
    assert window.live_view.rank_labels() == []
