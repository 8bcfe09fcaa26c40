"""Two trace timelines side by side, kept aligned at step boundaries: pan or zoom one and the
other shows the same offset into the same step (the k-th step of each trace window, since
frameworks number their steps differently); without step markers both align at their first
event. The mapping is `gui.compare.compare_model.align_range`, Qt-free and tested on its own.
"""
from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui.compare.compare_model import align_range
from traces.table import EventTable


class SideBySideTimelines(QWidget):
    """`show_pair(a, b, …)` puts two `TimelineWidget`s next to each other and links their ranges."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.message = QLabel()
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        self._row = QHBoxLayout()
        layout.addLayout(self._row, 1)
        self.timelines: list[Any] = []  # gui.timeline.timeline_view.TimelineWidget, imported when first needed
        self.titles: list[QLabel] = []
        self._columns: list[QWidget] = []
        self._syncing = False

    def clear(self) -> None:
        for column in self._columns:
            self._row.removeWidget(column)
            column.deleteLater()
        self._columns, self.timelines, self.titles = [], [], []

    def show_message(self, text: str) -> None:
        self.clear()
        self.message.setText(text)
        self.message.setVisible(bool(text))

    def show_pair(self, first: EventTable, second: EventTable, first_title: str, second_title: str,
                  colors: tuple[str, str] = ("", "")) -> None:
        from gui.timeline.timeline_view import TimelineWidget  # the trace inspector's widget; heavy, so only on demand

        self.clear()
        has_steps = []
        for table, title, color in ((first, first_title, colors[0]), (second, second_title, colors[1])):
            column = QWidget(self)
            box = QVBoxLayout(column)
            box.setContentsMargins(0, 0, 0, 0)
            label = QLabel(f"<b>{title}</b>")
            if color:
                label.setStyleSheet(f"border-left: 6px solid {color}; padding-left: 6px;")
            timeline = TimelineWidget(table, parent=column)
            box.addWidget(label)
            box.addWidget(timeline, 1)
            self._row.addWidget(column, 1)
            self._columns.append(column)
            self.titles.append(label)
            self.timelines.append(timeline)
            has_steps.append(len(timeline.step_starts_ns()) > 0)
        for k, timeline in enumerate(self.timelines):
            timeline.rangeChanged.connect(lambda lo, hi, k=k: self._on_range_changed(k, lo, hi))
        if all(has_steps):
            self.message.setText("Aligned at step boundaries: both show the same offset into the same step of each "
                                 "trace window. Pan or zoom either side.")
        else:
            self.message.setText("At least one trace has no step markers: the two timelines are aligned at their "
                                 "first events instead of at step boundaries.")
        self.message.setVisible(True)
        self._initial_view()

    def _initial_view(self) -> None:
        """Start both at their first step, at the same time scale, as wide as the shorter trace
        allows from there (a wider range would be clamped on one side and lose the alignment)."""
        first = self.timelines[0]
        starts = [t.step_starts_ns() for t in self.timelines]
        if not all(len(s) for s in starts):
            self._on_range_changed(0, *first.view_range())
            return
        width = min(t.view_range()[1] - float(s[0]) for t, s in zip(self.timelines, starts, strict=True))
        if width <= 0:
            return
        lo = float(starts[0][0]) - 0.02 * width
        first.set_view_range(lo, lo + width)
        self._on_range_changed(0, *first.view_range())  # in case the range did not change (no signal)

    def highlight(self, name: str | None) -> None:
        """Highlight an op (by name) on both sides, e.g. the one picked in the op-diff table."""
        for timeline in self.timelines:
            timeline.highlight(name)

    def mapped_range(self, source: int, lo: float, hi: float) -> tuple[float, float]:
        """Where the other timeline should look when timeline `source` shows [lo, hi] (ns)."""
        other = 1 - source
        return align_range(lo, hi, self.timelines[source].step_starts_ns(), self.timelines[other].step_starts_ns())

    def _on_range_changed(self, source: int, lo: float, hi: float) -> None:
        if self._syncing or len(self.timelines) != 2:
            return
        target = self.timelines[1 - source]
        want = self.mapped_range(source, lo, hi)
        have = target.view_range()
        if abs(have[0] - want[0]) + abs(have[1] - want[1]) <= 1e-6 * max(hi - lo, 1.0):
            return  # already there: a deferred echo of our own change must not bounce back
        self._syncing = True
        try:
            target.set_view_range(*want)
        finally:
            self._syncing = False
