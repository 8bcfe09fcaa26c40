"""The trace inspector: one window per run's trace. The timeline on top; below it tabs for top
ops, the per-step breakdown, memory, op families and the clicked event; a search box over event names.
Under the toolbar, what the source holds and how busy each device was. A multi-rank trace (rows
grouped "rank N: ...", one clock) also gets a Stragglers tab (`straggler_panel.py`).

It takes an EventTable (already parsed and stored by the session) and never reads profiler
files itself; `from_session` is the one door from a session file. The timeline comes up
first; top ops, the step breakdown and memory are computed on a background thread (a second
or two for a million events) and fill their tabs when done (`analysesReady`). The source description is
shown verbatim, because the frameworks' CPU traces hold very different things (JAX on CPU has
runtime and HLO events but no framework ops; no CPU trace has kernels) and the user must not
read a missing category as zero time.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QLabel, QLineEdit, QMainWindow, QSplitter, QTabWidget, QToolBar, QVBoxLayout, QWidget

from gui.inspector.families_panel import FamiliesPanel
from gui.inspector.straggler_panel import StragglerPanel
from gui.inspector.trace_panels import EventDetailsPanel, MemoryPanel, StepBreakdownPanel, TopOpsPanel
from gui.timeline.timeline_view import TimelineWidget
from gui.window_chrome import close_action, fit_to_screen
from sessions.stragglers import StragglerTable, row_ranks, step_windows, straggler_table
from traces.analysis import (
    BusyReport,
    MemorySeries,
    OpRow,
    StepBreakdown,
    busy_fraction,
    memory_timeline,
    step_breakdown,
    top_ops,
)
from traces.family_breakdown import FamilyBreakdown, family_breakdown
from traces.hlo_modules import HloIndex
from traces.table import EventTable

log = logging.getLogger("stepscope.gui")
TAB_TITLES = ("Top ops", "Step breakdown", "Memory", "Families")
BUSY_WINDOWS = {"steps": "first step start to last step end", "trace": "whole trace"}
BUSY_TOOLTIP = ("The share of the window in which at least one kernel or memory copy ran on the device, on any of "
                "its streams: from the first step's start to the last step's end when the trace has step markers, "
                "otherwise the whole trace")


@dataclass
class TraceAnalyses:
    """What the tabs show, computed once per window off the GUI thread."""

    top_ops: list[OpRow]
    steps: StepBreakdown
    memory: list[MemorySeries]
    busy: BusyReport
    families: FamilyBreakdown
    stragglers: StragglerTable | None = None  # a trace of two ranks or more

    @classmethod
    def compute(cls, table: EventTable, hlo: HloIndex | None = None,
                rank_steps: Mapping[int, Mapping[str, np.ndarray]] | None = None) -> TraceAnalyses:
        ranks = set(row_ranks(table).tolist()) - {-1}  # a capture of chosen ranks may hold one: the steps still compare
        several = len(ranks) >= 2 or len([r for r, cols in (rank_steps or {}).items() if len(cols.get("index", ()))]) >= 2
        stragglers = straggler_table(rank_steps or {}, table) if several else None
        return cls(top_ops(table, by="self", limit=None), step_breakdown(table), memory_timeline(table),
                   busy_fraction(table), family_breakdown(table, hlo=hlo), stragglers)


def describe_busy(report: BusyReport) -> str:
    """One line: each device's busy share, or why the trace cannot tell (no device kernels), so a
    CPU trace never reads as an idle GPU."""
    if not report.devices:
        return f"Device busy: {report.reason}."
    shares = "; ".join(f"{d.device}{'' if d.kind in d.device else f' ({d.kind})'} {100 * d.fraction:.1f} % "
                       f"({d.kernels:,} kernel{'s' if d.kernels != 1 else ''})" for d in report.devices)
    return f"Device busy (a kernel or copy running), {BUSY_WINDOWS.get(report.window, report.window)}: {shares}."


class _Relay(QObject):
    """Carries the worker thread's result to the GUI thread (a queued signal)."""

    finished = Signal(object)


class EventSearch:
    """Case-insensitive substring search over event names, Qt-free: the matching events in
    start order and a cursor for "next match"."""

    def __init__(self, table: EventTable) -> None:
        self.table = table
        self._lower: list[str] | None = None
        self.text = ""
        self.matches = np.zeros(0, np.int64)
        self.mask: np.ndarray | None = None
        self.cursor = -1

    def set_text(self, text: str) -> int:
        """Search for `text` (empty clears); returns the number of matching events."""
        self.text = text.strip()
        self.cursor = -1
        if not self.text:
            self.matches, self.mask = np.zeros(0, np.int64), None
            return 0
        if self._lower is None:
            self._lower = [s.lower() for s in self.table.strings]
        needle = self.text.lower()
        ids = np.fromiter((i for i, s in enumerate(self._lower) if needle in s), np.int64)
        self.mask = np.isin(self.table.name, ids) if len(ids) else np.zeros(len(self.table), bool)
        self.matches = np.flatnonzero(self.mask)
        return len(self.matches)

    def next(self) -> int | None:
        """The next match after the last one returned (wrapping), or None without matches."""
        if not len(self.matches):
            return None
        self.cursor = (self.cursor + 1) % len(self.matches)
        return int(self.matches[self.cursor])


class TraceInspectorWindow(QMainWindow):
    """A run's trace: timeline, top ops, step breakdown, memory, op families, details, search."""

    analysesReady = Signal()

    def __init__(self, table: EventTable, title: str, description: str, parent: QWidget | None = None, *,
                 hlo: HloIndex | None = None, rank_steps: Mapping[int, Mapping[str, np.ndarray]] | None = None) -> None:
        super().__init__(parent)
        self.table = table
        self.hlo = hlo  # the run's HLO modules: what opaque XLA ops hold, for the Families tab
        self.rank_steps = rank_steps  # every rank's recorded steps, for the Stragglers tab of a multi-rank run
        self.stragglers: StragglerPanel | None = None
        self.setWindowTitle(f"{title} — trace inspector")
        self.timeline = TimelineWidget(table)
        self.search = EventSearch(table)

        self.top_ops: TopOpsPanel | None = None
        self.steps: StepBreakdownPanel | None = None
        self.memory: MemoryPanel | None = None
        self.families: FamiliesPanel | None = None
        self.analyses: TraceAnalyses | None = None
        self.details = EventDetailsPanel(table)
        self.tabs = QTabWidget()
        for tab in TAB_TITLES:
            waiting = QLabel(f"Computing {tab.lower()} for {len(table):,} events…")
            waiting.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.tabs.addTab(waiting, tab)
        self.tabs.addTab(self.details, "Details")

        self.description = QLabel(description)
        self.description.setWordWrap(True)
        self.description.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.description.setContentsMargins(6, 2, 6, 2)
        self.description.setToolTip("What the trace file contains, as read: a missing category was not recorded, "
                                    "not zero time")
        self.busy = QLabel("Device busy: computing…")
        self.busy.setWordWrap(True)
        self.busy.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.busy.setContentsMargins(6, 0, 6, 2)
        self.busy.setToolTip(BUSY_TOOLTIP)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.timeline)
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([520, 360])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 2, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.description)
        layout.addWidget(self.busy)
        layout.addWidget(splitter, 1)
        self.setCentralWidget(central)
        self._make_toolbar()

        self.timeline.eventClicked.connect(self._on_event_clicked)
        self.close_action = close_action(self)
        fit_to_screen(self, 1300, 860)
        self._start_analyses()

    @property
    def analyses_ready(self) -> bool:
        return self.analyses is not None

    def _start_analyses(self) -> None:
        relay = _Relay()
        relay.finished.connect(self._on_analyses)
        self._relay = relay
        table, hlo, rank_steps = self.table, self.hlo, self.rank_steps

        def work() -> None:
            try:
                result: TraceAnalyses | BaseException = TraceAnalyses.compute(table, hlo, rank_steps)
            except Exception as exc:  # shown in the tabs; the timeline stays usable
                log.exception("trace analyses failed")
                result = exc
            try:
                relay.finished.emit(result)
            except RuntimeError:  # the window went away first
                pass

        threading.Thread(target=work, name="trace-analyses", daemon=True).start()

    def _on_analyses(self, result: TraceAnalyses | BaseException) -> None:
        if isinstance(result, BaseException):
            for k, title in enumerate(TAB_TITLES):
                self._set_tab(k, QLabel(f"Could not compute {title.lower()}: {type(result).__name__}: {result}"), title)
            self.busy.setText(f"Device busy: could not compute it: {type(result).__name__}: {result}")
            return
        self.top_ops = TopOpsPanel(result.top_ops)
        self.steps = StepBreakdownPanel(result.steps)
        self.memory = MemoryPanel(result.memory, self.timeline.lod.t0)
        self._set_tab(0, self.top_ops, f"Top ops ({self.top_ops.model.rowCount():,})")
        self._set_tab(1, self.steps, TAB_TITLES[1])
        self._set_tab(2, self.memory, TAB_TITLES[2])
        self.families = FamiliesPanel(result.families)
        self._set_tab(3, self.families, TAB_TITLES[3])
        self.busy.setText(describe_busy(result.busy))
        self.top_ops.opSelected.connect(self._on_op_selected)
        if result.stragglers is not None:
            self.stragglers = StragglerPanel(result.stragglers)
            self.tabs.insertTab(len(TAB_TITLES), self.stragglers, f"Stragglers ({len(result.stragglers.ranks)} ranks)")
            self.stragglers.stepSelected.connect(self.show_step)
        self.analyses = result
        self.analysesReady.emit()

    def _set_tab(self, k: int, widget: QWidget, title: str) -> None:
        current = self.tabs.currentIndex()
        old = self.tabs.widget(k)
        self.tabs.removeTab(k)
        self.tabs.insertTab(k, widget, title)
        self.tabs.setCurrentIndex(current)
        if old is not None:
            old.deleteLater()

    @classmethod
    def from_session(cls, path: Path | str, run_id: str, parent: QWidget | None = None,
                     window: int | None = None) -> TraceInspectorWindow:
        """The inspector on the stored trace of run `run_id` in session file `path` (its trace `window`,
        docs/capture.md; None: its first); raises SessionError (with a sentence a user can act on) when
        the run has no parsed trace."""
        from sessions.store import Session
        from sessions.trace_hlo import run_hlo_index
        from sessions.traces import load_trace

        with Session.open_readonly(path) as session:
            table, description = load_trace(session, run_id, window)
            record = session.run(run_id)
            spec = record.spec
            rank_steps = getattr(session, "rank_steps", None)  # schema v5's; absent from an older Stepscope
            if rank_steps is not None and int((record.summary or {}).get("ranks") or 1) > 1:
                rank_steps = rank_steps(run_id)
            else:
                rank_steps = None
            label = next((f" — {w.title}" for w in session.trace_windows(run_id) if w.window == window), "")
            hlo, _ = run_hlo_index(session, run_id)  # without it, opaque XLA ops count as "other" (the tab says so)
        parts = [str(spec.get(k)) for k in ("framework", "workload", "mode") if spec.get(k)]
        return cls(table, f"{' '.join(parts) or 'run'} — {run_id}{label}", description, parent, hlo=hlo,
                   rank_steps=rank_steps)

    def _make_toolbar(self) -> None:
        bar = QToolBar("Search")
        bar.setMovable(False)
        bar.addWidget(QLabel(" Find event: "))
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("name contains… (Enter: next match)")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMaximumWidth(360)
        bar.addWidget(self.search_edit)
        self.match_label = QLabel("")
        self.match_label.setContentsMargins(8, 0, 8, 0)
        bar.addWidget(self.match_label)
        hint = QLabel("   Timeline: wheel or W/S zoom · drag or A/D pan · click an event for details")
        hint.setEnabled(False)
        bar.addWidget(hint)
        self.addToolBar(bar)
        self.search_edit.textChanged.connect(self._on_search_text)
        self.search_edit.returnPressed.connect(self.next_match)

    # -- actions -------------------------------------------------------------------------
    def next_match(self) -> int | None:
        """Centre the timeline on the next search match and show it; returns its index."""
        index = self.search.next()
        if index is None:
            return None
        self.timeline.select_event(index, centre=True)
        self.details.show_event(index)
        self.match_label.setText(f"{self.search.cursor + 1:,} of {len(self.search.matches):,} events")
        return index

    def _on_search_text(self, text: str) -> None:
        count = self.search.set_text(text)
        if not self.search.text:
            self.match_label.setText("")
            self.timeline.highlight_events(None)
            return
        self.match_label.setText(f"{count:,} event{'s' if count != 1 else ''}" if count else "no match")
        self.timeline.highlight_events(self.search.mask if count else None)

    def show_step(self, step: int) -> bool:
        """Show step `step` on the timeline, every rank's window of it; False when the trace has none."""
        spans = [span for (_, number), span in step_windows(self.table).items() if number == step]
        if not spans:
            return False
        lo, hi = min(s for s, _ in spans) - self.timeline.lod.t0, max(e for _, e in spans) - self.timeline.lod.t0
        margin = 0.03 * (hi - lo)
        self.timeline.set_view_range(lo - margin, hi + margin)
        return True

    def _on_op_selected(self, name: str) -> None:
        self.timeline.highlight(name)

    def _on_event_clicked(self, index: int) -> None:
        self.details.show_event(index)
        self.tabs.setCurrentWidget(self.details)
