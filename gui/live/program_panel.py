"""The "Your program" form: run the user's own training script under Stepscope (docs/programs.md).

A view of a ProgramForm (gui.live.program_panel_model): it copies the fields in and out and shows
the form's one-sentence error under it; Start and Stop are requests the window acts on, as in
the built-in run panel. The programs started lately (command, folder and the rest of the form)
are kept in QSettings and offered in a combo at the top and as completions of the command.
"""
from __future__ import annotations

import os

from PySide6.QtCore import QSettings, QStringListModel, Qt, Signal
from PySide6.QtGui import QFont, QFontMetrics
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.live.program_panel_model import ProgramForm, RecentPrograms
from workloads.program import ProgramSpec
from workloads.spec import SpecError

RECENT_KEY = "recent_programs"
WINDOW_TEXTS = {"steps": "Steps", "time": "Seconds", "off": "Off"}
ERROR_COLOR = "#d0392b"


def _row(*widgets: QWidget | str) -> QHBoxLayout:
    """Widgets (a str: a plain label) side by side, without margins, for one form row; the
    fields share the width, labels and buttons keep theirs."""
    row = QHBoxLayout()
    row.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        item = QLabel(widget) if isinstance(widget, str) else widget
        row.addWidget(item, 0 if isinstance(item, (QLabel, QPushButton)) else 1)
    return row


class ProgramPanel(QWidget):
    """The form; `take_spec()` gives the ProgramSpec to run (or shows why there is none)."""

    startRequested = Signal()
    stopRequested = Signal()

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.recent = RecentPrograms.from_json(str(settings.value(RECENT_KEY, "[]")))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.recent_box = QComboBox()
        self.recent_box.setToolTip("Fill the form with a program started before (its folder, variables and window too)")
        self.recent_box.activated.connect(self._on_recent_activated)
        layout.addWidget(self.recent_box)

        program = QGroupBox("Program")
        form = QFormLayout(program)
        self.command = QLineEdit()
        self.command.setPlaceholderText("python train.py --lr 3e-4")
        self.command.setToolTip("The command that runs your program, split as a shell would (quotes group words); "
                                "it runs in its own Python, with your framework")
        self.completer = QCompleter(self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.command.setCompleter(self.completer)
        self.setFocusProxy(self.command)
        self.command.returnPressed.connect(self.startRequested)
        form.addRow("Command", self.command)
        self.cwd = QLineEdit()
        self.cwd.setPlaceholderText(os.getcwd())
        self.cwd.setToolTip("The working directory the program starts in (empty: " + os.getcwd() + ")")
        self.browse = QPushButton("Browse…")
        self.browse.clicked.connect(self._on_browse)
        form.addRow("Folder", _row(self.cwd, self.browse))
        self.env = QPlainTextEdit()
        self.env.setPlaceholderText("KEY=VALUE, one per line")
        self.env.setToolTip("Variables added to the program's environment (everything else is inherited)")
        self.env.setFont(QFont("monospace", 9))
        self.env.setFixedHeight(QFontMetrics(self.env.font()).lineSpacing() * 3 + 12)
        self.env.setTabChangesFocus(True)
        form.addRow("Environment", self.env)
        self.name = QLineEdit()
        self.name.setPlaceholderText("optional")
        self.name.setToolTip("What the runs list calls this run (default: the script's name)")
        form.addRow("Name", self.name)
        self.batch = QSpinBox()
        self.batch.setRange(0, 65536)
        self.batch.setSpecialValueText("unknown")
        self.batch.setToolTip("Samples per step, for the throughput (unknown: step times only)")
        form.addRow("Batch size", self.batch)
        layout.addWidget(program)

        trace = QGroupBox("Trace window")
        trace_form = QFormLayout(trace)
        self.window_box = QComboBox()
        for key, text in WINDOW_TEXTS.items():
            self.window_box.addItem(text, key)
        self.window_box.setToolTip("Which part of the run the framework's profiler records: steps A to B "
                                   "(B not included), or a span of seconds from the program's start")
        self.window_box.currentIndexChanged.connect(lambda _i: self._show_window_rows())
        trace_form.addRow("Record", self.window_box)
        self.steps_from, self.steps_to = QSpinBox(), QSpinBox()
        for spin in (self.steps_from, self.steps_to):
            spin.setRange(0, 10_000_000)
            spin.setToolTip("Steps are numbered from 0; A:B traces steps A, A+1 … B-1, like a Python slice")
        self.steps_row = _row(self.steps_from, "to", self.steps_to)
        trace_form.addRow("Steps", self.steps_row)
        self.trace_at, self.trace_for = QDoubleSpinBox(), QDoubleSpinBox()
        for seconds in (self.trace_at, self.trace_for):
            seconds.setRange(0.0, 86_400.0)
            seconds.setDecimals(1)
            seconds.setSuffix(" s")
            seconds.setToolTip("For a program whose steps Stepscope cannot find: seconds from the program's start")
        self.time_row = _row(self.trace_at, "for", self.trace_for)
        trace_form.addRow("At", self.time_row)
        self.with_stack = QCheckBox("Python call stacks")
        self.with_stack.setToolTip("Record the Python stack of each op in the trace (a larger, slower trace)")
        trace_form.addRow("", self.with_stack)
        self.trace_form = trace_form
        layout.addWidget(trace)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setObjectName("programStartButton")
        self.start_button.setToolTip("Run your program under Stepscope (Ctrl+R)")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop your program (Ctrl-C, then harder); what it streamed is kept (Esc)")
        self.start_button.clicked.connect(self.startRequested)
        self.stop_button.clicked.connect(self.stopRequested)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        layout.addLayout(buttons)
        self.error_label = QLabel()
        self.error_label.setObjectName("programError")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet(f"color: {ERROR_COLOR};")
        self.error_label.hide()
        layout.addWidget(self.error_label)
        self.status_label = QLabel("Stepscope finds the framework and its steps when your program imports it.")
        self.status_label.setWordWrap(True)
        self.status_label.setObjectName("programStatus")
        layout.addWidget(self.status_label)
        layout.addStretch(1)
        self.running = False
        self.blocked: str | None = None
        self._fill_recent()
        self.set_form(self.recent.forms[0] if self.recent.forms else ProgramForm())
        self._sync_enabled()

    # -- the form's fields ------------------------------------------------------------------
    def form(self) -> ProgramForm:
        return ProgramForm(command=self.command.text(), cwd=self.cwd.text(), env=self.env.toPlainText(),
                           name=self.name.text(), batch_size=self.batch.value(),
                           window=str(self.window_box.currentData()), steps_from=self.steps_from.value(),
                           steps_to=self.steps_to.value(), trace_at=self.trace_at.value(),
                           trace_for=self.trace_for.value(), with_stack=self.with_stack.isChecked())

    def set_form(self, form: ProgramForm) -> None:
        self.command.setText(form.command)
        self.cwd.setText(form.cwd)
        self.env.setPlainText(form.env)
        self.name.setText(form.name)
        self.batch.setValue(form.batch_size)
        self.window_box.setCurrentIndex(max(0, self.window_box.findData(form.window)))
        self.steps_from.setValue(form.steps_from)
        self.steps_to.setValue(form.steps_to)
        self.trace_at.setValue(form.trace_at)
        self.trace_for.setValue(form.trace_for)
        self.with_stack.setChecked(form.with_stack)
        for field in (self.command, self.cwd):
            field.setCursorPosition(0)  # the start of a long command says more than its end
        self._show_window_rows()

    def take_spec(self) -> ProgramSpec | None:
        """The spec Start runs, remembered among the recent programs; None after showing, under
        the form, the one sentence that says what to fix."""
        form = self.form()
        try:
            spec = form.spec()
        except SpecError as exc:
            self.show_error(str(exc))
            return None
        self.show_error(None)
        self.recent.remember(form)
        self.settings.setValue(RECENT_KEY, self.recent.to_json())
        self._fill_recent()
        return spec

    def show_error(self, message: str | None) -> None:
        self.error_label.setText(message or "")
        self.error_label.setVisible(bool(message))

    def show_status(self, text: str, tip: str = "") -> None:
        """What is known of the running program (its framework, where its steps come from)."""
        self.status_label.setText(text)
        self.status_label.setToolTip(tip)

    # -- running ----------------------------------------------------------------------------
    def set_running(self, running: bool) -> None:
        self.running = running
        self._sync_enabled()

    def set_blocked(self, reason: str | None) -> None:
        """Refuse Start for `reason` (shown under the form), or allow it again with None."""
        self.blocked = reason
        self.show_error(reason)
        self._sync_enabled()

    def _sync_enabled(self) -> None:
        for widget in (self.recent_box, self.command, self.cwd, self.browse, self.env, self.name, self.batch,
                       self.window_box, self.steps_from, self.steps_to, self.trace_at, self.trace_for, self.with_stack):
            widget.setEnabled(not self.running)
        self.recent_box.setEnabled(not self.running and bool(self.recent.forms))
        self.start_button.setEnabled(not self.running and self.blocked is None)
        self.stop_button.setEnabled(self.running)

    # -- helpers ----------------------------------------------------------------------------
    def _show_window_rows(self) -> None:
        window = self.window_box.currentData()
        self.trace_form.setRowVisible(self.steps_row, window == "steps")
        self.trace_form.setRowVisible(self.time_row, window == "time")
        self.trace_form.setRowVisible(self.with_stack, window != "off")

    def _fill_recent(self) -> None:
        self.recent_box.clear()
        self.recent_box.addItem("Recent programs…" if self.recent.forms else "No recent programs")
        for form in self.recent.forms:
            self.recent_box.addItem(form.title)
            self.recent_box.setItemData(self.recent_box.count() - 1, form.title, Qt.ItemDataRole.ToolTipRole)
        self.completer.setModel(QStringListModel(self.recent.commands(), self.completer))
        self.recent_box.setEnabled(not self.running and bool(self.recent.forms))

    def _on_recent_activated(self, index: int) -> None:
        if 0 < index <= len(self.recent.forms):
            self.set_form(self.recent.forms[index - 1])
            self.show_error(None)
        self.recent_box.setCurrentIndex(0)

    def _on_browse(self) -> None:
        start = self.cwd.text().strip() or os.getcwd()
        folder = QFileDialog.getExistingDirectory(self, "Working directory of your program", os.path.expanduser(start))
        if folder:
            self.cwd.setText(folder)
