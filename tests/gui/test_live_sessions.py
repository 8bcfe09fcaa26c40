"""Issue 15, item 5: what the window says about the session it opens. A folder it cannot write is
said at once, with Save As offered, and Start is refused with the same words (not "not a
readable Stepscope session"); a file that cannot be opened at start-up falls back to the
default session; runs a crashed writer left are offered a repair."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from gui.live.main_window import MainWindow
from sessions.store import Session
from tests.sessions.test_self_contained import kill_streamer_mid_run


def read_only(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """`folder` as a read-only mount shows it (these tests may run as root, where chmod is no bar)."""
    real = os.access
    monkeypatch.setattr("sessions.schema.os.access", lambda path, mode: (
        not (mode & os.W_OK and Path(path).resolve().is_relative_to(folder.resolve())) and real(path, mode)))


def test_a_read_only_folder_is_said_at_once_and_start_refuses_with_the_way_out(
        make_window: Callable[..., MainWindow], qtbot: QtBot, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = tmp_path / "readonly"
    folder.mkdir()
    path = folder / "s.stepscope"
    Session.create_or_open(path).close()
    read_only(monkeypatch, folder)
    window = make_window(session=path)
    note = window.notifications.records[-1]
    assert note.severity == "warning" and "Cannot write here" in note.message and "Save As" in note.message
    assert [a.label for a in note.actions] == ["Save As…"]
    qtbot.waitUntil(lambda: [b.text() for b in window.banner.action_buttons] == ["Save As…"], timeout=2_000)
    window.start_runs()
    assert not window.queue.running and not window.busy
    assert "Cannot write here" in window.notifications.records[-1].message
    assert not any("not a readable" in n.message for n in window.notifications.records)
    assert window.save_session_as(tmp_path / "elsewhere.stepscope")  # the way out works
    assert "Cannot write here" not in window.notifications.records[-1].message


def test_a_session_that_cannot_be_opened_at_start_up_falls_back_to_the_default(
        make_window: Callable[..., MainWindow], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    default = tmp_path / "default.stepscope"
    monkeypatch.setattr("gui.live.main_window.default_session_path", lambda: default)
    bad = tmp_path / "broken.stepscope"
    bad.write_bytes(b"this is not a session")
    window = make_window(session=bad)
    assert window.session_path == default and window.queue.session_path == default
    assert "default.stepscope" in window.windowTitle()
    message = window.notifications.records[-1].message
    assert "broken.stepscope" in message and "default session instead" in message
    assert window.run_panel.start_button.isEnabled()


def test_with_no_session_to_open_start_is_disabled(
        make_window: Callable[..., MainWindow], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bad = tmp_path / "broken.stepscope"
    bad.write_bytes(b"this is not a session")
    monkeypatch.setattr("gui.live.main_window.default_session_path", lambda: bad)
    window = make_window(session=bad)
    assert not window.run_panel.start_button.isEnabled() and not window.start_action.isEnabled()
    assert "No session is open" in window.run_panel.queue_label.text()
    window.start_runs()
    assert not window.busy
    good = tmp_path / "good.stepscope"
    assert window.open_session(good)
    assert window.run_panel.start_button.isEnabled()


def test_runs_a_crash_left_running_are_offered_a_repair(
        make_window: Callable[..., MainWindow], qtbot: QtBot, tmp_path: Path) -> None:
    path = tmp_path / "crashed.stepscope"
    kill_streamer_mid_run(path)
    window = make_window(session=path)
    note = window.notifications.records[-1]
    assert "left running by a crash" in note.message and [a.label for a in note.actions] == ["Repair"]
    qtbot.waitUntil(lambda: [b.text() for b in window.banner.action_buttons] == ["Repair"], timeout=2_000)
    window.banner.action_buttons[0].click()
    assert "1 run(s) marked interrupted" in window.notifications.records[-1].message
    with Session.open_readonly(path) as session:
        assert session.orphaned_runs() == [] and session.run("r1").status == "interrupted"
