"""Guards on the Qt stack itself."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import PySide6

ROOT = Path(__file__).resolve().parents[2]


def test_live_plot_survives_seconds_of_continuous_repainting() -> None:
    # PySide6 6.12.0 on Python 3.11 aborts here within seconds ("none_dealloc: deallocating None").
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("repaint_live_plot.py")), "4"],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert proc.returncode == 0, f"PySide6 {PySide6.__version__} died repainting a live plot:\n{proc.stderr[-2000:]}"
    frames = int(proc.stdout.split("frames=")[1].split()[0])
    assert frames > 30, proc.stdout


def test_pyside6_is_the_pinned_safe_version() -> None:
    assert PySide6.__version__ == "6.11.3", "6.12.0 aborts repainting plots on Python 3.11; see requirements.txt"
