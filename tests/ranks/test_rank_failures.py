"""A rank killed mid-run ends the run `failed` with the other rank's steps kept and no process left
behind; `--ranks 0` keeps the planned window and the windows asked for while it runs to rank 0."""
from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from profilers.control_socket import CaptureRefused, send_capture
from profilers.program_runner import ProgramController
from sessions.store import Session
from sessions.traces import load_trace
from tests.ranks.harness import JAX_RANKS, alive, rank_groups, record

pytest.importorskip("jax")


def test_a_rank_that_dies_fails_the_run_keeps_the_others_steps_and_leaves_no_orphan(tmp_path: Path) -> None:
    pids: dict[int, int] = {}
    killed: list[int] = []
    last_step: dict[int, int] = {}

    def on_event(event: dict[str, Any]) -> None:
        if event["type"] == "hello":
            pids[event["rank"]] = event["pid"]
        if event["type"] == "step":
            last_step[event.get("rank", 0)] = event["index"]
        # the example's ranks do not wait for each other: rank 1 dies once both have taken 5 steps
        if min(last_step.get(0, -1), last_step.get(1, -1)) >= 5 and not killed and 1 in pids:
            killed.append(pids[1])
            os.kill(pids[1], signal.SIGKILL)

    controllers: list[ProgramController] = []
    recorded = record(tmp_path, (*JAX_RANKS, "--steps", "100000"), on_event=on_event, controllers=controllers)
    result = recorded.result
    assert killed and result.status == "failed"
    assert result.reason is not None and result.reason.startswith(f"rank 1 (pid {killed[0]}) died")
    with Session.open_readonly(tmp_path / "s.stepscope") as session:
        assert session.run(result.run_id).status == "failed"
        steps = session.rank_steps(result.run_id)
    assert len(steps[0]["index"]) >= 5 and len(steps[1]["index"]) >= 5  # both ranks' steps up to the death
    launcher = controllers[0].launched_pid
    assert launcher is not None and alive([launcher, *pids.values()]) == []


def test_ranks_0_traces_only_rank_0_in_the_planned_window_and_on_demand(tmp_path: Path) -> None:
    asked: list[int] = []
    controllers: list[ProgramController] = []

    def on_event(event: dict[str, Any]) -> None:
        if event["type"] == "step" and event.get("rank") == 0 and event["index"] == 12 and not asked:
            threading.Thread(target=lambda: asked.append(controllers[0].request_capture(steps=2))).start()

    # steps to spare after step 12, as below: with 40, rank 0 had once ended before the request landed (pytest -n 2)
    recorded = record(tmp_path, (*JAX_RANKS, "--steps", "400"), steps_window=(5, 7), ranks=(0,), on_event=on_event,
                      controllers=controllers)
    result = recorded.result
    assert result.status == "ok", result.reason
    assert asked == [1]
    captures = {(e["rank"], e["window"]) for e in result.events if e["type"] == "capture"}
    assert captures == {(0, 0), (0, 1)}
    assert {e["rank"] for e in result.events if e["type"] == "artifact"} == {0}
    traced = {e["rank"] for e in result.events if e["type"] == "step" and e["phase"] == "trace"}
    assert traced == {0}
    with Session.open_readonly(tmp_path / "s.stepscope") as session:
        windows = [w.window for w in session.trace_windows(result.run_id)]
        tables = [load_trace(session, result.run_id, w)[0] for w in windows]
    assert windows == [0, 1] and all(rank_groups(t.rows) == {"rank 0"} for t in tables)


def test_capture_from_another_process_with_ranks_1_traces_only_rank_1(tmp_path: Path) -> None:
    """`capture RUN_ID --ranks 1`: the request goes through the run's control socket, as from a
    second terminal, and only rank 1 opens the window; a rank that is not there is one line."""
    asked: list[int | str] = []
    controllers: list[ProgramController] = []

    def ask(run_id: str) -> None:
        try:
            send_capture(run_id, steps=2, ranks=(7,))
        except CaptureRefused as exc:
            asked.append(str(exc))
        asked.append(send_capture(run_id, steps=2, ranks=(1,)))

    def on_event(event: dict[str, Any]) -> None:
        if event["type"] == "step" and event.get("rank") == 1 and event["index"] == 12 and not asked:
            asked.append("asking")
            threading.Thread(target=ask, args=(controllers[0].run_id,)).start()

    # steps to spare after step 12: two requests over the socket must land before the program ends, also on a
    # loaded machine (with 40 steps, rank 1 had finished before the second one once, under pytest -n 2)
    recorded = record(tmp_path, (*JAX_RANKS, "--steps", "400"), on_event=on_event, controllers=controllers)
    result = recorded.result
    assert result.status == "ok", result.reason
    assert asked[1:] == [f"run {result.run_id} refused the capture: none of ranks 7 is connected", 1]
    assert {(e["rank"], e["window"]) for e in result.events if e["type"] == "capture"} == {(1, 1)}
    with Session.open_readonly(tmp_path / "s.stepscope") as session:
        tables = [load_trace(session, result.run_id, w.window)[0] for w in session.trace_windows(result.run_id)]
    assert [rank_groups(t.rows) for t in tables] == [{"rank 1"}]
