"""The main window's menus and toolbar: File (Open, Open Recent, Save As, Import Trace, Import
Trace Folder, Attach, Quit), Run (Start, Stop, Machines) and Analyse (Inspect Trace, Compare Runs, Scorecard), the
common ones repeated on the toolbar.

Kept apart from the window so the window reads as wiring: every action's slot is passed in,
so this module knows nothing of runs or sessions.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QIcon, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

ICONS = Path(__file__).resolve().parents[2] / "resources" / "icons"

Slot = Callable[[], object]


def icon(name: str) -> QIcon:
    return QIcon(str(ICONS / f"{name}.svg"))


@dataclass(frozen=True)
class MainSlots:
    """What each action does, supplied by the window."""

    start: Slot
    stop: Slot
    open: Slot
    save_as: Slot
    quit: Slot
    inspect: Slot
    compare: Slot
    scorecard: Slot
    import_trace: Callable[[bool], object]  # True: a folder (a profile log directory, per-rank traces)
    attach: Slot  # File → Attach…: a running program's profiler server, or a Python process's stacks
    machines: Slot  # Run → Machines…: the SSH machines a run can go to


@dataclass(frozen=True)
class MainActions:
    """The actions the window enables and disables, and the menu it fills with recent files."""

    start: QAction
    stop: QAction
    open: QAction
    save_as: QAction
    inspect: QAction
    compare: QAction
    import_trace: QAction
    recent_menu: QMenu
    scorecard: QAction
    machines: QAction


def build_main_actions(window: QMainWindow, slots: MainSlots) -> MainActions:
    """Create the actions on `window` (so their shortcuts work anywhere in it), its menu bar and
    its toolbar. Stop starts disabled: nothing runs yet."""

    def action(text: str, slot: Slot, shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
               icon_name: str | None = None) -> QAction:
        act = QAction(text, window)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        if icon_name:
            act.setIcon(icon(icon_name))
        act.triggered.connect(slot)
        window.addAction(act)
        return act

    start = action("&Start", slots.start, "Ctrl+R", "start")
    stop = action("S&top", slots.stop, "Esc", "stop")
    open_ = action("&Open…", slots.open, QKeySequence.StandardKey.Open, "open")
    save_as = action("Save &As…", slots.save_as, "Ctrl+Shift+S", "save")
    import_trace = action("&Import Trace…", lambda: slots.import_trace(False), "Ctrl+Shift+I")
    import_folder = action("Import Trace &Folder…", lambda: slots.import_trace(True))
    for act, tip in ((import_trace, "Read a trace file (.json, .json.gz, .xplane.pb[.gz]) into this session as a run"),
                     (import_folder, "Read a profile log directory, or a folder of one job's per-rank traces, as a run")):
        act.setStatusTip(tip)
        act.setToolTip(tip)
    attach = action("A&ttach…", slots.attach, "Ctrl+Shift+A")
    attach.setStatusTip("Capture from a running program: its profiler server (HOST:PORT) as a run, "
                        "or a Python process's stacks (py-spy) as a flame graph")
    quit_ = action("&Quit", slots.quit, QKeySequence.StandardKey.Quit)
    file_menu = window.menuBar().addMenu("&File")
    file_menu.addAction(open_)
    recent_menu = file_menu.addMenu("Open &Recent")
    file_menu.addAction(save_as)
    file_menu.addSeparator()
    file_menu.addAction(import_trace)
    file_menu.addAction(import_folder)
    file_menu.addAction(attach)
    file_menu.addSeparator()
    file_menu.addAction(quit_)
    run_menu = window.menuBar().addMenu("&Run")
    run_menu.addAction(start)
    run_menu.addAction(stop)
    run_menu.addSeparator()
    machines = action("&Machines…", slots.machines, "Ctrl+Shift+M")
    machines.setStatusTip("Add, test and set up the machines over SSH that Start's runs can go to")
    run_menu.addAction(machines)
    inspect = action("&Inspect Trace…", slots.inspect, "Ctrl+I", "inspect")
    compare = action("&Compare Runs…", slots.compare, "Ctrl+K", "compare")
    analyse_menu = window.menuBar().addMenu("&Analyse")
    analyse_menu.addAction(inspect)
    scorecard = action("&Scorecard…", slots.scorecard, "Ctrl+Shift+C")
    scorecard.setStatusTip("Run a framework scorecard sweep on this session and see its metrics, scaling and claims")
    analyse_menu.addSeparator()
    analyse_menu.addAction(scorecard)
    toolbar = window.addToolBar("Main")
    toolbar.setObjectName("mainToolbar")
    toolbar.setMovable(False)
    toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
    for act in (start, stop, open_, save_as, inspect, compare):
        toolbar.addAction(act)
    stop.setEnabled(False)
    return MainActions(start, stop, open_, save_as, inspect, compare, import_trace, recent_menu, scorecard, machines)
