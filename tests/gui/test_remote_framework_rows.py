"""The run panel's framework rows with "Run on" another machine: what that machine's last
connection test found (kept by the machines model, shared with the Machines dialog and saved with
the list, with its age), never this machine's probe; "untested" and a Test button until a test ran.
The test's child is faked where the dialog's tests reach it, `check_argv`: a Python that prints
what `main.py env --on TARGET --quick --json` prints, so no SSH is needed."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from gui.live import machine_test, machines_dialog, run_panel
from gui.live.machines_dialog import MachinesDialog, load_machines, save_machines
from gui.live.machines_model import LOCAL, CheckResult, MachinesModel, summarize_env, when_tested
from gui.live.run_panel import RunPanel
from gui.live.run_panel_model import RunPanelModel

TARGET = "ssh://gpu-box"
NO_JAX = "ModuleNotFoundError: No module named 'jax'"
REPORTS: list[dict[str, Any]] = [
    {"framework": "jax", "imports": False, "version": None, "error": NO_JAX, "devices": [], "runs": []},
    {"framework": "torch", "imports": True, "version": "2.5.1", "error": None, "devices": ["cpu", "cuda:0 NVIDIA H200"],
     "runs": []},
    {"framework": "tf", "imports": True, "version": "2.18.0", "error": None, "devices": ["CPU:0"], "runs": []},
]
ENV_JSON = json.dumps([dict(r, python_version="3.11.9") for r in REPORTS])


@pytest.fixture
def canned_test_child(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every connection test (the panel's and the dialog's) runs a child that prints ENV_JSON, the
    shape `env --json` prints, instead of reaching a machine over SSH (that path is tested against a
    real sshd in tests/gui/test_machines.py and tests/executors/test_ssh_runs.py); returns the targets asked."""
    asked: list[str] = []

    def argv(target: str) -> list[str]:
        asked.append(target)
        return [sys.executable, "-c", f"import sys, time; time.sleep(0.3); sys.stdout.write({ENV_JSON!r})"]
    monkeypatch.setattr(machine_test, "check_argv", argv)
    monkeypatch.setattr(machines_dialog, "check_argv", argv)
    return asked


def _panel(qtbot: QtBot, machines: MachinesModel) -> RunPanel:
    panel = RunPanel(RunPanelModel(), machines)
    qtbot.addWidget(panel)
    panel.show()
    return panel


def _rows(panel: RunPanel) -> dict[str, str]:
    return {fw: label.text() for fw, label in panel.fw_status.items()}


def test_a_machine_untested_says_so_and_test_shows_what_imports_there(make_window: Any, qtbot: QtBot,
                                                                      canned_test_child: list[str]) -> None:
    window = make_window()
    window.machines.add(TARGET)
    panel = window.run_panel
    panel.refresh_machines()
    assert panel.test_button.isHidden()  # this machine: its own probe, nothing to test
    panel.run_on_box.activated.emit(1)
    assert _rows(panel) == {"jax": "untested", "torch": "untested", "tf": "untested"}  # not this machine's probe
    assert "Test" in panel.fw_status["torch"].toolTip()
    assert not panel.test_button.isHidden() and panel.test_button.isEnabled()
    panel.checks["jax"].setChecked(True)
    assert panel.checks["jax"].isEnabled()  # untested: the machine's own environment decides at run time
    with qtbot.waitSignal(panel.machine_test.finished, timeout=30_000):
        panel.test_button.click()
        assert set(_rows(panel).values()) == {"testing…"} and not panel.test_button.isEnabled()
    assert canned_test_child == [TARGET]
    assert _rows(panel) == {"jax": "not importing", "torch": "2.5.1", "tf": "2.18.0"}
    torch_tip, jax_tip = panel.fw_status["torch"].toolTip(), panel.fw_status["jax"].toolTip()
    assert "Python 3.11.9" in torch_tip and "cuda:0 NVIDIA H200" in torch_tip and "tested just now" in torch_tip
    assert NO_JAX in jax_tip and "tested just now" in jax_tip
    # found not importing there: unavailable as a framework missing here is, saying why
    assert not panel.checks["jax"].isEnabled() and NO_JAX in panel.checks["jax"].toolTip()
    assert not panel.checks["jax"].isChecked()  # not ticked while it cannot run there: it would not be queued
    assert window.panel_model.runnable_frameworks() == ["torch", "tf"]
    assert panel.test_button.isEnabled()
    # kept where the Machines dialog reads it, and saved with the list for the next start of the app
    assert window.machines.results[TARGET].line.startswith("Python 3.11.9 · ")
    assert load_machines(window.settings).results[TARGET] == window.machines.results[TARGET]
    panel.run_on_box.activated.emit(0)  # back to this machine: its own probe again
    assert panel.fw_status["torch"].text() == "probe skipped in test" and panel.test_button.isHidden()
    assert window.panel_model.run_on == LOCAL
    assert panel.checks["jax"].isChecked() == window.panel_model.chosen["jax"]  # the choice, kept, shows again here


@pytest.mark.qt_log_ignore("This plugin does not support raise")  # the offscreen platform showing the tooltip
def test_a_kept_result_shows_its_age_as_of_the_hover(qtbot: QtBot, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    earlier = MachinesModel([TARGET, "ssh://other"])
    earlier.record(TARGET, summarize_env(0, ENV_JSON, "", tested_at=time.time() - 300))
    earlier.record("ssh://other", CheckResult("testing", "testing the connection…"))  # not a result: not kept
    save_machines(settings, earlier)
    machines = load_machines(settings)
    assert set(machines.results) == {TARGET} and machines.results[TARGET] == earlier.results[TARGET]
    panel = _panel(qtbot, machines)
    panel.model.set_run_on(TARGET)
    assert panel.fw_status["torch"].text() == "2.5.1" and "tested 5 min ago" in panel.fw_status["torch"].toolTip()
    later = time.time() + 3600
    monkeypatch.setattr(run_panel.time, "time", lambda: later)
    label = panel.fw_status["torch"]
    QApplication.sendEvent(label, QHelpEvent(QHelpEvent.Type.ToolTip, QPoint(2, 2), label.mapToGlobal(QPoint(2, 2))))
    assert "tested 1 h ago" in label.toolTip()  # recomputed when shown, not frozen at the last change
    assert [when_tested(0.0, s) for s in (59, 60 * 59, 3 * 3600, 86400, 3 * 86400)] == \
        ["tested just now", "tested 59 min ago", "tested 3 h ago", "tested 1 day ago", "tested 3 days ago"]


def test_a_test_that_did_not_reach_the_environment_leaves_the_rows_open(qtbot: QtBot) -> None:
    machines = MachinesModel([TARGET])
    panel = _panel(qtbot, machines)
    panel.model.set_run_on(TARGET)
    machines.record(TARGET, summarize_env(1, "", "stepscope env: cannot reach gpu-box: Connection refused\n"))
    assert set(_rows(panel).values()) == {"test failed"}
    assert "cannot reach gpu-box" in panel.fw_status["jax"].toolTip()
    assert all(check.isEnabled() for check in panel.checks.values())  # nothing known: not refused
    assert panel.model.runnable_frameworks() == ["jax", "torch", "tf"]
    machines.record(TARGET, summarize_env(1, "", "stepscope env: gpu-box has no Stepscope worker environment\n"))
    assert set(_rows(panel).values()) == {"not set up"}


def test_the_dialog_and_the_panel_show_each_others_tests(qtbot: QtBot, canned_test_child: list[str]) -> None:
    machines = MachinesModel([TARGET])
    panel = _panel(qtbot, machines)
    panel.model.set_run_on(TARGET)
    dialog = MachinesDialog(machines)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.checked, timeout=30_000):
        assert dialog.test(TARGET)
    assert _rows(panel) == {"jax": "not importing", "torch": "2.5.1", "tf": "2.18.0"}
    machines.record(TARGET, CheckResult("failed", "gone"))
    assert set(_rows(panel).values()) == {"test failed"}
    with qtbot.waitSignal(panel.machine_test.finished, timeout=30_000):
        assert panel.test_machine()
        assert "testing the connection" in dialog.list.item(0).text()
    item = dialog.list.item(0)
    assert item is not None and "Python 3.11.9 · PyTorch 2.5.1" in item.text() and item.data(Qt.ItemDataRole.UserRole)
