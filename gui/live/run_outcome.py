"""What the window says when a run of its queue ends: a failed run's reason (with its log), a
cancelled or interrupted run's kept steps, a session file left incomplete. Qt-free: it speaks
through the NotificationManager, so the window only forwards the result."""
from __future__ import annotations

from typing import Any

from gui.live import run_names
from gui.notifications import NotificationManager
from profilers.runner import RunResult


def announce(notifications: NotificationManager, result: RunResult[Any], problem: str | None) -> None:
    name = run_names.display_name(result.spec)
    if result.status == "failed":
        notifications.notify(f"The {name} run failed: {result.reason}", "error",
                             f"{result.reason}\n\nworker log (stderr):\n{result.log[-20000:]}")
    elif result.status == "cancelled":
        notifications.notify(f"The {name} run was cancelled; its streamed steps are kept.", "info")
    elif result.status == "interrupted":  # a remote worker's connection or node was lost
        notifications.notify(f"The {name} run was interrupted: {result.reason}. Every step received is kept.",
                             "warning")
    if problem:
        notifications.notify(f"The session file is incomplete: {problem}", "warning")
