"""The comparison window: choose runs (from the open session and other session files) and a
baseline; see a summary table with deltas and verdicts beside the environment differences,
overlaid step-time distributions, loss and memory curves, the op diff of two runs and their
timelines side by side; save the same report `compare --html/--markdown` writes.

The window holds no state of its own beyond widgets: everything is in `CompareModel`, which it
subscribes to and re-reads after each change. Open it with `CompareWindow.open(path, run_ids)`.
"""
from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QUrl
from PySide6.QtGui import QAction, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.compare.compare_model import CompareModel, RunKey
from gui.compare.compare_plots import CompareOverlays
from gui.compare.compare_tables import read_only_table, show_environment, show_op_diff, show_summary
from gui.compare.compare_timelines import SideBySideTimelines
from gui.compare.pair_picker import PairPicker, swatch
from gui.view_export import install_export_menu
from gui.window_chrome import close_action, fit_to_screen
from sessions.schema import SessionError
from traces.op_diff import STATUSES

KEY_ROLE = Qt.ItemDataRole.UserRole + 1


class CompareWindow(QMainWindow):
    """Compares the chosen runs of `model`; see the module docstring."""

    def __init__(self, model: CompareModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setWindowTitle("Stepscope — compare runs")
        fit_to_screen(self, 1400, 900)
        self._dirty = {"ops": True, "timelines": True}
        self._build_chooser()
        self._build_tabs()
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.chooser)
        splitter.addWidget(self._center)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([230, 1170])
        self.chooser.setMinimumWidth(180)
        self.setCentralWidget(splitter)
        self._build_menu()
        self._apply_palette()
        model.subscribe(self._on_model_changed)
        self._on_model_changed()

    @classmethod
    def open(cls, session_path: Path | str, run_ids: Sequence[str] | None = None,
             parent: QWidget | None = None) -> CompareWindow:
        """A window comparing `run_ids` of a session file (default: all its runs), the first
        as baseline. SessionError when the file cannot be read or lacks one of the runs."""
        return cls(CompareModel.for_session(session_path, run_ids), parent)

    # -- building ----------------------------------------------------------------------
    def _build_chooser(self) -> None:
        self.chooser = QWidget()
        layout = QVBoxLayout(self.chooser)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(QLabel("<b>Runs</b> (tick to compare)"))
        self.run_list = QListWidget()
        self.run_list.itemChanged.connect(self._on_item_changed)
        layout.addWidget(self.run_list, 1)
        self.add_button = QPushButton("Add session file…")
        self.add_button.clicked.connect(self.choose_session_file)
        layout.addWidget(self.add_button)
        layout.addWidget(QLabel("Baseline:"))
        self.baseline_combo = QComboBox()
        self.baseline_combo.currentIndexChanged.connect(self._on_baseline_picked)
        layout.addWidget(self.baseline_combo)

    def _build_tabs(self) -> None:
        self._center = QWidget()
        layout = QVBoxLayout(self._center)
        layout.setContentsMargins(0, 0, 0, 0)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background: #ffebe9; color: #a40e26; padding: 6px; border-radius: 3px;")
        self.banner.setVisible(False)
        layout.addWidget(self.banner)
        self.saved = QLabel()  # where the last report went, until the next change
        self.saved.setWordWrap(True)
        self.saved.setOpenExternalLinks(True)
        self.saved.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.saved.setStyleSheet("background: #dafbe1; color: #116329; padding: 6px; border-radius: 3px;")
        self.saved.setVisible(False)
        layout.addWidget(self.saved)
        self.tabs = QTabWidget()
        layout.addWidget(self.tabs, 1)

        # the two tables as tabs, each the full width: a run column per run fits without sideways scrolling
        self.tables = QTabWidget()
        self.tables.setDocumentMode(True)
        self.summary_table = read_only_table()
        self.env_table = read_only_table()
        for table, title in ((self.summary_table, "Against the baseline"), (self.env_table, "Environment differences")):
            self.tables.addTab(table, title)
            install_export_menu(table, table_model=table.model(), name=title.lower().replace(" ", "-"))
        tables = self.tables
        self.overlays = CompareOverlays()
        summary = QSplitter(Qt.Orientation.Vertical)
        summary.addWidget(tables)
        summary.addWidget(self.overlays)
        summary.setSizes([300, 520])
        self.tabs.addTab(summary, "Summary")

        ops = QWidget()
        ops_layout = QVBoxLayout(ops)
        self.op_pair = PairPicker(self.model)
        ops_layout.addWidget(self.op_pair)
        filters = QHBoxLayout()
        self.status_checks: dict[str, QCheckBox] = {}
        for status in STATUSES:
            check = QCheckBox(status)
            check.setChecked(status != "unchanged")
            check.toggled.connect(lambda _on: self._refresh_ops())
            filters.addWidget(check)
            self.status_checks[status] = check
        filters.addStretch(1)
        ops_layout.addLayout(filters)
        self.op_warning = QLabel()  # different frameworks: said before any number
        self.op_warning.setWordWrap(True)
        self.op_warning.setStyleSheet("background: #fff8c5; color: #4d2d00; padding: 6px; border-radius: 3px;")
        self.same_pair_button = QPushButton()
        self.same_pair_button.clicked.connect(self._pick_same_framework_pair)
        warning_row = QHBoxLayout()
        warning_row.addWidget(self.op_warning, 1)
        warning_row.addWidget(self.same_pair_button)
        ops_layout.addLayout(warning_row)
        self.op_message = QLabel()
        self.op_message.setWordWrap(True)
        ops_layout.addWidget(self.op_message)
        self.op_table = read_only_table()
        self.op_table.itemSelectionChanged.connect(self._on_op_selected)
        install_export_menu(self.op_table, table_model=self.op_table.model(), name="op-diff")
        ops_layout.addWidget(self.op_table, 1)
        self.tabs.addTab(ops, "Op diff")

        timelines = QWidget()
        timelines_layout = QVBoxLayout(timelines)
        self.timeline_pair = PairPicker(self.model)
        timelines_layout.addWidget(self.timeline_pair)
        self.timelines = SideBySideTimelines()
        timelines_layout.addWidget(self.timelines, 1)
        self.tabs.addTab(timelines, "Timelines")
        self.tabs.currentChanged.connect(lambda _i: self._refresh_visible_tab())

    def _build_menu(self) -> None:
        menu = self.menuBar().addMenu("&File")
        self.add_action = QAction("Add session file…", self)
        self.add_action.triggered.connect(self.choose_session_file)
        self.report_action = QAction("Save report…", self)
        self.report_action.setShortcut(QKeySequence.StandardKey.Save)
        self.report_action.triggered.connect(self.choose_report_file)
        close = close_action(self)
        for action in (self.add_action, self.report_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(close)

    # -- actions (public, so tests and the main window can drive them) -----------------
    def add_session_file(self, path: Path | str) -> bool:
        """Offer and choose every run of another session file; False (and a message) on failure."""
        added = self.model.add_session_file(path)
        if added:
            self.statusBar().showMessage(f"Added {len(added)} run(s) from {Path(path).name}", 5000)
        return self.model.error is None

    def choose_session_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add session file", "", "Stepscope sessions (*.stepscope);;All files (*)")
        if path:
            self.add_session_file(path)

    def save_report(self, path: Path | str, fmt: str | None = None) -> Path | None:
        """Write the Markdown or HTML report (by suffix); None (and a message) on failure."""
        try:
            written = self.model.save_report(path, fmt)
        except SessionError as exc:
            self.model.set_error(str(exc))
            return None
        written = written.resolve()
        folder = QUrl.fromLocalFile(str(written.parent)).toString()
        self.saved.setText(f"Saved the report to <b>{html.escape(str(written))}</b> "
                           f"(<a href=\"{folder}\">open its folder</a>)")
        self.saved.setVisible(True)
        self.statusBar().showMessage(f"Saved the report to {written}")
        return written

    def choose_report_file(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(self, "Save report", "comparison.html",
                                                   "HTML, self-contained (*.html);;Markdown (*.md)")
        if not path:
            return
        if Path(path).suffix.lower() not in (".html", ".htm", ".md", ".markdown"):
            path += ".md" if "Markdown" in chosen else ".html"
        self.save_report(path)

    def set_baseline(self, key: RunKey) -> None:
        self.model.set_baseline(key)

    def changeEvent(self, event: QEvent) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def _apply_palette(self) -> None:
        palette = self.palette()
        self.overlays.apply_theme(palette.color(QPalette.ColorRole.Base).name(), palette.color(QPalette.ColorRole.Text).name())

    # -- following the model -----------------------------------------------------------
    def _on_model_changed(self) -> None:
        self._refresh_chooser()
        comparison = self.model.comparison()
        chosen = self.model.row_entries()  # one per column: repeats of one spec pooled into one
        if comparison is not None:
            show_summary(self.summary_table, comparison, chosen)
            differs = show_environment(self.env_table, comparison, chosen)
            self.tables.setTabText(1, f"Environment differences ({self.env_table.rowCount()})" if differs
                                   else "Environment: no differences")
        else:
            for table in (self.summary_table, self.env_table):
                table.clear()
                table.setRowCount(0)
                table.setColumnCount(0)
        self.overlays.redraw(self.model)
        problems = [self.model.error] if self.model.error else []
        problems += self.overlays.problems
        self.banner.setText("\n".join(p for p in problems if p))
        self.banner.setVisible(bool(problems))
        self.op_pair.refresh()
        self.timeline_pair.refresh()
        self.saved.setVisible(False)
        self._dirty = {"ops": True, "timelines": True}
        self._refresh_visible_tab()

    def _refresh_chooser(self) -> None:
        self.run_list.blockSignals(True)
        keys = [self.run_list.item(i).data(KEY_ROLE) for i in range(self.run_list.count())]
        if keys == [e.key for e in self.model.entries]:  # only ticks changed: update in place (this may run
            for i, entry in enumerate(self.model.entries):  # inside the itemChanged of one of these items)
                self.run_list.item(i).setCheckState(Qt.CheckState.Checked if entry.checked else Qt.CheckState.Unchecked)
        else:
            self._rebuild_run_list()
        self.run_list.blockSignals(False)
        self.baseline_combo.blockSignals(True)
        self.baseline_combo.clear()
        for entry in self.model.chosen():
            self.baseline_combo.addItem(swatch(entry.color), entry.title, entry.key)
        self.baseline_combo.setCurrentIndex(0 if self.model.chosen() else -1)  # chosen() lists the baseline first
        self.baseline_combo.blockSignals(False)

    def _rebuild_run_list(self) -> None:
        self.run_list.clear()
        for entry in self.model.entries:
            status = entry.figures.get("status")
            text = f"{entry.title}\n{entry.figures.get('workload') or ''} {entry.figures.get('mode') or ''} · {entry.path.name}"
            if status != "ok":
                text += f" · {status}"
            item = QListWidgetItem(swatch(entry.color), text)
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if entry.checked else Qt.CheckState.Unchecked)
            item.setData(KEY_ROLE, entry.key)
            item.setToolTip(f"{entry.path}\nrun {entry.run_id}, {'with a stored trace' if entry.has_trace else 'no trace'}")
            self.run_list.addItem(item)

    def _on_item_changed(self, item: QListWidgetItem) -> None:
        self.model.set_checked(item.data(KEY_ROLE), item.checkState() == Qt.CheckState.Checked)

    def _on_baseline_picked(self, index: int) -> None:
        key = self.baseline_combo.itemData(index)
        if key is not None:
            self.model.set_baseline(key)

    def _refresh_visible_tab(self) -> None:
        current = self.tabs.currentIndex()
        if current == 1 and self._dirty["ops"]:
            self._refresh_ops()
        elif current == 2 and self._dirty["timelines"]:
            self._refresh_timelines()

    def _refresh_ops(self) -> None:
        self._dirty["ops"] = False
        self._show_framework_warning()
        diff = self.model.op_diff()
        if isinstance(diff, str):
            self.op_message.setText(diff)
            self.op_table.setRowCount(0)
            return
        shown = show_op_diff(self.op_table, diff, {s for s, check in self.status_checks.items() if check.isChecked()})
        counts = ", ".join(f"{n} {s}" for s, n in diff.counts().items())
        self.op_message.setText(f"{counts} — by {diff.measure} time per step ({diff.basis}); changes under "
                                f"{diff.rel_threshold:.0%} or {diff.abs_threshold_ns / 1000:g} µs per step count as "
                                f"unchanged. {shown} shown.")
        if diff.rows and len(diff.added) + len(diff.removed) == len(diff.rows) and not self.op_warning.isVisibleTo(self):
            self.op_message.setText(self.op_message.text() + " The two traces share no op name, so every op reads as "
                                    "added or removed.")

    def _show_framework_warning(self) -> None:
        """Before any number: a pair of different frameworks shares no op names (aten::conv2d
        against XLA's fusions), and where two runs of one framework are chosen, a button picks them."""
        frameworks = self.model.pair_frameworks()
        same = self.model.same_framework_pair() if frameworks else None
        self.op_warning.setVisible(frameworks is not None)
        self.same_pair_button.setVisible(same is not None)
        if frameworks is None:
            return
        text = (f"These runs are of different frameworks ({frameworks[0]} and {frameworks[1]}). Frameworks name their "
                "ops differently, so the two traces share no op name and every op below reads as added or removed; "
                "compare their time per step in the Summary tab instead.")
        if same is not None:
            framework = self.model.entry(same[0]).figures.get("framework") or "?"
            self.same_pair_button.setText(f"Compare two {framework} runs")
        else:
            text += " Choose two runs of one framework (tick or add them) for a per-op comparison."
        self.op_warning.setText(text)

    def _pick_same_framework_pair(self) -> None:
        same = self.model.same_framework_pair()
        if same is not None:
            self.model.set_pair(*same)

    def _refresh_timelines(self) -> None:
        self._dirty["timelines"] = False
        first, second = self.model.pair
        if first is None or second is None:
            self.timelines.show_message("Choose two runs to see their timelines side by side.")
            return
        try:
            first_table, second_table = self.model.trace(first), self.model.trace(second)
        except SessionError as exc:
            self.timelines.show_message(str(exc))
            return
        if first_table is None or second_table is None:
            missing = [self.model.entry(k).title for k, t in ((first, first_table), (second, second_table)) if t is None]
            self.timelines.show_message(f"No stored trace for {' and '.join(missing)}: it ran without a trace window "
                                        "(--trace-steps 0) or stopped before it.")
            return
        a, b = self.model.entry(first), self.model.entry(second)
        self.timelines.show_pair(first_table, second_table, a.title, b.title, (a.color, b.color))

    def _on_op_selected(self) -> None:
        rows = self.op_table.selectionModel().selectedRows(1)
        name = rows[0].data() if rows else None
        if self.timelines.timelines:
            self.timelines.highlight(name)
