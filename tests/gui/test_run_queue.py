"""The run queue always finishes: a failure inside Stepscope itself (not the worker) becomes an
error report and the next run still starts, so the window never waits for ever."""
from __future__ import annotations

import sys
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


def test_the_queue_reads_as_finished_when_it_says_so_and_takes_the_next_at_once(tmp_path: Path) -> None:
    """Its thread lives on a moment after `queue_finished`: the window's handler of that signal, or a
    Start right after it, must find the queue not running (once a Start was refused here, on a loaded
    machine, with "a queue is already running")."""
    seen: list[bool] = []
    finished = threading.Event()
    queue: RunQueue

    def on_finished(cancelled: bool) -> None:
        seen.append(queue.running)
        if len(seen) == 1:
            queue.start([])  # from the first queue's own last moment
        finished.set()

    queue = RunQueue(tmp_path / "s.stepscope", QueueCallbacks(queue_finished=on_finished))
    queue.start([])
    assert finished.wait(10)
    queue.join(10)
    assert seen[0] is False and len(seen) == 2 and seen[1] is False


@pytest.mark.timeout(60)
def test_a_full_disk_is_reported_at_once_and_the_run_ends_failed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.sessions.test_disk_full import FAKE_WORKER, page_limited

    def command(spec: RunSpec, out_dir: Path, clock_origin: float | None = None) -> list[str]:
        return [sys.executable, str(FAKE_WORKER), "cancel-wait", "20000"]  # then waits a minute for SIGTERM

    monkeypatch.setattr("profilers.runner.worker_command", command)
    path = tmp_path / "s.stepscope"
    page_limited(path, monkeypatch, spare_pages=6)
    said: list[str] = []
    finished = threading.Event()
    callbacks = QueueCallbacks(error=lambda message, detail: said.append(f"error: {message}"),
                               run_finished=lambda run_id, result, problem: said.append(f"finished: {result.status} "
                                                                                       f"{result.reason}"),
                               queue_finished=lambda cancelled: finished.set())
    RunQueue(path, callbacks).start([RunSpec(framework="torch", batch_size=8)])
    assert finished.wait(45)
    assert len(said) == 2 and said[0].startswith("error: The torch run was stopped: disk full while writing")
    assert said[1] == f"finished: failed disk full while writing {path}"
