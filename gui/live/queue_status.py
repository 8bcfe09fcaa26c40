"""The main window's status bar while a queue runs: which run, which step, elapsed and time left,
and how the queue ended.

Kept apart from the window so its bookkeeping (position in the queue, how each run ended) is in
one place: the time left is cleared when the queue ends or stops, and a failed run says
`failed` there rather than leaving a stale estimate (issue 15).
"""
from __future__ import annotations

import time

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from gui.live.live_model import RunSeries
from gui.live.run_names import is_program_run, live_status


class QueueStatus:
    """Status text, elapsed / time-left text and a progress bar for one queue at a time."""

    def __init__(self, bar: QStatusBar) -> None:
        self.label = QLabel("Ready")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.time_label = QLabel()
        bar.addWidget(self.label, 1)
        bar.addPermanentWidget(self.time_label)
        bar.addPermanentWidget(self.progress)
        self.started = 0.0
        self.position = (0, 0)  # (index of the running run, runs in the queue)
        self.statuses: list[str] = []  # how each run of the queue ended

    def begin(self, total: int) -> None:
        self.started = time.monotonic()
        self.position = (0, total)
        self.statuses = []
        self.label.setText(f"Starting {total} run(s)…")

    def set_running(self, running: bool) -> None:
        self.progress.setVisible(running)
        if running:
            self.progress.setValue(0)

    def tick(self, run: RunSeries | None) -> None:
        """Progress of the queue, counting the running run's steps; called twice a second."""
        index, total = self.position
        fraction = min(1.0, run.steps_done / run.expected_steps) if run and run.expected_steps else 0.0
        overall = (index + fraction) / max(total, 1)
        open_ended = run is not None and not run.expected_steps and total == 1  # a program: steps not known ahead
        self.progress.setMaximum(0 if open_ended else 1000)  # 0: a busy bar, no fraction to show
        self.progress.setValue(int(overall * 1000))
        elapsed = time.monotonic() - self.started
        eta = f", about {elapsed / overall - elapsed:.0f} s left" if overall > 0.02 else ""
        self.time_label.setText(f"elapsed {elapsed:.0f} s{eta}")
        if run is not None:
            steps = f"{run.steps_done}/{run.expected_steps}" if run.expected_steps else str(run.steps_done)
            known, tip = live_status(run) if is_program_run(run) else ("", "")
            self.label.setText(f"Run {index + 1}/{total}: {run.label}" + (f" · {known}" if known else "") + f", step {steps}")
            self.label.setToolTip(tip)

    def run_finished(self, name: str, status: str, reason: str | None) -> None:
        self.statuses.append(status)
        index, total = self.position
        why = f": {reason}" if reason and status != "ok" else ""
        self.label.setText(f"Run {index + 1}/{total} ({name}) {status}{why}")

    def finished(self, cancelled: bool) -> None:
        """The queue's outcome, e.g. "Finished after 12.3 s: 2 ok, 1 failed"; no time left any more."""
        elapsed = time.monotonic() - self.started
        counts = {status: self.statuses.count(status) for status in dict.fromkeys(self.statuses)}
        outcome = ", ".join(f"{n} {status}" for status, n in counts.items())
        self.label.setText(f"{'Stopped' if cancelled else 'Finished'} after {elapsed:.1f} s"
                           + (f": {outcome}" if outcome else ""))
        self.time_label.clear()
        self.label.setToolTip("")
        self.progress.setMaximum(max(self.progress.maximum(), 1))
        self.progress.setValue(self.progress.maximum() if not cancelled else self.progress.value())
        self.progress.hide()
