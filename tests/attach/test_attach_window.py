"""File → Attach… in the main window: the dialog's child process captures from a real JAX
profiler server (the run is listed and selected) or samples a busy Python process (a flame view
opens, not blank, and exports its stacks); a port with nothing listening is one line in a
notification; the dialog's Qt-free state reads the child's JSON lines."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PySide6.QtGui import QAction
from pytestqt.qtbot import QtBot

from gui.attach.flame_view import FlameWindow
from gui.live.attach_dialog import AttachDialog, attach_from
from gui.live.attach_model import AttachState, AttachTarget, attach_argv, failure_reason, parse_target
from gui.live.main_window import MainWindow
from tests.attach.targets import BUSY_PYTHON, JAX_LOOP, free_port, running
from tests.gui.conftest import make_window  # noqa: F401  (the fixture)

CAPTURE_TIMEOUT_MS = 90_000
MakeWindow = Callable[..., MainWindow]


def test_the_target_is_an_address_or_a_pid_and_the_child_is_told_which(tmp_path: Path) -> None:
    assert parse_target(" localhost:9999 ") == AttachTarget(address="localhost:9999")
    assert parse_target("pid 4242") == AttachTarget(pid=4242)
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_target("my program")
    server = attach_argv(AttachTarget(address="h:1"), 2.5, tmp_path / "s.stepscope")
    assert server[-7:] == ["attach", "h:1", "--session", str(tmp_path / "s.stepscope"), "--for", "2.5s", "--progress-jsonl"]
    shared = attach_argv(AttachTarget(address="h:1"), 1, tmp_path / "s.stepscope", logdir=Path("/mnt/shared"))
    assert shared[-5:-3] == ["--logdir", "/mnt/shared"]
    pid = attach_argv(AttachTarget(pid=7), 3, tmp_path / "s.stepscope", tmp_path / "x.folded")
    assert pid[-8:] == ["attach", "--pid", "7", "--out", str(tmp_path / "x.folded"), "--for", "3s", "--progress-jsonl"]


def test_the_state_follows_the_childs_lines() -> None:
    state = AttachState(AttachTarget(address="h:1"), 4.0)
    assert state.fraction is None and state.stage_text() == "Connecting to h:1…"
    state.feed('{"stage": "capturing", "elapsed": 1.0, "seconds": 4.0}')
    assert state.fraction == 0.25 and state.detail_text() == "1.0 of 4 s"
    state.feed("a library's own print")
    state.feed('{"stage": "storing"}')
    assert state.fraction is None and state.stage_text() == "Storing the run…"
    state.feed('{"run_id": "r1", "events": 12, "session": "s", "description": "d"}')
    assert (state.run_id, state.events) == ("r1", 12)
    assert failure_reason("noise\nstepscope attach: nothing is listening on h:1\n", 1) == "nothing is listening on h:1"
    assert failure_reason("", 9) == "the attach process ended with exit code 9"


def test_file_attach_opens_the_dialog(make_window: MakeWindow, qtbot: QtBot) -> None:  # noqa: F811
    window = make_window()
    (action,) = [a for a in window.findChildren(QAction) if a.text() == "A&ttach…"]
    assert action.shortcut().toString() == "Ctrl+Shift+A"
    action.trigger()
    (dialog,) = window.findChildren(AttachDialog)
    assert not dialog.start()  # nothing typed: the dialog says what to type and starts nothing
    assert "HOST:PORT" in dialog.stage_label.text() and not dialog.running
    dialog.cancel()


def test_attaching_to_a_jax_server_lists_the_run(make_window: MakeWindow, qtbot: QtBot) -> None:  # noqa: F811
    window = make_window()
    port = free_port()
    with running(JAX_LOOP, port):
        dialog = attach_from(window, f"localhost:{port}", 1.0, start=True)
        seen: list[float | None] = []
        dialog.bar.valueChanged.connect(lambda _: seen.append(dialog.state.fraction if dialog.state else None))
        with qtbot.waitSignal(dialog.captured, timeout=CAPTURE_TIMEOUT_MS) as captured:
            pass
    assert any(fraction is not None and 0 < fraction <= 1 for fraction in seen)  # the window's progress was shown
    run_id = captured.args[0]
    assert isinstance(captured.args[1], int) and captured.args[1] > 100
    assert [row.run_id for row in window.runs_model.rows] == [run_id]
    assert window.runs_list.selected_ids() == [run_id]
    assert window.inspect_action.isEnabled()  # the run has its trace
    assert [m for s, m in ((n.severity, n.message) for n in window.notifications.records) if s == "info"]


def test_a_port_with_nothing_listening_is_one_notification(make_window: MakeWindow, qtbot: QtBot) -> None:  # noqa: F811
    window = make_window()
    dialog = attach_from(window, f"localhost:{free_port()}", 1.0, start=True)
    with qtbot.waitSignal(dialog.failed, timeout=CAPTURE_TIMEOUT_MS):
        pass
    (record,) = [n for n in window.notifications.records if n.severity == "error"]
    assert "connection refused" in record.message and not window.runs_model.rows


def test_attaching_to_a_pid_opens_a_flame_view(make_window: MakeWindow, qtbot: QtBot, tmp_path: Path) -> None:  # noqa: F811
    window = make_window()
    with running(BUSY_PYTHON) as target:
        dialog = attach_from(window, str(target.pid), 1.0, start=True, stacks_dir=tmp_path)
        with qtbot.waitSignal(dialog.stacksReady, timeout=CAPTURE_TIMEOUT_MS) as ready:
            pass
    stacks = ready.args[0]
    assert stacks.parent == tmp_path and stacks.is_file()
    (view,) = window.findChildren(FlameWindow)
    qtbot.waitExposed(view)
    names = {box.name for box in view.model.boxes()}
    assert any(name.startswith("crunch_known_numbers") for name in names)
    top = view.table.item(0, 2)
    assert top is not None and top.text().startswith("crunch_known_numbers")
    image = view.graph.grab().toImage()
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 5)}
    assert len(colours) > 3  # boxes drawn, not a blank widget
    exported = tmp_path / "exported.folded"
    view.save_to(exported)
    assert exported.read_text() == stacks.read_text()
    view.close()
