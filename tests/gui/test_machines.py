"""The app's machines (issue 18): the list read by the executors' parser and kept in QSettings,
the Machines dialog's Set up… and Test connection against a real OpenSSH server on 127.0.0.1
(tests/executors/sshd.py) and against a closed port, and the run panel's "Run on" reaching the
run queue as that machine's executor, once for real over SSH; the runs list's "Ran on" and its
interrupted runs."""
from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from gui.live import run_queue
from gui.live.machines_dialog import MachinesDialog, load_machines, save_machines
from gui.live.machines_model import LOCAL, LOCAL_LABEL, MachinesModel, parse_machine, summarize_env
from gui.live.run_panel_model import FrameworkState, RunPanelModel
from gui.live.runs_list import STATUS_COLORS, RunsListPanel
from gui.live.runs_model import COLUMNS, RunsModel
from profilers.executors import ExecutorError
from profilers.protocol import EVENT_FIELDS
from sessions.store import Session
from tests.executors import conftest as executors_conftest
from tests.executors.sshd import SshServer
from tests.gui.conftest import small_torch_settings

ROOT = Path(__file__).resolve().parents[2]
sshd = executors_conftest.sshd  # the throw-away SSH server fixture, shared with tests/executors
pytestmark = pytest.mark.timeout(300)


def test_machines_are_read_by_the_executors_parser_and_kept_as_plain_targets(tmp_path: Path) -> None:
    assert parse_machine(" me@gpu-box:2222 ") == "ssh://me@gpu-box:2222"
    assert parse_machine("ssh://my-alias") == "ssh://my-alias"  # a Host of ~/.ssh/config
    for bad, says in (("", "ssh://"), ("ssh://me:secret@gpu-box", "never a password"), ("ssh://gpu:port", "bad port"),
                      ("ray://head:10001", "not an SSH machine"), ("local", "always listed")):
        with pytest.raises(ValueError, match=says):
            parse_machine(bad)
    model = MachinesModel()
    model.add("me@gpu-box:2222")
    with pytest.raises(ValueError, match="already listed"):
        model.add("ssh://me@gpu-box:2222")
    model.add("ssh://other")
    assert model.choices() == [(LOCAL_LABEL, LOCAL), ("ssh://me@gpu-box:2222", "ssh://me@gpu-box:2222"),
                               ("ssh://other", "ssh://other")]
    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    save_machines(settings, model)
    assert load_machines(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)).targets == model.targets
    assert "secret" not in (tmp_path / "s.ini").read_text()
    assert MachinesModel(["ssh://a", "ssh://a", "ssh://u:pw@b", "ftp://c"]).targets == ["ssh://a"]


def test_an_env_report_becomes_one_line_and_a_machine_not_set_up_says_what_to_press() -> None:
    stdout = ('[{"framework": "torch", "imports": true, "version": "2.5.1", "error": null,'
              ' "devices": ["cpu", "cuda:0 NVIDIA H200", "cuda:1 NVIDIA H200"], "runs": [], "python_version": "3.11.9"},'
              ' {"framework": "tf", "imports": false, "version": null, "error": "No module named tensorflow",'
              ' "devices": [], "runs": [], "python_version": "3.11.9"}]')
    result = summarize_env(0, stdout, "")
    assert (result.state, result.line) == \
        ("ok", "Python 3.11.9 · PyTorch 2.5.1 · not importing: TensorFlow · GPU: 2 × NVIDIA H200")
    assert result.python == "3.11.9" and result.frameworks["torch"].version == "2.5.1"
    assert not result.frameworks["tf"].imports and result.frameworks["tf"].error == "No module named tensorflow"
    older = summarize_env(0, stdout.replace(', "python_version": "3.11.9"', ""), "")  # an env without the field
    assert older.line == "PyTorch 2.5.1 · not importing: TensorFlow · GPU: 2 × NVIDIA H200" and older.python is None
    missing = summarize_env(1, "", "stepscope env: gpu1 has no Stepscope worker environment for this version (...)\n")
    assert missing.state == "no-environment" and "Set up" in missing.line


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_dialog_sets_up_and_tests_a_machine_and_names_a_closed_port(qtbot: QtBot, sshd: SshServer) -> None:
    model = MachinesModel()
    dialog = MachinesDialog(model)
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.add_edit.setText("ssh://me:secret@gpu-box")
    assert dialog.add() is None and "never a password" in dialog.add_message.text() and not model.targets
    dialog.add_edit.setText(sshd.target)
    with qtbot.waitSignal(dialog.changed):
        assert dialog.add() == sshd.target
    dialog.python_edit.setText(sys.executable)  # use this interpreter there as it is: nothing installed
    with qtbot.waitSignal(dialog.setupFinished, timeout=180_000) as setup:
        assert dialog.set_up()
        assert not dialog.test_button.isEnabled() and dialog.cancel_button.isEnabled()  # one child at a time
    assert setup.args == [sshd.target, True], dialog.output.toPlainText()[-2000:]
    assert "copying the worker code" in dialog.output.toPlainText()  # streamed from the child
    with qtbot.waitSignal(dialog.checked, timeout=180_000) as checked:  # a set-up is followed by a test
        pass
    result = checked.args[1]
    assert result.state == "ok" and "PyTorch 2." in result.line and "GPU" in result.line, result.line
    assert result.line in dialog.status.text() and "\n" not in result.line
    closed = f"ssh://127.0.0.1:{_free_port()}"
    dialog.add_edit.setText(closed)
    dialog.add()
    with qtbot.waitSignal(dialog.checked, timeout=60_000) as failed:
        assert dialog.test(closed)
    assert failed.args[1].state == "failed" and "\n" not in failed.args[1].line
    assert "cannot reach" in failed.args[1].line or "refused" in failed.args[1].line.lower(), failed.args[1].line
    assert model.results[sshd.target].state == "ok"  # each machine keeps its own last test


def test_run_on_reaches_the_queue_as_that_machines_executor(make_window: Any, qtbot: QtBot,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def refuse(target: str) -> Any:
        asked.append(target)
        raise ExecutorError(f"not reaching {target} in this test")

    monkeypatch.setattr(run_queue, "executor_for", refuse)
    window = make_window()
    window.machines.add("ssh://gpu-box")
    window.run_panel.refresh_machines()
    panel = window.run_panel
    assert [panel.run_on_box.itemText(i) for i in range(panel.run_on_box.count())] == [LOCAL_LABEL, "ssh://gpu-box"]
    assert "always runs on this machine" in panel.run_on_box.toolTip()
    small_torch_settings(window)
    panel.run_on_box.activated.emit(1)  # the user picks the machine
    assert window.panel_model.run_on == "ssh://gpu-box" and "on ssh://gpu-box" in panel.queue_label.text()
    window.panel_model.set_framework_state("jax", FrameworkState(False, error="No module named 'jax'"))
    panel.checks["jax"].setChecked(True)  # missing here, but the machine's own environment decides
    assert panel.checks["jax"].isEnabled() and window.panel_model.runnable_frameworks() == ["jax", "torch"]
    assert panel.fw_status["jax"].text() == "untested"  # this machine's probe says nothing of that one
    window.start_runs()
    qtbot.waitUntil(lambda: not window.busy, timeout=30_000)
    assert asked == ["ssh://gpu-box"] * 2
    assert any("not reaching ssh://gpu-box" in n.message for n in window.notifications.records)
    saved = window.panel_model.to_dict()
    assert saved["run_on"] == "ssh://gpu-box"  # kept with the panel's settings
    window.machines.remove("ssh://gpu-box")  # the chosen machine removed: back to this machine
    panel.refresh_machines()
    assert window.panel_model.run_on == LOCAL and panel.run_on_box.currentText() == LOCAL_LABEL
    assert not panel.checks["jax"].isEnabled() and window.panel_model.runnable_frameworks() == ["torch"]
    restored = RunPanelModel()
    restored.load_dict(saved)
    assert restored.run_on == "ssh://gpu-box"


def test_a_run_on_a_machine_over_ssh_is_listed_where_it_ran(make_window: Any, qtbot: QtBot, sshd: SshServer) -> None:
    done = subprocess.run([sys.executable, "main.py", "remote", "setup", sshd.target, "--python", sys.executable],
                          cwd=ROOT, env=sshd.env(), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    window = make_window()
    window.machines.add(sshd.target)
    window.run_panel.refresh_machines()
    small_torch_settings(window, steps=3)
    window.run_panel.run_on_box.activated.emit(1)
    window.start_runs()
    qtbot.waitUntil(lambda: not window.busy, timeout=180_000)
    row = window.runs_model.rows[-1]
    assert row.record.status == "ok", row.record.reason
    assert row.figures["executor"] == "ssh" and row.figures["where"] == "ssh: stepscope-test"
    assert row.figures["steps"] == 3


def test_the_runs_list_says_where_a_run_ran_and_sets_an_interrupted_run_apart(qtbot: QtBot, tmp_path: Path) -> None:
    path = tmp_path / "s.stepscope"
    with Session.create_or_open(path) as session:
        for run_id, status in (("r1", "ok"), ("r2", "interrupted")):
            session.begin_run(run_id, {"framework": "torch", "workload": "mlp", "mode": "train"})
            hello = {**dict.fromkeys(EVENT_FIELDS["hello"]), "type": "hello", "t": 0.0, "spec": {}, "framework": "torch",
                     "placement": {"executor": "ssh", "host": "gpu1"}}  # as an SSH executor's worker says it
            session.append_events(run_id, [hello])
            session.finish_run(run_id, status, None if status == "ok" else "the SSH connection to gpu1 was lost", {}, "")
    model = RunsModel(path)
    model.reload()
    panel = RunsListPanel(model)
    qtbot.addWidget(panel)
    panel.refresh()
    keys = [key for key, _, _ in COLUMNS]
    ok, lost = (panel.tree.topLevelItem(i) for i in range(2))
    assert ok is not None and lost is not None
    assert ok.text(keys.index("where")) == lost.text(keys.index("where")) == "ssh: gpu1"
    status = keys.index("status")
    assert lost.text(status) == "interrupted" and lost.font(status).bold() and not ok.font(status).bold()
    assert lost.foreground(status).color() != ok.foreground(status).color()
    assert lost.foreground(status).color().name() != STATUS_COLORS["cancelled"]
    assert "SSH connection to gpu1 was lost" in lost.toolTip(status)


def test_cancel_stops_a_test_that_would_wait_for_a_silent_server(qtbot: QtBot) -> None:
    with socket.socket() as silent:  # takes the connection, never says a word of SSH
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        target = f"ssh://127.0.0.1:{silent.getsockname()[1]}"
        dialog = MachinesDialog(MachinesModel([target]))
        qtbot.addWidget(dialog)
        assert dialog.test(target) and not dialog.test(target)  # one child at a time
        qtbot.waitUntil(lambda: "Testing the connection" in dialog.status.text(), timeout=5_000)
        qtbot.wait(1000)
        with qtbot.waitSignal(dialog.checked, timeout=10_000) as checked:
            dialog.cancel()
    assert checked.args[1].line == "the test was stopped" and not dialog.running
    assert dialog.test_button.isEnabled() and not dialog.cancel_button.isEnabled()
