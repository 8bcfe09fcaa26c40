"""README promises of the desktop app that had no test, each checked as a user would see it:
`--with-stack` stacks in the inspector's event details, dropping a session file on the window,
Open Recent (also for a session given on the command line), a framework that does not import
shown greyed with its reason, the keyboard shortcuts and the runs list's context menu, and one
run end to end from the command line through the main window into the trace inspector."""
from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, QSettings, Qt, QTimer, QUrl
from PySide6.QtGui import QAction, QDragEnterEvent, QDropEvent, QPalette
from PySide6.QtWidgets import QApplication, QMainWindow, QMenu
from pytestqt.qtbot import QtBot

from gui.compare.compare_view import CompareWindow
from gui.inspector.trace_inspector import TraceInspectorWindow
from gui.live.main_window import MainWindow
from gui.notifications import NotificationManager
from profilers.framework_check import FrameworkReport
from sessions.store import Session
from sessions.traces import load_trace
from tests.conftest import copy_session, record_cli_run
from tests.gui.conftest import small_torch_settings
from traces.analysis import top_ops
from traces.table import EventTable, Kind

CTRL = Qt.KeyboardModifier.ControlModifier
# A frame of the workload's own code, which the Python stack of its conv2d call passes through.
MODEL_FRAME = "workloads/convnet/torch_model.py("
STEP_FRAME = "workloads/torch_backend.py("


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory, traced_run_session: Callable[[str], Path]) -> tuple[Path, str, str]:
    """A session with two tiny real torch runs that have a trace window, recorded by the CLI:
    the first plain (a copy of the session's shared one, tests/conftest.py), the second with
    `--with-stack`. Returns (file, plain run, stack run)."""
    path = copy_session(traced_run_session("torch"), tmp_path_factory.mktemp("promises") / "traced.stepscope")
    record_cli_run(path, "torch", "--no-eval", "--with-stack")
    with Session.open_readonly(path) as session:
        ids = [r.run_id for r in session.runs()]
        assert len(ids) == 2
        for run_id in ids:  # each trace window parsed and stored, or say why not
            assert session.trace(run_id) is not None, f"run {run_id} stored no trace; its log:\n{session.log(run_id)[-3000:]}"
    return path, ids[0], ids[1]


@pytest.fixture
def shared_settings(tmp_path: Path) -> Callable[[], QSettings]:
    """The same settings file each call, as the app finds it again at its next start."""
    return lambda: QSettings(str(tmp_path / "shared-settings.ini"), QSettings.Format.IniFormat)


@pytest.fixture
def make_shared_window(qtbot: QtBot, tmp_path: Path, shared_settings: Callable[[], QSettings]
                       ) -> Callable[..., MainWindow]:
    def make(session: Path | None = None) -> MainWindow:
        window = MainWindow(session or tmp_path / "start.stepscope", settings=shared_settings(),
                            notifications=NotificationManager(), probe_frameworks=())
        qtbot.addWidget(window)
        window.show()
        return window
    return make


def _activate(qtbot: QtBot, window: QMainWindow) -> None:
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=5_000)


def _new_windows(window: MainWindow, kind: type[QMainWindow]) -> list[QMainWindow]:
    return [w for w in window.analysis.views if isinstance(w, kind)]


def _open_by_shortcut(qtbot: QtBot, window: MainWindow, run_ids: list[str], key: Qt.Key,
                      kind: type[QMainWindow]) -> QMainWindow:
    """Select `run_ids` in the runs list, press Ctrl+`key`; the one analysis window it opened."""
    window.runs_list.select(run_ids)
    assert window.runs_list.selected_ids() == run_ids
    _activate(qtbot, window)
    qtbot.keyClick(window, key, CTRL)
    opened = _new_windows(window, kind)
    assert len(opened) == 1 and isinstance(opened[0], kind)
    assert opened[0].isVisible()
    return opened[0]


def _wait_analyses(qtbot: QtBot, inspector: TraceInspectorWindow) -> None:
    qtbot.waitUntil(lambda: inspector.analyses_ready, timeout=30_000)


def _first_event(table: EventTable, name: str) -> int:
    hits = np.flatnonzero(table.name == table.string_id(name))
    assert len(hits), f"no {name} event in the trace"
    return int(hits[0])


# -- --with-stack ----------------------------------------------------------------------------

def test_with_stack_records_the_python_frames_in_the_stored_trace(traced: tuple[Path, str, str]) -> None:
    path, plain, stacked = traced
    with Session.open_readonly(path) as session:
        plain_table, _ = load_trace(session, plain)
        stack_table, description = load_trace(session, stacked)
        spec = session.run(stacked).spec
    assert spec["with_stack"] is True
    python = np.flatnonzero(stack_table.kind == Kind.PYTHON)
    names = {stack_table.string(int(stack_table.name[i])) for i in python}
    assert any(n.startswith(MODEL_FRAME) and n.endswith(": forward") for n in names)
    assert any(n.startswith(STEP_FRAME) for n in names)
    assert "python" in description
    assert not (plain_table.kind == Kind.PYTHON).any()  # without --with-stack there are none


def test_with_stack_shows_an_ops_call_stack_in_the_event_details(qtbot: QtBot, traced: tuple[Path, str, str]) -> None:
    path, _, stacked = traced
    inspector = TraceInspectorWindow.from_session(path, stacked)
    qtbot.addWidget(inspector)
    inspector.show()
    _wait_analyses(qtbot, inspector)
    conv = _first_event(inspector.table, "aten::conv2d")
    inspector.timeline.eventClicked.emit(conv)  # what a click on the box sends
    assert inspector.tabs.currentWidget() is inspector.details
    text = inspector.details.text.toPlainText()
    assert text.startswith("name:      aten::conv2d")
    assert "stack" in text.lower()
    stack = text[text.lower().index("stack"):]
    assert MODEL_FRAME in stack and STEP_FRAME in stack  # the model's forward and the timed step


# -- dropping a session file -----------------------------------------------------------------

def _mime(*paths: Path) -> QMimeData:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    return mime


def _drag_and_drop(window: MainWindow, mime: QMimeData) -> tuple[bool, bool]:
    """Sends a drag-enter and then a drop of `mime` to the window; (enter accepted, drop accepted)."""
    pos = window.rect().center()
    enter = QDragEnterEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)
    drop = QDropEvent(QPointF(pos), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                      Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, drop)
    return enter.isAccepted(), drop.isAccepted()


def test_dropping_a_session_file_on_the_window_opens_it(
        make_window: Callable[..., MainWindow], traced: tuple[Path, str, str], tmp_path: Path) -> None:
    path, plain, stacked = traced
    window = make_window()
    assert window.runs_model.rows == []
    other = tmp_path / "notes.txt"
    other.write_text("not a session")
    assert _drag_and_drop(window, _mime(other)) == (False, False)  # refused: the window stays on its session
    assert window.windowTitle() == "test.stepscope — Stepscope" and window.runs_model.rows == []

    entered, dropped = _drag_and_drop(window, _mime(other, path))  # the session among other files
    assert entered and dropped
    assert window.windowTitle() == "traced.stepscope — Stepscope"
    assert window.session_path == path
    assert [r.run_id for r in window.runs_model.rows] == [plain, stacked]
    assert window.runs_list.tree.topLevelItemCount() == 2
    assert window.recent_sessions()[0] == str(path)


# -- Open Recent -----------------------------------------------------------------------------

def _recent_entries(window: MainWindow) -> list[str]:
    for action in window.menuBar().actions():
        if action.text() == "&File":
            file_menu = action.menu()
            assert isinstance(file_menu, QMenu)
            for entry in file_menu.actions():
                if entry.text() == "Open &Recent":
                    recent = entry.menu()
                    assert isinstance(recent, QMenu)
                    return [a.text() for a in recent.actions()]
    raise AssertionError("no File > Open Recent menu")


def _recent_action(window: MainWindow, path: Path) -> QAction:
    for action in window.recent.menu.actions():
        if action.text() == str(path):
            return action
    raise AssertionError(f"{path} is not in Open Recent")


def test_open_recent_lists_opened_sessions_newest_first_and_reopens_them(
        make_shared_window: Callable[..., MainWindow], traced: tuple[Path, str, str], tmp_path: Path) -> None:
    path, plain, stacked = traced
    empty = tmp_path / "empty.stepscope"
    window = make_shared_window()
    assert _recent_entries(window) == [] and not window.recent.menu.isEnabled()
    assert window.open_session(path) and window.open_session(empty)
    assert _recent_entries(window) == [str(empty), str(path)]
    assert window.recent.menu.isEnabled()
    _recent_action(window, path).trigger()
    assert window.session_path == path and window.windowTitle() == "traced.stepscope — Stepscope"
    assert [r.run_id for r in window.runs_model.rows] == [plain, stacked]
    assert _recent_entries(window) == [str(path), str(empty)]
    window.close()
    again = make_shared_window()  # the next start of the app
    assert _recent_entries(again) == [str(path), str(empty)]


@pytest.fixture
def app_state() -> Iterator[None]:
    """gui.app.main themes the shared QApplication; put its look back for the other tests."""
    app = QApplication.instance()
    assert isinstance(app, QApplication)
    style, palette = app.style().name(), QPalette(app.palette())
    yield
    app.setStyle(style)
    app.setPalette(palette)


def test_a_session_given_on_the_command_line_is_in_open_recent(
        make_shared_window: Callable[..., MainWindow], app_state: None, traced: tuple[Path, str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from gui.app import main as gui_main

    path, _, _ = traced
    monkeypatch.setenv("STEPSCOPE_STARTUP_PROBE", "1")  # show the window, then quit (no framework probe)
    assert gui_main(path, settings_path=tmp_path / "shared-settings.ini") == 0
    assert "STEPSCOPE_WINDOW_SHOWN" in capsys.readouterr().out
    window = make_shared_window()  # the next start, on another session
    assert _recent_entries(window) == [str(path)]
    _recent_action(window, path).trigger()
    assert window.session_path == path


# -- a framework that does not import --------------------------------------------------------

def test_a_framework_that_does_not_import_is_greyed_out_with_its_reason(
        make_window: Callable[..., MainWindow], qtbot: QtBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real probe process on a TensorFlow whose import fails (a package earlier on the
    path that raises, as a CUDA build without its libraries does)."""
    fake = tmp_path / "fake-site" / "tensorflow"
    fake.mkdir(parents=True)
    reason = "libcudart.so.12: cannot open shared object file: No such file or directory"
    (fake / "__init__.py").write_text(f"raise ImportError({reason!r})\n")
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    window = make_window(probe=("tf",))
    window.frameworkReported.emit(FrameworkReport("torch", imports=True, version="2.13.0"))  # not probed here
    panel = window.run_panel
    assert panel.fw_status["tf"].text() == "checking…"
    qtbot.waitUntil(lambda: window.panel_model.frameworks["tf"].imports is False, timeout=60_000)
    check, status = panel.checks["tf"], panel.fw_status["tf"]
    assert not check.isEnabled()  # greyed out: cannot be chosen
    assert status.text() == "unavailable"
    assert check.toolTip() == f"ImportError: {reason}"
    assert status.toolTip() == f"ImportError: {reason}"
    assert panel.checks["torch"].isEnabled()  # the others are unaffected
    for fw in ("torch", "tf"):
        window.panel_model.choose(fw, True)
    assert [s.framework for s in window.panel_model.specs()] == ["torch"]  # Start runs only what imports


def test_the_framework_report_of_the_probe_reaches_the_run_panel(make_window: Callable[..., MainWindow]) -> None:
    """A FrameworkReport with imports=False, as the probe thread hands it to the window."""
    window = make_window(probe=())
    window.frameworkReported.emit(FrameworkReport("jax", imports=False, error="ModuleNotFoundError: No module named 'jax'"))
    panel = window.run_panel
    assert not panel.checks["jax"].isEnabled() and panel.fw_status["jax"].text() == "unavailable"
    assert panel.checks["jax"].toolTip() == "ModuleNotFoundError: No module named 'jax'"
    window.frameworkReported.emit(FrameworkReport("jax", imports=True, version="0.10.2", devices=["cpu:0 cpu"]))
    assert panel.checks["jax"].isEnabled() and panel.fw_status["jax"].text() == "0.10.2"
    assert panel.fw_status["jax"].toolTip() == "devices: cpu:0 cpu"


# -- keyboard shortcuts ------------------------------------------------------------------------

def test_ctrl_r_starts_the_chosen_runs_and_esc_stops_them(make_window: Callable[..., MainWindow], qtbot: QtBot) -> None:
    window = make_window()
    small_torch_settings(window, steps=100_000)
    _activate(qtbot, window)
    assert not window.stop_action.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_R, CTRL)
    qtbot.waitUntil(lambda: window.busy, timeout=5_000)
    assert window.stop_action.isEnabled() and not window.run_panel.start_button.isEnabled()
    qtbot.waitUntil(lambda: any(r.steps_done >= 2 for r in window.live_model.runs.values()), timeout=60_000)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.busy, timeout=30_000)
    row = window.runs_model.rows[-1]
    assert row.record.status == "cancelled" and row.record.step_count >= 2
    assert window.run_panel.start_button.isEnabled()


def test_ctrl_o_opens_and_ctrl_shift_s_saves_as(
        make_window: Callable[..., MainWindow], qtbot: QtBot, traced: tuple[Path, str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path, plain, stacked = traced
    asked: list[str] = []

    def open_name(parent: object, caption: str, *args: object) -> tuple[str, str]:
        asked.append(caption)
        return str(path), ""

    copy = tmp_path / "copy.stepscope"

    def save_name(parent: object, caption: str, *args: object) -> tuple[str, str]:
        asked.append(caption)
        return str(copy), ""

    monkeypatch.setattr("gui.live.session_files.QFileDialog.getOpenFileName", open_name)
    monkeypatch.setattr("gui.live.session_files.QFileDialog.getSaveFileName", save_name)
    window = make_window()
    _activate(qtbot, window)
    qtbot.keyClick(window, Qt.Key.Key_O, CTRL)
    assert asked == ["Open session"]
    assert window.session_path == path and [r.run_id for r in window.runs_model.rows] == [plain, stacked]
    qtbot.keyClick(window, Qt.Key.Key_S, CTRL | Qt.KeyboardModifier.ShiftModifier)
    assert asked == ["Open session", "Save session as"]
    assert window.session_path == copy and window.windowTitle() == "copy.stepscope — Stepscope"
    with Session.open_readonly(copy) as saved:
        assert [r.run_id for r in saved.runs()] == [plain, stacked]


def test_ctrl_k_compares_the_selected_runs_and_ctrl_s_saves_the_report(
        make_window: Callable[..., MainWindow], qtbot: QtBot, traced: tuple[Path, str, str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path, plain, stacked = traced
    compare = _open_by_shortcut(qtbot, make_window(session=path), [plain, stacked], Qt.Key.Key_K, CompareWindow)
    assert isinstance(compare, CompareWindow)
    assert [e.run_id for e in compare.model.chosen()] == [plain, stacked]
    report = tmp_path / "report.md"
    monkeypatch.setattr("gui.compare.compare_view.QFileDialog.getSaveFileName",
                        lambda *args: (str(report), "Markdown (*.md)"))
    _activate(qtbot, compare)
    qtbot.keyClick(compare, Qt.Key.Key_S, CTRL)
    assert report.exists()
    text = report.read_text()
    assert plain in text and stacked in text


# -- the runs list's context menu --------------------------------------------------------------

def _context_menu(window: MainWindow) -> dict[str, QAction]:
    """Right-click on the runs list: the menu that pops up, closed again at once; its actions by
    text (the menu stays a child of the list, so they can be triggered afterwards)."""
    shown: list[QMenu] = []

    def take_popup() -> None:
        popup = QApplication.activePopupWidget()
        if isinstance(popup, QMenu):
            shown.append(popup)
            popup.close()
        else:
            QTimer.singleShot(10, take_popup)
    QTimer.singleShot(0, take_popup)
    window.runs_list.tree.customContextMenuRequested.emit(QPoint(10, 10))  # returns once the menu closed
    assert len(shown) == 1
    return {a.text(): a for a in shown[0].actions() if not a.isSeparator()}


@pytest.mark.qt_log_ignore("This plugin does not support raise", "This plugin does not support grabbing the keyboard")
def test_the_runs_list_context_menu_inspects_compares_and_exports(
        make_window: Callable[..., MainWindow], traced: tuple[Path, str, str], qtbot: QtBot, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    path, plain, stacked = traced
    window = make_window(session=path)
    window.runs_list.select([plain, stacked])
    actions = _context_menu(window)
    assert list(actions) == ["Inspect trace…", "Compare selected runs…", "Export as CSV…"]
    assert not actions["Inspect trace…"].isEnabled()  # one run at a time
    actions["Compare selected runs…"].trigger()
    compares = _new_windows(window, CompareWindow)
    assert len(compares) == 1 and isinstance(compares[0], CompareWindow)
    assert [e.run_id for e in compares[0].model.chosen()] == [plain, stacked]

    window.runs_list.select([plain])
    actions = _context_menu(window)
    assert list(actions) == ["Inspect trace…", "Compare runs…", "Export as CSV…"]
    assert actions["Inspect trace…"].isEnabled() and actions["Compare runs…"].isEnabled()
    actions["Inspect trace…"].trigger()
    inspectors = _new_windows(window, TraceInspectorWindow)
    assert len(inspectors) == 1 and plain in inspectors[0].windowTitle()

    out = tmp_path / "runs.csv"
    monkeypatch.setattr("gui.view_export.QFileDialog.getSaveFileName", lambda *args: (str(out), ""))
    actions["Export as CSV…"].trigger()
    with out.open(newline="") as handle:
        rows = list(csv.reader(handle))
    tree = window.runs_list.tree
    header = tree.headerItem()
    assert rows[0] == [header.text(c) for c in range(tree.columnCount())]
    items = [tree.topLevelItem(r) for r in range(tree.topLevelItemCount())]
    assert rows[1:] == [[item.text(c) for c in range(tree.columnCount())] for item in items if item is not None]
    assert len(rows) == 3


# -- one run end to end: CLI -> session -> main window -> Ctrl+I -> trace inspector -----------

def test_a_recorded_run_opens_in_the_trace_inspector_with_ctrl_i(
        make_window: Callable[..., MainWindow], qtbot: QtBot, traced: tuple[Path, str, str]) -> None:
    path, plain, _ = traced
    with Session.open_readonly(path) as session:
        stored, description = load_trace(session, plain)
    window = make_window(session=path)
    assert window.runs_model.rows[0].run_id == plain
    inspector = _open_by_shortcut(qtbot, window, [plain], Qt.Key.Key_I, TraceInspectorWindow)
    assert isinstance(inspector, TraceInspectorWindow)
    assert inspector.windowTitle() == f"torch convnet train — {plain} — trace inspector"
    assert inspector.description.text() == description
    assert description.startswith("torch.profiler (chrome), on CPU:") and "2 steps" in description
    timeline = inspector.timeline
    assert len(inspector.table) == len(stored)
    assert [r.label for r in inspector.table.rows] == [r.label for r in stored.rows]
    assert len(timeline.lod.lanes) == len(stored.rows)
    qtbot.waitUntil(lambda: timeline.visible_box_count() > 0, timeout=10_000)
    assert len(timeline.step_starts_ns()) == 2  # the two trace-window steps
    _wait_analyses(qtbot, inspector)
    expected = top_ops(stored, by="self", limit=None)
    panel = inspector.top_ops
    assert panel is not None and panel.model.rowCount() == len(expected) > 0
    assert inspector.tabs.tabText(0) == f"Top ops ({len(expected):,})"
    shown = [panel.proxy.op(r) for r in range(panel.proxy.rowCount())]
    assert sorted((o.name, o.kind, o.count, o.self_ns) for o in shown) == \
        sorted((o.name, o.kind, o.count, o.self_ns) for o in expected)
    assert shown[0].self_ns == expected[0].self_ns  # biggest self time first, as stored
    assert "aten::conv2d" in {o.name for o in shown}
    top_cell = panel.proxy.index(0, 0).data()
    assert top_cell == shown[0].name
