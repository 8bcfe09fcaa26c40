"""An `emit` stand-in that keeps what code under test emits, so a test can ask for the events of one kind.

Why here: the agent's capture window and the worker's capture guard both take an `emit(kind, **fields)`
callable; their tests record it the same way."""
from __future__ import annotations

from typing import Any


class RecordedEvents:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, kind: str, /, **fields: Any) -> None:
        self.events.append({"type": kind, **fields})

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]
