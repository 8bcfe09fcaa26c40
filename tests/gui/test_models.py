"""The Qt-free models: live buffers, run panel state, notifications and their exception hooks."""
from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from gui.live.live_model import GrowingSeries, LiveModel
from gui.live.run_panel_model import FrameworkState, RunPanelModel, load_presets
from gui.notifications import NotificationManager


def test_growing_series_doubles_and_keeps_values() -> None:
    s = GrowingSeries(4)
    for i in range(10):
        s.append(i, i * 2)
    s.extend(np.arange(10, 20.0), np.arange(20, 40.0, 2))
    assert len(s) == 20 and np.array_equal(s.y, np.arange(20) * 2.0)


def test_events_posted_from_another_thread_land_after_drain() -> None:
    model = LiveModel()
    model.announce("r1", "torch", "PyTorch", 4)

    def feed() -> None:
        post = model.poster("r1")
        post({"type": "phase", "t": 0.5, "name": "warmup", "edge": "start"})
        post({"type": "step", "t": 1.0, "index": 0, "phase": "warmup", "step_ms": 50.0, "samples_per_s": 10.0, "loss": 2.0})
        post({"type": "phase", "t": 1.1, "name": "warmup", "edge": "end"})
        post({"type": "phase", "t": 1.1, "name": "measure", "edge": "start"})
        for i in range(3):
            post({"type": "step", "t": 1.2 + i, "index": i, "phase": "measure", "step_ms": 10.0 + i,
                  "samples_per_s": 100.0, "loss": None})
        post({"type": "sample", "t": 2.0, "host_rss": 200 * 1024 * 1024, "cpu_percent": 90.0, "device_in_use": None,
              "device_peak": None, "device_memory_source": None, "gpu_util": None, "gpu_mem_used": None})

    thread = threading.Thread(target=feed)
    thread.start()
    thread.join()
    assert model.runs == {}  # nothing is applied off the GUI thread
    model.drain()
    run = model.runs["r1"]
    assert run.steps_done == 4 and len(run.series["loss"]) == 1
    assert run.median_step_ms() == 11.0  # the warm-up step is left out
    assert run.series["host_mb"].y[0] == pytest.approx(200.0)
    assert run.phases[0] == ["warmup", 0.5, 1.1]


def test_events_that_come_before_their_runs_begin_wait_for_it_and_a_cleared_runs_are_dropped() -> None:
    model = LiveModel()
    step = {"type": "step", "t": 1.0, "index": 0, "phase": "measure", "step_ms": 5.0, "samples_per_s": 1.0, "loss": 1.0}
    model.post("r1", {"type": "phase", "t": 0.5, "name": "measure", "edge": "start"})
    model.post("r1", step)  # the worker spoke before the GUI thread queued the run's start
    assert model.drain() == 2 and model.runs == {}
    model.post("r1", {**step, "index": 1, "t": 2.0})
    model.announce("r1", "torch", "PyTorch", 3)
    model.post("r1", {**step, "index": 2, "t": 3.0})
    model.drain()
    run = model.runs["r1"]
    assert run.steps_done == 3 and list(run.series["step_ms"].x) == [1.0, 2.0, 3.0]
    assert run.phases[0][0] == "measure"
    model.clear()
    model.post("r1", {**step, "index": 3, "t": 4.0})  # a late event of a run no longer shown
    model.drain()
    model.announce("r1", "torch", "PyTorch", 3)
    model.drain()
    assert model.runs["r1"].steps_done == 0


def test_a_batched_drain_gives_the_same_series_as_applying_events_one_by_one() -> None:
    rng = np.random.default_rng(1)
    events = [{"type": "phase", "t": 0.0, "name": "measure", "edge": "start"}]
    for k in range(3000):
        t = k / 100
        events.append({"type": "sample", "t": t, "host_rss": float(rng.integers(1, 1e9)), "cpu_percent": float(rng.random()),
                       "device_in_use": None if k % 7 else 5e8, "device_peak": None, "device_memory_source": None,
                       "gpu_util": None, "gpu_mem_used": None})
        if k % 3 == 0:
            events.append({"type": "step", "t": t, "index": k, "phase": "measure", "step_ms": float(rng.random()),
                           "samples_per_s": 10.0, "loss": None if k % 2 else float(k)})
    events.append({"type": "phase", "t": 30.0, "name": "measure", "edge": "end"})
    batched, single = LiveModel(), LiveModel()
    batched.announce("r", "torch", "r", 0)
    for event in events:
        batched.post("r", event)
    assert batched.drain() == len(events) + 1
    run = single.add_run("r", "torch", "r")
    for event in events:
        run.apply(event)
    a, b = batched.runs["r"], single.runs["r"]
    assert (a.steps_done, a.last_t, a.phases) == (b.steps_done, b.last_t, b.phases) == (1000, 30.0, [["measure", 0.0, 30.0]])
    for name, series in a.series.items():
        assert np.array_equal(series.x, b.series[name].x) and np.array_equal(series.y, b.series[name].y), name
        assert (series.y_min, series.y_max) == (b.series[name].y_min, b.series[name].y_max)
    assert len(a.series["device_mb"]) == 429 and len(a.series["gpu_util"]) == 0 and len(a.series["loss"]) == 500
    assert a.median_step_ms() == b.median_step_ms()


def test_series_bounds_skip_non_finite_values_and_the_pyramid_keeps_up_in_batches() -> None:
    s = GrowingSeries()
    s.extend(np.array([0.0, 1.0, 2.0]), np.array([np.nan, np.inf, 3.0]))
    s.append(3.0, -np.inf)
    assert (s.y_min, s.y_max) == (3.0, 3.0) and s.sorted
    s.extend(np.arange(4.0, 4.0 + 3 * s.PYRAMID_BATCH), np.arange(3 * s.PYRAMID_BATCH, dtype=float))
    assert len(s) - s.pyramid.n < s.PYRAMID_BATCH  # taken in on ingest, not all at the first frame that needs it
    s.append(1.0, 0.0)
    assert not s.sorted


def test_presets_queue_one_run_per_framework_with_identical_settings() -> None:
    model = RunPanelModel()
    presets = load_presets()
    assert any("all three" in p.name for p in presets)
    for fw in ("jax", "torch", "tf"):
        model.set_framework_state(fw, FrameworkState(fw != "tf", "1.0", None if fw != "tf" else "no module named tensorflow"))
    model.apply_preset(presets[0])
    specs = model.specs()
    assert [s.framework for s in specs] == ["jax", "torch"]  # tf does not import: left out
    assert len({(s.workload, s.batch_size, s.steps, s.warmup, s.trace_steps) for s in specs}) == 1


def test_saved_settings_round_trip_and_bad_values_are_skipped() -> None:
    model = RunPanelModel()
    model.set("batch_size", 32)
    model.set_variant("jax", "eager")
    restored = RunPanelModel()
    restored.load_dict({**model.to_dict(), "workload": "no-such-model", "steps": "many"})
    assert restored.batch_size == 32 and restored.variants["jax"] == "eager" and restored.workload == "convnet"


def test_notification_manager_catches_exceptions_of_threads_and_the_main_thread() -> None:
    manager = NotificationManager()
    seen = []
    manager.connect(seen.append)
    old = sys.excepthook, threading.excepthook
    manager.install_hooks()
    try:
        thread = threading.Thread(target=lambda: 1 / 0, name="worker-x")
        thread.start()
        thread.join()
        try:
            raise KeyError("missing")
        except KeyError:
            sys.excepthook(*sys.exc_info())
    finally:
        manager.restore_hooks()
    assert (sys.excepthook, threading.excepthook) == old
    assert [n.severity for n in seen] == ["error", "error"]
    assert "ZeroDivisionError in thread worker-x" in seen[0].message and "Traceback" in seen[0].detail
    assert "KeyError" in seen[1].message


def test_frameworks_that_import_are_chosen_until_the_user_or_saved_settings_choose() -> None:
    model = RunPanelModel()
    model.choose("jax", False)  # the user's pick outlives the check
    for fw in ("jax", "torch", "tf"):
        model.set_framework_state(fw, FrameworkState(fw != "tf", "1.0"))
    assert model.chosen == {"jax": False, "torch": True, "tf": False}
    fresh = RunPanelModel()
    assert fresh.pending_frameworks() == ["jax", "torch", "tf"]  # Start waits for these
    fresh.load_dict(RunPanelModel().to_dict())  # saved before anyone chose: still follows the check
    fresh.set_framework_state("tf", FrameworkState(True, "2.0"))
    assert fresh.chosen["tf"] and fresh.auto_choose
    kept = RunPanelModel()
    kept.load_dict(model.to_dict())
    kept.set_framework_state("jax", FrameworkState(True, "1.0"))
    assert not kept.chosen["jax"]
