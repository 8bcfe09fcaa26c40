from __future__ import annotations

import json
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profilers.protocol import EventWriter, ProtocolError, _step_line, parse_line

STEP = {"type": "step", "t": 1.5, "index": 3, "phase": "measure", "step_ms": 12.5, "samples_per_s": 5120.0, "loss": 0.4}


def test_valid_step_parses() -> None:
    assert parse_line(json.dumps(STEP).encode() + b"\n") == STEP


@pytest.mark.parametrize(
    "line, words",
    [
        (b"not json at all", "not JSON"),
        (b"[1, 2]", "not an object"),
        (b"\xff\xfe", "not UTF-8"),
        (json.dumps({**STEP, "type": "teleport"}).encode(), "unknown event type"),
        (json.dumps({k: v for k, v in STEP.items() if k != "t"}).encode(), "valid time"),
        (json.dumps({k: v for k, v in STEP.items() if k != "loss"}).encode(), "lacks field 'loss'"),
        (json.dumps({**STEP, "index": "3"}).encode(), "wrong type"),
        (json.dumps({**STEP, "index": True}).encode(), "wrong type"),
        (json.dumps({**STEP, "phase": "lunch"}).encode(), "unknown phase"),
        (json.dumps({**STEP, "step_ms": -1}).encode(), "invalid step_ms"),
        (b'{"type": "step", "t": NaN}', "valid time"),
        (json.dumps({"type": "phase", "t": 0, "name": "compile", "edge": "middle"}).encode(), "edge"),
        (json.dumps({"type": "program", "t": 0, "framework": "torch", "framework_version": "2.1"}).encode(), "lacks field 'pid'"),
        (json.dumps({"type": "program", "t": 0, "framework": None, "framework_version": "2.1", "pid": 1}).encode(),
         "wrong type"),
        (json.dumps({"type": "step_source", "t": 0, "source": "torch.optim"}).encode(), "lacks field 'detail'"),
        (json.dumps({"type": "notice", "t": 0, "message": 3}).encode(), "wrong type"),
        (json.dumps({**STEP, "samples_per_s": "fast"}).encode(), "wrong type"),
    ],
)
def test_invalid_lines_raise_protocol_error(line: bytes, words: str) -> None:
    with pytest.raises(ProtocolError, match=words):
        parse_line(line)


@pytest.mark.parametrize("event", [
    {"type": "program", "t": 0.1, "framework": "jax", "framework_version": "0.4.30", "pid": 42},
    {"type": "step_source", "t": 0.2, "source": "torch.optim", "detail": "the optimizer's step() marks each step"},
    {"type": "notice", "t": 0.3, "message": "the program runs its own profiler, so the window was skipped"},
    {**STEP, "samples_per_s": None},
    {"type": "hello", "t": 0.4, "protocol": 1, "framework": "torch", "framework_version": "2.1", "device_kind": "cpu",
     "device_name": "cpu", "host": {}, "spec": {}, "param_count": None, "pid": 42},
])
def test_the_agents_events_parse(event: dict) -> None:
    """docs/programs.md: a program's events, and the fields that may be null in them."""
    assert parse_line(json.dumps(event)) == event


def test_a_step_without_throughput_takes_the_fast_path() -> None:
    fields = {"index": 7, "phase": "measure", "step_ms": 3.25, "samples_per_s": None, "loss": None}
    line = _step_line(1.5, fields)
    assert line == (json.dumps({"type": "step", "t": 1.5, **fields}, separators=(",", ":")) + "\n").encode()
    assert parse_line(line)["samples_per_s"] is None


def test_nan_loss_is_a_measurement_not_a_protocol_error() -> None:
    event = parse_line(json.dumps({**STEP, "loss": float("nan")}))
    assert event["loss"] != event["loss"]


def test_writer_round_trips_through_parser() -> None:
    read, write = os.pipe()
    writer = EventWriter(write)
    writer.emit("compile", ms=812.5, what="jax compiled: lower() + compile()")
    os.close(write)
    with os.fdopen(read, "rb") as f:
        event = parse_line(f.readline())
    assert event["type"] == "compile" and event["ms"] == 812.5 and event["t"] >= 0


@settings(max_examples=300, deadline=None)
@given(
    index=st.integers(min_value=-2**70, max_value=2**70),
    phase=st.sampled_from(["warmup", "measure", "trace"]),
    step_ms=st.floats(allow_nan=True, allow_infinity=True),
    per_s=st.one_of(st.none(), st.floats(), st.integers()),
    loss=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
    t=st.floats(min_value=0, max_value=1e7),
)
def test_step_fast_path_writes_exactly_what_json_dumps_writes(index, phase, step_ms, per_s, loss, t) -> None:
    fields = {"index": index, "phase": phase, "step_ms": step_ms, "samples_per_s": per_s, "loss": loss}
    t = round(t, 6)
    fast = _step_line(t, fields)
    assert fast is not None
    assert fast == (json.dumps({"type": "step", "t": t, **fields}, separators=(",", ":")) + "\n").encode()


def test_step_fast_path_leaves_unusual_steps_to_json_dumps() -> None:
    base = {"index": 1, "phase": "measure", "step_ms": 1.0, "samples_per_s": 2.0, "loss": 0.5}
    assert _step_line(0.0, base) is not None
    assert _step_line(0.0, {**base, "extra": 1}) is None
    assert _step_line(0.0, {**base, "phase": 'me"asure'}) is None
    assert _step_line(0.0, {**base, "loss": True}) is None
    assert _step_line(0.0, {**base, "index": 1.5}) is None
