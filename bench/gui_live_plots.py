"""Live plots under load: the LiveModel ingests 10,000 telemetry samples/s (plus steps) from a
feeder thread while the LiveViewPanel's 30 fps timer drains and redraws. Measures frames per
second and frame times (the event-loop pass holding drain + setData + the paint of the six plots).

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m bench.gui_live_plots [--seconds 60] [--rate 10000]
"""
from __future__ import annotations

import argparse
import os
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402

from bench.common import write_result  # noqa: E402
from gui.app import make_app  # noqa: E402
from gui.live_model import LiveModel  # noqa: E402
from gui.live_view import LiveViewPanel  # noqa: E402


def feed(model: LiveModel, rate: int, stop: threading.Event) -> None:
    post = model.poster("bench")
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    sent = step = 0
    while not stop.is_set():
        now = time.perf_counter() - t0
        due = int(now * rate)
        for k in range(sent, due):
            t = k / rate
            post({"type": "sample", "t": t, "host_rss": int(4e8 + rng.integers(0, 1e7)), "cpu_percent": 100 + 50 * rng.random(),
                  "device_in_use": int(1e8 + rng.integers(0, 1e6)), "device_peak": None, "device_memory_source": "bench",
                  "gpu_util": 50 + 20 * rng.random(), "gpu_mem_used": None})
            if k % 10 == 0:  # a step every 10 samples: 1,000 steps/s
                post({"type": "step", "t": t, "index": step, "phase": "measure", "step_ms": 10 + rng.random(),
                      "samples_per_s": 6400.0, "loss": 2.0 / (1 + step / 1000)})
                step += 1
        sent = due
        time.sleep(0.005)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=int, default=10_000, help="samples per second")
    args = parser.parse_args()
    app = make_app()
    model = LiveModel()
    view = LiveViewPanel(model)
    view.resize(1100, 650)
    view.show()
    model.announce("bench", "torch", "bench", 0)
    frame_ms: list[float] = []

    drawn = [0]
    view.frameDrawn.connect(lambda: drawn.__setitem__(0, drawn[0] + 1))
    stop = threading.Event()
    feeder = threading.Thread(target=feed, args=(model, args.rate, stop), daemon=True)
    feeder.start()
    start = time.perf_counter()
    while time.perf_counter() - start < args.seconds:
        before, t = drawn[0], time.perf_counter()
        app.processEvents()  # the timer frame (drain + setData) and the paint it schedules
        app.processEvents()
        if drawn[0] != before:
            frame_ms.append((time.perf_counter() - t) * 1000.0)
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    stop.set()
    feeder.join()
    times = np.array(frame_ms)
    run = model.runs["bench"]
    result = {
        "seconds": round(elapsed, 1), "rate_samples_per_s": args.rate,
        "samples_ingested": len(run.series["host_mb"]), "steps_ingested": run.steps_done,
        "points_drawn": view.point_count(), "frames": len(times), "fps": round(len(times) / elapsed, 1),
        "frame_ms_median": round(float(np.median(times)), 2), "frame_ms_p95": round(float(np.percentile(times, 95)), 2),
        "frame_ms_max": round(float(times.max()), 2), "backlog_at_end": len(model._inbox),
    }
    print(result)
    print(write_result("gui_live_plots", result))


if __name__ == "__main__":
    main()
