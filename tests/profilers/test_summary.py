from __future__ import annotations

from profilers.summary import summarize


def step(i: int, phase: str, ms: float, loss: float = 1.0) -> dict:
    return {"type": "step", "index": i, "phase": phase, "step_ms": ms, "samples_per_s": 0.0, "loss": loss}


def test_only_measured_steps_count_and_figures_follow_them() -> None:
    events = [
        {"type": "hello", "framework": "jax", "framework_version": "0.10.2", "device_kind": "cpu", "device_name": "cpu",
         "param_count": 7,
         "spec": {"framework": "jax", "workload": "mlp", "mode": "train", "variant": "compiled", "batch_size": 100}},
        {"type": "compile", "ms": 850.0, "what": "x"},
        step(0, "warmup", 500.0),
        *[step(i, "measure", float(ms), loss=0.5) for i, ms in enumerate([10, 20, 30, 40, 50], start=1)],
        step(6, "trace", 900.0, loss=0.1),
        {"type": "sample", "host_rss": 300 * 1024 * 1024, "device_in_use": None, "device_peak": None},
        {"type": "sample", "host_rss": 200 * 1024 * 1024, "device_in_use": 5 * 1024 * 1024, "device_peak": 8 * 1024 * 1024},
        {"type": "eval", "accuracy": 0.93, "macro_f1": 0.92, "loss": 0.3, "samples": 360},
    ]
    s = summarize(events)
    assert s["steps"] == 5
    assert s["step_ms_median"] == 30.0
    assert s["step_ms_p95"] == 48.0
    assert s["samples_per_s"] == round(100 * 1000 / 30.0, 2)
    assert s["compile_ms"] == 850.0
    assert s["final_loss"] == 0.5  # the trace window's loss is not the headline
    assert s["peak_host_mb"] == 300.0 and s["peak_device_mb"] == 8.0
    assert s["accuracy"] == 0.93 and s["workload"] == "mlp" and s["param_count"] == 7


def test_no_steps_gives_empty_figures_not_errors() -> None:
    s = summarize([])
    assert s["steps"] == 0 and s["step_ms_median"] is None and s["samples_per_s"] is None


def test_the_measured_phases_cpu_share_comes_from_its_end_events_cpu_seconds() -> None:
    from profilers.summary import measured_cpu_percent

    events = [{"type": "phase", "name": "warmup", "edge": "end", "cpu_s": 3.0, "wall_s": 1.0},
              {"type": "phase", "name": "measure", "edge": "start"},
              {"type": "phase", "name": "measure", "edge": "end", "cpu_s": 0.075, "wall_s": 0.05}]
    assert measured_cpu_percent(events) == 150.0  # 75 ms of CPU in 50 ms: one and a half cores
    assert measured_cpu_percent(events[:2]) is None
    assert measured_cpu_percent([*events[:2], {**events[2], "wall_s": None}]) is None
