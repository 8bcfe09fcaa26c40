"""`record_run`, the one path the GUI's run queue and `stepscope run` record through, driven by
the fake worker: the run and its steps land in the session, the caller gets the controller
while the run is live and can cancel through it, and a session that cannot be written stops
everything before a worker is spawned."""
from __future__ import annotations

import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from profilers.runner import RunController
from sessions.record_run import record_run
from sessions.store import Session, SessionError
from workloads.spec import RunSpec

ROOT = Path(__file__).resolve().parents[2]
FAKE_WORKER = ROOT / "tests" / "profilers" / "fake_worker.py"
SPEC = RunSpec(framework="torch", batch_size=8)


def use_fake_worker(monkeypatch: pytest.MonkeyPatch, behaviour: str, steps: int) -> list[Path]:
    """Every worker the controller spawns is the fake one; returns the out dirs it was spawned for."""
    spawned: list[Path] = []

    def command(spec: RunSpec, out_dir: Path, clock_origin: float | None = None) -> list[str]:
        spawned.append(out_dir)
        return [sys.executable, str(FAKE_WORKER), behaviour, str(steps)]

    monkeypatch.setattr("profilers.runner.worker_command", command)
    return spawned


def test_the_run_lands_in_the_session_with_its_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spawned = use_fake_worker(monkeypatch, "ok", steps=12)
    path = tmp_path / "s.stepscope"
    seen: list[dict[str, Any]] = []
    recorded = record_run(SPEC, path, out_dir=tmp_path / "out", on_event=seen.append)
    assert spawned == [tmp_path / "out"]
    assert recorded.result.status == "ok" and recorded.session_problem is None
    assert (recorded.trace_events, recorded.trace_problem) == (None, None)  # the fake worker writes no trace
    assert [e["index"] for e in seen if e["type"] == "step"] == list(range(12))
    with Session.open_readonly(path) as session:
        record = session.run(recorded.run_id)
        assert (record.status, record.step_count) == ("ok", 12)
        assert record.environment["framework_version"] == "fake" and record.spec["batch_size"] == 8
        assert session.steps(recorded.run_id)["index"].tolist() == list(range(12))
        assert session.steps(recorded.run_id)["step_ms"].tolist() == [10.0 + i for i in range(12)]


def test_on_started_gets_the_controller_while_the_run_is_live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_worker(monkeypatch, "cancel-wait", steps=1)  # left alone, it waits a minute for SIGTERM
    path = tmp_path / "s.stepscope"
    started: list[tuple[RunController, str]] = []

    def on_started(controller: RunController) -> None:
        with Session.open_readonly(path) as session:  # the recorder has begun the run; nothing has finished it
            started.append((controller, session.run(controller.run_id).status))
        controller.cancel()  # only a live run can still end as cancelled

    began = time.monotonic()
    recorded = record_run(SPEC, path, out_dir=tmp_path, on_started=on_started, run_id="the-run")
    assert time.monotonic() - began < 30.0
    assert len(started) == 1
    controller, status_then = started[0]
    assert controller.run_id == recorded.run_id == "the-run" and status_then == "running"
    assert recorded.result.status == "cancelled"


def test_cancelling_through_the_controller_keeps_the_run_as_cancelled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_worker(monkeypatch, "cancel-wait", steps=5)  # 5 steps, then waits for SIGTERM for a minute
    path = tmp_path / "s.stepscope"
    all_steps_seen = threading.Event()
    cancellers: list[threading.Thread] = []

    def on_event(event: dict[str, Any]) -> None:
        if event["type"] == "step" and event["index"] == 4:
            all_steps_seen.set()

    def on_started(controller: RunController) -> None:
        def cancel_after_the_steps() -> None:
            if all_steps_seen.wait(30.0):
                controller.cancel()

        cancellers.append(threading.Thread(target=cancel_after_the_steps, daemon=True))
        cancellers[0].start()

    recorded = record_run(SPEC, path, out_dir=tmp_path, on_event=on_event, on_started=on_started)
    cancellers[0].join(5.0)
    assert all_steps_seen.is_set()
    assert recorded.result.status == "cancelled" and recorded.session_problem is None
    with Session.open_readonly(path) as session:
        record = session.run(recorded.run_id)
        assert (record.status, record.reason, record.step_count) == ("cancelled", "cancelled by the user", 5)
        assert session.steps(recorded.run_id)["index"].tolist() == list(range(5))


@pytest.mark.parametrize("case", ["folder is a file", "not a session"])
def test_an_unwritable_session_raises_before_any_worker_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               case: str) -> None:
    spawned = use_fake_worker(monkeypatch, "ok", steps=3)
    blocker = tmp_path / "blocker"
    blocker.write_text("a plain file, not a folder and not a session\n")
    path = blocker / "s.stepscope" if case == "folder is a file" else blocker
    started: list[RunController] = []
    with pytest.raises(SessionError, match=re.escape(str(path))):
        record_run(SPEC, path, out_dir=tmp_path, on_started=started.append)
    assert spawned == [] and started == []
    assert blocker.read_text() == "a plain file, not a folder and not a session\n"
