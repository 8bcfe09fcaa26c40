"""Finding the traceEvents array without a full skipping scan (`traces.event_span.find_events`):
a guess that is proven or dropped, so documents that could fool it read as the slow path
reads them."""
from __future__ import annotations

import json
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from traces import event_span
from traces.chrome_reader import read_chrome_data
from traces.table import EventTable

EVENTS = [{"ph": "X", "name": f"op{i}", "ts": i, "dur": 1, "pid": 1, "tid": 1} for i in range(3)]
OTHER = [{"ph": "X", "name": "wrong", "ts": 9, "dur": 1, "pid": 2, "tid": 2}]


def names(t: EventTable) -> list[str]:
    return [t.string(int(i)) for i in t.name]


def test_the_guess_is_proven_on_ordinary_files() -> None:
    for doc in ({"traceEvents": EVENTS}, {"schemaVersion": 1, "deviceProperties": [{"a": [1]}], "traceEvents": EVENTS,
                                           "traceName": "/tmp/x]y.json"}):
        data = json.dumps(doc).encode()
        begin, end, _ = event_span.find_events(data)
        assert json.loads(data[begin:end + 1]) == EVENTS
        assert names(read_chrome_data(data)) == ["op0", "op1", "op2"]


def test_documents_that_would_fool_the_guess() -> None:
    tricky = [
        '{"a": {"traceEvents": %(other)s}, "traceEvents": %(events)s}',  # a nested key comes first
        '{"traceEvents": %(other)s, "traceEvents": %(events)s}',  # the key twice
        '{"\\"traceEvents": %(other)s, "traceEvents": %(events)s}',  # inside another key
        '{"traceEvents": %(events)s, "samples": [[1], [2]], "x": "]"}',  # arrays and "]" after it
        '{"traceEvents": %(events)s, "m": "\\"stepscope: the traceEvents array\\""}',  # the marker itself
    ]
    for text in tricky:
        data = (text % {"other": json.dumps(OTHER), "events": json.dumps(EVENTS)}).encode()
        fast, slow = read_chrome_data(data), read_chrome_data(data, fast=False)
        assert names(fast) == names(slow), text


keys = st.sampled_from(["traceEvents", "a", "samples", "\"traceEvents", "traceEvents\\"])
values = st.recursive(st.one_of(st.integers(), st.text(alphabet="[]{}\",: traceEvents\\", max_size=12)),
                      lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
                      max_leaves=8)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(keys, values), max_size=3), st.lists(st.tuples(keys, values), max_size=3))
def test_fast_and_slow_paths_agree_around_the_array(before: list[tuple[str, Any]], after: list[tuple[str, Any]]) -> None:
    parts = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in before] + [f'"traceEvents": {json.dumps(EVENTS)}']
    parts += [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in after]
    data = ("{" + ", ".join(parts) + "}").encode()
    try:
        slow = read_chrome_data(data, fast=False)
    except Exception as exc:  # then the fast path must fail the same way
        try:
            read_chrome_data(data)
        except type(exc):
            return
        raise AssertionError("the fast path read what the slow path refused") from exc
    fast = read_chrome_data(data)
    assert names(fast) == names(slow)
    assert np.array_equal(fast.start_ns, slow.start_ns)
