"""Where a Kineto-shaped GPU trace's one-core read goes (`bench.trace_reader`'s huge case runs
it on ~200 MB of the same shape, in a process of its own): the floor under the Chrome reader's
design, step by step."""
from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any


def kineto_floor(path: str, repeats: int = 3) -> dict[str, Any]:
    """Where a Kineto-shaped GPU trace's one-core read goes, in this process (best CPU time of
    `repeats`, per event kept): msgspec alone decoding the chunks (cut as the stream cuts them)
    into the stream's structs; that and the stream's per-chunk work (`StreamColumns.add`: key
    codes, argument sets, correlations, times as text); the whole read (`read_trace`: also the
    file's bytes, the rounds' exact times and columns, the table). No reader of this design
    beats the first line; the second is what a chunk costs before anything is finished."""
    from traces.bounded_read import read_bytes
    from traces.event_span import events_span
    from traces.json_decoders import CHUNK_BYTES, decode_range
    from traces.readers import read_trace
    from traces.stream_columns import StreamColumns
    from traces.stream_events import FLOAT_DUR, decode
    from traces.table import Limits

    data = read_bytes(Path(path), Limits())
    span = events_span(data)
    assert span is not None
    view, begin, end, _ = span
    kept = len(read_trace(path))

    class Stream:  # the stream's decode and per-chunk work, without its rounds
        def __init__(self) -> None:
            self.acc = StreamColumns(path, 1 << 40, Limits().max_string)

        def decode(self, text: bytes) -> list[Any]:
            events, self.float_dur = decode(text)
            return events

        def add(self, events: list[Any], pos: int, cut: int) -> None:
            self.acc.add(events, pos, cut, self.float_dur)

    def best(run: Any) -> float:
        times = []
        for _ in range(repeats):
            gc.collect()
            gc.disable()
            t0 = time.process_time()
            run()
            times.append(time.process_time() - t0)
            gc.enable()
        return min(times)

    def streamed() -> None:
        stream = Stream()
        decode_range(stream.add, view, begin + 1, end, CHUNK_BYTES, stream)

    steps = {"msgspec_decode_only": lambda: decode_range(lambda *_: None, view, begin + 1, end, CHUNK_BYTES, FLOAT_DUR),
             "decode_and_chunk_columns": streamed, "whole_read": lambda: read_trace(path)}
    out: dict[str, Any] = {"file_bytes": len(data), "events_kept": kept, "cpu_seconds_best": {}, "ns_per_event_kept": {},
                           "events_kept_per_cpu_s": {}}
    for name, run in steps.items():
        cpu = best(run)
        out["cpu_seconds_best"][name] = round(cpu, 4)
        out["ns_per_event_kept"][name] = round(cpu / kept * 1e9)
        out["events_kept_per_cpu_s"][name] = round(kept / cpu)
    return out
