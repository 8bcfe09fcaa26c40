"""One place where every failure becomes a message a person can read (napari's notifications.py).

Qt-free: worker failures, unreadable files and unexpected exceptions (through `sys.excepthook`
and `threading.excepthook`) all become Notifications; views subscribe with `connect` and are
called on whatever thread notified, so a Qt view must hop to its own thread (a queued signal).
"""
from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

log = logging.getLogger("stepscope.gui")

SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class NotificationAction:
    """A fix offered with a notification ("Repair", "Save As…"): a view shows it as a button and
    calls `run` on the GUI thread when it is pressed, then dismisses the notification."""

    label: str
    run: Callable[[], object]


@dataclass(frozen=True)
class Notification:
    message: str  # one line a person can act on
    severity: str = "info"
    detail: str = ""  # a traceback or a log, shown on request
    time: float = field(default_factory=time.time)
    actions: tuple[NotificationAction, ...] = ()


Listener = Callable[[Notification], None]
ExceptHooks = tuple[Callable[[type[BaseException], BaseException, TracebackType | None], object],
                    Callable[[threading.ExceptHookArgs], object]]


class NotificationManager:
    """Collects notifications and hands each to every listener; installs the exception hooks."""

    def __init__(self) -> None:
        self.records: list[Notification] = []
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._old_hooks: ExceptHooks | None = None

    def connect(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def disconnect(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def notify(self, message: str, severity: str = "info", detail: str = "",
               actions: tuple[NotificationAction, ...] = ()) -> Notification:
        if severity not in SEVERITIES:
            severity = "error"
        note = Notification(message, severity, detail, actions=actions)
        with self._lock:
            self.records.append(note)
        (log.error if severity == "error" else log.info)("%s", message)
        for listener in list(self._listeners):
            try:
                listener(note)
            except Exception:  # a broken view must not turn one failure into two
                log.exception("a notification listener failed")
        return note

    def receive_error(self, exc_type: type[BaseException], value: BaseException,
                      tb: TracebackType | None, where: str = "") -> None:
        """Turn an exception nobody caught into an error notification (the app keeps running)."""
        detail = "".join(traceback.format_exception(exc_type, value, tb))
        first = str(value).strip().splitlines()[0] if str(value).strip() else ""
        place = f" in {where}" if where else ""
        self.notify(f"Unexpected {exc_type.__name__}{place}: {first}"[:300], "error", detail)

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "a background thread"
        self.receive_error(args.exc_type, args.exc_value, args.exc_traceback, f"thread {name}")

    def install_hooks(self) -> None:
        """Route uncaught exceptions of the main thread and of every other thread here."""
        if self._old_hooks is None:
            self._old_hooks = (sys.excepthook, threading.excepthook)
            sys.excepthook = self.receive_error
            threading.excepthook = self._thread_hook

    def restore_hooks(self) -> None:
        if self._old_hooks is not None:
            sys.excepthook, threading.excepthook = self._old_hooks
            self._old_hooks = None
