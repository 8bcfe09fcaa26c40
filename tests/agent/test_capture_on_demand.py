"""Capture on demand in the user's own program (docs/capture.md): a tiny PyTorch loop under the
agent, its planned window (`--steps 5:7`) plus a window of steps and a window of seconds asked for
while it runs, through the control pipe; each lands where asked and all three are stored."""
from __future__ import annotations

import gzip
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from profilers.control_socket import CaptureRefused
from profilers.program_runner import ProgramController
from sessions.record_run import record_run
from sessions.store import Session
from workloads.program import ProgramSpec

PROGRAM = Path(__file__).parent / "programs" / "torch_train.py"


def _profiler_steps(path: str) -> list[int]:
    with gzip.open(path, "rt") as f:
        events = json.load(f)["traceEvents"]
    return sorted(int(e["name"].split("#")[1]) for e in events if str(e.get("name", "")).startswith("ProfilerStep#"))


def test_windows_asked_for_while_a_program_runs_land_on_the_next_steps_and_are_stored(tmp_path: Path) -> None:
    spec = ProgramSpec(command=(sys.executable, str(PROGRAM), "5000", "--until", "10"), cwd=str(tmp_path),
                       steps_window=(5, 7))
    controller: list[ProgramController] = []
    asked: dict[int, int] = {}  # window -> the last step seen when it was asked
    lock = threading.Lock()

    def ask(seen: int, steps: int | None = None, seconds: float | None = None) -> None:
        asked[controller[0].request_capture(steps=steps, seconds=seconds)] = seen

    def on_event(event: dict[str, Any]) -> None:
        kind = event["type"]
        with lock:
            if kind == "step" and event["index"] >= 40 and not asked:
                ask(event["index"], steps=3)
            elif kind == "capture" and event["window"] == 1:
                ask(-1, steps=150)  # a long window 2 ...
            elif kind == "phase" and event["edge"] == "start" and sorted(asked) == [1, 2]:
                ask(-1, steps=2)  # ... running when window 3 is asked for: the agent refuses it (a notice)
            elif kind == "capture" and event["window"] == 2:
                ask(-1, seconds=0.3)

    session = tmp_path / "s.stepscope"
    recorded = record_run(spec, session, out_dir=tmp_path / "out", on_event=on_event, on_started=controller.append,
                          stdin_devnull=True)
    result = recorded.result
    assert result.status == "ok", result.reason
    assert sorted(asked) == [1, 2, 3, 4]
    captures = {e["window"]: e for e in result.events if e["type"] == "capture"}
    assert sorted(captures) == [0, 1, 2, 4]  # one window at a time
    assert any("capture window 3 was not armed" in e["message"] for e in result.events if e["type"] == "notice")
    assert (captures[0]["first_step"], captures[0]["last_step"]) == (5, 6)
    first, last = captures[1]["first_step"], captures[1]["last_step"]
    assert last - first == 2 and first > asked[1]
    assert captures[2]["last_step"] - captures[2]["first_step"] == 149
    traced = [e["index"] for e in result.events if e["type"] == "step" and e["phase"] == "trace" and e["index"] > 6]
    assert traced[:3] == [first, first + 1, first + 2]
    artifact = next(e for e in result.events if e["type"] == "artifact" and e.get("window") == 1)
    assert _profiler_steps(artifact["path"]) == [first, first + 1, first + 2]
    assert captures[4]["seconds"] == 0.3 and captures[4]["first_step"] is None
    with Session.open_readonly(session) as store:
        windows = store.trace_windows(result.run_id)
    assert [w.window for w in windows] == [0, 1, 2, 4] and all(w.events > 0 for w in windows)
    assert windows[1].label == f"capture: steps {first}–{last}" and windows[3].label.endswith(" s")


def test_a_program_that_has_imported_no_framework_refuses_a_capture(tmp_path: Path) -> None:
    spec = ProgramSpec(command=(sys.executable, "-c", "import time; time.sleep(1.5)"), cwd=str(tmp_path))
    controller = ProgramController(spec, out_dir=tmp_path / "out", stdin_devnull=True)
    controller.start()
    try:
        try:
            controller.request_capture(steps=2)
            raise AssertionError("a capture was armed in a program without a framework")
        except CaptureRefused as exc:
            assert "has not imported" in str(exc)
    finally:
        assert controller.wait().status == "ok"


def test_a_program_without_detected_steps_takes_seconds_not_steps(tmp_path: Path) -> None:
    spec = ProgramSpec(command=(sys.executable, "-c", "import time, torch; time.sleep(3)"), cwd=str(tmp_path))
    controller = ProgramController(spec, out_dir=tmp_path / "out", stdin_devnull=True)
    controller.start()
    try:
        deadline = time.monotonic() + 60
        while not any(e["type"] == "program" for e in controller.events) and time.monotonic() < deadline:
            time.sleep(0.1)
        with pytest.raises(CaptureRefused, match="no steps have been detected"):
            controller.request_capture(steps=2)
        assert controller.request_capture(seconds=0.5) == 1
    finally:
        assert controller.wait().status == "ok"
