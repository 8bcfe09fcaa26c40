"""The recorder streams a run into a session while it runs: what was handed over more than a
second ago survives a kill -9, the run then reads `interrupted`, and write failures never reach
the controller."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from profilers.runner import RunController
from sessions import recorder as recorder_module
from sessions.recorder import SessionRecorder
from sessions.store import Session, SessionError
from workloads.spec import RunSpec

ROOT = Path(__file__).resolve().parents[2]
FAKE_WORKER = ROOT / "tests" / "profilers" / "fake_worker.py"
STREAMER = Path(__file__).with_name("streaming_writer.py")
SPEC = RunSpec(framework="torch", batch_size=8)


def step(i: int) -> dict[str, Any]:
    return {"type": "step", "t": i * 0.01, "index": i, "phase": "measure", "step_ms": 10.0, "samples_per_s": 800.0,
            "loss": 0.5}


def run_fake(tmp_path: Path, behaviour: str, steps: int = 20) -> tuple[Path, str, Any]:
    path = tmp_path / "s.stepscope"
    controller = RunController(SPEC, out_dir=tmp_path, command=[sys.executable, str(FAKE_WORKER), behaviour, str(steps)])
    rec = SessionRecorder(path, controller.run_id, SPEC.to_dict())
    controller._on_event = rec
    result = controller.run()
    assert rec.finish(result) is None
    return path, controller.run_id, result


def test_a_real_controller_run_is_recorded(tmp_path: Path) -> None:
    path, run_id, result = run_fake(tmp_path, "ok")
    assert result.status == "ok"
    with Session.open_readonly(path) as session:
        record = session.run(run_id)
        assert (record.status, record.step_count) == ("ok", 20)
        assert record.environment["framework_version"] == "fake" and record.spec["framework"] == "torch"
        assert record.summary == result.summary
        assert session.steps(run_id)["index"].tolist() == list(range(20))
        assert [p["edge"] for p in session.phases(run_id)] == ["start", "end"]


def test_a_failed_worker_is_recorded_with_its_reason_and_log(tmp_path: Path) -> None:
    path, run_id, result = run_fake(tmp_path, "abort", steps=5)
    with Session.open_readonly(path) as session:
        record = session.run(run_id)
        assert record.status == "failed" and "SIGABRT" in record.reason
        assert "about to abort" in session.log(run_id)
        assert record.step_count == 5


def test_events_are_flushed_while_the_run_streams(tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    rec = SessionRecorder(path, "r1", {"framework": "torch"})
    for i in range(10):
        rec.on_event(step(i))
    deadline = time.monotonic() + 60  # a safety net against a hang; the claim is: stored while still running
    with Session.open_readonly(path) as reader:
        while reader.run("r1").step_count < 10:
            assert time.monotonic() < deadline, "the queued steps were never flushed while the run went on"
            time.sleep(0.05)
        assert reader.run("r1").status == "running"
    assert rec.finish_with("cancelled", "cancelled by the user", {}, "log") is None
    rec.on_event(step(99))  # after finish: ignored, never raises
    assert rec.finish_with("ok", None, {}, "") is None  # twice: no-op
    with Session.open_readonly(path) as reader:
        assert reader.run("r1").status == "cancelled" and reader.run("r1").step_count == 10
    assert rec.stats["flushes"] >= 1 and rec.stats["events"] == 10 and not rec.errors


def test_a_file_that_is_not_a_session_is_refused_before_the_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad.stepscope"
    bad.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(SessionError, match="bad.stepscope"):
        SessionRecorder(bad, "r1", {})


def _failing(times: int) -> Any:
    real = Session.append_events
    calls = {"n": 0}

    def append_events(self: Session, run_id: str, events: list[dict[str, Any]]) -> None:
        calls["n"] += 1
        if calls["n"] <= times:
            raise SessionError(f"{self.path}: database is locked")
        real(self, run_id, events)

    return append_events


def test_a_transient_write_failure_is_retried_and_reported_but_loses_nothing(tmp_path: Path,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Session, "append_events", _failing(2))
    monkeypatch.setattr(recorder_module, "RETRY_S", 0.05)
    rec = SessionRecorder(tmp_path / "s.stepscope", "r1", {})
    for i in range(30):
        rec.on_event(step(i))
    deadline = time.monotonic() + 10
    while rec.stats["flushes"] == 0:  # two failed writes, then a retry that stores everything
        assert time.monotonic() < deadline, "the recorder never retried"
        time.sleep(0.02)
    assert rec.finish_with("ok", None, {}, "") is None  # no problem: everything got stored in the end
    assert rec.error_count >= 2 and "database is locked" in rec.errors[0]
    with Session.open_readonly(tmp_path / "s.stepscope") as session:
        assert session.steps("r1")["index"].tolist() == list(range(30))


def test_a_lasting_write_failure_is_returned_by_finish_not_raised_in_the_controller(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Session, "append_events", _failing(10**9))
    path = tmp_path / "s.stepscope"
    controller = RunController(SPEC, out_dir=tmp_path, command=[sys.executable, str(FAKE_WORKER), "ok", "5"])
    rec = SessionRecorder(path, controller.run_id, SPEC.to_dict())
    controller._on_event = rec
    result = controller.run()
    assert result.status == "ok"
    message = rec.finish(result)
    assert message is not None and rec.problem == message
    assert str(path) in message and "not fully recorded" in message and "database is locked" in message
    assert "events not stored" in message and "\n" not in message
    with Session.open_readonly(path) as session:  # the outcome still made it
        assert session.run(controller.run_id).status == "ok"


def _committed(seen: list[tuple[float, str]]) -> int:
    """The most steps the streaming writer has reported committed."""
    return max((int(line.split()[1]) for _, line in list(seen) if line.startswith("committed ")), default=0)


def _read_lines(stream: Any, seen: list[tuple[float, str]]) -> None:
    for line in stream:
        seen.append((time.monotonic(), line.strip()))


@pytest.mark.timeout(90)
def test_kill_9_mid_run_keeps_every_committed_step(tmp_path: Path) -> None:
    """Whatever the recorder reported committed before the kill is in the file, in order with
    nothing missing between; what is lost is only the tail it had not yet committed."""
    path = tmp_path / "s.stepscope"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    seen: list[tuple[float, str]] = []
    with subprocess.Popen([sys.executable, str(STREAMER), str(path), "r1"], stdout=subprocess.PIPE, text=True,
                          cwd=ROOT, env=env) as proc:  # the context closes the pipe: no descriptor outlives the test
        reader = threading.Thread(target=_read_lines, args=(proc.stdout, seen), daemon=True)
        reader.start()
        try:
            deadline = time.monotonic() + 30
            while not any(line == "ready" for _, line in seen):
                assert time.monotonic() < deadline and proc.poll() is None, "the streaming writer did not start"
                time.sleep(0.02)
            while _committed(seen) < 50:  # several flushes, however slowly they come
                assert time.monotonic() < deadline + 30 and proc.poll() is None, "the recorder committed too little"
                time.sleep(0.02)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            reader.join(5)
    committed = _committed(seen)
    handed = [int(line) for _, line in seen if line.isdigit()]
    with Session.open_readonly(path) as session:
        record = session.run("r1")
        assert record.status == "interrupted"
        stored = session.steps("r1")["index"].tolist()
        assert stored == list(range(len(stored)))  # in order, nothing missing between
        assert committed <= len(stored) <= len(handed) + 1  # (+1: a step handed as the kill cut its line)
        assert len(session.samples("r1")["t"]) > 0 and record.environment["framework_version"] == "fake"
    with Session.create_or_open(path) as session:  # and the file takes new runs
        session.begin_run("r2", {})


def test_two_recorders_can_stream_into_one_session_at_once(tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    recorders = [SessionRecorder(path, f"r{k}", {"framework": "torch"}, flush_interval=0.01) for k in range(2)]
    for i in range(200):
        for rec in recorders:
            rec(step(i))
        if i % 20 == 0:
            time.sleep(0.02)
    assert [rec.finish_with("ok", None, {}, "") for rec in recorders] == [None, None]
    with Session.open_readonly(path) as session:
        assert [(r.run_id, r.status, r.step_count) for r in session.runs()] == [("r0", "ok", 200), ("r1", "ok", 200)]
        assert session.steps("r1")["index"].tolist() == list(range(200))
