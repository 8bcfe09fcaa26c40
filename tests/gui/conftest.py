"""Fixtures for the GUI tests: a window on a temporary session with temporary QSettings, and
cleanup that cancels any worker a test left running."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings
from pytestqt.qtbot import QtBot

from gui.live.main_window import MainWindow
from gui.live.run_panel_model import FrameworkState
from gui.notifications import NotificationManager

ROOT = Path(__file__).resolve().parents[2]
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # read when pytest-qt makes the QApplication, after this import


@pytest.fixture
def make_window(qtbot: QtBot, tmp_path: Path) -> Iterator[Callable[..., MainWindow]]:
    windows: list[MainWindow] = []

    def make(session: Path | None = None, probe: tuple[str, ...] = (), torch_ready: bool = True) -> MainWindow:
        settings = QSettings(str(tmp_path / f"settings{len(windows)}.ini"), QSettings.Format.IniFormat)
        window = MainWindow(session or tmp_path / "test.stepscope", settings=settings,
                            notifications=NotificationManager(), probe_frameworks=probe)
        if torch_ready and not probe:
            # Framework availability normally comes from the probe process; tests that do not
            # exercise the probe say "torch imports" here to save its start-up.
            window.panel_model.set_framework_state("torch", FrameworkState(True, "probe skipped in test"))
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        if window.queue.running:
            window.queue.cancel()
            window.queue.join(timeout=15)


def small_torch_settings(window: MainWindow, steps: int = 5) -> None:
    """Batch 8, `steps` steps, 1 warm-up, no trace, torch only — set through the panel's widgets."""
    panel = window.run_panel
    for fw, check in panel.checks.items():
        check.setChecked(fw == "torch")
    panel.combos["workload"].setCurrentText("convnet")
    for name, value in (("batch_size", 8), ("steps", steps), ("warmup", 1), ("trace_steps", 0), ("repeat", 1)):
        panel.spins[name].setValue(value)


@pytest.fixture(scope="session")
def torch_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A session holding one real, small torch run, made headless by the CLI."""
    path = tmp_path_factory.mktemp("session") / "torch.stepscope"
    proc = subprocess.run([sys.executable, "main.py", "run", "--framework", "torch", "--batch-size", "8", "--steps", "8",
                           "--warmup", "1", "--trace-steps", "0", "--session", str(path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=180,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    return path
