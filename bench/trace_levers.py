"""The Chrome reader's speed levers on a Kineto-shaped GPU trace, each measured on its own:
the read with the lever as the reader has it against the read without it, in one process
pinned to one core, interleaved (the order alternating round by round), CPU time per read;
the figure is the geometric mean of the per-round ratios with and without, with a bootstrap
95 % interval (`bench.program_overhead.ratio_ci`). A ratio under 1 means the lever helps.

Levers (issue 14 item 7 names the first three kinds):
- gc_paused: no cyclic GC during the parse (`traces.chrome._gc_paused`) against the GC on;
- float_dur: dur decoded as a float where `exact_time.float_ns` proves it, against its text;
- fixed_width_ts: Kineto's epoch ts parsed as a fixed-width table (`exact_time._fixed`) against
  the general digit parse (`exact_time._parse`);
- chunk_32k / chunk_64k / chunk_512k: msgspec chunks of 32, 64 or 512 KiB against the reader's 128 KiB;
- round_8m: rounds (`stream_decode.ROUND_BYTES`) of 8 MiB against 2 MiB;
- scan_chunk_128k: the compiled step's chunks (`stream_decode.SCAN_CHUNK_BYTES`) of 128 KiB against
  its 1 MiB (the chunk_* levers change msgspec's chunks, used only where the step is off);
- inflate_thread (the gzipped copy): a thread inflating up to 4 pieces ahead of the decoder
  (zlib releases the GIL inside inflate) against inflating on the reading thread, on one core
  and again unpinned (both cores), wall time as well as CPU time.

    .venv/bin/python -m bench.trace_levers    # writes bench/results/trace_reader_levers.json
    .venv/bin/python -m bench.trace_levers --only chunk_32k --rounds 16   # one lever again, the rest kept
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import queue
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

LAUNCHES = 56_000  # ~100 MB of Kineto text, 336k events (224k kept)
ROUNDS = 8


def _patched(obj: Any, name: str, value: Any) -> contextlib.AbstractContextManager[None]:
    @contextlib.contextmanager
    def cm() -> Iterator[None]:
        saved = getattr(obj, name)
        setattr(obj, name, value)
        try:
            yield
        finally:
            setattr(obj, name, saved)
    return cm()


def _inflate_ahead(self: Any) -> Iterator[bytes]:
    """`TraceStream._gunzipped` with the inflating on a thread of its own, 4 pieces ahead."""
    from traces.stream_source import TraceStream

    pieces: queue.Queue[bytes | BaseException | None] = queue.Queue(4)
    stop = threading.Event()

    def work() -> None:
        try:
            for piece in _ORIGINAL_GUNZIPPED(self):
                if stop.is_set():
                    return
                pieces.put(piece)
            pieces.put(None)
        except BaseException as exc:  # handed to the reading thread
            pieces.put(exc)

    assert isinstance(self, TraceStream)
    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while (got := pieces.get()) is not None:
            if isinstance(got, BaseException):
                raise got
            yield got
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                pieces.get_nowait()
        thread.join()


_ORIGINAL_GUNZIPPED: Callable[[Any], Iterator[bytes]]


def levers() -> dict[str, tuple[str, Callable[[], contextlib.AbstractContextManager[None]]]]:
    """name -> (which file, the reader without the lever)."""
    from traces import chrome, exact_time, stream_decode
    from traces.stream_events import TEXT_DUR

    return {
        "gc_paused": ("plain", lambda: _patched(chrome, "_gc_paused", contextlib.nullcontext)),
        "float_dur": ("plain", lambda: _patched(stream_decode, "decode", lambda text: (TEXT_DUR.decode(text), False))),
        "fixed_width_ts": ("plain", lambda: _patched(exact_time, "_fixed", lambda *_: None)),
        "chunk_32k": ("plain", lambda: _patched(stream_decode, "CHUNK_BYTES", 32 << 10)),
        "chunk_64k": ("plain", lambda: _patched(stream_decode, "CHUNK_BYTES", 64 << 10)),
        "chunk_512k": ("plain", lambda: _patched(stream_decode, "CHUNK_BYTES", 512 << 10)),
        "round_8m": ("plain", lambda: _patched(stream_decode, "ROUND_BYTES", 8 << 20)),
        "scan_chunk_128k": ("plain", lambda: _patched(stream_decode, "SCAN_CHUNK_BYTES", 128 << 10)),
    }


def _read(path: Path) -> tuple[float, float, int]:
    from traces.readers import read_trace

    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    n = len(read_trace(path))
    return time.process_time() - c0, time.perf_counter() - t0, n


def ab(path: Path, without: Callable[[], contextlib.AbstractContextManager[None]], rounds: int,
       lever_is_alternative: bool = False) -> dict[str, Any]:
    """Interleaved reads with the reader as it is and `without` the lever; ratios with / without.
    `lever_is_alternative`: `without` applies the lever instead (the reader does not have it)."""
    from bench.program_overhead import ratio_ci

    cpu: dict[str, list[float]] = {"as_is": [], "other": []}
    wall: dict[str, list[float]] = {"as_is": [], "other": []}
    events = 0
    _read(path)  # warm: imports, page cache
    for r in range(rounds):
        for side in (("as_is", "other") if r % 2 == 0 else ("other", "as_is")):
            with without() if side == "other" else contextlib.nullcontext():
                c, w, events = _read(path)
            cpu[side].append(c)
            wall[side].append(w)
    with_, without_ = ("other", "as_is") if lever_is_alternative else ("as_is", "other")
    ratio, low, high = ratio_ci(cpu[with_], cpu[without_])
    wratio, wlow, whigh = ratio_ci(wall[with_], wall[without_])
    return {"events_kept": events, "cpu_s_with": [round(x, 4) for x in cpu[with_]],
            "cpu_s_without": [round(x, 4) for x in cpu[without_]],
            "cpu_ratio_with_over_without": round(ratio, 4), "cpu_ratio_ci95": [round(low, 4), round(high, 4)],
            "wall_ratio_with_over_without": round(wratio, 4), "wall_ratio_ci95": [round(wlow, 4), round(whigh, 4)],
            "ns_per_event_kept_with": round(statistics.median(cpu[with_]) / events * 1e9),
            "ns_per_event_kept_without": round(statistics.median(cpu[without_]) / events * 1e9)}


def main() -> None:
    global _ORIGINAL_GUNZIPPED
    parser = argparse.ArgumentParser()
    parser.add_argument("--launches", type=int, default=LAUNCHES)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--only", nargs="*", help="levers to measure (default: all)")
    args = parser.parse_args()
    from bench.common import RESULTS, write_result
    from bench.trace_reader import gzip_file, write_kineto_trace
    from traces.stream_source import TraceStream

    _ORIGINAL_GUNZIPPED = TraceStream._gunzipped
    cores = sorted(os.sched_getaffinity(0))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="stepscope-levers-") as tmp:
        files = {"plain": Path(tmp) / "kineto.json", "gzip": Path(tmp) / "kineto.json.gz"}
        write_kineto_trace(files["plain"], args.launches)
        gzip_file(files["plain"], files["gzip"])
        chosen = {k: v for k, v in levers().items() if not args.only or k in args.only}
        os.sched_setaffinity(0, cores[:1])
        for name, (which, without) in chosen.items():
            alternative = name.startswith(("chunk_", "round_"))  # sizes the reader does not use
            results[name] = ab(files[which], without, args.rounds, lever_is_alternative=alternative)
            print(f"{name:16s} {results[name]['cpu_ratio_with_over_without']:.3f} "
                  f"CI {results[name]['cpu_ratio_ci95']}", file=sys.stderr)
        if not args.only or "inflate_thread" in args.only:
            def threaded() -> contextlib.AbstractContextManager[None]:
                return _patched(TraceStream, "_gunzipped", _inflate_ahead)

            for label, use in (("inflate_thread_one_core", cores[:1]), ("inflate_thread_all_cores", cores)):
                os.sched_setaffinity(0, use)
                results[label] = ab(files["gzip"], threaded, args.rounds, lever_is_alternative=True)
                print(f"{label:24s} cpu {results[label]['cpu_ratio_with_over_without']:.3f} "
                      f"wall {results[label]['wall_ratio_with_over_without']:.3f} "
                      f"CI {results[label]['wall_ratio_ci95']}", file=sys.stderr)
        os.sched_setaffinity(0, cores)
        sizes = {k: p.stat().st_size for k, p in files.items()}
    previous = RESULTS / "trace_reader_levers.json"
    kept = json.loads(previous.read_text()).get("levers", {}) if args.only and previous.exists() else {}
    for name in results:  # a lever measured again replaces its old figure; the others are kept
        kept.pop(name, None)
    payload = {"what": __doc__.split("\n\n")[0].replace("\n", " "), "launches": args.launches, "rounds": args.rounds,
               "file_bytes": sizes, "levers": {**kept, **{k: {**v, "rounds": args.rounds} for k, v in results.items()}}}
    print(write_result("trace_reader_levers", payload))


if __name__ == "__main__":
    main()
