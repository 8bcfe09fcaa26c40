"""Property tests of the Chrome-trace reader: whatever bytes it is given it either reads them
or raises TraceError (never another exception, never an "internal error"), and valid event
lists round-trip their count and durations through reading, both decode paths and export."""
from __future__ import annotations

import gzip
import json
import math
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from traces import decode
from traces.chrome_reader import read_chrome_data
from traces.export import write_chrome_trace
from traces.readers import read_trace
from traces.table import EventTable, Limits, TraceError

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
LIMITS = Limits(max_bytes=1 << 20, max_events=10_000)

names = st.text(min_size=0, max_size=20)
labels = st.one_of(st.integers(-5, 2**40), st.sampled_from(["Spans", "", "GPU 0"]))
times = st.floats(0, 1e12, allow_nan=False).map(lambda v: round(v, 3))
durations = st.floats(0, 1e9, allow_nan=False).map(lambda v: round(v, 3))
args = st.dictionaries(st.sampled_from(["hlo_op", "hlo_module", "long_name", "Input Dims", "External id", "other"]),
                       st.one_of(names, st.integers(-10, 10), st.lists(st.integers(0, 64), max_size=4)), max_size=3)


@st.composite
def complete(draw: Any) -> dict[str, Any]:
    ev = {"ph": "X", "name": draw(names), "ts": draw(times), "dur": draw(durations), "pid": draw(labels),
          "tid": draw(labels)}
    if draw(st.booleans()):
        ev["cat"] = draw(st.sampled_from(["cpu_op", "kernel", "user_annotation", "cuda_runtime", "python_function", "x"]))
    if draw(st.booleans()):
        ev["args"] = draw(args)
    return ev


@st.composite
def instant(draw: Any) -> dict[str, Any]:
    return {"ph": draw(st.sampled_from(["i", "I"])), "name": draw(names.filter(lambda n: n != "[memory]")),
            "ts": draw(times), "pid": draw(labels), "tid": draw(labels), "s": "t"}


other = st.one_of(
    st.builds(lambda n, pid: {"ph": "M", "name": "thread_name", "pid": pid, "tid": 1, "args": {"name": n}}, names, labels),
    st.builds(lambda t: {"ph": "s", "id": 1, "ts": t, "pid": 1, "tid": 1, "name": "flow"}, times),
    st.builds(lambda t, v: {"ph": "C", "name": "mem", "ts": t, "pid": 1, "args": {"bytes": v}}, times, st.integers(0, 2**40)),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=20,
)
junk_events = st.dictionaries(st.sampled_from(["ph", "name", "cat", "ts", "dur", "pid", "tid", "args", "id", "s"]),
                              json_values, max_size=8)


def read_or_trace_error(data: bytes, fast: bool = True) -> EventTable | None:
    try:
        return read_chrome_data(data, "<hypothesis>", LIMITS, fast=fast)
    except TraceError as exc:
        assert "internal error" not in str(exc) and "\n" not in str(exc)
        return None


@SETTINGS
@given(st.lists(st.one_of(complete(), instant(), other), max_size=40), st.booleans())
def test_valid_events_round_trip(events: list[dict[str, Any]], as_object: bool) -> None:
    doc: Any = {"traceEvents": events} if as_object else events
    data = json.dumps(doc).encode()
    kept = [e for e in events if e["ph"] in ("X", "i", "I")]
    for fast in (True, False):
        t = read_chrome_data(data, limits=LIMITS, fast=fast)
        assert len(t) == len(kept)
        want = sorted(round(e.get("dur", 0) * 1000) if e["ph"] == "X" else 0 for e in kept)
        assert sorted(t.dur_ns.tolist()) == want
        assert sorted(t.start_ns.tolist()) == sorted(round(e["ts"] * 1000) for e in kept)
        assert len(t.counter_ts_ns) == sum(1 for e in events if e["ph"] == "C")
        assert np.all(np.diff(t.start_ns) >= 0)
        assert np.all((t.step == -1) | np.isin(t.step, t.step[t.kind == 1]))


@SETTINGS
@given(st.lists(st.one_of(complete(), instant()), max_size=30))
def test_both_decode_paths_agree(events: list[dict[str, Any]]) -> None:
    data = json.dumps({"traceEvents": events}).encode()
    fast, slow = read_chrome_data(data, limits=LIMITS), read_chrome_data(data, limits=LIMITS, fast=False)
    for col in ("start_ns", "dur_ns", "kind", "flags", "step"):
        assert np.array_equal(getattr(fast, col), getattr(slow, col))
    assert [fast.string(i) for i in fast.name] == [slow.string(i) for i in slow.name]
    assert [fast.event_args(i) for i in range(len(fast))] == [slow.event_args(i) for i in range(len(slow))]
    assert [r.label for r in fast.rows] == [r.label for r in slow.rows]


tricky_names = st.sampled_from(['}, {', '"}, {"ph": "X"', "}\n,\n{", "\\", "]", "[{", "\u00e9\u4e2d", ""])


@SETTINGS
@given(st.lists(st.one_of(complete(), instant(), other), max_size=30), st.lists(tricky_names, max_size=3),
       st.integers(1, 200), st.sampled_from([", ", ",\n  ", ","]))
def test_chunked_decoding_matches_whole_file(events: list[dict[str, Any]], names: list[str], chunk: int, sep: str) -> None:
    """Chunks split between events; a split inside a string ("}, {" in a name) must fall
    back to whole-file decoding, never change the result."""
    for i, name in enumerate(names):
        if events:
            events[i % len(events)]["name"] = name
    data = ("{\"traceEvents\": [" + sep.join(json.dumps(e) for e in events) + "], \"displayTimeUnit\": \"ns\"}").encode()
    whole = read_chrome_data(data, limits=LIMITS)
    with mock.patch.object(decode, "CHUNK_BYTES", chunk):
        chunked = read_chrome_data(data, limits=LIMITS)
    for col in ("start_ns", "dur_ns", "kind", "flags", "step", "row"):
        assert np.array_equal(getattr(whole, col), getattr(chunked, col))
    assert [whole.string(i) for i in whole.name] == [chunked.string(i) for i in chunked.name]
    assert [whole.event_args(i) for i in range(len(whole))] == [chunked.event_args(i) for i in range(len(chunked))]
    assert np.array_equal(whole.counter_value, chunked.counter_value)


@SETTINGS
@given(st.lists(st.one_of(complete(), instant(), other), min_size=1, max_size=30))
def test_export_reads_back_the_same_count(events: list[dict[str, Any]]) -> None:
    t = read_chrome_data(json.dumps({"traceEvents": events}).encode(), limits=LIMITS)
    with tempfile.TemporaryDirectory() as tmp:
        back = read_trace(write_chrome_trace(t, Path(tmp) / "out.json"), LIMITS)
    assert len(back) == len(t)
    assert np.array_equal(back.dur_ns, t.dur_ns) and np.array_equal(back.start_ns, t.start_ns)
    assert np.array_equal(back.kind, t.kind) and len(back.counter_ts_ns) == len(t.counter_ts_ns)


@SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(data: bytes) -> None:
    read_or_trace_error(data)
    read_or_trace_error(data, fast=False)


@SETTINGS
@given(st.one_of(json_values, st.lists(junk_events, max_size=10),
                 st.builds(lambda evs: {"traceEvents": evs}, st.lists(st.one_of(junk_events, json_values), max_size=10))))
def test_random_json_never_crashes(doc: Any) -> None:
    data = json.dumps(doc, allow_nan=True).encode()
    read_or_trace_error(data)
    read_or_trace_error(data, fast=False)


@SETTINGS
@given(st.lists(complete(), min_size=1, max_size=10), st.data())
def test_damaged_valid_traces_never_crash(events: list[dict[str, Any]], data: Any) -> None:
    raw = bytearray(json.dumps({"traceEvents": events}).encode())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            raw[pos] = data.draw(st.integers(0, 255))
        elif action == "cut":
            del raw[pos:]
            if not raw:
                break
        else:
            raw[pos:pos] = data.draw(st.sampled_from([b"NaN", b"-", b"1e999", b"[", b"{", b'"', b",", b"\\u0000", b"\xff"]))
    read_or_trace_error(bytes(raw))


@SETTINGS
@given(st.binary(min_size=0, max_size=200), st.booleans())
def test_random_gzip_files_never_crash(payload: bytes, compress: bool) -> None:
    data = gzip.compress(payload) if compress else b"\x1f\x8b" + payload
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.json.gz"
        path.write_bytes(data)
        try:
            read_trace(path, LIMITS)
        except TraceError as exc:
            assert "internal error" not in str(exc)


@SETTINGS
@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=2, max_size=2))
def test_absurd_numbers_are_trace_errors(values: list[float]) -> None:
    ts, dur = values
    data = json.dumps({"traceEvents": [{"ph": "X", "name": "a", "ts": ts, "dur": dur, "pid": 1, "tid": 1}]}).encode()
    t = read_or_trace_error(data)
    fine = math.isfinite(ts) and math.isfinite(dur) and abs(ts) <= 4.5e15 and 0 <= dur <= 4.5e15
    assert (t is not None) == fine
