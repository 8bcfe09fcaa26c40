"""The run panel: what to run. A view of RunPanelModel; Start/Stop are requests the window acts on.
Its settings are kept in QSettings (as the model's dict) from one session of the app to the next.
With "Run on" another machine, the framework rows show that machine's last connection test (the
machines model's), and Test machine under them runs one (a child process: gui/live/machine_test.py)."""
from __future__ import annotations

import json
import time
from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QSettings, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.live.machine_test import MachineTest
from gui.live.machines_model import LOCAL, MachinesModel, framework_row
from gui.live.run_panel_model import FRAMEWORK_NAMES, LIMITS, RunPanelModel, load_presets
from workloads.registry import WORKLOADS
from workloads.spec import DEVICES, FRAMEWORKS, MODES, VARIANTS

SPIN_LABELS = {"batch_size": "Batch size", "steps": "Measured steps", "warmup": "Warm-up steps",
               "trace_steps": "Trace window", "repeat": "Repeat each"}
SPIN_TIPS = {"steps": "steps the headline figures come from", "warmup": "steps run before measuring, left out of the figures",
             "trace_steps": "steps in the framework profiler's trace window, after measuring (0: no trace)",
             "repeat": "runs per framework, each in a fresh worker (run-to-run variance)"}
RUN_ON_TIP = ("Where the workers of Start's runs go: this machine, or a machine of Run → Machines… over SSH "
              "(set it up there once). Your own program (the other tab) always runs on this machine.")
TEST_TIP = ("Test the connection to the machine of Run on: which frameworks its worker environment imports, their "
            "versions and its GPU, shown on the rows above (`env --on TARGET --quick`, as Machines… › Test connection)")


class RunPanel(QWidget):
    startRequested = Signal()
    stopRequested = Signal()
    machinesRequested = Signal()  # the Machines… button

    def __init__(self, model: RunPanelModel, machines: MachinesModel | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.machines = machines or MachinesModel()
        model.not_importing_on = self.machines.not_importing  # a machine's last test decides its rows
        self.machine_test = MachineTest(self.machines, self)
        self.presets = load_presets()
        self._updating = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)

        self.preset_box = QComboBox()
        self.preset_box.addItem("Presets…")
        for preset in self.presets:
            self.preset_box.addItem(preset.name)
        self.preset_box.activated.connect(self._on_preset_activated)
        layout.addWidget(self.preset_box)

        fw_group = QGroupBox("Frameworks")
        grid = QGridLayout(fw_group)
        self.checks: dict[str, QCheckBox] = {}
        self.variant_boxes: dict[str, QComboBox] = {}
        self.fw_status: dict[str, QLabel] = {}
        for row, fw in enumerate(FRAMEWORKS):
            check = QCheckBox(FRAMEWORK_NAMES[fw])
            check.toggled.connect(lambda on, fw=fw: self._guard(self.model.choose, fw, on))
            variant = QComboBox()
            variant.addItems(VARIANTS[fw])
            variant.setToolTip("execution mode")
            variant.currentTextChanged.connect(lambda v, fw=fw: self._guard(self.model.set_variant, fw, v))
            status = QLabel()
            status.setObjectName("frameworkStatus")
            status.installEventFilter(self)  # a remote row's tooltip says how long ago, as of the hover
            grid.addWidget(check, row, 0)
            grid.addWidget(variant, row, 1)
            grid.addWidget(status, row, 2)
            self.checks[fw], self.variant_boxes[fw], self.fw_status[fw] = check, variant, status
        # Under the rows it fills, shown with "Run on" another machine (the Run on row has no room left).
        self.test_button = QPushButton("Test machine")
        self.test_button.setToolTip(TEST_TIP)
        self.test_button.clicked.connect(lambda: self.test_machine())
        grid.addWidget(self.test_button, len(FRAMEWORKS), 0)
        grid.setColumnStretch(2, 1)
        layout.addWidget(fw_group)

        settings = QGroupBox("Run")
        form = QFormLayout(settings)
        self.run_on_box = QComboBox()
        self.run_on_box.setToolTip(RUN_ON_TIP)
        self.run_on_box.activated.connect(lambda i: self._guard(self.model.set_run_on, self.run_on_box.itemData(i)))
        self.machines_button = QPushButton("Machines…")
        self.machines_button.setToolTip("Add, test and set up the machines runs can go to (Ctrl+Shift+M)")
        self.machines_button.clicked.connect(self.machinesRequested)
        run_on = QHBoxLayout()
        run_on.addWidget(self.run_on_box, 1)
        run_on.addWidget(self.machines_button)
        form.addRow("Run on", run_on)
        self.combos: dict[str, QComboBox] = {}
        for name, label, items in (("workload", "Workload", WORKLOADS), ("mode", "Mode", MODES), ("device", "Device", DEVICES)):
            box = QComboBox()
            box.addItems(items)
            box.currentTextChanged.connect(lambda v, name=name: self._guard(self.model.set, name, v))
            form.addRow(label, box)
            self.combos[name] = box
        self.spins: dict[str, QSpinBox] = {}
        for name, label in SPIN_LABELS.items():
            spin = QSpinBox()
            spin.setRange(*LIMITS[name])
            spin.setToolTip(SPIN_TIPS.get(name, ""))
            spin.valueChanged.connect(lambda v, name=name: self._guard(self.model.set, name, v))
            form.addRow(label, spin)
            self.spins[name] = spin
        layout.addWidget(settings)

        buttons = QHBoxLayout()
        self.start_button = QPushButton("Start")
        self.start_button.setToolTip("Run the chosen frameworks one after another (Ctrl+R)")
        self.start_button.setObjectName("startButton")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Cancel the running worker; what it streamed is kept (Esc)")
        self.start_button.clicked.connect(self.startRequested)
        self.stop_button.clicked.connect(self.stopRequested)
        buttons.addWidget(self.start_button)
        buttons.addWidget(self.stop_button)
        layout.addLayout(buttons)
        self.queue_label = QLabel()
        self.queue_label.setWordWrap(True)
        layout.addWidget(self.queue_label)
        layout.addStretch(1)
        self.running = False
        self.blocked: str | None = None  # why nothing can be recorded (no session could be opened)
        model.connect(self._on_model_changed)
        listener = self._on_machine_result
        self.machines.connect(listener)
        self.destroyed.connect(lambda: self.machines.disconnect(listener))
        self.refresh_machines()

    def refresh_machines(self) -> None:
        """Fill "Run on" from the machines list; a choice no longer listed falls back to this machine."""
        if self.model.run_on not in self.machines.targets:
            self.model.set_run_on(LOCAL)
        self._updating = True
        self.run_on_box.clear()
        for text, target in self.machines.choices():
            self.run_on_box.addItem(text, target)
        self._updating = False
        self._on_model_changed("all")

    def test_machine(self) -> bool:
        """Test the machine "Run on" names, in a child; False for this machine or while one runs."""
        if self.model.run_on == LOCAL or self.running:
            return False
        started = self.machine_test.start(self.model.run_on)
        self._on_model_changed("machines")
        return started

    def _on_machine_result(self, target: str) -> None:
        self._on_model_changed("machines")

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ToolTip and self.model.run_on != LOCAL and watched in self.fw_status.values():
            self._on_model_changed("tooltip")
        return False

    def restore_settings(self, settings: QSettings) -> None:
        raw = settings.value("run_panel", "")
        if raw:
            try:
                self.model.load_dict(json.loads(str(raw)))
            except (ValueError, TypeError):
                pass  # unreadable settings: keep the defaults
            self.refresh_machines()  # a saved "Run on" whose machine was removed: this machine

    def save_settings(self, settings: QSettings) -> None:
        settings.setValue("run_panel", json.dumps(self.model.to_dict()))
        settings.sync()

    def _guard(self, setter: Callable[..., object], *args: object) -> None:
        """Pass a widget's change to the model, unless it came from the model's own update."""
        if not self._updating:
            setter(*args)

    def _on_preset_activated(self, index: int) -> None:
        if index > 0:
            self.model.apply_preset(self.presets[index - 1])
        self.preset_box.setCurrentIndex(0)

    def set_running(self, running: bool) -> None:
        self.running = running
        self._on_model_changed("running")

    def set_blocked(self, reason: str | None) -> None:
        """Refuse Start for `reason` (shown under it), or allow it again with None."""
        self.blocked = reason
        self._on_model_changed("blocked")

    def _show_frameworks(self) -> None:
        """Each framework's row: what the probe found here, or with "Run on" another machine what
        that machine's last test found there (a framework it found not importing is unavailable,
        as here; an untested machine's environment decides at run time)."""
        m = self.model
        remote = self.machines.results.get(m.run_on) if m.run_on != LOCAL else None
        for fw in FRAMEWORKS:
            state = m.frameworks[fw]
            check, status = self.checks[fw], self.fw_status[fw]
            usable = m.available(fw) or (m.run_on == LOCAL and state.imports is None)
            # one that cannot run there shows unticked (it would not be queued); the choice is kept for when it can
            check.setChecked(m.chosen[fw] and usable)
            check.setEnabled(usable and not self.running)
            self.variant_boxes[fw].setCurrentText(m.variants[fw])
            self.variant_boxes[fw].setEnabled(not self.running)
            if m.run_on != LOCAL:
                text, tip = framework_row(m.run_on, remote, fw, time.time())
            elif state.imports is None:
                text, tip = "checking…", "the compatibility probe is importing it in a separate process"
            elif state.imports:
                text, tip = state.version or "", "devices: " + (", ".join(state.devices) or "cpu")
            else:
                text, tip = "unavailable", state.error or "does not import"
            status.setText(text)
            status.setToolTip(tip)
            check.setToolTip("" if m.available(fw) else tip)

    def _on_model_changed(self, what: str) -> None:
        self._updating = True
        try:
            m = self.model
            self._show_frameworks()
            self.test_button.setVisible(m.run_on != LOCAL)
            self.test_button.setEnabled(not self.machine_test.running and not self.running)
            for name, box in self.combos.items():
                box.setCurrentText(str(getattr(m, name)))
                box.setEnabled(not self.running)
            self.run_on_box.setCurrentIndex(max(0, self.run_on_box.findData(m.run_on)))
            self.run_on_box.setEnabled(not self.running)
            for name, spin in self.spins.items():
                spin.setValue(getattr(m, name))
                spin.setEnabled(not self.running)
            runnable, pending = m.runnable_frameworks(), m.pending_frameworks()
            # A framework still being checked does not refuse Start: the window waits for the check.
            self.start_button.setEnabled(bool(runnable or pending) and not self.running and self.blocked is None)
            self.stop_button.setEnabled(self.running)
            if self.blocked is not None:
                self.queue_label.setText(self.blocked)
            elif not self.running:
                where = "" if m.run_on == LOCAL else f", on {m.run_on}"
                text = f"{len(runnable) * m.repeat} run(s) queued on Start{where}" if runnable else \
                    ("" if pending else "Choose a framework that imports")
                if pending:
                    names = ", ".join(FRAMEWORK_NAMES[fw] for fw in pending)
                    text += ("; " if text else "") + f"still checking {names} (Start waits for the check)"
                self.queue_label.setText(text)
        finally:
            self._updating = False
