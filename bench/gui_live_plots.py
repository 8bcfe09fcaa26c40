"""Live plots under load: the LiveModel ingests 10,000 telemetry samples/s (plus 1,000 steps/s)
from a feeder thread that parses the worker's JSON lines as the controller's reader thread does,
while the LiveViewPanel's ~30 fps timer drains and redraws. Measures frames per second and frame
times (the event-loop pass holding drain + setData + the paint of the six plots), both wall-clock
and as CPU time of the GUI thread, which other load on the machine does not inflate.

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m bench.gui_live_plots [--seconds 60] [--rate 10000]
"""
from __future__ import annotations

import argparse
import json
import os
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np

from bench.common import write_result
from gui.app import make_app
from gui.live.live_model import LiveModel
from gui.live.live_view import LiveViewPanel
from profilers.protocol import parse_line


def stream_lines(seconds: float, rate: int) -> tuple[list[bytes], np.ndarray]:
    """The worker's half, done before the clock starts: the event stream as the JSON lines a
    worker writes (a step every 10 samples: 1,000 steps/s), and for each line the index of the
    sample it comes with, which says when it is due."""
    rng = np.random.default_rng(0)
    n = int(seconds * rate) + rate
    host, dev = 4e8 + rng.integers(0, int(1e7), n), 1e8 + rng.integers(0, int(1e6), n)
    cpu_pct, gpu, step_ms = 100 + 50 * rng.random(n), 50 + 20 * rng.random(n), 10 + rng.random(n)
    lines, due, step = [], [], 0
    for k in range(n):
        t = k / rate
        lines.append(json.dumps({"type": "sample", "t": t, "host_rss": int(host[k]), "cpu_percent": float(cpu_pct[k]),
                                 "device_in_use": int(dev[k]), "device_peak": None, "device_memory_source": "bench",
                                 "gpu_util": float(gpu[k]), "gpu_mem_used": None}).encode() + b"\n")
        due.append(k)
        if k % 10 == 0:
            lines.append(json.dumps({"type": "step", "t": t, "index": step, "phase": "measure", "step_ms": float(step_ms[k]),
                                     "samples_per_s": 6400.0, "loss": 2.0 / (1 + step / 1000)}).encode() + b"\n")
            due.append(k)
            step += 1
    return lines, np.array(due)


def feed(model: LiveModel, lines: list[bytes], due: np.ndarray, rate: int, stop: threading.Event, cpu: list[float]) -> None:
    """The GUI process's half, as the controller's reader thread does it: parse and validate each
    line (`parse_line`) and post the event, on a thread that shares the GIL with the GUI."""
    post = model.poster("bench")
    t0 = time.perf_counter()
    sent = 0
    while not stop.is_set() and sent < len(lines):
        until = int(np.searchsorted(due, int((time.perf_counter() - t0) * rate), "left"))
        for line in lines[sent:until]:
            post(parse_line(line))
        sent = max(sent, until)
        time.sleep(0.005)
    cpu.append(time.thread_time())


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
    frame_cpu_ms: list[float] = []  # GUI-thread CPU time of the same passes: what the frame costs, load or not

    drawn = [0]
    view.frameDrawn.connect(lambda: drawn.__setitem__(0, drawn[0] + 1))
    stop = threading.Event()
    feeder_cpu: list[float] = []
    lines, due = stream_lines(args.seconds, args.rate)
    feeder = threading.Thread(target=feed, args=(model, lines, due, args.rate, stop, feeder_cpu), daemon=True)
    feeder.start()
    start, cpu_start = time.perf_counter(), time.thread_time()
    while time.perf_counter() - start < args.seconds:
        before, t, c = drawn[0], time.perf_counter(), time.thread_time()
        app.processEvents()  # the timer frame (drain + setData) and the paint it schedules
        app.processEvents()
        if drawn[0] != before:
            frame_ms.append((time.perf_counter() - t) * 1000.0)
            frame_cpu_ms.append((time.thread_time() - c) * 1000.0)
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    gui_cpu = time.thread_time() - cpu_start
    stop.set()
    feeder.join()
    times, cpu = np.array(frame_ms), np.array(frame_cpu_ms)
    run = model.runs["bench"]
    result = {
        "seconds": round(elapsed, 1), "rate_samples_per_s": args.rate,
        "samples_ingested": len(run.series["host_mb"]), "steps_ingested": run.steps_done,
        "points_drawn": view.point_count(), "points_given_to_pyqtgraph": view.drawn_point_count(),
        "frames": len(times), "fps": round(len(times) / elapsed, 1),
        "frame_ms_median": round(float(np.median(times)), 2), "frame_ms_p95": round(float(np.percentile(times, 95)), 2),
        "frame_ms_max": round(float(times.max()), 2),
        "frame_cpu_ms_median": round(float(np.median(cpu)), 2), "frame_cpu_ms_p95": round(float(np.percentile(cpu, 95)), 2),
        "frame_cpu_ms_max": round(float(cpu.max()), 2),
        "frame_cpu_ms_median_last_10s": round(float(np.median(cpu[-int(len(cpu) * 10 / elapsed):])), 2),
        "gui_thread_cpu_fraction": round(gui_cpu / elapsed, 3), "feeder_thread_cpu_fraction": round(feeder_cpu[0] / elapsed, 3),
        "load_average_1min_at_end": round(os.getloadavg()[0], 2), "backlog_at_end": len(model._inbox),
        "notes": "wall times depend on the machine's load (2 shared cores); CPU times are the GUI thread's own",
    }
    print(result)
    print(write_result("gui_live_plots", result))


if __name__ == "__main__":
    main()
