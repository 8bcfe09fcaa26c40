"""How far a long trace read has come, and a way to stop it: the readers call `advance` as
they consume the file, the command line draws a bar from it, the app a dialog with Cancel.

A read is measured in bytes of the file as stored (compressed bytes for a .gz), so the
fraction is known from the first byte without decompressing anything ahead. Cancelling is
cooperative: `advance` raises `ReadCancelled` at the reader's next call once `cancel()` was
asked (from any thread), which a reader lets propagate, holding nothing it read.

Whoever reads several files under one bar (`traces.rank_reader`, `traces.logdir_reader`) calls
`start` once with their sum and hands each file's reader an `OffsetProgress`, so a reader
always reports positions within its own file.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from traces.table import TraceError

UPDATE_EVERY_S = 0.1  # the callback at most ten times a second: a bar needs no more


class ReadCancelled(TraceError):
    """The read was cancelled by its user; nothing of it was kept."""


class Progress(Protocol):
    """What a reader needs of a progress: `ReadProgress`, or an `OffsetProgress` over one."""

    def advance(self, done: int, where: object = "trace") -> None: ...


class ReadProgress:
    """Bytes consumed of a trace read, reported to `on_update(done, total)` (throttled, and once
    at the end), with `cancel()` to stop the read. `total` 0 means unknown."""

    def __init__(self, on_update: Callable[[int, int], None] | None = None) -> None:
        self._on_update = on_update
        self._cancel = threading.Event()
        self._last = 0.0
        self.done = 0
        self.total = 0

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def start(self, total: int) -> None:
        """A read of `total` bytes begins (several files: call once with their sum)."""
        self.total = max(0, int(total))
        self._report(force=True)

    def advance(self, done: int, where: object = "trace") -> None:
        """`done` bytes of the total are consumed (absolute, not a delta); raises ReadCancelled
        when the read was cancelled."""
        if self._cancel.is_set():
            raise ReadCancelled(where, "reading was cancelled")
        self.done = max(self.done, int(done))
        self._report(force=False)

    def finish(self) -> None:
        self.done = max(self.done, self.total)
        self._report(force=True)

    def _report(self, force: bool) -> None:
        if self._on_update is None:
            return
        now = time.monotonic()
        if force or now - self._last >= UPDATE_EVERY_S:
            self._last = now
            self._on_update(self.done, self.total)


class OffsetProgress:
    """One file of several read under one progress: its reader's positions (bytes of that file)
    shifted by the bytes of the files before it."""

    def __init__(self, progress: Progress, offset: int) -> None:
        self.progress, self.offset = progress, offset

    def advance(self, done: int, where: object = "trace") -> None:
        self.progress.advance(self.offset + done, where)
