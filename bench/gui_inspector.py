"""The trace inspector on 1,000,000- and 10,000,000-event traces: time to the first frame (building the level
of detail and the window, then the first paint; top ops, steps and memory follow on a thread,
reported as `tabs_ready_s`) and frame times for a scripted sequence of zooms and pans.
Goal: first frame < 2 s, >= 30 fps (a frame < 33 ms), bounded memory: peak RSS above the
table, per event, is reported (`peak_bytes_per_event`; the peak is restarted after generating
the table where Linux allows, `peak_from_open`), and what stays (`kept_bytes_per_event`).
The frames run twice: while the analyses' thread still runs (`fps_while_analysing`, only when
the first frame came before it finished), then after it, which is the goal's `fps`.

The trace is synthetic but shaped like a GPU training trace: 200 steps, a host thread of
nested ops (3 deep under the step marker), a runtime thread of launches and two device
streams of back-to-back kernels. A frame is a synchronous `repaint()` of the timeline's
viewport after `set_view_range`: the level-of-detail query plus the drawing, timed as wall
and process CPU time (the machine is shared, so wall time is noisy).

Each size runs in a process of its own (peak RSS is per process) and stores its entry in
bench/results/gui_inspector.json (`sizes`, one entry per size).

    QT_QPA_PLATFORM=offscreen .venv/bin/python -m bench.gui_inspector [--events 10000000] [--frames 60]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from traces.table import EventTable, Kind, Row, SourceInfo

if TYPE_CHECKING:  # Qt itself stays in gui/ (tests/test_architecture.py): the app comes as its processEvents
    from gui.inspector.trace_inspector import TraceInspectorWindow

SIZES = (1_000_000, 10_000_000)
GOAL = "first frame < 2 s; >= 30 fps (frame < 33 ms); bounded memory"
COLUMNS = ("name", "cat", "kind", "flags", "row", "start_ns", "dur_ns", "step", "args")
PER_STEP = 5000  # 1 step marker + 400 ops × 5 nested + 999 launches + 2 × 1000 kernels
STEP_NS = 10_000_000


def synthetic_table(events: int = 1_000_000, seed: int = 0) -> EventTable:
    """A GPU-training-shaped EventTable of about `events` events (a multiple of 5,000)."""
    rng = np.random.default_rng(seed)
    steps = max(events // PER_STEP, 1)
    step0 = np.arange(steps, dtype=np.int64) * STEP_NS
    strings = [f"ProfilerStep#{k}" for k in range(steps)]
    names = {key: len(strings) + i for i, key in enumerate(
        [f"aten::op{j}" for j in range(50)] + [f"aten::inner{j}" for j in range(20)] + ["cudaLaunchKernel"]
        + [f"kernel_{j}" for j in range(100)])}
    strings += list(names)
    cols: dict[str, list[np.ndarray]] = {c: [] for c in ("name", "kind", "row", "start_ns", "dur_ns", "step")}

    def add(name: np.ndarray, kind: Kind, row: int, start: np.ndarray, dur: np.ndarray, step: np.ndarray) -> None:
        for c, v in (("name", name), ("kind", np.full(len(start), kind)), ("row", np.full(len(start), row)),
                     ("start_ns", start), ("dur_ns", dur), ("step", step)):
            cols[c].append(np.asarray(v))

    every = np.arange(steps)
    add(every, Kind.STEP, 0, step0, np.full(steps, STEP_NS - 200_000), every)
    ops, slot = 400, 18_000  # host ops: op > 2 inner > 1 inner each
    op_step = np.repeat(every, ops)
    op_start = step0[op_step] + 50_000 + np.tile(np.arange(ops) * slot, steps)
    op_dur = rng.integers(8_000, 16_000, len(op_start))
    add(names["aten::op0"] + rng.integers(0, 50, len(op_start)), Kind.FRAMEWORK_OP, 0, op_start, op_dur, op_step)
    for part in (0, 1):
        child_start = op_start + 500 + part * (op_dur // 2)
        child_dur = op_dur // 2 - 1_000
        add(names["aten::inner0"] + rng.integers(0, 20, len(op_start)), Kind.FRAMEWORK_OP, 0, child_start, child_dur, op_step)
        add(names["aten::inner0"] + rng.integers(0, 20, len(op_start)), Kind.FRAMEWORK_OP, 0, child_start + 200,
            child_dur // 2, op_step)
    launches = PER_STEP - 1 - 5 * ops - 2 * 1000
    l_step = np.repeat(every, launches)
    l_start = step0[l_step] + 60_000 + np.tile(np.arange(launches) * 9_000, steps)
    add(np.full(len(l_start), names["cudaLaunchKernel"]), Kind.RUNTIME, 1, l_start, np.full(len(l_start), 2_500), l_step)
    for stream in (2, 3):
        k_step = np.repeat(every, 1000)
        k_start = step0[k_step] + 80_000 + np.tile(np.arange(1000) * 9_500, steps) + stream * 700
        add(names["kernel_0"] + rng.integers(0, 100, len(k_start)), Kind.KERNEL, stream, k_start,
            rng.integers(1_500, 9_000, len(k_start)), k_step)
    merged = {c: np.concatenate(v) for c, v in cols.items()}
    order = np.argsort(merged["start_ns"], kind="stable")
    n = len(order)
    rows = [Row("1", "1", "python", "main thread"), Row("1", "2", "python", "runtime"),
            Row("2", "7", "/device:GPU:0", "stream 7", device=True), Row("2", "8", "/device:GPU:0", "stream 8", device=True)]
    return EventTable(
        strings=strings, name=merged["name"][order].astype(np.int32), cat=np.full(n, -1, np.int32),
        kind=merged["kind"][order].astype(np.uint8), flags=np.zeros(n, np.uint8), row=merged["row"][order].astype(np.int32),
        start_ns=merged["start_ns"][order].astype(np.int64), dur_ns=merged["dur_ns"][order].astype(np.int64),
        step=merged["step"][order].astype(np.int32), args=np.full(n, -1, np.int32), rows=rows,
        counter_series=np.zeros(0, np.int32), counter_ts_ns=np.zeros(0, np.int64), counter_value=np.zeros(0, np.float64),
        series=[], source=SourceInfo(producer="bench", framework="torch", device="gpu"))


def zoom_script(span: float, frames: int) -> list[tuple[float, float]]:
    """View ranges: zoom in 8× around the middle in steps, pan right and back, zoom out to full."""
    third = max(frames // 3, 1)
    centre, out = span / 2, []
    for k in range(third):  # zoom in to 1/8 of the trace
        width = span / 8 ** ((k + 1) / third)
        out.append((centre - width / 2, centre + width / 2))
    width = span / 8
    for k in range(third):  # pan by a quarter of the view per frame, there and back
        shift = width / 4 * (k if k < third // 2 else third - k)
        out.append((centre - width / 2 + shift, centre + width / 2 + shift))
    for k in range(frames - 2 * third):  # zoom out to the whole trace
        width = span / 8 ** (1 - (k + 1) / (frames - 2 * third))
        out.append((centre - width / 2, centre + width / 2))
    return out


def _memory_kib() -> tuple[int, int]:
    """(current, peak) resident set size in KiB: Linux's VmRSS/VmHWM, else getrusage's peak."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak, peak


def _reset_peak() -> bool:
    """Restart the peak-RSS count (Linux ≥ 4.0), so the generator's own peak is not charged to the
    inspector; False where the peak cannot be reset (then it includes generating the table)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _frames(process_events: Callable[[], object], window: TraceInspectorWindow, span: float, frames: int) -> dict[str, float]:
    """Frame times (wall and CPU, ms) over the zoom script, and boxes drawn."""
    frame_wall, frame_cpu, boxes = [], [], []
    for lo, hi in zoom_script(span, frames):
        w, c = time.perf_counter(), time.process_time()
        window.timeline.set_view_range(lo, hi)
        window.timeline.view.viewport().repaint()
        frame_wall.append((time.perf_counter() - w) * 1000)
        frame_cpu.append((time.process_time() - c) * 1000)
        boxes.append(window.timeline.visible_box_count())
        process_events()
    wall, cpu = np.array(frame_wall), np.array(frame_cpu)
    return {
        "frame_ms_median": round(float(np.median(wall)), 2), "frame_ms_p95": round(float(np.percentile(wall, 95)), 2),
        "frame_ms_max": round(float(wall.max()), 2), "frame_cpu_ms_median": round(float(np.median(cpu)), 2),
        "frame_cpu_ms_p95": round(float(np.percentile(cpu, 95)), 2),
        "fps": round(1000.0 / float(np.mean(wall)), 1), "fps_cpu": round(1000.0 / float(np.mean(cpu)), 1),
        "boxes_median": int(np.median(boxes)), "boxes_max": int(max(boxes)),
    }


def measure(events: int, frames: int) -> dict[str, Any]:
    """One size, in this process: the first frame, frames while the analyses run and after."""
    from gui.app import make_app
    from gui.inspector.trace_inspector import TraceInspectorWindow

    app = make_app()
    gen0 = time.perf_counter()
    table = synthetic_table(events)
    generate_s = time.perf_counter() - gen0
    _, generate_peak = _memory_kib()
    gc.collect()
    table_kib, _ = _memory_kib()
    table_bytes = sum(int(getattr(table, c).nbytes) for c in COLUMNS)
    peak_reset = _reset_peak()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    window = TraceInspectorWindow(table, "bench", "synthetic trace")
    window.resize(1400, 900)
    window.show()
    app.processEvents()
    window.timeline.view.viewport().repaint()
    first_wall, first_cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    first_boxes = window.timeline.visible_box_count()
    span = float(table.end_ns.max() - table.start_ns[0])
    busy = _frames(app.processEvents, window, span, frames) if not window.analyses_ready else None  # the analyses' thread runs
    while not window.analyses_ready:  # top ops / steps / memory, on their thread
        app.processEvents()
        time.sleep(0.005)
    analyses_wall = time.perf_counter() - wall0
    app.processEvents()
    result: dict[str, Any] = {
        "events": len(table), "rows": len(table.rows), "frames": frames, "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
        "first_frame_s": round(first_wall, 3), "first_frame_cpu_s": round(first_cpu, 3), "first_frame_boxes": first_boxes,
        "tabs_ready_s": round(analyses_wall, 3), **_frames(app.processEvents, window, span, frames),
    }
    if busy is not None:
        result.update({"fps_while_analysing": busy["fps"], "frame_ms_max_while_analysing": busy["frame_ms_max"]})
    rss, peak = _memory_kib()
    result.update({
        "generate_s": round(generate_s, 2), "generate_peak_rss_mb": round(generate_peak / 1024),
        "table_mb": round(table_bytes / 2**20), "rss_with_table_mb": round(table_kib / 1024),
        "peak_rss_mb": round(peak / 1024), "peak_from_open": peak_reset, "rss_after_mb": round(rss / 1024),
        "peak_bytes_per_event": round((peak - table_kib) * 1024 / len(table), 1),
        "kept_bytes_per_event": round((rss - table_kib) * 1024 / len(table), 1),
    })
    result["met"] = result["first_frame_s"] < 2 and result["fps"] >= 30
    window.close()
    return result


def main() -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from bench.common import RESULTS, run_python, write_result

    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, help=f"one size (default: each of {SIZES}, each in a process of its own)")
    parser.add_argument("--frames", type=int, default=60)
    args = parser.parse_args()
    if args.events is None:  # a fresh process per size, so each peak RSS is its own; each stores its entry
        for n in SIZES:
            print(run_python(["-m", "bench.gui_inspector", "--events", str(n), "--frames", str(args.frames)],
                             timeout=1800).strip().splitlines()[-1])
        return
    entries = [measure(args.events, args.frames)]
    print(json.dumps(entries[0]))
    stored = RESULTS / "gui_inspector.json"
    old = json.loads(stored.read_text()).get("sizes", []) if stored.exists() else []
    fresh = {e["events"] for e in entries}
    sizes = sorted([e for e in old if e["events"] not in fresh] + entries, key=lambda e: int(e["events"]))
    write_result("gui_inspector", {"goal": GOAL, "sizes": sizes})


if __name__ == "__main__":
    main()
