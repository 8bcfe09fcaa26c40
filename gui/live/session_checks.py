"""What the window says about a session file as it opens it, so a problem shows up at once and not
when Start fails later (issue 15): a folder or file that cannot be written, and runs that a
crashed writer left `running`, with the fix offered beside the message; and what it says as it
repairs one or saves a copy under a new name.

Qt-free: it turns the session layer's findings into notifications (`gui.notifications`), with the
window's Save As and repair passed in as their actions.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gui.notifications import NotificationAction, NotificationManager
from sessions.repair import Repair, repair_session
from sessions.schema import ReadOnlyLocation, SessionError, check_writable
from sessions.store import Session

SAVE_AS_ADVICE = "Cannot write here — use Save As to continue in another place"


def write_problem(path: Path) -> str | None:
    """Why runs cannot be recorded into `path` where it is (read-only folder or file), or None."""
    try:
        check_writable(path)
    except ReadOnlyLocation as exc:
        return f"{SAVE_AS_ADVICE}. {exc}; its runs can still be viewed."
    return None


def orphaned_runs(path: Path) -> list[str]:
    """Runs stored `running` whose writer is gone (a crash); [] for a missing or unreadable file,
    which opening already reported."""
    if not path.exists():
        return []
    try:
        with Session.open_readonly(path) as session:
            return session.orphaned_runs()
    except SessionError:
        return []


def orphan_message(count: int) -> str:
    return (f"{count} run(s) in this session were left running by a crash; their last steps may live only in the "
            "-wal file beside it. Repair marks them interrupted and makes the file self-contained.")


def repair_outcome(repair: Repair) -> tuple[str, str]:
    """(message, severity) after a repair."""
    marked = f"{len(repair.interrupted)} run(s) marked interrupted"
    if repair.self_contained:
        return f"Repaired {repair.path.name}: {marked}; the file alone now holds every run.", "info"
    return (f"Repaired {repair.path.name}: {marked}, but another process still has the file open, so part of it "
            "stays in the -wal file beside it until that process closes it.", "warning")


def announce(path: Path, notifications: NotificationManager, save_as: Callable[[], object],
             repair: Callable[[], object]) -> None:
    """Right after opening `path`: warn when it cannot be written (offering Save As), else offer
    to repair runs a crash left (a read-only file cannot be repaired, so that is not offered)."""
    problem = write_problem(path)
    if problem:
        notifications.notify(problem, "warning", actions=(NotificationAction("Save As…", save_as),))
        return
    orphans = orphaned_runs(path)
    if orphans:
        notifications.notify(orphan_message(len(orphans)), "warning", actions=(NotificationAction("Repair", repair),))


def refuse_read_only(path: Path, notifications: NotificationManager, save_as: Callable[[], object]) -> bool:
    """On Start: True (and an error offering Save As) when runs cannot be recorded into `path`."""
    problem = write_problem(path)
    if problem:
        notifications.notify(problem, "error", actions=(NotificationAction("Save As…", save_as),))
    return problem is not None


def save_copy(source: Path, path: Path, notifications: NotificationManager) -> bool:
    """Copy `source` to `path` (a consistent snapshot; a new empty session while `source` has no
    file yet) and say how it went."""
    try:
        if source.exists():
            with Session.open_readonly(source) as session:
                session.copy_to(path)
        else:
            Session.create_or_open(path).close()
    except SessionError as exc:
        notifications.notify(f"Could not save the session: {exc}", "error")
        return False
    notifications.notify(f"Saved as {path}", "info")
    return True


def repair(path: Path, notifications: NotificationManager) -> bool:
    """Repair `path` (sessions.repair) and say what it did."""
    try:
        done = repair_session(path)
    except SessionError as exc:
        notifications.notify(f"Could not repair the session: {exc}", "error")
        return False
    notifications.notify(*repair_outcome(done))
    return True
