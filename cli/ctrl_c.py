"""Ctrl-C during a recorded run, for `run` and `run -- PROGRAM`: it cancels the run (the steps
already streamed are kept) instead of killing Stepscope. The handler is in place before the run
starts, so a Ctrl-C while its controller is still starting (the worker or the user's program may
already print) cancels that controller as soon as it exists."""
from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Any, Generic, Protocol, TypeVar


class Cancellable(Protocol):
    def cancel(self) -> Any: ...


C = TypeVar("C", bound=Cancellable)


class CancelOnCtrlC(Generic[C]):
    """`with CancelOnCtrlC() as ctrl_c:` around a run, `ctrl_c.started` as its on_started:
    SIGINT cancels every controller started before or after it; `interrupted` says whether it came."""

    def __init__(self) -> None:
        self.interrupted = threading.Event()
        self._started: list[C] = []
        self._previous: Any = None

    def started(self, controller: C) -> None:
        self._started.append(controller)
        if self.interrupted.is_set():
            controller.cancel()

    def _on_interrupt(self, signum: int, frame: FrameType | None) -> None:
        self.interrupted.set()
        for controller in self._started:
            controller.cancel()

    def __enter__(self) -> CancelOnCtrlC[C]:
        self._previous = signal.signal(signal.SIGINT, self._on_interrupt)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        signal.signal(signal.SIGINT, self._previous)
