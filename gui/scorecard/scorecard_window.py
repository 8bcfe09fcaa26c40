"""The Scorecard window (Analyse → Scorecard…): runs a scorecard sweep on the open session with
live progress, and fills its tabs — metrics, scaling, time to accuracy, latency, compatibility,
claims — from the session as points finish.

A sweep stopped here (Stop, closing the window) or by a crash resumes when Run is pressed again
with the same preset and frameworks: the plan is the same, so the runner finds the sweep and
runs only its unfinished points. Nothing here waits on a worker or on the file: the sweep and
the rebuilds run on threads of their own (scorecard_threads.py).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from platformdirs import user_data_dir
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.scorecard import scorecard_model as model
from gui.scorecard.scorecard_plots import AccuracyPlot, LatencyPlot, ScalingPlots
from gui.scorecard.scorecard_tables import fill_table, scorecard_table
from gui.scorecard.scorecard_threads import ScorecardLoader, SweepThread
from gui.window_chrome import close_action, fit_to_screen
from sessions.scorecard_model import Scorecard
from sessions.scorecard_presets import PRESETS, installed_frameworks, narrowed
from sessions.sweep_plan import SweepPlan
from sessions.sweep_runner import SweepStatus
from workloads.spec import FRAMEWORKS, SpecError

TABS = ("Metrics", "Scaling", "Time to accuracy", "Latency", "Compatibility", "Claims")
EXPORT_HINT = "Right-click a table or a plot to export it (CSV, PNG, SVG)."


SHOWN_PRESETS = ("scorecard-quick", "scorecard-full")  # scorecard-smoke is the end-to-end test's, its figures mean little


def default_presets() -> dict[str, SweepPlan]:
    """The scorecard presets, by the name the chooser shows."""
    return {name: PRESETS[name] for name in SHOWN_PRESETS}


def default_runs_dir() -> Path:
    """Where the sweep's workers write their artifacts: where `sweep` on the command line does."""
    return Path(user_data_dir("stepscope", appauthor=False)) / "runs"


class ScorecardWindow(QMainWindow):
    """See the module docstring. `presets` maps a name to its plan (default: the scorecard
    presets); the chosen frameworks narrow it."""

    def __init__(self, session_path: Path, presets: Mapping[str, SweepPlan] | None = None,
                 runs_dir: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session_path = Path(session_path)
        self.presets = dict(presets if presets is not None else default_presets())
        self.setWindowTitle(f"Stepscope — scorecard — {self.session_path.name}")
        fit_to_screen(self, 1400, 900)
        close_action(self)
        self.sweep = SweepThread(self.session_path, runs_dir or default_runs_dir(), self)
        self.sweep.statusChanged.connect(self._on_status_changed)
        self.sweep.sweepFinished.connect(self._on_sweep_finished)
        self.sweep.sweepFailed.connect(self._on_sweep_failed)
        self.loader = ScorecardLoader(self)
        for builds in (self.sweep, self.loader):
            builds.loaded.connect(lambda card, b=builds: self._on_scorecard_loaded(card, b.last_build_s))
            builds.loadFailed.connect(self._on_load_failed)
        self.scorecard: Scorecard | None = None
        self.status: SweepStatus | None = None
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addLayout(self._build_controls())
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background: #ffebe9; color: #a40e26; padding: 6px; border-radius: 3px;")
        self.banner.setVisible(False)
        layout.addWidget(self.banner)
        self.header = QLabel("Reading the session…")
        self.header.setWordWrap(True)
        layout.addWidget(self.header)
        layout.addWidget(self._build_tabs(), 1)
        self.setCentralWidget(central)
        self.statusBar().showMessage(EXPORT_HINT)
        self._update_resume_note()
        self.loader.request(self.session_path, None)

    # -- building ----------------------------------------------------------------------
    def _build_controls(self) -> QVBoxLayout:
        rows = QVBoxLayout()
        line = QHBoxLayout()
        line.addWidget(QLabel("Preset:"))
        self.preset_combo = QComboBox()
        self.preset_combo.addItems(list(self.presets))
        self.preset_combo.currentIndexChanged.connect(self._update_resume_note)
        line.addWidget(self.preset_combo)
        line.addSpacing(12)
        line.addWidget(QLabel("Frameworks:"))
        frameworks = model.ordered_frameworks(
            fw for plan in self.presets.values() for grid in plan.grids
            for fw in grid.axes.get("framework", [grid.base.get("framework")]) if fw) or list(FRAMEWORKS)
        self.framework_checks: dict[str, QCheckBox] = {}
        installed = installed_frameworks()
        for fw in frameworks:
            check = QCheckBox(fw)
            check.setChecked(fw in installed)
            check.setToolTip("" if fw in installed else f"{fw} is not installed in this environment: its points would fail")
            check.toggled.connect(self._update_resume_note)
            line.addWidget(check)
            self.framework_checks[fw] = check
        line.addSpacing(12)
        self.run_button = QPushButton("Run")
        self.run_button.clicked.connect(self.start_sweep)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip("Stop the running point and start no other; Run resumes the sweep")
        self.stop_button.clicked.connect(self.stop_sweep)
        line.addWidget(self.run_button)
        line.addWidget(self.stop_button)
        line.addStretch(1)
        rows.addLayout(line)
        self.progress_row = QWidget()  # shown once a sweep runs
        progress = QHBoxLayout(self.progress_row)
        progress.setContentsMargins(0, 0, 0, 0)
        self.progress = QProgressBar()
        self.progress.setFormat("%v of %m points")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setMaximumWidth(320)
        progress.addWidget(self.progress)
        self.progress_label = QLabel()
        progress.addWidget(self.progress_label, 1)
        self.progress_row.setVisible(False)
        rows.addWidget(self.progress_row)
        return rows

    def _build_tabs(self) -> QTabWidget:
        self.tabs = QTabWidget()
        self.metrics_table = scorecard_table("scorecard-metrics", stretch_columns=(1,))
        self.scaling = ScalingPlots()
        self.accuracy = AccuracyPlot()
        self.latency = LatencyPlot()
        self.compat_table = scorecard_table("scorecard-compatibility")
        self.compat_summary = QLabel()
        compat = QWidget()
        compat_layout = QVBoxLayout(compat)
        compat_layout.setContentsMargins(0, 4, 0, 0)
        compat_layout.addWidget(self.compat_summary)
        compat_layout.addWidget(self.compat_table, 1)
        self.claims_table = scorecard_table("scorecard-claims", wrap_columns=(0, 1, 4))
        for widget, title in zip((self.metrics_table, self.scaling, self.accuracy, self.latency, compat,
                                  self.claims_table), TABS, strict=True):
            self.tabs.addTab(widget, title)
        return self.tabs

    # -- the sweep ---------------------------------------------------------------------
    def chosen_frameworks(self) -> list[str]:
        return [fw for fw, check in self.framework_checks.items() if check.isChecked()]

    def chosen_plan(self) -> SweepPlan:
        """The chosen preset narrowed to the ticked frameworks; SpecError when none fits."""
        return narrowed(self.presets[self.preset_combo.currentText()], self.chosen_frameworks())

    @property
    def running(self) -> bool:
        return self.sweep.running

    def start_sweep(self) -> bool:
        """Start (or resume) the chosen sweep; False, with the reason shown, when it cannot."""
        if self.sweep.running:
            return False
        try:
            plan = self.chosen_plan()
            total = len(plan.points())
        except SpecError as exc:
            self._show_problem(f"Cannot run this sweep: {exc}")
            return False
        self._show_problem(None)
        self.status = None
        self.progress_row.setVisible(True)
        self.progress.setRange(0, total)
        self.progress.setValue(0)
        self.progress_label.setText("starting the first worker…")
        self.sweep.start(plan)
        self._set_running(True)
        return True

    def stop_sweep(self) -> None:
        if self.sweep.running:
            probing = self.status.probing if self.status is not None else None
            self.progress_label.setText(f"stopping once the {probing} probe ends…" if probing else "stopping the running point…")
            self.sweep.cancel()

    def _set_running(self, running: bool) -> None:
        self.run_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        self.preset_combo.setEnabled(not running)
        for check in self.framework_checks.values():
            check.setEnabled(not running)

    def _on_status_changed(self, status: SweepStatus) -> None:
        """Progress only: the sweep's thread rebuilds the scorecard itself, between points."""
        self.status = status
        self.progress_row.setVisible(True)
        self.progress.setRange(0, max(status.total, 1))
        self.progress.setValue(status.finished)
        self.progress_label.setText(model.progress_text(status))

    def _on_sweep_finished(self, status: SweepStatus) -> None:
        self._on_status_changed(status)
        self._set_running(False)
        self._update_resume_note()

    def _on_sweep_failed(self, message: str) -> None:
        self._set_running(False)
        self.progress_label.setText("")
        self._show_problem(f"The sweep could not run: {message}")

    def _update_resume_note(self) -> None:
        if self.sweep.running:
            return
        try:
            found = model.unfinished_sweep(self.session_path, self.chosen_plan())
        except SpecError as exc:
            self.run_button.setText("Run")
            self.run_button.setToolTip(str(exc))
            return
        if found is None:
            self.run_button.setText("Run")
            self.run_button.setToolTip("Run the chosen preset on the ticked frameworks into this session")
        else:
            self.run_button.setText("Resume")
            self.run_button.setToolTip(f"This sweep stopped with {found[0]} of {found[1]} points finished: "
                                       "run the rest (finished points are kept)")

    def _show_problem(self, message: str | None) -> None:
        self.banner.setText(message or "")
        self.banner.setVisible(bool(message))

    # -- the scorecard -----------------------------------------------------------------
    def _on_scorecard_loaded(self, card: Scorecard, built: float | None) -> None:
        if self.sweep.running and self.status is not None and card.sweep_id != self.status.sweep_id:
            return  # the session's newest sweep, read as the window opened, arriving after the new sweep's
        self.show_scorecard(card)
        if built is not None:
            self.statusBar().showMessage(f"{EXPORT_HINT}  Scorecard read from the session in {1000 * built:.0f} ms.")

    def _on_load_failed(self, message: str) -> None:
        if self.scorecard is None:
            self.header.setText(f"No scorecard yet: {message}. Choose a preset and press Run.")
        else:
            self._show_problem(f"The scorecard could not be refreshed: {message}")

    def show_scorecard(self, card: Scorecard) -> None:
        """Fill every tab from `card`."""
        self.scorecard = card
        self.header.setText(model.header_text(card))
        self.header.setToolTip(model.failures_tip(card))
        fill_table(self.metrics_table, model.metrics_table(card))
        fill_table(self.compat_table, model.compatibility_table(card))
        self.compat_summary.setText(model.compatibility_summary(card))
        fill_table(self.claims_table, model.claims_table(card))
        self.scaling.redraw(card)
        self.accuracy.redraw(card)
        self.latency.redraw(card)

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing stops the sweep (it stays resumable) and waits for its worker to end."""
        if self.sweep.running:
            self.sweep.cancel()
            self.sweep.join(timeout=10.0)
        self.loader.join(timeout=5.0)
        super().closeEvent(event)

