"""The GUI process never imports a framework, even after running one from the window."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_gui_process_imports_no_framework_after_a_run() -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "tests.gui.window_run_imports"], capture_output=True, text=True,
                          timeout=180, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("status=ok "), line
    assert line.endswith("loaded="), f"the GUI process imported a framework: {line}"


def test_main_py_opens_the_window_and_reports_it_shown(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT), STEPSCOPE_STARTUP_PROBE="1")
    proc = subprocess.run([sys.executable, "main.py", str(tmp_path / "x.stepscope")], capture_output=True, text=True,
                          timeout=60, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "STEPSCOPE_WINDOW_SHOWN" in proc.stdout
