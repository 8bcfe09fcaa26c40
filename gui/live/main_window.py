"""The main window: run panel | live plots over the runs list, one session file open at a time.

It wires models to views and the run queue to both: the queue's callbacks (its own thread) come
in as queued Qt signals, per-step events go straight into the LiveModel's inbox (drained by the
plots' timer), and every failure goes to the one NotificationManager.
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QEvent, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QPalette, QShowEvent
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QProgressBar, QScrollArea, QSplitter, QVBoxLayout, QWidget

from gui.analysis_windows import AnalysisWindows
from gui.live.framework_probe import FrameworkProbe
from gui.live.live_model import LiveModel
from gui.live.live_view import LiveViewPanel
from gui.live.main_actions import MainSlots, build_main_actions, icon
from gui.live.recent_sessions import RecentSessions
from gui.live.run_panel import RunPanel
from gui.live.run_panel_model import FRAMEWORK_NAMES, FrameworkState, RunPanelModel
from gui.live.run_queue import QueueCallbacks, RunQueue
from gui.live.runs_list import RunsListPanel
from gui.live.runs_model import RunsModel
from gui.notification_view import NotificationBanner
from gui.notifications import NotificationManager
from profilers.framework_check import FrameworkReport
from profilers.runner import RunResult
from sessions.schema import SessionError
from sessions.store import SUFFIX, Session, default_session_path
from workloads.spec import FRAMEWORKS, RunSpec, SpecError


class MainWindow(QMainWindow):
    """The live window: set up runs, watch them stream, browse the runs of the open session."""

    runStarted = Signal(str, object, int, int)  # run_id, spec, index, total
    runFinished = Signal(str, object, object)  # run_id, RunResult, recorder problem
    queueFinished = Signal(bool)  # cancelled
    frameworkReported = Signal(object)  # FrameworkReport

    def __init__(self, session_path: Path | None = None, settings: QSettings | None = None,
                 notifications: NotificationManager | None = None,
                 probe_frameworks: Sequence[str] = FRAMEWORKS) -> None:
        super().__init__()
        self.settings = settings or QSettings("Stepscope", "Stepscope")
        self.notifications = notifications or NotificationManager()
        self.session_path = Path(session_path or default_session_path())
        self.live_model = LiveModel()
        self.panel_model = RunPanelModel()
        self.runs_model = RunsModel()
        self.queue = RunQueue(self.session_path, QueueCallbacks(
            run_started=self.runStarted.emit, event=self.live_model.post, run_finished=self.runFinished.emit,
            queue_finished=self.queueFinished.emit, error=self._on_queue_error))
        self._queue_started = 0.0
        self._queue_pos = (0, 0)  # (index of the running run, runs in the queue)
        self._current_run: str | None = None
        self._build_views()
        self._build_actions()
        self.setAcceptDrops(True)
        self.setWindowIcon(icon("stepscope"))
        self.resize(1440, 900)
        self._restore_settings()
        self.runStarted.connect(self._on_run_started)
        self.runFinished.connect(self._on_run_finished)
        self.queueFinished.connect(self._on_queue_finished)
        self.frameworkReported.connect(self._on_framework_reported)
        self.open_session(self.session_path, remember=False)
        self._probe = FrameworkProbe(probe_frameworks, self.frameworkReported.emit) if probe_frameworks else None
        self._status_timer = QTimer(self)
        self._status_timer.timeout.connect(self._on_status_tick)
        self._status_timer.start(500)
        self._apply_palette()

    # -- construction ---------------------------------------------------------------------
    def _build_views(self) -> None:
        self.run_panel = RunPanel(self.panel_model)
        self.run_panel.startRequested.connect(self.start_runs)
        self.run_panel.stopRequested.connect(self.stop_runs)
        self.live_view = LiveViewPanel(self.live_model)
        self.runs_list = RunsListPanel(self.runs_model)
        self.runs_list.selectionChanged.connect(self._on_runs_selected)
        self.runs_list.inspectRequested.connect(self.inspect_trace)
        self.runs_list.compareRequested.connect(self.compare_runs)
        self.analysis = AnalysisWindows(self.notifications)
        self.banner = NotificationBanner(self.notifications)
        scroll = QScrollArea()
        scroll.setWidget(self.run_panel)
        scroll.setWidgetResizable(True)
        scroll.setMinimumWidth(300)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.live_view)
        right.addWidget(self.runs_list)
        right.setStretchFactor(0, 3)
        right.setStretchFactor(1, 1)
        right.setSizes([620, 220])
        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(scroll)
        main.addWidget(right)
        main.setStretchFactor(1, 1)
        main.setSizes([320, 1120])
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.banner)
        layout.addWidget(main, 1)
        self.setCentralWidget(central)
        self.status_label = QLabel("Ready")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(240)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.time_label = QLabel()
        self.statusBar().addWidget(self.status_label, 1)
        self.statusBar().addPermanentWidget(self.time_label)
        self.statusBar().addPermanentWidget(self.progress)

    def _build_actions(self) -> None:
        actions = build_main_actions(self, MainSlots(
            start=self.start_runs, stop=self.stop_runs, open=self._on_open_triggered, save_as=self._on_save_as_triggered,
            quit=self.close, inspect=lambda: self.inspect_trace(None), compare=lambda: self.compare_runs(None)))
        self.start_action, self.stop_action = actions.start, actions.stop
        self.open_action, self.save_as_action = actions.open, actions.save_as
        self.inspect_action, self.compare_action = actions.inspect, actions.compare
        self.recent = RecentSessions(self.settings, actions.recent_menu, self.open_session)

    # -- analysis windows -------------------------------------------------------------------
    def inspect_trace(self, run_id: str | None = None) -> QMainWindow | None:
        """The trace inspector on `run_id` (default: the selected run)."""
        return self.analysis.inspect(self.session_path, [run_id] if run_id else self.runs_list.selected_ids())

    def compare_runs(self, run_ids: list[str] | None = None) -> QMainWindow | None:
        """The comparison view on `run_ids` (default: the selection, or every run of the
        session when fewer than two are selected)."""
        ids = list(run_ids) if run_ids is not None else self.runs_list.selected_ids()
        return self.analysis.compare(self.session_path, ids if len(ids) >= 2 else [r.run_id for r in self.runs_model.rows])

    # -- settings ---------------------------------------------------------------------------
    def _restore_settings(self) -> None:
        raw = self.settings.value("run_panel", "")
        if raw:
            try:
                self.panel_model.load_dict(json.loads(str(raw)))
            except (ValueError, TypeError):
                pass  # unreadable settings: keep the defaults

    def _save_settings(self) -> None:
        self.settings.setValue("run_panel", json.dumps(self.panel_model.to_dict()))
        self.settings.sync()

    def recent_sessions(self) -> list[str]:
        """The session files opened lately, newest first (the File > Open Recent menu)."""
        return self.recent.paths()

    # -- sessions ---------------------------------------------------------------------------
    def open_session(self, path: Path, remember: bool = True) -> bool:
        """Show the runs of `path` (created on the first run if it does not exist yet)."""
        path = Path(path)
        if self.queue.running:
            self.notifications.notify("Stop the running queue before opening another session.", "warning")
            return False
        previous = self.runs_model.path
        self.runs_model.path = path
        try:
            self.runs_model.reload()
        except SessionError as exc:
            self.runs_model.path = previous
            self.notifications.notify(f"Could not open the session: {exc}", "error")
            return False
        self.session_path = path
        self.queue.session_path = path
        self.setWindowTitle(f"{path.name} — Stepscope")
        self.setWindowFilePath(str(path))
        self.live_model.clear()
        self.runs_list.refresh(select=[])
        if self.runs_model.rows:  # show the newest run's curves, as they were
            self.runs_list.select([self.runs_model.rows[-1].run_id])
        if remember:
            self.recent.remember(path)
        self.status_label.setText(f"{len(self.runs_model.rows)} run(s) in {path}")
        return True

    def save_session_as(self, path: Path) -> bool:
        """Copy the session to `path` (a consistent snapshot) and continue in the copy."""
        path = Path(path)
        if path.suffix != SUFFIX:
            path = path.with_name(path.name + SUFFIX)
        if self.queue.running:
            self.notifications.notify("Stop the running queue before saving the session under a new name.", "warning")
            return False
        try:
            if self.session_path.exists():
                with Session.open_readonly(self.session_path) as session:
                    session.copy_to(path)
            else:
                Session.create_or_open(path).close()
        except SessionError as exc:
            self.notifications.notify(f"Could not save the session: {exc}", "error")
            return False
        self.notifications.notify(f"Saved as {path}", "info")
        return self.open_session(path)

    def _on_open_triggered(self) -> None:
        name, _ = QFileDialog.getOpenFileName(self, "Open session", str(self.session_path.parent),
                                              f"Stepscope sessions (*{SUFFIX});;All files (*)")
        if name:
            self.open_session(Path(name))

    def _on_save_as_triggered(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Save session as", str(self.session_path.parent),
                                              f"Stepscope sessions (*{SUFFIX})")
        if name:
            self.save_session_as(Path(name))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.toLocalFile().endswith(SUFFIX) for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.toLocalFile().endswith(SUFFIX)]
        if files:
            self.open_session(Path(files[0]))
            event.acceptProposedAction()

    # -- running ----------------------------------------------------------------------------
    def start_runs(self) -> None:
        if self.queue.running:
            return
        try:
            specs = self.panel_model.specs()
        except SpecError as exc:
            self.notifications.notify(f"Cannot start: {exc}", "error")
            return
        if not specs:
            self.notifications.notify("Choose at least one framework that imports.", "warning")
            return
        self._save_settings()
        self.live_model.clear()
        self.runs_list.select([])
        self._queue_started = time.monotonic()
        self._queue_pos = (0, len(specs))
        self.queue.start(specs)
        self._set_running(True)
        self.status_label.setText(f"Starting {len(specs)} run(s)…")

    def stop_runs(self) -> None:
        if self.queue.running:
            self.status_label.setText("Stopping…")
            self.queue.cancel()

    @property
    def busy(self) -> bool:
        """True from Start until the queue's end has reached the GUI thread (its runs are listed)."""
        return self.run_panel.running

    def _set_running(self, running: bool) -> None:
        self.run_panel.set_running(running)
        self.start_action.setEnabled(not running)
        self.stop_action.setEnabled(running)
        self.open_action.setEnabled(not running)
        self.save_as_action.setEnabled(not running)
        self.progress.setVisible(running)
        if running:
            self.progress.setValue(0)

    def _on_run_started(self, run_id: str, spec: RunSpec, index: int, total: int) -> None:
        self._current_run = run_id
        self._queue_pos = (index, total)
        expected = spec.warmup + spec.steps + spec.trace_steps
        same = sum(1 for r in self.live_model.runs.values() if r.framework == spec.framework)
        label = f"{FRAMEWORK_NAMES[spec.framework]} {spec.variant}" + (f" #{same + 1}" if same else "")
        self.live_model.announce(run_id, spec.framework, label, expected)
        self._reload_runs()

    def _on_run_finished(self, run_id: str, result: RunResult, problem: str | None) -> None:
        self._reload_runs()
        name = FRAMEWORK_NAMES.get(result.spec.framework, result.spec.framework)
        if result.status == "failed":
            self.notifications.notify(f"The {name} run failed: {result.reason}", "error", result.log[-20000:])
        elif result.status == "cancelled":
            self.notifications.notify(f"The {name} run was cancelled; its streamed steps are kept.", "info")
        if problem:
            self.notifications.notify(f"The session file is incomplete: {problem}", "warning")

    def _on_queue_error(self, message: str, detail: str) -> None:
        self.notifications.notify(message, "error", detail)  # thread-safe: the banner hops to the GUI thread

    def _on_queue_finished(self, cancelled: bool) -> None:
        self._current_run = None
        self._set_running(False)
        elapsed = time.monotonic() - self._queue_started
        self.status_label.setText(f"{'Stopped' if cancelled else 'Finished'} after {elapsed:.1f} s")
        self.progress.setValue(self.progress.maximum() if not cancelled else self.progress.value())
        self._reload_runs()

    def _reload_runs(self) -> None:
        try:
            self.runs_model.reload()
        except SessionError as exc:
            self.notifications.notify(f"Could not read the session: {exc}", "error")
            return
        self.runs_list.refresh()

    def _on_runs_selected(self, run_ids: list[str]) -> None:
        if self.queue.running or not run_ids:
            return  # while a queue runs, the plots follow it
        self.live_model.clear()
        try:
            for run_id in run_ids:
                row = self.runs_model.row(run_id)
                steps, samples, phases = self.runs_model.curves(run_id)
                fw = row.figures.get("framework") or "?" if row else "?"
                label = f"{FRAMEWORK_NAMES.get(fw, fw)} {row.figures.get('variant') or ''} · {run_id[9:15]}" if row else run_id
                self.live_model.add_stored(run_id, fw, label, steps, samples, phases)
        except SessionError as exc:
            self.notifications.notify(f"Could not read the run's curves: {exc}", "error")

    def _on_status_tick(self) -> None:
        if not self.queue.running:
            return
        index, total = self._queue_pos
        run = self.live_model.runs.get(self._current_run or "")
        fraction = min(1.0, run.steps_done / run.expected_steps) if run and run.expected_steps else 0.0
        overall = (index + fraction) / max(total, 1)
        self.progress.setMaximum(1000)
        self.progress.setValue(int(overall * 1000))
        elapsed = time.monotonic() - self._queue_started
        eta = f", about {elapsed / overall - elapsed:.0f} s left" if overall > 0.02 else ""
        self.time_label.setText(f"elapsed {elapsed:.0f} s{eta}")
        if run is not None:
            self.status_label.setText(f"Run {index + 1}/{total}: {run.label}, step {run.steps_done}/{run.expected_steps}")

    def _on_framework_reported(self, report: FrameworkReport) -> None:
        self.panel_model.set_framework_state(report.framework, FrameworkState(
            report.imports, report.version, report.error, list(report.devices)))

    # -- look and lifetime -------------------------------------------------------------------
    def _apply_palette(self) -> None:
        palette = self.palette()
        self.live_view.apply_theme(palette.color(QPalette.ColorRole.Base).name(), palette.color(QPalette.ColorRole.Text).name())

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if self._probe is not None:  # after the first show, so start-up never waits for it
            probe, self._probe = self._probe, None
            QTimer.singleShot(0, probe.start)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._save_settings()
        if self.queue.running:
            self.queue.cancel()
            self.queue.join(timeout=10.0)
        self._status_timer.stop()
        super().closeEvent(event)
