"""Runs a continuously repainting live plot for a few seconds (used by test_qt_stack.py in a
subprocess, so a Qt binding that aborts the interpreter fails one test with its message
instead of killing the test run)."""
from __future__ import annotations

import sys
import time

import numpy as np
from PySide6.QtWidgets import QApplication

from gui.live.live_model import GrowingSeries
from gui.live.live_plot import LivePlot


def main(seconds: float) -> None:
    app = QApplication.instance() or QApplication([])
    series = GrowingSeries()
    plot = LivePlot(series, title="step time", y_label="ms")
    plot.resize(640, 360)
    plot.show()
    rng = np.random.default_rng(0)
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        series.extend(np.arange(i, i + 50, dtype=float), rng.normal(10, 1, 50))
        i += 50
        plot.repaint()
        app.processEvents()
        time.sleep(0.005)
    plot.grab()  # a full render of the final frame
    print(f"frames={plot.frames} points={len(series)}")


if __name__ == "__main__":
    main(float(sys.argv[1]) if len(sys.argv) > 1 else 4.0)
