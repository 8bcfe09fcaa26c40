"""Speed and memory of the XPlane reader (`traces.xplane_reader`, the protobuf read directly) on
a generated ~1 GB XPlane of a TPU host's shape.

The file, written column-wise with `traces.xplane_write` into a temporary folder and deleted
after: a "/host:CPU" plane with 16 thread-pool lines of short events (0.2-20 µs, names from a
pool of 3,000, three stats each: `hlo_op` and `hlo_module` as refs, `run_id` an int) and a
python line of step annotations (`StepTraceAnnotation`: `step_num`, `_r`) with the calls under
them; and 8 "/device:TPU:N" planes each with "XLA Ops" (ops named by display name, their full
HLO text the metadata name, so `long_name`; `run_id` and `queue_id` per event), "XLA Modules"
and "Steps" lines. The same file gzipped (`gzip -1`) is read too: its two visits inflate it
twice, never keep it.

Each read runs in a fresh process: wall and CPU seconds, events per CPU-second (what load
from other processes does not skew), the peak RSS growth over the RSS before the read per
event kept (the table, plus one window of the file being decoded), and the table's own bytes
per event. `Limits.max_events` is raised for it (the default, 20 M, refuses a file this big).

    .venv/bin/python -m bench.xplane_reader              # writes bench/results/xplane_reader.json
    .venv/bin/python -m bench.xplane_reader --gigabytes 0.1 --no-write   # a quick look
"""
from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from traces.xplane_write import INT64, REF, BlockSource, EventBlock, LineWriter, PlaneWriter, StatColumn, write_streamed

HOST_LINES, TPUS = 16, 8
BLOCK = 1_000_000  # events generated and encoded at a time
BYTES_PER_EVENT = 37  # of this shape, measured: sizes the event counts for a target file size
MAX_EVENTS = 100_000_000  # the file holds ~27 M events, past Limits' default of 20 M: raised, as Limits says


def _blocks(seed: int, events: int, make: Any) -> BlockSource:
    """A line's events as blocks, the same ones each time it is called (seeded per block)."""
    def source() -> Iterator[EventBlock]:
        start_ps = 0
        for b, first in enumerate(range(0, events, BLOCK)):
            rng = np.random.default_rng([seed, b])
            n = min(BLOCK, events - first)
            gaps = rng.integers(200_000, 20_000_000, n, dtype=np.int64)  # 0.2-20 µs
            offset = start_ps + np.cumsum(gaps)
            start_ps = int(offset[-1])
            yield make(rng, n, offset, gaps * 4 // 5)
    return source


def write_xplane(path: Path, events: int) -> dict[str, int]:
    """About `events` events in the shape above; returns the counts written."""
    host = PlaneWriter(0, "/host:CPU")
    names = np.array([host.event_id(f"ThunkExecutor::Execute/op_{i}") for i in range(3000)], np.int64)
    ops = np.array([host.stat_id(f"fusion.{i}") for i in range(2000)], np.int64)
    modules = np.array([host.stat_id(f"jit_train_step_{i}") for i in range(20)], np.int64)
    hlo_op, hlo_module, run_id = host.stat_id("hlo_op"), host.stat_id("hlo_module"), host.stat_id("run_id")
    step_num, root = host.stat_id("step_num"), host.stat_id("_r")
    train, call = host.event_id("train"), host.event_id("PjitFunction(train_step)")

    def host_events(rng: np.random.Generator, n: int, offset: np.ndarray, dur: np.ndarray) -> EventBlock:
        return (names[rng.integers(0, len(names), n)], offset, dur,
                [StatColumn(hlo_op, REF, ops[rng.integers(0, len(ops), n)]),
                 StatColumn(hlo_module, REF, modules[rng.integers(0, len(modules), n)]),
                 StatColumn(run_id, INT64, rng.integers(0, 1 << 30, n))])

    def python_events(rng: np.random.Generator, n: int, offset: np.ndarray, dur: np.ndarray) -> EventBlock:
        steps = n // 2  # a step annotation, then the call under it
        md = np.tile(np.array([train, call], np.int64), steps)
        off = np.repeat(offset[:steps * 2:2], 2) + np.tile(np.array([0, 1000], np.int64), steps)
        length = np.repeat(dur[:steps * 2:2] * 2, 2) - np.tile(np.array([0, 2000], np.int64), steps)
        number = np.repeat(np.arange(steps, dtype=np.int64), 2)
        return md, off, length, [StatColumn(step_num, INT64, number), StatColumn(root, INT64, np.ones(len(md), np.int64))]

    per_line = events // (HOST_LINES + 3 * TPUS)
    planes: list[tuple[PlaneWriter, list[tuple[LineWriter, BlockSource]]]] = []
    host_lines = [(host.line(1000 + t, f"tf_XLAEigen/{1000 + t}", 1000), _blocks(t, per_line, host_events))
                  for t in range(HOST_LINES)]
    host_lines.append((host.line(1, "python", 1000), _blocks(99, 20_000, python_events)))
    planes.append((host, host_lines))
    for d in range(TPUS):
        tpu = PlaneWriter(d + 1, f"/device:TPU:{d}")
        op_ids = np.array([tpu.event_id(f"%fusion.{i} = f32[128,512]{{1,0}} fusion(...), kind=kLoop", f"fusion.{i}")
                           for i in range(2000)], np.int64)
        module_ids = np.array([tpu.event_id(f"jit_train_step_{i}(1234)") for i in range(20)], np.int64)
        step_ids = np.array([tpu.event_id(str(i)) for i in range(100)], np.int64)
        run, queue = tpu.stat_id("run_id"), tpu.stat_id("queue_id")

        def device(ids: np.ndarray, run: int = run, queue: int = queue) -> Any:
            def make(rng: np.random.Generator, n: int, offset: np.ndarray, dur: np.ndarray) -> EventBlock:
                return (ids[rng.integers(0, len(ids), n)], offset, dur,
                        [StatColumn(run, INT64, rng.integers(0, 1 << 27, n)), StatColumn(queue, INT64, rng.integers(0, 4, n))])
            return make

        planes.append((tpu, [(tpu.line(1, "Steps", 1000), _blocks(100 + d, per_line // 50, device(step_ids))),
                             (tpu.line(2, "XLA Modules", 1000), _blocks(200 + d, per_line // 10, device(module_ids))),
                             (tpu.line(3, "XLA Ops", 1000), _blocks(300 + d, 3 * per_line, device(op_ids)))]))
    with path.open("wb") as f:
        size = write_streamed(f, planes, hostnames=("bench-host",))
    total = HOST_LINES * per_line + 20_000 + TPUS * (per_line // 50 + per_line // 10 + 3 * per_line)
    return {"bytes": size, "events_written": total}


def measure(path: str) -> dict[str, Any]:
    """One read in this (fresh) process."""
    import psutil

    from traces.table import Limits
    from traces.xplane_reader import read_xplane

    proc = psutil.Process()
    gc.collect()
    rss0 = proc.memory_info().rss
    t0, c0 = time.perf_counter(), time.process_time()
    table = read_xplane(path, Limits(max_events=MAX_EVENTS))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    n = len(table)
    return {"events": n, "seconds": seconds, "cpu_seconds": cpu, "events_per_s": n / seconds, "events_per_cpu_s": n / cpu,
            "peak_rss_growth_bytes": max(peak, rss0) - rss0, "peak_rss_growth_bytes_per_event": (max(peak, rss0) - rss0) / n,
            "table_bytes_per_event": table.nbytes / n, "kinds": table.kind_counts(), "device": table.source.device}


def _child(path: Path) -> dict[str, Any]:
    from bench.common import run_python

    return dict(json.loads(run_python(["-m", "bench.xplane_reader", "--measure", str(path)], timeout=3600).strip()
                           .splitlines()[-1]))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gigabytes", type=float, default=1.0)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--no-write", action="store_true", help="print the figures, do not store them")
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return {}
    from bench.common import write_result
    from bench.trace_reader import gzip_file

    with tempfile.TemporaryDirectory(prefix="stepscope-bench-xplane-") as tmp:
        plain = Path(tmp) / "bench.xplane.pb"
        t0 = time.perf_counter()
        written = write_xplane(plain, int(args.gigabytes * 1e9 / BYTES_PER_EVENT))
        print(f"wrote {written['bytes']:,} bytes in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        results: dict[str, Any] = {"file": written, "plain": [_child(plain) for _ in range(2)]}
        gz = plain.with_name("bench.xplane.pb.gz")
        gzip_file(plain, gz)
        plain.unlink()
        results["gzip"] = {"file_bytes": gz.stat().st_size, "read": _child(gz)}
    best = min(results["plain"], key=lambda r: r["cpu_seconds"])
    results["summary"] = {"file_bytes": written["bytes"], "events": best["events"],
                          "events_per_cpu_s": best["events_per_cpu_s"], "events_per_s": best["events_per_s"],
                          "peak_rss_growth_bytes_per_event": max(r["peak_rss_growth_bytes_per_event"] for r in results["plain"]),
                          "gzip_events_per_cpu_s": results["gzip"]["read"]["events_per_cpu_s"],
                          "gzip_peak_rss_growth_bytes_per_event": results["gzip"]["read"]["peak_rss_growth_bytes_per_event"]}
    payload = {"goal": "peak RSS growth < 200 bytes per event kept on a 1 GB XPlane", **results}
    if not args.no_write:
        write_result("xplane_reader", payload)
    print(json.dumps(results["summary"], indent=2))
    return payload


if __name__ == "__main__":
    main()
