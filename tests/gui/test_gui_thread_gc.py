"""Python's garbage collector frees widgets in the GUI thread only (gui/gui_thread_gc.py): a
collection that a worker thread's allocations trigger would free them in that thread, where a
QWidget's destructor can deadlock with the GUI thread."""
from __future__ import annotations

import gc
import threading
from typing import Any

from PySide6.QtWidgets import QWidget
from pytestqt.qtbot import QtBot

from gui import gui_thread_gc


def test_a_widget_in_a_garbage_cycle_is_freed_in_the_gui_thread_not_in_a_busy_worker(qtbot: QtBot) -> None:
    assert not gc.isenabled()  # the tests' fixture runs Qt tests as the app runs (gui.app.make_app)
    freed_in: list[str] = []
    widget: Any = QWidget()
    widget.me = widget  # a cycle: only the cyclic collector frees it
    widget.destroyed.connect(lambda *_: freed_in.append(threading.current_thread().name))
    del widget
    held: list[list[int]] = []
    worker = threading.Thread(target=lambda: held.extend([] for _ in range(50_000)), name="busy-worker")
    worker.start()  # 50,000 new containers: far past the collector's first threshold (700)
    worker.join()
    assert freed_in == []  # not collected meanwhile (with automatic collection on, the worker's allocations collect it)
    qtbot.waitUntil(lambda: bool(freed_in), timeout=5_000)  # the GUI thread's timer collects it
    assert freed_in == [threading.main_thread().name]


def test_stop_puts_the_usual_collector_back_and_start_takes_it_off_again(qtbot: QtBot) -> None:
    gui_thread_gc.stop()
    assert gc.isenabled()
    gui_thread_gc.start()
    assert not gc.isenabled()
