"""The runs list's details pane: the worker's log, and for a multi-rank run a Stragglers tab: its
straggler table from every rank's recorded steps (`sessions.stragglers`), so a run without a trace
window shows it too. The time in collectives needs the trace: the inspector's Stragglers tab has it.
"""
from __future__ import annotations

from PySide6.QtWidgets import QPlainTextEdit, QTabWidget, QWidget

from gui.inspector.straggler_panel import StragglerPanel
from gui.live.runs_model import RunRow, RunsModel
from gui.live.stored_ranks import run_ranks
from sessions.schema import SessionError
from sessions.store import Session
from sessions.stragglers import straggler_table

TRACED = ("Time in collectives per rank comes from the trace: open the run's trace in the inspector (Ctrl+I), "
          "whose Stragglers tab adds it for the traced steps.")
UNTRACED = "The run has no trace window, so no time in collectives per rank."


class StragglerDetails(QTabWidget):
    """"Log" (the given log view) and, while a multi-rank run is shown, "Stragglers"."""

    def __init__(self, log_view: QPlainTextEdit, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setDocumentMode(True)
        self.addTab(log_view, "Log")
        self.panel: StragglerPanel | None = None
        self.shown: str | None = None  # the run whose table is shown

    def show_run(self, row: RunRow | None, model: RunsModel) -> bool:
        """The Stragglers tab for `row` when it is a finished run of two ranks or more (read from
        the session), else none; True when the tab is shown."""
        ranks = run_ranks(row.record.summary) if row is not None else 1
        if row is None or ranks < 2 or row.record.status == "running" or model.path is None:
            self._drop()
            return False
        if self.shown == row.run_id and self.panel is not None:
            return True
        try:
            with Session.open_readonly(model.path) as session:
                read = getattr(session, "rank_steps", None)  # schema v5's
                steps = read(row.run_id) if read is not None else {}
        except SessionError:
            steps = {}
        if len(steps) < 2:
            self._drop()
            return False
        keep = self.currentIndex()
        self._drop()
        self.panel = StragglerPanel(straggler_table(steps), waits_note=TRACED if row.windows else UNTRACED)
        self.addTab(self.panel, f"Stragglers ({ranks} ranks)")
        self.setCurrentIndex(min(keep, self.count() - 1))
        self.shown = row.run_id
        return True

    def _drop(self) -> None:
        if self.panel is not None:
            self.removeTab(self.indexOf(self.panel))
            self.panel.deleteLater()
        self.panel, self.shown = None, None
