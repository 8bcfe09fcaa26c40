"""The main window end to end: real torch runs from the run panel, Stop, a crashing worker,
Save As / Open, and a screenshot that must not be blank."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PySide6.QtGui import QColor

from gui.live.live_model import FRAMEWORK_COLORS
from sessions.store import Session
from tests.gui.conftest import small_torch_settings

FAKE_WORKER = Path(__file__).resolve().parents[1] / "profilers" / "fake_worker.py"


def test_window_opens_and_closes(make_window, tmp_path: Path) -> None:
    window = make_window()
    assert "test.stepscope" in window.windowTitle()
    assert window.runs_model.rows == []
    assert window.close()


def test_real_torch_run_streams_into_the_live_model_and_plots(make_window, qtbot) -> None:
    window = make_window(probe=("torch",))
    qtbot.waitUntil(lambda: window.panel_model.available("torch"), timeout=60_000)  # the real probe
    assert window.run_panel.fw_status["jax"].text() == "checking…"  # never probed here
    small_torch_settings(window)
    assert window.run_panel.start_button.isEnabled()
    window.run_panel.start_button.click()
    # The first telemetry samples arrive while torch is still importing (the controller samples the
    # worker from its spawn); events come in 0.1 s batches, so a tiny run's steps may all land at once.
    qtbot.waitUntil(lambda: window.live_view.point_count() > 0, timeout=60_000)
    first = window.live_view.point_count()
    assert first > 0
    qtbot.waitUntil(lambda: any(r.steps_done >= 2 for r in window.live_model.runs.values()), timeout=60_000)
    qtbot.waitUntil(lambda: not window.busy, timeout=60_000)
    qtbot.waitUntil(lambda: window.live_view.point_count() > first, timeout=5_000)
    run = next(iter(window.live_model.runs.values()))
    assert run.steps_done == 6 and run.median_step_ms() > 0  # 1 warm-up + 5 measured
    assert [r.record.status for r in window.runs_model.rows] == ["ok"]
    figures = window.runs_model.rows[0].figures
    assert figures["framework"] == "torch" and figures["steps"] == 5 and figures["step_ms_median"] > 0
    assert window.runs_list.tree.topLevelItemCount() == 1
    assert window.progress.value() == window.progress.maximum()


def test_stop_cancels_the_worker_and_keeps_the_run_as_cancelled(make_window, qtbot) -> None:
    window = make_window()
    small_torch_settings(window, steps=100_000)
    window.start_action.trigger()
    qtbot.waitUntil(lambda: any(r.steps_done >= 3 for r in window.live_model.runs.values()), timeout=60_000)
    window.stop_action.trigger()
    qtbot.waitUntil(lambda: not window.busy, timeout=30_000)
    row = window.runs_model.rows[-1]
    assert row.record.status == "cancelled"
    assert row.record.step_count >= 3  # the streamed steps are kept
    assert window.run_panel.start_button.isEnabled()


def test_a_crashing_worker_shows_a_notification_and_the_window_survives(make_window, qtbot, monkeypatch) -> None:
    monkeypatch.setattr("profilers.runner.worker_command",
                        lambda spec, out_dir, clock_origin=None: [sys.executable, str(FAKE_WORKER), "abort"])
    window = make_window()
    small_torch_settings(window)
    window.start_runs()
    qtbot.waitUntil(lambda: any(n.severity == "error" for n in window.notifications.records), timeout=30_000)
    qtbot.waitUntil(lambda: not window.busy, timeout=10_000)
    note = [n for n in window.notifications.records if n.severity == "error"][-1]
    assert "SIGABRT" in note.message and "about to abort" in note.detail
    qtbot.waitUntil(window.banner.isVisible, timeout=2_000)
    assert "SIGABRT" in window.banner.text.text()
    assert window.isVisible()
    row = window.runs_model.rows[-1]
    assert row.record.status == "failed"
    window.runs_list.select([row.run_id])
    assert "SIGABRT" in window.runs_list.reason.text()
    assert "about to abort" in window.runs_list.log_view.toPlainText()


def test_save_as_then_open_shows_the_same_runs(make_window, torch_session: Path, tmp_path: Path) -> None:
    window = make_window(session=torch_session)
    ids = [r.run_id for r in window.runs_model.rows]
    assert ids
    target = tmp_path / "saved copy.stepscope"
    assert window.save_session_as(target)
    assert "saved copy.stepscope" in window.windowTitle()
    assert str(target) in window.recent_sessions()
    other = make_window(session=tmp_path / "empty.stepscope")
    assert other.open_session(target)
    assert [r.run_id for r in other.runs_model.rows] == ids
    with Session.open_readonly(target) as copy, Session.open_readonly(torch_session) as original:
        assert np.array_equal(copy.steps(ids[0])["step_ms"], original.steps(ids[0])["step_ms"])


def test_an_unreadable_file_is_a_notification_not_a_crash(make_window, qtbot, tmp_path: Path) -> None:
    bad = tmp_path / "broken.stepscope"
    bad.write_bytes(b"this is not a session")
    window = make_window()
    assert not window.open_session(bad)
    assert "test.stepscope" in window.windowTitle()
    qtbot.waitUntil(window.banner.isVisible, timeout=2_000)
    assert "Could not open the session" in window.banner.text.text()


def test_screenshot_after_a_run_is_not_blank(make_window, qtbot, torch_session: Path, tmp_path: Path) -> None:
    window = make_window(session=torch_session)
    window.resize(1400, 900)
    qtbot.waitUntil(lambda: window.live_view.point_count() > 0, timeout=5_000)
    # x by step number: by time, the 8 steps of this tiny run are a sliver after the worker's
    # import, a few pixels wide when a loaded machine made the import slow
    window.live_view.set_x_mode("steps")
    want = QColor(FRAMEWORK_COLORS["torch"])

    def curve_pixels() -> int:
        window.live_view.catch_up()  # draw now, not at the next tick of a timer a busy machine delays
        image = window.live_view.plots["step_ms"].grab().toImage()
        return sum(1 for x in range(0, image.width(), 2) for y in range(0, image.height(), 2)
                   if _close(image.pixelColor(x, y), want))

    try:  # the plot timer may need a few frames on a busy machine
        qtbot.waitUntil(lambda: curve_pixels() > 20, timeout=20_000)
    except Exception:
        pass
    hits = curve_pixels()
    assert hits > 20, f"no torch-coloured curve pixels in the step-time plot ({hits})"
    path = tmp_path / "main-window.png"
    assert window.grab().save(str(path))
    assert path.stat().st_size > 10_000


def _close(a: QColor, b: QColor, tol: int = 40) -> bool:
    return abs(a.red() - b.red()) + abs(a.green() - b.green()) + abs(a.blue() - b.blue()) < tol


def test_the_left_column_starts_wide_enough_for_its_pages(make_window, qtbot) -> None:
    """Neither tab's page starts clipped behind a horizontal scroll bar ("Presets…" and Stop cut
    off at 1440x900, before), whatever the window's size from a laptop's to a desktop's."""
    for size in ((1440, 900), (1280, 800)):
        window = make_window()
        window.resize(*size)
        qtbot.waitExposed(window)
        tabs = window.run_tabs
        for i in range(tabs.count()):
            tabs.setCurrentIndex(i)
            qtbot.wait(10)
            scroll = tabs.widget(i)
            assert not scroll.horizontalScrollBar().isVisible(), (size, tabs.tabText(i), scroll.viewport().width(),
                                                                  scroll.widget().sizeHint().width())
