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
    ],
)
def test_invalid_lines_raise_protocol_error(line: bytes, words: str) -> None:
    with pytest.raises(ProtocolError, match=words):
        parse_line(line)


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
    per_s=st.one_of(st.floats(), st.integers()),
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
