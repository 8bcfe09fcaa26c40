"""The main window: run tabs (a built-in workload, or your program) | live plots over the runs list.

It wires models to views and the run queue to both: the queue's callbacks (its own thread) come
in as queued Qt signals, per-step events go straight into the LiveModel's inbox (drained by the
plots' timer), and every failure (and a program's notice) goes to the one NotificationManager.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QEvent, QSettings, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QPalette, QShowEvent
from PySide6.QtWidgets import QMainWindow

from gui.analysis_windows import AnalysisWindows, update_inspect_action
from gui.live import attach_dialog, import_dialog, machines_dialog, run_names, run_outcome, session_checks, stored_ranks
from gui.live.framework_probe import FrameworkProbe
from gui.live.live_model import LiveModel
from gui.live.live_view import FIRST_RUN_HINT, LiveViewPanel
from gui.live.main_actions import MainSlots, build_main_actions, icon
from gui.live.main_layout import arrange
from gui.live.program_panel import ProgramPanel
from gui.live.queue_status import QueueStatus
from gui.live.recent_sessions import RecentSessions
from gui.live.run_panel import RunPanel
from gui.live.run_panel_model import FRAMEWORK_NAMES, FrameworkState, RunPanelModel
from gui.live.run_queue import QueueCallbacks, RunQueue
from gui.live.run_tabs import RunTabs
from gui.live.runs_list import RunsListPanel
from gui.live.runs_model import RunsModel
from gui.live.session_files import ask_open, ask_save_as, dropped
from gui.notification_view import NotificationBanner
from gui.notifications import NotificationManager
from profilers.framework_check import FrameworkReport
from profilers.runner import RunResult
from sessions.schema import SessionError
from sessions.store import SUFFIX, default_session_path
from workloads.spec import FRAMEWORKS, SpecError


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
            queue_finished=self.queueFinished.emit, error=self._on_queue_error,
            notice=lambda run_id, message: self.notifications.notify(message, "info")))
        self._current_run: str | None = None
        self._probing = set(probe_frameworks)  # frameworks whose check has not answered yet
        self._waiting = False  # Start was pressed while a chosen framework was still being checked
        self._build_views()
        self._build_actions()
        self.setAcceptDrops(True)
        self.setWindowIcon(icon("stepscope"))
        self.resize(1440, 900)
        self.run_panel.restore_settings(self.settings)
        self.runStarted.connect(self._on_run_started)
        self.runFinished.connect(self._on_run_finished)
        self.queueFinished.connect(self._on_queue_finished)
        self.frameworkReported.connect(self._on_framework_reported)
        self._open_at_startup(self.session_path)
        self._probe = FrameworkProbe(probe_frameworks, self.frameworkReported.emit) if probe_frameworks else None
        self._status_timer = QTimer(self)
        self._status_timer.timeout.connect(self._on_status_tick)
        self._status_timer.start(500)
        self._apply_palette()

    # -- construction ---------------------------------------------------------------------
    def _build_views(self) -> None:
        self.machines = machines_dialog.load_machines(self.settings)  # where Start's runs may go (Run on)
        self.run_panel = RunPanel(self.panel_model, self.machines)
        self.run_panel.startRequested.connect(self.start_runs)
        self.run_panel.stopRequested.connect(self.stop_runs)
        self.program_panel = ProgramPanel(self.settings)
        self.program_panel.startRequested.connect(self.start_program)
        self.program_panel.stopRequested.connect(self.stop_runs)
        self.run_tabs = RunTabs(self.run_panel, self.program_panel)
        self.live_view = LiveViewPanel(self.live_model, capture=self.queue)
        self.runs_list = RunsListPanel(self.runs_model)
        self.runs_list.selectionChanged.connect(self._on_runs_selected)
        self.runs_list.inspectRequested.connect(self.inspect_trace)
        self.runs_list.compareRequested.connect(self.compare_runs)
        self.analysis = AnalysisWindows(self.notifications)
        self.runs_list.inspectWindowRequested.connect(lambda run, k: self.analysis.inspect(self.session_path, [run], k))
        self.banner = NotificationBanner(self.notifications)
        arrange(self, self.banner, self.run_tabs, self.live_view, self.runs_list)
        self.queue_status = QueueStatus(self.statusBar())
        self.status_label, self.time_label, self.progress = (
            self.queue_status.label, self.queue_status.time_label, self.queue_status.progress)

    def _build_actions(self) -> None:
        actions = build_main_actions(self, MainSlots(
            start=lambda: self.start_program() if self.run_tabs.program_shown else self.start_runs(), stop=self.stop_runs,
            open=self._on_open_triggered, save_as=self._on_save_as_triggered, import_trace=import_dialog.importer(self),
            quit=self.close, inspect=lambda: self.inspect_trace(None), compare=lambda: self.compare_runs(None),
            scorecard=lambda: self.analysis.scorecard(self.session_path), attach=attach_dialog.attacher(self),
            machines=machines_dialog.opener(self, self)))
        self.run_panel.machinesRequested.connect(actions.machines.trigger)
        self.start_action, self.stop_action, self.open_action = actions.start, actions.stop, actions.open
        self.save_as_action, self.inspect_action, self.compare_action = actions.save_as, actions.inspect, actions.compare
        def sync_inspect(*_: object) -> None:  # Inspect only for one run with a trace; also after refresh() reselects
            rows = map(self.runs_model.row, self.runs_list.selected_ids())
            update_inspect_action(self.inspect_action, [r.figures if r else None for r in rows])
        self.runs_list.tree.selectionModel().selectionChanged.connect(sync_inspect)
        sync_inspect()
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
    def _save_settings(self) -> None:
        self.run_panel.save_settings(self.settings)

    def recent_sessions(self) -> list[str]:
        """The session files opened lately, newest first (the File > Open Recent menu)."""
        return self.recent.paths()

    # -- sessions ---------------------------------------------------------------------------
    def _open_at_startup(self, path: Path) -> None:
        """Open `path`, else the default session (saying why), else block Start: never leave Start
        enabled on a file that could not be opened."""
        default = Path(default_session_path())
        problem = self._show_session(path)
        if problem is not None and path != default and self._show_session(default) is None:
            self.notifications.notify(f"Could not open the session: {problem}. Showing the default session instead.",
                                      "error")
        elif problem is not None:
            self.notifications.notify(f"Could not open the session: {problem}", "error")
            for panel in (self.run_panel, self.program_panel):
                panel.set_blocked("No session is open: open or create one with File → Open.")
            self.start_action.setEnabled(False)
            return
        self._check_session(self.session_path)

    def open_session(self, path: Path, remember: bool = True) -> bool:
        """Show the runs of `path` (created on the first run if it does not exist yet). Says at once
        when runs cannot be recorded there, and offers to repair what a crash left."""
        path = Path(path)
        if self.queue.running or self._waiting:
            self.notifications.notify("Stop the running queue before opening another session.", "warning")
            return False
        problem = self._show_session(path)
        if problem is not None:
            self.notifications.notify(f"Could not open the session: {problem}", "error")
            return False
        if remember:
            self.recent.remember(path)
        self._check_session(path)
        return True

    def _show_session(self, path: Path) -> str | None:
        """Make `path` the open session and show its runs; the problem, if it cannot be read."""
        previous = self.runs_model.path
        self.runs_model.path = path
        try:
            self.runs_model.reload()
        except SessionError as exc:
            self.runs_model.path = previous
            return str(exc)
        self.session_path = path
        self.queue.session_path = path
        self.setWindowTitle(f"{path.name} — Stepscope")
        self.setWindowFilePath(str(path))
        self.live_model.clear()
        self.runs_list.refresh(select=[])
        if self.runs_model.rows:  # show the newest run's curves, as they were
            self.runs_list.select([self.runs_model.rows[-1].run_id])
        self.status_label.setText(f"{len(self.runs_model.rows)} run(s) in {path}")
        self.run_panel.set_blocked(None)
        self.program_panel.set_blocked(None)
        self.start_action.setEnabled(True)
        self.live_view.set_hint(FIRST_RUN_HINT if not self.runs_model.rows else
                                "Select runs in the list below to see their curves, or press Start for a new queue.")
        return None

    def _check_session(self, path: Path) -> None:
        session_checks.announce(path, self.notifications, save_as=self._on_save_as_triggered,
                                repair=lambda: self.repair_session(path))

    def repair_session(self, path: Path) -> bool:
        """`sessions --repair` from the app, then the file shown as it now is."""
        if self.queue.running or self._waiting:
            self.notifications.notify("Stop the running queue before repairing the session.", "warning")
            return False
        done = session_checks.repair(path, self.notifications)
        if done and path == self.session_path:
            self._reload_runs()
        return done

    def save_session_as(self, path: Path) -> bool:
        """Copy the session to `path` (a consistent snapshot) and continue in the copy."""
        path = Path(path)
        if path.suffix != SUFFIX:
            path = path.with_name(path.name + SUFFIX)
        if self.queue.running:
            self.notifications.notify("Stop the running queue before saving the session under a new name.", "warning")
            return False
        return session_checks.save_copy(self.session_path, path, self.notifications) and self.open_session(path)

    def _on_open_triggered(self) -> None:
        if (path := ask_open(self, self.session_path.parent)) is not None:
            self.open_session(path)

    def _on_save_as_triggered(self) -> None:
        if (path := ask_save_as(self, self.session_path.parent)) is not None:
            self.save_session_as(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if dropped(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        if files := dropped(event.mimeData()):
            self.open_session(files[0])
            event.acceptProposedAction()

    # -- running ----------------------------------------------------------------------------
    def start_runs(self) -> None:
        """Queue the chosen runs; while a chosen framework is still being checked, wait for it."""
        if self.queue.running or self.run_panel.blocked is not None:
            return
        if session_checks.refuse_read_only(self.session_path, self.notifications, self._on_save_as_triggered):
            return
        pending = [fw for fw in self.panel_model.pending_frameworks() if fw in self._probing]
        if pending:
            self._waiting = True
            self._set_running(True)
            names = ", ".join(FRAMEWORK_NAMES[fw] for fw in pending)
            self.status_label.setText(f"Waiting for the check of {names}; the queue starts when it answers…")
            self.live_view.set_hint(f"Checking which frameworks import ({names}); the runs start as soon as it answers.")
            return
        self._waiting = False
        try:
            specs = self.panel_model.specs()
        except SpecError as exc:
            self.notifications.notify(f"Cannot start: {exc}", "error")
            return
        if not specs:
            self._set_running(False)
            self.notifications.notify("Choose at least one framework that imports.", "warning")
            return
        self._start_queue(specs, self.panel_model.run_on)

    def start_program(self) -> None:
        """Run the program of the "Your program" form, or say under the form what to fix first."""
        if self.queue.running or self.run_panel.blocked is not None or \
                session_checks.refuse_read_only(self.session_path, self.notifications, self._on_save_as_triggered):
            return
        spec = self.program_panel.take_spec()
        if spec is not None:
            self._start_queue([spec])

    def _start_queue(self, specs: Sequence[run_names.AnySpec], on: str = "local") -> None:
        self._save_settings()
        self.live_model.clear()
        self.runs_list.select([])
        self.queue_status.begin(len(specs))
        self.queue.on = on  # a program (ProgramSpec) always runs here, whatever `on` says
        self.queue.start(specs)
        self._set_running(True)

    def stop_runs(self) -> None:
        if self._waiting:
            self._waiting = False
            self._set_running(False)
            self.status_label.setText("Start cancelled while the frameworks were being checked")
        if self.queue.running:
            self.status_label.setText("Stopping…")
            self.queue.cancel()

    @property
    def busy(self) -> bool:
        """True from Start until the queue's end has reached the GUI thread (its runs are listed)."""
        return self.run_panel.running

    def _set_running(self, running: bool) -> None:
        self.run_panel.set_running(running)
        self.program_panel.set_running(running)
        self.start_action.setEnabled(not running)
        self.stop_action.setEnabled(running)
        self.open_action.setEnabled(not running)
        self.save_as_action.setEnabled(not running)
        self.queue_status.set_running(running)

    def _on_run_started(self, run_id: str, spec: run_names.AnySpec, index: int, total: int) -> None:
        self._current_run = run_id
        self.queue_status.position = (index, total)
        self.live_model.announce(run_id, *run_names.live_run(spec, self.live_model.runs.values()))
        self._reload_runs()

    def _on_run_finished(self, run_id: str, result: RunResult, problem: str | None) -> None:
        self.live_view.catch_up()
        self._reload_runs()
        self.queue_status.run_finished(run_names.display_name(result.spec), result.status, result.reason)
        run_outcome.announce(self.notifications, result, problem)

    def _on_queue_error(self, message: str, detail: str) -> None:
        self.notifications.notify(message, "error", detail)  # thread-safe: the banner hops to the GUI thread

    def _on_queue_finished(self, cancelled: bool) -> None:
        self._current_run = None
        self._set_running(False)
        self.queue_status.finished(cancelled)
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
                steps, samples, phases = self.runs_model.curves(run_id)
                row = self.runs_model.row(run_id)
                fw, label, kind = run_names.stored_run(run_id, row)
                self.live_model.add_stored(run_id, fw, label, steps, samples, phases, kind, run_names.stored_program(row))
                stored_ranks.show_ranks(self.live_model, self.runs_model, run_id, run_names.stored_program(row))
        except SessionError as exc:
            self.notifications.notify(f"Could not read the run's curves: {exc}", "error")

    def _on_status_tick(self) -> None:
        newest = next(reversed(self.live_model.runs.values()), None)  # what the program tab says of its last run
        if newest is not None and run_names.is_program_run(newest):
            self.program_panel.show_status(*run_names.live_status(newest, with_label=True))
        if not self.queue.running:
            return
        run = self.live_model.runs.get(self._current_run or "")
        self.queue_status.tick(run)
        if run is not None and not self.runs_list.update_live(run.run_id, run.steps_done, run.expected_steps,
                                                              run.median_step_ms(), run.framework):
            self._reload_runs()  # its row is not listed yet

    def _on_framework_reported(self, report: FrameworkReport) -> None:
        self._probing.discard(report.framework)
        self.panel_model.set_framework_state(report.framework, FrameworkState(
            report.imports, report.version, report.error, list(report.devices)))
        if self._waiting and not any(fw in self._probing for fw in self.panel_model.pending_frameworks()):
            self._set_running(False)
            self.start_runs()  # the check Start waited for has answered

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
