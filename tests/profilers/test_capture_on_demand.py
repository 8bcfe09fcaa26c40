"""Capture on demand in a built-in run (docs/capture.md): a real torch worker on the CPU, tiny MLP,
asked mid-run for windows through the controller and through the run's control socket; each window
lands on the steps after the request, its steps are labelled `trace`, the measured steps keep their
count, and both windows are stored in the session, each with its label and step range."""
from __future__ import annotations

import gzip
import json
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from profilers.capture_windows import CaptureRequest, parse_request
from profilers.control_socket import CaptureRefused, ControlServer, check_amount, send_capture, socket_path
from profilers.runner import RunController
from sessions.record_run import record_run
from sessions.store import Session
from sessions.traces import load_trace
from workloads.spec import RunSpec

STEPS = 600


def _spec(**fields: Any) -> RunSpec:
    base: dict[str, Any] = {"framework": "torch", "workload": "mlp", "batch_size": 8, "device": "cpu",
                            "data": "synthetic", "steps": STEPS, "warmup": 2, "evaluate": False, "trace_steps": 0}
    return RunSpec(**{**base, **fields}).resolved()


def _profiler_steps(path: str) -> list[int]:
    with gzip.open(path, "rt") as f:
        events = json.load(f)["traceEvents"]
    return sorted(int(e["name"].split("#")[1]) for e in events if str(e.get("name", "")).startswith("ProfilerStep#"))


def test_two_windows_armed_mid_run_land_on_the_next_steps_and_are_both_stored(tmp_path: Path) -> None:
    asked: dict[int, int] = {}  # window -> the last measured step seen when it was asked
    controller: list[RunController] = []
    lock = threading.Lock()

    def on_event(event: dict[str, Any]) -> None:
        if event["type"] != "step" or event["phase"] != "measure":
            return
        with lock:
            if event["index"] >= 20 and not asked:
                asked[controller[0].request_capture(steps=3)] = event["index"]
            elif 1 in asked and 2 not in asked and event["index"] >= asked[1] + 60:
                asked[send_capture(controller[0].run_id, steps=2)] = event["index"]  # the socket's path

    session = tmp_path / "s.stepscope"
    recorded = record_run(_spec(), session, out_dir=tmp_path / "out", on_event=on_event, on_started=controller.append)
    result = recorded.result
    assert result.status == "ok", result.reason
    assert sorted(asked) == [1, 2]
    assert not socket_path(result.run_id).exists()  # removed when the run ended
    captures = {e["window"]: e for e in result.events if e["type"] == "capture"}
    steps = [e for e in result.events if e["type"] == "step"]
    assert sum(e["phase"] == "measure" for e in steps) == STEPS  # the windows' steps do not count
    for window, recorded_steps in ((1, 3), (2, 2)):
        capture = captures[window]
        first, last = capture["first_step"], capture["last_step"]
        assert last - first + 1 == recorded_steps and capture["label"] == f"capture: steps {first}–{last}"
        assert first > asked[window]  # after the request, never before
        # torch.profiler's schedule warms up for one step first: that step and the window are `trace`
        traced = [e["index"] for e in steps if e["phase"] == "trace" and first - 1 <= e["index"] <= last]
        assert traced == list(range(first - 1, last + 1))
        artifact = next(e for e in result.events if e["type"] == "artifact" and e.get("window") == window)
        assert f"capture-{window}" in artifact["path"]
        assert _profiler_steps(artifact["path"]) == list(range(first, last + 1))  # the run's own step numbers
    with Session.open_readonly(session) as store:
        windows = store.trace_windows(result.run_id)
        assert [(w.window, w.first_step, w.last_step) for w in windows] == [
            (k, captures[k]["first_step"], captures[k]["last_step"]) for k in (1, 2)]
        assert all(w.events > 0 and w.label.startswith("capture: steps") for w in windows)
        table, _ = load_trace(store, result.run_id, 2)
        assert len(table) == windows[1].events
        assert {a.window for a in store.artifacts(result.run_id)} == {1, 2}


def test_a_request_to_an_ended_or_unknown_run_is_one_clear_line(tmp_path: Path) -> None:
    controller = RunController(_spec(steps=3, warmup=0), out_dir=tmp_path / "out")
    assert controller.run().status == "ok"
    with pytest.raises(CaptureRefused, match="not running"):
        controller.request_capture(steps=2)
    with pytest.raises(CaptureRefused, match="not running on this machine"):
        send_capture(controller.run_id, steps=2)
    with pytest.raises(CaptureRefused, match="either a number of steps or a number of seconds"):
        check_amount(3, 1.0)
    with pytest.raises(CaptureRefused, match="at least 1"):
        check_amount(0, None)


def test_control_lines_round_trip_and_bad_ones_are_refused() -> None:
    for request in (CaptureRequest(1, steps=5), CaptureRequest(2, seconds=1.5)):
        assert parse_request(request.to_line()) == request
    for line in (b"nonsense\n", b'{"type": "capture", "window": 1}\n', b'{"type": "capture", "window": 0, "steps": 2}\n',
                 b'{"type": "capture", "window": 1, "steps": 2, "seconds": 1}\n', b'{"type": "stop"}\n'):
        with pytest.raises(ValueError):
            parse_request(line)


def test_the_socket_is_owner_only_answers_and_is_gone_with_its_thread_once_closed() -> None:
    asked: list[tuple[int | None, float | None, tuple[int, ...] | None]] = []

    def handler(steps: int | None, seconds: float | None, ranks: tuple[int, ...] | None) -> int:
        asked.append((steps, seconds, ranks))
        if seconds is not None:
            raise CaptureRefused("no seconds here")
        return 4

    server = ControlServer.open("test-socket-run", handler)
    assert server is not None
    try:
        assert stat.S_IMODE(server.path.stat().st_mode) & 0o077 == 0
        assert stat.S_IMODE(server.path.parent.stat().st_mode) == 0o700
        assert send_capture("test-socket-run", steps=3) == 4
        with pytest.raises(CaptureRefused, match="refused the capture: no seconds here"):
            send_capture("test-socket-run", seconds=1.0)
        assert send_capture("test-socket-run", steps=2, ranks=(0, 3)) == 4
        with pytest.raises(CaptureRefused, match=r"the ranks to capture must be rank numbers, not \[-1\]"):
            send_capture("test-socket-run", steps=2, ranks=(-1,))
    finally:
        server.close()
    server._thread.join(timeout=2)
    assert asked == [(3, None, None), (None, 1.0, None), (2, None, (0, 3))]
    assert not server._thread.is_alive() and not server.path.exists()
