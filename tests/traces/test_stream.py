"""A Chrome trace read as a stream (`traces.stream_decode`) gives the very table the whole-file
path gives (`read_chrome_data` on the decompressed bytes), for every shape of file the readers
meet, however the text is cut into pieces, chunks and rounds; what the stream cannot decode
is read whole, and only that."""
from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.traces.test_decode_links import events as link_events
from traces import bounded_read, chrome_reader, stream_decode, stream_source
from traces.bounded_read import read_bytes
from traces.chrome_reader import read_chrome_data, read_chrome_trace
from traces.export import write_chrome_trace
from traces.table import EventTable, Limits, TraceError

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "traces"
EPOCH_US = 1_697_051_443_123_456  # Kineto's clock: µs since the epoch, written with a ns fraction
COLUMNS = ("name", "cat", "kind", "flags", "row", "start_ns", "dur_ns", "step", "args", "counter_series", "counter_ts_ns",
           "counter_value", "link_src", "link_dst")


def same(a: EventTable, b: EventTable) -> None:
    for col in COLUMNS:
        assert np.array_equal(getattr(a, col), getattr(b, col)), col
    assert a.strings == b.strings and a.rows == b.rows and a.series == b.series
    assert a.source == b.source


@contextmanager
def stream_only(chunk: int = 300, round_: int = 1000, piece: int | None = None) -> Iterator[None]:
    """Small chunks and rounds (and pieces), so a small file takes every path of a big one; a
    read that falls back to the whole file fails the test."""
    with mock.patch.object(stream_decode, "CHUNK_BYTES", chunk), mock.patch.object(stream_decode, "SCAN_CHUNK_BYTES", chunk), \
            mock.patch.object(stream_decode, "ROUND_BYTES", round_), \
            mock.patch.object(stream_source, "PIECE", piece or stream_source.PIECE), \
            mock.patch.object(bounded_read, "PIECE", piece or bounded_read.PIECE), \
            mock.patch.object(bounded_read, "INFLATE_PIECE", piece or bounded_read.INFLATE_PIECE), \
            mock.patch.object(chrome_reader, "read_bytes", side_effect=AssertionError("the file was read whole")):
        yield


def whole(path: Path) -> EventTable:
    return read_chrome_data(read_bytes(path, Limits()), path)


def ev(ph: str, name: str, ts: str | float, dur: str | float | None = None, **more: Any) -> str:
    """One event's text; ts and dur written as given, digits and all."""
    fields = {"ph": ph, "name": name, "pid": more.pop("pid", 1), "tid": more.pop("tid", 1), **more}
    return json.dumps(fields)[:-1] + f', "ts": {ts}' + ("" if dur is None else f', "dur": {dur}') + "}"


def epoch(i: int, ns: int = 0) -> str:
    return f"{EPOCH_US + i}.{(ns + 7 * i) % 1000:03d}"


def kineto_like() -> bytes:
    return gzip.decompress((DATA / "torch_convnet.trace.json.gz").read_bytes())


def jax_like() -> bytes:
    return gzip.decompress((DATA / "jax_mlp.trace.json.gz").read_bytes())


def epoch_ns() -> bytes:
    events = [ev("X", f"op{i % 5}", epoch(i, 789), cat="cpu_op", dur=f"{i % 3}.{i % 1000:03d}", tid=i % 3)
              for i in range(300)]
    return ('{"baseTimeNanoseconds": 1697051443000000000, "traceEvents": [' + ",\n".join(events) + "]}").encode()


def links() -> bytes:
    """Kineto's launch links: correlations on the runtime call and its kernel, ac2g flows, and
    kernels linked only by a flow (ids as ints, text and floats)."""
    events = [json.dumps({"ph": "M", "name": "process_labels", "pid": 0, "tid": 0, "args": {"labels": "GPU 0"}}),
              json.dumps({"ph": "M", "name": "process_name", "pid": 100, "tid": 0, "args": {"name": "python"}})]
    for i in range(150):
        corr: Any = [i, str(i), float(i)][i % 3] if i % 5 else None
        args = {"correlation": corr} if corr is not None else {"External id": i}
        events += [ev("X", "cudaLaunchKernel", epoch(10 * i), dur=1, cat="cuda_runtime", pid=100, tid=7, args=args),
                   ev("s", "ac2g", epoch(10 * i), cat="ac2g", id=i, pid=100, tid=7),
                   ev("X", f"sgemm{i % 4}", epoch(10 * i + 5), dur=3, cat="kernel", pid=0, tid=7,
                      args={**args, "grid": [i % 3, 1, 1]}),
                   ev("f", "ac2g", epoch(10 * i + 5), cat="ac2g", id=i, pid=0, tid=7, bp="e")]
    events += [json.dumps(e) for e in link_events(60)]  # the id types of test_decode_links
    return ('{"traceEvents": [' + ",".join(events) + "]}").encode()


def counters_and_pairs() -> bytes:
    events = [json.dumps({"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "Renderer"}})]
    for i in range(120):
        events += [ev("B", "outer", epoch(3 * i)), ev("E", "", epoch(3 * i + 2)),
                   ev("b", "fetch", epoch(3 * i), cat="net", id=f"0x{i % 7}"),
                   ev("e", "fetch", epoch(3 * i + 1), cat="net", id=f"0x{i % 7}", tid=2),
                   ev("C", "heap", epoch(3 * i), cat="memory", args={"used": i, f"pool{i % 4}": 2 * i, "x": "text"}),
                   ev("i", "[memory]", epoch(3 * i + 1), cat="cpu_instant_event", s="t",
                      args={"Total Allocated": 100 * i, "Total Reserved": 5, "Device Type": 1, "Device Id": 0}),
                   ev("i", "mark", epoch(3 * i + 1), s="t", dur='"ignored"'),
                   ev("n", "async mark", epoch(3 * i), id=i)]
    return ('{"traceEvents": [' + ",".join(events) + "]}").encode()


def export(tmp: Path) -> bytes:
    table = read_chrome_data(epoch_ns())
    return write_chrome_trace(table, tmp / "export.json").read_bytes()  # its header carries ts_offset_ns


def keys_around() -> bytes:
    events = ",".join(ev("X", f"k{i % 4}", epoch(i), dur=1.5) for i in range(200))
    return ('{"schemaVersion": 1, "deviceProperties": [{"id": 0, "name": "GPU"}, {"id": 1}], "traceEvents": ['
            + events + '], "traceName": "x]y", "samples": [{"a": [1, 2]}, {"b": {"c": [3]}}], "baseTimeNanoseconds": 7}'
            ).encode()


def array_format() -> bytes:
    return ("[" + ",\n".join(ev("X", f"a{i % 9}", epoch(i), dur=2) for i in range(250)) + "]\n").encode()


def cut_off() -> bytes:
    return ("[" + ",\n".join(ev("X", f"a{i % 9}", epoch(i), dur=2) for i in range(250)) + ",\n").encode()


def tricky_splits() -> bytes:
    events = []
    for i in range(200):
        name = "}, {" * (60 if i % 50 == 7 else 0) + f"op{i % 3}" + ('"}, {"ph": "X"' if i % 13 == 0 else "")
        args = {"Input Dims": [[i % 4]], "frames": [{"f": "a"}, {"f": "b"}, {"g": [{"h": 1}, {"h": 2}]}]}
        events.append(ev("X", name, epoch(i), dur=1, args=args))
    return ('{"traceEvents": [' + ", ".join(events) + "]}").encode()


def xla_links() -> bytes:
    """xprof's trace_viewer shape: process names "/host:..." / "/device:...", correlation_id
    arguments and flow v2 bind ids on the complete events themselves."""
    events = [json.dumps({"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "/host:CPU"}}),
              json.dumps({"ph": "M", "name": "process_name", "pid": 2, "args": {"name": "/device:GPU:0"}})]
    for i in range(150):
        events.append(ev("X", "launch", epoch(4 * i), pid=1, dur=1, bind_id=i, flow_out=True,
                         args={"correlation_id": 500 + i}))
        events.append(ev("X", f"fusion.{i % 6}", epoch(4 * i + 3), pid=2, tid=5, dur=2, bind_id=i, flow_in=True,
                         args={"correlation_id": 500 + i, "hlo_op": f"fusion.{i % 6}", "hlo_module": "jit_f"}))
    return ('{"displayTimeUnit": "ns", "traceEvents": [' + ",".join(events) + "]}").encode()


def odd_but_streamed() -> bytes:
    """BOM and whitespace first; a duration that is no number on an instant (ignored there)."""
    events = [ev("X", f"op{i % 3}", epoch(i), dur=1) for i in range(100)] + [ev("i", "mark", epoch(5), dur='"ignored"')]
    return b"\xef\xbb\xbf \n\t" + ('{"traceEvents": [' + ",".join(events) + "]}").encode()


SHAPES: dict[str, Callable[[], bytes]] = {
    "kineto": kineto_like, "jax": jax_like, "epoch_ns": epoch_ns, "links": links, "counters_and_pairs": counters_and_pairs,
    "keys_around": keys_around, "array_format": array_format, "cut_off": cut_off, "tricky_splits": tricky_splits,
    "xla_links": xla_links, "odd_but_streamed": odd_but_streamed,
}


def write(tmp: Path, data: bytes, form: str) -> Path:
    path = tmp / ("t.json" if form == "plain" else "t.json.gz")
    if form == "gzip":
        path.write_bytes(gzip.compress(data, 1))
    elif form == "members":  # concatenated gzip members, zero padding between and after them
        half = len(data) // 2
        path.write_bytes(gzip.compress(data[:half]) + b"\x00" * 9 + gzip.compress(data[half:]) + b"\x00" * 3)
    else:
        path.write_bytes(data)
    return path


@pytest.mark.parametrize("form", ["plain", "gzip", "members"])
@pytest.mark.parametrize("shape", [*SHAPES, "export"])
def test_every_shape_streams_to_the_whole_file_table(tmp_path: Path, shape: str, form: str) -> None:
    data = export(tmp_path) if shape == "export" else SHAPES[shape]()
    path = write(tmp_path, data, form)
    expected = whole(path)
    assert len(expected) > 0
    for chunk, round_, piece in ((300, 1000, 97), (4096, 20_000, None), (1 << 17, 4 << 20, None)):
        with stream_only(chunk, round_, piece):
            got = read_chrome_trace(path)
        same(got, expected)


def test_the_shapes_hold_what_they_are_for(tmp_path: Path) -> None:
    """The fixtures test what they claim: links, counters, async pairs, offsets, keys after."""
    t = whole(write(tmp_path, xla_links(), "plain"))
    assert len(t.link_dst) == 150
    t = whole(write(tmp_path, links(), "plain"))
    assert len(t.link_dst) > 50
    t = whole(write(tmp_path, counters_and_pairs(), "plain"))
    assert {s.label for s in t.series} >= {"heap used", "heap pool3", "[memory] CUDA:0 Total Allocated"}
    assert {r.label for r in t.rows} >= {"Renderer / async net"} and len(t.name[t.name == t.string_id("fetch")]) == 120
    t = whole(write(tmp_path, export(tmp_path), "plain"))
    assert t.source.format == "stepscope-chrome" and t.start_ns.min() == (EPOCH_US) * 1000 + 789
    t = whole(write(tmp_path, keys_around(), "plain"))
    assert t.source.time_origin_ns == 7 and len(t) == 200
    assert len(whole(write(tmp_path, cut_off(), "plain"))) == 250


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.sampled_from(sorted(SHAPES)), st.lists(st.integers(1, 4000), min_size=1, max_size=30), st.integers(40, 3000))
def test_pieces_and_chunks_of_any_size(tmp_path: Path, shape: str, cuts: list[int], chunk: int) -> None:
    """The text cut into pieces anywhere (inside a number, a string, the key, the BOM)."""
    data = SHAPES[shape]()
    pieces, at = [], 0
    for size in cuts * (len(data) // sum(cuts) + 1):
        pieces.append(data[at:at + size])
        at += size
        if at >= len(data):
            break
    path = write(tmp_path, data, "plain")
    expected = whole(path)

    class Pieces(stream_source.TraceStream):
        def __iter__(self) -> Iterator[bytes]:
            return iter(pieces)

    with stream_only(chunk, 3 * chunk), mock.patch.object(chrome_reader, "TraceStream", Pieces):
        got = read_chrome_trace(path)
    same(got, expected)


def read_whole_counted(path: Path) -> tuple[EventTable | TraceError, int]:
    """(the table, or the TraceError) of a read, and how often it read the file whole."""
    calls = []

    def counted(*args: Any) -> Any:
        calls.append(1)
        return read_bytes(*args)

    with mock.patch.object(chrome_reader, "read_bytes", counted):
        try:
            return read_chrome_trace(path), len(calls)
        except TraceError as exc:
            return exc, len(calls)


@pytest.mark.parametrize("text, reason", [
    ('{"traceEvents": [{"ph": "X", "name": "a", "ts": 1, "dur": 1, "pid": 2.0, "tid": [1]}]}', "values"),
    ('{"traceEvents": [{"ph": "X", "name": "a", "ts": 1, "dur": 1}, 5]}', "values"),
    ('{"a": {"traceEvents": [{"ph": "X", "name": "wrong", "ts": 1}]}, "traceEvents": [{"ph": "X", "name": "b", "ts": 2}]}',
     "proven"),
    ('{"traceEvents": [{"ph": "X", "name": "a", "ts": 1, "dur": 1}]} trailing junk', "proven"),
    ('[{"ph": "X", "name": "a", "ts": 1, "dur": 1}]\x0c', "whitespace"),
    ("[" * 100_000 + "]" * 100_000, "values"),
    (" " * 70 + '{"traceEvents": [' + ", ".join(['{"ph": "X", "name": "a", "ts": 1, "dur": 1}'] * 20) + "]}", "whitespace"),
])
def test_what_the_stream_cannot_decode_is_read_whole(tmp_path: Path, text: str, reason: str,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, text.encode(), "plain")
    with caplog.at_level(logging.INFO, "stepscope.traces"):
        got, whole_reads = read_whole_counted(path)
    assert whole_reads == 1 and "read whole" in caplog.text
    try:
        expected: EventTable | TraceError = whole(path)
    except TraceError as exc:
        expected = exc
    if isinstance(expected, TraceError):
        assert isinstance(got, TraceError) and str(got) == str(expected)
    else:
        assert isinstance(got, EventTable)
        same(got, expected)


def test_xprof_process_names_after_the_first_round_read_whole(tmp_path: Path) -> None:
    """xprof's link fields are read from the round that names an xprof process on: a trace that
    names one only later has its links read from the whole file, the same links."""
    doc = json.loads(xla_links())
    doc["traceEvents"] = doc["traceEvents"][2:] + doc["traceEvents"][:2]  # the process names last
    path = write(tmp_path, json.dumps(doc).encode(), "plain")
    with mock.patch.object(stream_decode, "ROUND_BYTES", 2000), mock.patch.object(stream_decode, "CHUNK_BYTES", 500), \
            mock.patch.object(stream_decode, "SCAN_CHUNK_BYTES", 500):
        got, whole_reads = read_whole_counted(path)
    assert whole_reads == 1
    assert isinstance(got, EventTable) and len(got.link_dst) == 150
    same(got, whole(path))


def test_errors_in_the_stream_are_the_whole_file_path_errors(tmp_path: Path) -> None:
    """What the stream itself refuses (too many events, nesting, an empty file, not JSON) it
    refuses with the whole-file path's words, without reading the file whole."""
    cases = {"many.json": (json.dumps({"traceEvents": [json.loads(ev("X", "a", 1, dur=1))] * 50}), Limits(max_events=10)),
             "deep.json": ('{"traceEvents": [{"args": {"deep": ' + "[" * 10_000 + "]" * 10_000 + "}}]}", Limits()),
             "empty.json": (" \n", Limits()),
             "text.json": ("hello, not a trace", Limits()), "binary.json": ("\x00\x01binary", Limits())}
    for name, (text, limits) in cases.items():
        path = write(tmp_path, text.encode(), "plain").rename(tmp_path / name)
        with pytest.raises(TraceError) as streamed, \
                mock.patch.object(chrome_reader, "read_bytes", side_effect=AssertionError("read whole")):
            read_chrome_trace(path, limits)
        with pytest.raises(TraceError) as read_whole:
            read_chrome_data(path.read_bytes(), path, limits)
        assert str(streamed.value) == str(read_whole.value), name


def test_a_whitespace_bomb_stops_at_the_limit_holding_little(tmp_path: Path) -> None:
    import tracemalloc
    import zlib

    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    block = b" " * (16 << 20)
    with open(tmp_path / "bomb.json.gz", "wb") as f:
        f.write(c.compress(b"["))
        for _ in range(16):  # 256 MiB of spaces in ~0.25 MB
            f.write(c.compress(block))
        f.write(c.compress(b"]") + c.flush())
    del block
    tracemalloc.start()
    try:
        with pytest.raises(TraceError, match="expands past the 134,217,728-byte limit"):
            read_chrome_trace(tmp_path / "bomb.json.gz", Limits(max_bytes=128 << 20))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 24 << 20, f"{peak:,} bytes held to refuse a bomb"  # pieces and one round of text, not the 128 MiB
