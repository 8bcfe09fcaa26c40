"""Speed and memory of the Chrome-trace reader on a 1,000,000-event torch-like trace.

The trace: torch.profiler-shaped complete ("X") events — aten op names from a pool of 400,
categories cpu_op / user_annotation / cuda_runtime, one pid, four tids, increasing µs
timestamps, and the "External id" / "Ev Idx" arguments torch writes on every event — as plain
JSON (the headline), the same gzipped, a variant whose events also carry "Input Dims" (the
arguments the reader keeps), and the plain file again with the second process turned off
(STEPSCOPE_TRACE_WORKER=0; by default the reader shares a big array with a worker process when
a core is idle). Each read runs in a fresh process (so memory is that read's alone), three
times; the best wall time counts. CPU time is reported beside it: this process's
(`cpu_seconds`) and the worker's (`worker_cpu_seconds`, 0 when none was started). For scale,
the time msgspec alone takes to decode the file's events into the reader's typed structs, in
the reader's 128 KiB chunks, is measured too (the floor under this design on one core: the
rest is numpy columns, interning and classification).

Memory per event: the table's own accounting (`EventTable.nbytes`) and the process RSS
after the read minus before it (the table only: the parse's temporaries are freed), plus
the RSS peak during the parse.

    .venv/bin/python -m bench.trace_reader          # writes bench/results/trace_reader.json
"""
from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EVENTS = 1_000_000
REPEATS = 3


def write_trace(path: Path, events: int, shapes: bool, compress: bool) -> None:
    """Stream the trace out as text (no million dicts in memory)."""
    ops = [f"aten::op_{i}" for i in range(400)]
    cats = ["cpu_op"] * 8 + ["user_annotation", "cuda_runtime"]
    with (gzip.open(path, "wt", compresslevel=6) if compress else path.open("w")) as f:
        f.write('{"schemaVersion": 1, "deviceProperties": [], "traceEvents": [\n')
        f.write('{"ph": "M", "name": "process_name", "pid": 4242, "tid": 0, "args": {"name": "python"}}')
        ts = 1_700_000_000.0
        chunk = []
        for i in range(events):
            dur = 1.0 + (i * 7919 % 4000) / 100.0
            k = i % 7 + 1
            dims = f', "Input Dims": [[64, {k}], [{k}, 128], []]' if shapes else ""
            chunk.append(f',\n{{"ph": "X", "cat": "{cats[i % 10]}", "name": "{ops[i * 7919 % 400]}", "pid": 4242, '
                         f'"tid": {4242 + i % 4}, "ts": {ts:.3f}, "dur": {dur:.3f}, '
                         f'"args": {{"External id": {i}, "Ev Idx": {i}{dims}}}}}')
            ts += dur * 0.3
            if len(chunk) == 10_000:
                f.write("".join(chunk))
                chunk.clear()
        f.write("".join(chunk))
        f.write("\n]}\n")


def measure(path: str) -> dict[str, Any]:
    """One read in this (fresh) process; returns its figures."""
    import psutil

    from traces.readers import read_trace

    proc = psutil.Process()
    gc.collect()
    rss0 = proc.memory_info().rss
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0, c0 = time.perf_counter(), time.process_time()
    table = read_trace(path)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    gc.collect()
    rss1 = proc.memory_info().rss
    peak1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    n = len(table)
    return {"events": n, "seconds": seconds, "events_per_s": n / seconds, "cpu_seconds": cpu,
            "worker_cpu_seconds": kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime,
            "table_bytes_per_event": table.nbytes / n,
            "table_nbytes": table.nbytes_breakdown(), "rss_delta_bytes_per_event": (rss1 - rss0) / n,
            "rss_peak_during_parse_bytes_per_event": (max(peak1, rss0) - rss0) / n}


def decode_only(path: str) -> dict[str, Any]:
    """What msgspec alone needs to turn the (decompressed) file's events into the reader's
    typed structs, in the reader's chunks, no columns built: the floor under any reader of
    this design on one core of this machine."""
    from traces.bounded_read import read_bytes
    from traces.event_span import events_span
    from traces.json_decoders import CHUNK_BYTES, decode_range, float_dur_decoder
    from traces.table import Limits

    data = read_bytes(Path(path), Limits())
    gc.disable()
    t0, c0 = time.perf_counter(), time.process_time()
    view, begin, end, _ = events_span(data)
    decode_range(lambda *_: None, view, begin + 1, end, CHUNK_BYTES, float_dur_decoder)
    return {"msgspec_decode_only_s": time.perf_counter() - t0, "msgspec_decode_only_cpu_s": time.process_time() - c0}


def _child(flag: str, path: Path, env: dict[str, str]) -> dict[str, Any]:
    from bench.common import run_python

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return json.loads(run_python(["-m", "bench.trace_reader", flag, str(path)]).strip().splitlines()[-1])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_variant(path: Path, repeats: int, env: dict[str, str]) -> dict[str, Any]:
    runs = [_child("--measure", path, env) for _ in range(repeats)]
    best = min(runs, key=lambda r: r["seconds"])
    floor = [_child("--decode-only", path, env) for _ in range(2)]
    return {"file_bytes": path.stat().st_size, "env": env, "best": best,
            "seconds_all": [round(r["seconds"], 3) for r in runs],
            "cpu_seconds_all": [round(r["cpu_seconds"], 3) for r in runs],
            "worker_cpu_seconds_all": [round(r["worker_cpu_seconds"], 3) for r in runs],
            "events_per_s_median": statistics.median(r["events_per_s"] for r in runs),
            "msgspec_decode_only_s_best": min(f["msgspec_decode_only_s"] for f in floor),
            "msgspec_decode_only_cpu_s_best": min(f["msgspec_decode_only_cpu_s"] for f in floor)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--decode-only", help=argparse.SUPPRESS)
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    if args.decode_only:
        print(json.dumps(decode_only(args.decode_only)))
        return
    try:
        import msgspec
        decoder = f"msgspec {msgspec.__version__}"
    except ImportError:
        decoder = "stdlib json (msgspec not installed)"
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="stepscope-bench-") as tmp:
        one_core = {"STEPSCOPE_TRACE_WORKER": "0"}
        variants = {"plain_json": ("trace.json", False, False, {}), "plain_json_one_core": ("trace.json", False, False, one_core),
                    "gzip_json": ("trace.json.gz", False, True, {}),
                    "plain_json_with_input_dims": ("shapes.json", True, False, {})}
        for name, (file, shapes, compress, env) in variants.items():
            path = Path(tmp) / file
            if not path.exists():
                write_trace(path, args.events, shapes, compress)
            results[name] = run_variant(path, args.repeats, env)
            if name != "plain_json":  # the one-core variant reads the same file next
                path.unlink()
            best = results[name]["best"]
            print(f"{name:28s} {best['events_per_s'] / 1e3:7.0f} k events/s  ({best['seconds']:.2f} s wall best of "
                  f"{results[name]['seconds_all']}; CPU {best['cpu_seconds']:.2f} s + worker "
                  f"{best['worker_cpu_seconds']:.2f} s), table {best['table_bytes_per_event']:.1f} B/event, "
                  f"RSS +{best['rss_delta_bytes_per_event']:.0f} B/event, parse peak "
                  f"{best['rss_peak_during_parse_bytes_per_event']:.0f} B/event; msgspec decode alone "
                  f"{results[name]['msgspec_decode_only_s_best']:.2f} s", file=sys.stderr)
    from bench.common import write_result

    out = write_result("trace_reader", {
        "what": "read_trace on a torch-like Chrome trace of complete events, fresh process per read, best wall time of "
                f"{args.repeats}; seconds are wall time, cpu_seconds this process's CPU time, worker_cpu_seconds the "
                "second process's",
        "events": args.events, "decoder": decoder, "goal_events_per_s": 1_000_000, "floor_events_per_s": 500_000,
        "goal_bytes_per_event": 200, **results,
    })
    print(out)


if __name__ == "__main__":
    main()
