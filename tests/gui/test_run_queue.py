"""The run queue always finishes: a failure inside Stepscope itself (not the worker) becomes an
error report and the next run still starts, so the window never waits for ever."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from gui.live.run_queue import QueueCallbacks, RunQueue
from workloads.spec import RunSpec


def test_an_internal_failure_is_reported_and_the_queue_goes_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []
    errors: list[tuple[str, str]] = []
    finished = threading.Event()

    def broken_run_one(self, spec, session_path, index, total) -> None:
        started.append(spec.framework)
        raise KeyError("a bug in the queue")

    monkeypatch.setattr(RunQueue, "_run_one", broken_run_one)
    callbacks = QueueCallbacks(error=lambda message, detail: errors.append((message, detail)),
                               queue_finished=lambda cancelled: finished.set())
    queue = RunQueue(tmp_path / "s.stepscope", callbacks)
    queue.start([RunSpec(framework="torch"), RunSpec(framework="jax")])
    assert finished.wait(10)
    assert started == ["torch", "jax"]
    assert len(errors) == 2 and "failed inside Stepscope" in errors[0][0] and "KeyError" in errors[0][1]
