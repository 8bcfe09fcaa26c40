from __future__ import annotations

import json
import os

import pytest

from profilers.protocol import EventWriter, ProtocolError, parse_line

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
