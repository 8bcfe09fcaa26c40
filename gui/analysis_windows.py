"""Opening the analysis windows of a session — a run's trace inspector, the comparison view, the
scorecard — and keeping them alive: Qt deletes a top-level window nobody holds a reference to.

The windows' modules load on first use, so the main window's start-up does not pay for them.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow

from gui.notifications import NotificationManager
from sessions.schema import SessionError

INSPECT_TIP = "Open the trace inspector on the selected run (Ctrl+I)"


def update_inspect_action(action: QAction, selected: Sequence[Mapping[str, Any] | None]) -> bool:
    """Enable "Inspect Trace" only for exactly one selected run with a stored trace (`selected`:
    each selected run's headline figures, whose `trace_events` the session sets when it stores
    one), and say in the tooltip why it is disabled otherwise; returns the new state."""
    if len(selected) != 1:
        enabled, tip = False, "Select one run to inspect its trace"
    elif not (selected[0] or {}).get("trace_events"):
        enabled, tip = False, ("The selected run has no stored trace: it ran without a trace window (trace steps 0), "
                               "is still running, or its trace could not be read")
    else:
        enabled, tip = True, INSPECT_TIP
    action.setEnabled(enabled)
    action.setToolTip(tip)
    action.setStatusTip(tip)
    return enabled


class AnalysisWindows:
    """The open inspector, comparison and scorecard windows; failures become notifications."""

    def __init__(self, notifications: NotificationManager) -> None:
        self.notifications = notifications
        self.views: list[QMainWindow] = []

    def _show(self, window: QMainWindow) -> QMainWindow:
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        window.destroyed.connect(lambda _=None, w=window: self.views.remove(w) if w in self.views else None)
        self.views.append(window)
        window.show()
        return window

    def inspect(self, session_path: Path, run_ids: list[str], window: int | None = None) -> QMainWindow | None:
        """The trace inspector on the one run in `run_ids` (its trace `window`; None: its first); a run
        without a stored trace is a warning notification, not an error dialog."""
        if len(run_ids) != 1:
            self.notifications.notify("Select one run to inspect its trace.", "warning")
            return None
        from gui.inspector.trace_inspector import TraceInspectorWindow

        try:
            return self._show(TraceInspectorWindow.from_session(session_path, run_ids[0], window=window))
        except SessionError as exc:
            self.notifications.notify(f"Cannot inspect run {run_ids[0]}: {exc}", "warning")
            return None

    def compare(self, session_path: Path, run_ids: list[str]) -> QMainWindow | None:
        """The comparison view on `run_ids` of the session (more runs and files can be added there)."""
        if not run_ids:
            self.notifications.notify("The session holds no runs to compare yet.", "warning")
            return None
        from gui.compare.compare_view import CompareWindow

        try:
            return self._show(CompareWindow.open(session_path, run_ids))
        except SessionError as exc:
            self.notifications.notify(f"Cannot compare: {exc}", "error")
            return None

    def scorecard(self, session_path: Path) -> QMainWindow:
        """The Scorecard window on the session: raised if one is open on it already (two windows
        running sweeps into one file would measure each other)."""
        from gui.scorecard.scorecard_window import ScorecardWindow

        for view in self.views:
            if isinstance(view, ScorecardWindow) and view.session_path == Path(session_path):
                view.raise_()
                view.activateWindow()
                return view
        return self._show(ScorecardWindow(Path(session_path)))
