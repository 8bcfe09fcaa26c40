"""Speed and memory of the Chrome-trace reader: a 1,000,000-event torch-like trace, and a ~2 GB
Kineto-shaped GPU trace read as a stream.

The 1M case: torch.profiler-shaped complete ("X") events — aten op names from a pool of 400,
categories cpu_op / user_annotation / cuda_runtime, one pid, four tids, increasing µs
timestamps, and the "External id" / "Ev Idx" arguments torch writes on every event — as plain
JSON (the headline; a file is read as a stream on one core), again with STEPSCOPE_TRACE_WORKER=0
(the goal's measure), gzipped, a variant whose events also carry "Input Dims" (the arguments the
reader keeps), and the plain file read whole with the second decode process when a core is idle
(`read_chrome_data`: the path before the stream, kept for data already in memory) for
comparison. Each read runs in a fresh process, three times; the best wall time
counts. CPU time is this process's, all threads (`cpu_seconds`), and its children's
(`worker_cpu_seconds`). For scale, msgspec alone decoding the events into the reader's typed
structs in its 128 KiB chunks (the floor under this design on one core).

The huge case (`--huge-gb`, default 2): Kineto's own layout (pretty-printed objects, epoch-µs
timestamps with ns fractions): per kernel launch two nested aten ops, the runtime call, the
kernel on a GPU stream with its correlation, grid and block, and the ac2g flow pair; a
ProfilerStep every 1,000 launches. Written plain and as `gzip -1` under the temporary folder,
each read three times, each time in a fresh process (the best by wall time, as for the 1M-event
trace; the medians beside it), then deleted; then ~200 MB of the same shape taken apart
by `bench.trace_floor` (the decode alone, with the per-chunk work, the whole read).

Memory: the table's own accounting (`EventTable.nbytes`), the RSS after the read minus before
it (the table only), and the peak RSS growth during the read (VmHWM, reset just before the read,
over the RSS then; ru_maxrss where /proc has no VmHWM): per event kept.

    .venv/bin/python -m bench.trace_reader                 # writes bench/results/trace_reader.json
    .venv/bin/python -m bench.trace_reader --parts huge    # only the huge case; the rest kept from the file
"""
from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

EVENTS = 1_000_000
REPEATS = 3
HUGE_GB = 2.0
EPOCH_US = 1_697_051_443_000_000  # Kineto's clock: µs since the epoch, written with a ns fraction


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


def _us(ns: int, epoch: int = EPOCH_US) -> str:
    whole, frac = divmod(ns, 1000)
    return f"{epoch + whole}.{frac:03d}"


def kineto_events(launches: int) -> Iterator[str]:
    """Kineto's text for `launches` kernel launches (6 events each, 4 of them kept)."""
    ops = [f"aten::op_{i}" for i in range(300)]
    kernels = [f"void cutlass::Kernel2<cutlass_80_tensorop_s1688gemm_{64 + i % 8 * 32}x{128 - i % 4 * 32}_16x{3 + i % 3}"
               f"_tn_align{1 + i % 4}>(cutlass_80_tensorop_s1688gemm_{i}::Params)" for i in range(200)]
    pid, gpu_tid = 4242, 7
    for name, p, tid, key, value in (("process_name", pid, 0, "name", "python"), ("process_name", 0, 0, "name", "python"),
                                     ("process_labels", 0, 0, "labels", "GPU 0"),
                                     ("thread_name", 0, gpu_tid, "name", f"stream {gpu_tid}")):
        yield (f'  {{\n    "ph": "M", "name": "{name}", "pid": {p}, "tid": {tid},\n'
               f'    "args": {{\n      "{key}": "{value}"\n    }}\n  }}')
    ns = gpu = 0
    for g in range(launches):
        if g % 1000 == 0:
            yield (f'  {{\n    "ph": "X", "cat": "user_annotation", "name": "ProfilerStep#{g // 1000}", "pid": {pid}, '
                   f'"tid": {pid},\n    "ts": {_us(ns)}, "dur": {_us(3_000_000, 0)},\n    "args": {{\n      "External id": {g}\n'
                   '    }\n  }')
        k, corr, op_dur = g * 7919 % 300, 1000 + g, 5000 + g * 131 % 20000
        for depth in (0, 1):
            yield (f'  {{\n    "ph": "X", "cat": "cpu_op", "name": "{ops[(k + depth) % 300]}", "pid": {pid}, "tid": {pid},\n'
                   f'    "ts": {_us(ns + 200 * depth)}, "dur": {_us(op_dur - 400 * depth, 0)},\n    "args": {{\n'
                   f'      "External id": {g},"Sequence number": {g}, "Fwd thread id": 0, "Record function id": 0, '
                   f'"Input Dims": [[64, {k % 7 + 1}], [{k % 7 + 1}, 128]], "Input type": ["float", "float"], "Ev Idx": {g}\n'
                   '    }\n  }')
        launch = ns + 1000 + g * 37 % 1000
        yield (f'  {{\n    "ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": {pid}, "tid": {pid},\n'
               f'    "ts": {_us(launch)}, "dur": {_us(3000 + g % 997, 0)},\n    "args": {{\n      "External id": {g},\n'
               f'      "cbid": 211, "correlation": {corr}\n    }}\n  }}')
        yield (f'  {{\n    "ph": "s", "id": {corr}, "pid": {pid}, "tid": {pid}, "ts": {_us(launch)},\n'
               '    "cat": "ac2g", "name": "ac2g"\n  }')
        gpu, kdur = max(gpu + 500, launch + 20_000), 2000 + g * 53 % 30000
        yield (f'  {{\n    "ph": "X", "cat": "kernel", "name": "{kernels[k % 200]}", "pid": 0, "tid": {gpu_tid},\n'
               f'    "ts": {_us(gpu)}, "dur": {_us(kdur, 0)},\n    "args": {{\n      "External id": {g},\n'
               f'      "queued": 0, "device": 0, "context": 1,\n      "stream": {gpu_tid}, "correlation": {corr},\n'
               '      "registers per thread": 32,\n      "shared memory": 0,\n      "blocks per SM": 12.5,\n'
               f'      "warps per SM": 50.0,\n      "grid": [{128 * (k % 5 + 1)}, 1, 1],\n      "block": [128, 1, 1],\n'
               '      "est. achieved occupancy %": 100\n    }\n  }')
        yield (f'  {{\n    "ph": "f", "id": {corr}, "pid": 0, "tid": {gpu_tid}, "ts": {_us(gpu)},\n'
               '    "cat": "ac2g", "name": "ac2g", "bp": "e"\n  }')
        gpu += kdur
        ns += op_dur + 500


def kineto_file_events(launches: int) -> int:
    """The events `kineto_events(launches)` writes: 4 metadata, a ProfilerStep per 1,000
    launches, 6 per launch (4 of them kept: two ops, the runtime call, the kernel)."""
    return 4 + -(-launches // 1000) + 6 * launches


def write_kineto_trace(path: Path, launches: int) -> None:
    with path.open("w") as f:
        f.write('{\n  "schemaVersion": 1,\n  "deviceProperties": [\n    {\n      "id": 0, "name": "NVIDIA H100", '
                '"totalGlobalMem": 85000000000\n    }\n  ],\n  "distributedInfo": {"backend": "nccl", "rank": 0, '
                '"world_size": 1},\n  "traceEvents": [\n')
        batch: list[str] = []
        for text in kineto_events(launches):
            batch.append(text)
            if len(batch) == 6000:
                f.write(",\n".join(batch) + ",\n")
                batch.clear()
        f.write(",\n".join(batch))
        f.write('\n  ],\n  "traceName": "/tmp/trace.json",\n  "displayTimeUnit": "ms",\n'
                '  "baseTimeNanoseconds": 1697051443000000000\n}\n')


def gzip_file(src: Path, dest: Path) -> None:
    """`gzip -1`, streamed."""
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    with src.open("rb") as f, dest.open("wb") as out:
        while block := f.read(16 << 20):
            out.write(c.compress(block))
        out.write(c.flush())


def reset_peak_rss() -> int:
    """The RSS now, made the peak's starting point: Linux's VmHWM reset through clear_refs (a
    fresh process's ru_maxrss starts at its parent's RSS at fork, which can be larger)."""
    import psutil

    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return int(psutil.Process().memory_info().rss)


def peak_rss() -> int:
    """The peak RSS since `reset_peak_rss` (VmHWM; ru_maxrss where /proc has none)."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) * 1024
    except (OSError, IndexError, ValueError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(path: str, whole: bool = False) -> dict[str, Any]:
    """One read in this (fresh) process; returns its figures. `whole`: the whole-file path."""
    import psutil

    from traces.bounded_read import read_bytes
    from traces.chrome_reader import read_chrome_data
    from traces.readers import read_trace
    from traces.table import Limits

    proc = psutil.Process()
    gc.collect()
    rss0 = reset_peak_rss()
    kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0, c0 = time.perf_counter(), time.process_time()
    table = read_chrome_data(read_bytes(Path(path), Limits()), path) if whole else read_trace(path)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak1 = peak_rss()
    gc.collect()
    rss1 = proc.memory_info().rss
    n = len(table)
    return {"events": n, "seconds": seconds, "events_per_s": n / seconds, "cpu_seconds": cpu,
            "events_per_cpu_s": n / cpu, "worker_cpu_seconds": kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime,
            "table_bytes_per_event": table.nbytes / n, "table_nbytes": table.nbytes_breakdown(),
            "rss_delta_bytes_per_event": (rss1 - rss0) / n,
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
    span = events_span(data)
    assert span is not None
    view, begin, end, _ = span
    decode_range(lambda *_: None, view, begin + 1, end, CHUNK_BYTES, float_dur_decoder)
    return {"msgspec_decode_only_s": time.perf_counter() - t0, "msgspec_decode_only_cpu_s": time.process_time() - c0}


def _child(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    from bench.common import run_python

    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return dict(json.loads(run_python(["-m", "bench.trace_reader", *args], timeout=1800).strip().splitlines()[-1]))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_variant(path: Path, repeats: int, env: dict[str, str], whole: bool = False, floor: bool = True) -> dict[str, Any]:
    flags = ["--measure", str(path), *(["--whole"] if whole else [])]
    runs = [_child(flags, env) for _ in range(repeats)]
    best = min(runs, key=lambda r: r["seconds"])
    out = {"file_bytes": path.stat().st_size, "env": env, "best": best,
           "seconds_all": [round(r["seconds"], 3) for r in runs], "cpu_seconds_all": [round(r["cpu_seconds"], 3) for r in runs],
           "worker_cpu_seconds_all": [round(r["worker_cpu_seconds"], 3) for r in runs],
           "events_per_s_median": statistics.median(r["events_per_s"] for r in runs),
           "events_per_cpu_s_median": statistics.median(r["events_per_cpu_s"] for r in runs)}
    if floor:
        floors = [_child(["--decode-only", str(path)], env) for _ in range(2)]
        out["msgspec_decode_only_s_best"] = min(f["msgspec_decode_only_s"] for f in floors)
        out["msgspec_decode_only_cpu_s_best"] = min(f["msgspec_decode_only_cpu_s"] for f in floors)
    return out


def _show(name: str, r: dict[str, Any]) -> None:
    best = r["best"]
    print(f"{name:28s} {best['events_per_s'] / 1e3:7.0f} k events/s wall, {best['events_per_cpu_s'] / 1e3:5.0f} k per CPU-s "
          f"({best['seconds']:.2f} s best of {r['seconds_all']}; CPU {best['cpu_seconds']:.2f} s + worker "
          f"{best['worker_cpu_seconds']:.2f} s), table {best['table_bytes_per_event']:.1f} B/event, RSS "
          f"+{best['rss_delta_bytes_per_event']:.0f} B/event, peak +{best['rss_peak_during_parse_bytes_per_event']:.0f} B/event",
          file=sys.stderr)


def small(tmp: Path, events: int, repeats: int) -> dict[str, Any]:
    one_core = {"STEPSCOPE_TRACE_WORKER": "0"}
    variants = {"plain_json": ("trace.json", False, False, {}, False),
                "plain_json_one_core": ("trace.json", False, False, one_core, False),
                "plain_json_whole_file_with_worker": ("trace.json", False, False, {}, True),
                "gzip_json": ("trace.json.gz", False, True, {}, False),
                "plain_json_with_input_dims": ("shapes.json", True, False, {}, False)}
    results: dict[str, Any] = {}
    for name, (file, shapes, compress, env, whole) in variants.items():
        path = tmp / file
        if not path.exists():
            write_trace(path, events, shapes, compress)
        results[name] = run_variant(path, repeats, env, whole, floor=not whole)
        _show(name, results[name])
    return results


def huge(tmp: Path, gigabytes: float) -> dict[str, Any]:
    plain = tmp / "kineto.json"
    t0 = time.perf_counter()
    launches = int(gigabytes * 1e9 / 1760)  # ~1,760 bytes of Kineto text per launch
    write_kineto_trace(plain, launches)
    in_file = kineto_file_events(launches)
    gz = tmp / "kineto.json.gz"
    gzip_file(plain, gz)
    print(f"huge trace: {plain.stat().st_size / 1e9:.2f} GB plain, {gz.stat().st_size / 1e9:.2f} GB gzipped, written in "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    out: dict[str, Any] = {"what": "Kineto-shaped GPU trace (two nested aten ops, the runtime call, the kernel and the ac2g "
                                   "flow pair per launch: 6 events, 4 kept), each read three times, each time in a fresh "
                                   "process: best by wall time, medians beside it"}
    for name, path in (("plain", plain), ("gzip", gz)):
        out[name] = run_variant(path, 3, {}, floor=False)  # single reads of 2 GB vary by ~±5 % here
        best = out[name]["best"]
        best["events_in_file"] = in_file  # the flow pairs and metadata too, which the table does not keep
        best["events_in_file_per_cpu_s"] = in_file / best["cpu_seconds"]
        _show(f"huge {name}", out[name])
    plain.unlink()
    gz.unlink()
    small_kineto = tmp / "kineto_floor.json"  # ~200 MB of the same shape, held in memory for the floor
    write_kineto_trace(small_kineto, 113_000)
    out["floor"] = _child(["--floor", str(small_kineto)], {"STEPSCOPE_TRACE_WORKER": "0"})
    print(f"huge floor (200 MB of the shape): {out['floor']['events_kept_per_cpu_s']}", file=sys.stderr)
    small_kineto.unlink()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--whole", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--decode-only", help=argparse.SUPPRESS)
    parser.add_argument("--floor", help=argparse.SUPPRESS)
    parser.add_argument("--events", type=int, default=EVENTS)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--huge-gb", type=float, default=HUGE_GB, help="size of the Kineto-shaped trace (0: none)")
    parser.add_argument("--parts", nargs="+", choices=["small", "huge"], default=["small", "huge"],
                        help="what to measure; the other part's figures are kept from the results file")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.whole)))
        return
    if args.decode_only:
        print(json.dumps(decode_only(args.decode_only)))
        return
    if args.floor:
        from bench.trace_floor import kineto_floor

        print(json.dumps(kineto_floor(args.floor)))
        return
    from bench.common import RESULTS, write_result

    previous = RESULTS / "trace_reader.json"
    kept = json.loads(previous.read_text()) if previous.exists() else {}
    kept.pop("machine", None)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="stepscope-bench-") as tmp:
        if "small" in args.parts:
            results.update(small(Path(tmp), args.events, args.repeats))
        if "huge" in args.parts and args.huge_gb > 0:
            free = shutil.disk_usage(tmp).free
            if free < 3.5 * args.huge_gb * 1e9:
                raise SystemExit(f"the huge case needs {3.5 * args.huge_gb:.0f} GB free in {tmp}, {free / 1e9:.0f} GB are")
            results["huge_kineto"] = huge(Path(tmp), args.huge_gb)
    payload = {**kept, "what": "read_trace on a torch-like Chrome trace of complete events, fresh process per read, best "
                               f"wall time of {args.repeats}; seconds are wall time, cpu_seconds this process's CPU time (all "
                               "its threads), worker_cpu_seconds the second process's",
               "events": args.events, "decoder": _decoder(), "goal_events_per_s": 1_000_000,
               "floor_events_per_s": 500_000, "goal_bytes_per_event": 200, **results}
    print(write_result("trace_reader", payload))


def _decoder() -> str:
    """What decoded the chunks: msgspec, and the compiled per-chunk step where it is built and on;
    what inflated the gzipped files: ISA-L straight into the stream's buffer where
    `traces/gzip_into.pyx` is built, ISA-L in pieces where `isal` is installed, else zlib."""
    import msgspec

    from traces import bounded_read, chunk_scan_glue, gzip_into_glue

    step = " + compiled chunk step (Cython)" if chunk_scan_glue.available() and chunk_scan_glue.ENABLED else ""
    if gzip_into_glue.gzip_into is not None and gzip_into_glue.ENABLED:
        inflate = "ISA-L (into the buffer: Cython, libisal)"
    else:
        inflate = "ISA-L" if bounded_read.igzip_lib is not None else "zlib"
    return f"msgspec {msgspec.__version__}{step}, {inflate} inflate"


if __name__ == "__main__":
    main()
