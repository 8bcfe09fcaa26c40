"""Python's cyclic garbage collector run in the GUI thread only.

The collector runs in whichever thread happens to allocate when a generation fills up. In a
worker thread of the GUI process (the inspector's analyses, a machine test, an import's progress
reader) it may free a closed window's widgets there, and a QWidget destroyed off the GUI thread
deadlocks with it: seen in the suite, the analyses thread freeing a menu inside `gc.collect`
waited for the GIL while the GUI thread, destroying that menu's sibling, waited for Qt's mutex.
So automatic collection is off and pyqtgraph's GarbageCollector collects from a 1 s timer in
the GUI thread, a generation at a time as its thresholds fill.
"""
from __future__ import annotations

import gc

from pyqtgraph.util.garbage_collector import GarbageCollector

_collector: GarbageCollector | None = None


def start() -> None:
    """From the GUI thread, with the QApplication made; again: nothing more."""
    global _collector
    if _collector is None:
        _collector = GarbageCollector(interval=1.0)


def stop() -> None:
    """Automatic collection back on (tests that share a process with non-GUI ones), after one
    full collection here, in the GUI thread."""
    global _collector
    if _collector is not None:
        _collector.timer.stop()
        _collector = None
        gc.collect()
        gc.enable()
