"""Where a Kineto-shaped GPU trace's one-core read goes (`bench.trace_reader`'s huge case runs
it on ~200 MB of the same shape, in a process of its own): the floor under the Chrome reader's
design, step by step."""
from __future__ import annotations

import gc
import time
from pathlib import Path
from typing import Any
from unittest import mock


def kineto_floor(path: str, repeats: int = 3) -> dict[str, Any]:
    """Where a Kineto-shaped GPU trace's one-core read goes, in this process (best CPU time of
    `repeats`, per event kept): msgspec alone decoding the chunks (cut as the stream cuts them)
    into the stream's structs; that and the structs turned into column tuples
    (`stream_events.columns`); that and the key codes (`key_codes`); that and the argument sets
    and correlations (`arg_codes`); the stream's whole per-chunk work (`StreamColumns.add`:
    also times as text, dur floats, flow ids); the whole read (`read_trace`: also the file's
    bytes, the rounds' exact times and columns, the table). No reader of this design beats the
    first line; each next one adds one step, so the differences say where an event's time goes.
    Where the compiled per-chunk step is built (`traces.chunk_scan_glue`): its per-chunk work
    alone (`StreamColumns.scan`, in place of all the msgspec steps), and the whole read without
    it (`whole_read` uses it)."""
    from traces import chunk_scan_glue
    from traces.bounded_read import read_bytes
    from traces.event_span import events_span
    from traces.json_decoders import CHUNK_BYTES, SPLIT, decode_range
    from traces.readers import read_trace
    from traces.stream_columns import StreamColumns
    from traces.stream_events import FLOAT_DUR, ArgSets, Interned, arg_codes, columns, decode, key_codes
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

    def partial(step: int) -> None:  # decode, then the first `step` of: column tuples, key codes, argument sets
        keys, sets = Interned(), ArgSets()

        def add(events: list[Any], pos: int, cut: int) -> None:
            if events:
                cols = columns(events)
                if step >= 2:
                    key_codes(keys, *cols[:5])
                if step >= 3:
                    arg_codes(sets, cols[7], Limits().max_string, False)
        decode_range(add, view, begin + 1, end, CHUNK_BYTES, FLOAT_DUR)

    def scanned() -> None:  # the compiled step's per-chunk work on the same chunks
        acc = StreamColumns(path, 1 << 40, Limits().max_string)
        pos = begin + 1
        while pos < end:
            cut = nxt = end
            if end - pos > CHUNK_BYTES and (m := SPLIT.search(view, pos + CHUNK_BYTES, end)) is not None:
                cut, nxt = m.start() + 1, m.end() - 1
            if not acc.scan(data, pos, cut):
                raise AssertionError("the compiled step refused a chunk of the bench's trace")
            pos = nxt

    def without_step() -> None:
        with mock.patch.object(chunk_scan_glue, "ENABLED", False):
            read_trace(path)

    steps = {"msgspec_decode_only": lambda: decode_range(lambda *_: None, view, begin + 1, end, CHUNK_BYTES, FLOAT_DUR),
             "decode_columns": lambda: partial(1), "decode_columns_keys": lambda: partial(2),
             "decode_columns_keys_args": lambda: partial(3), "decode_and_chunk_columns": streamed,
             "whole_read": lambda: read_trace(path)}
    if chunk_scan_glue.available():
        steps.update(compiled_chunk_step=scanned, whole_read_msgspec=without_step)
    out: dict[str, Any] = {"file_bytes": len(data), "events_kept": kept, "cpu_seconds_best": {}, "ns_per_event_kept": {},
                           "events_kept_per_cpu_s": {}}
    for name, run in steps.items():
        cpu = best(run)
        out["cpu_seconds_best"][name] = round(cpu, 4)
        out["ns_per_event_kept"][name] = round(cpu / kept * 1e9)
        out["events_kept_per_cpu_s"][name] = round(kept / cpu)
    return out
