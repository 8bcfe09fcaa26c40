"""The event stream (docs/architecture.md, "The event stream"): from a worker (or the agent inside a
user's program, docs/programs.md) to its controller, one JSON object per line.

The worker writes on a descriptor of its own (`claim_protocol_channel`): fd 1 is moved to
stderr at start, so whatever native libraries print can never corrupt the stream. The
controller validates every line with `parse_line`; anything that does not match is a
ProtocolError, which the controller turns into a failed run.
"""
from __future__ import annotations

import json
import math
import os
import sys
import threading
import time
from typing import Any

PROTOCOL_VERSION = 1
MAX_LINE_BYTES = 1 << 20
PHASES = ("compile", "warmup", "measure", "trace", "eval")
STEP_PHASES = ("warmup", "measure", "trace")
GUARD_ACTIONS = ("fits", "shrunk", "warned", "no-window", "unsized")

_num = (int, float)
_opt_num = (int, float, type(None))
_opt_int = (int, type(None))
_opt_str = (str, type(None))

# Required fields of each event type and the types each may hold (bool is rejected for numbers).
EVENT_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "hello": {
        "protocol": (int,), "framework": (str,), "framework_version": (str,), "device_kind": (str,),
        "device_name": (str,), "host": (dict,), "spec": (dict,), "param_count": _opt_int, "pid": (int,),
    },
    "phase": {"name": (str,), "edge": (str,)},  # + optional `cpu_s`, `wall_s` on an end (the worker's CPU and wall seconds in it)
    "step": {"index": (int,), "phase": (str,), "step_ms": _num, "samples_per_s": _opt_num, "loss": _opt_num},
    # Optional on a sample: `others_cpu`, every other process's CPU use over the interval as % of all the
    # machine's cores (0-100), where the controller samples on the run's own machine (profilers/host_monitor.py).
    "sample": {
        "host_rss": (int,), "cpu_percent": _num, "device_in_use": _opt_int, "device_peak": _opt_int,
        "device_memory_source": _opt_str, "gpu_util": _opt_num, "gpu_mem_used": _opt_int,
    },
    # The worker's allocator figures; the controller folds the latest into its `sample` events.
    "device": {"device_in_use": (int,), "device_peak": (int,), "device_memory_source": (str,)},
    "compile": {"ms": _num, "what": (str,)},
    "eval": {"accuracy": _num, "macro_f1": _num, "loss": _num, "samples": (int,)},
    # The scorecard's run settings (docs/scorecard.md): one per measured epoch, and time-to-accuracy's end.
    "epoch": {"index": (int,), "seconds": _num, "samples": (int,), "steps": (int,)},
    "target": {"reached": (bool,), "target": _num, "accuracy": _num, "seconds": _num, "steps": (int,)},
    "artifact": {"kind": (str,), "path": (str,), "bytes": (int,)},
    # A trace window that ran, after its artifacts (docs/capture.md): 0 the planned one, 1, 2, ... on demand.
    "capture": {"window": (int,), "label": (str,), "first_step": _opt_int, "last_step": _opt_int, "seconds": _opt_num},
    # The capture size guard's decision before a trace window (profilers/capture_guard.py).
    "trace_guard": {
        "action": (str,), "steps_requested": (int,), "steps": (int,), "limit": (str,), "limit_value": (int,),
        "estimate": (int,), "message": (str,),
    },
    "summary": {"summary": (dict,)},
    "error": {"message": (str,), "exc_type": (str,), "traceback": (str,)},
    # From the agent inside a user's program (docs/programs.md).
    "program": {"framework": (str,), "framework_version": (str,), "pid": (int,)},
    "step_source": {"source": (str,), "detail": (str,)},
    # Something the user should know: from a program's agent, or a worker's trace artifact it could not keep.
    "notice": {"message": (str,)},
}


class ProtocolError(ValueError):
    """A line from a worker that is not a valid event; the message says what is wrong."""


def _check(event: dict[str, Any]) -> None:
    kind = event.get("type")
    if kind not in EVENT_FIELDS:
        raise ProtocolError(f"unknown event type {kind!r}")
    t = event.get("t")
    if isinstance(t, bool) or not isinstance(t, _num) or not math.isfinite(t) or t < 0:
        raise ProtocolError(f"{kind} event has no valid time 't' ({t!r})")
    for name, types in EVENT_FIELDS[kind].items():
        if name not in event:
            raise ProtocolError(f"{kind} event lacks field {name!r}")
        value = event[name]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise ProtocolError(f"{kind} event field {name!r} has the wrong type ({type(value).__name__})")
    rank = event.get("rank")  # a rank of a distributed program (docs/programs.md); none: rank 0
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 0):
        raise ProtocolError(f"{kind} event has an invalid rank {rank!r}")
    if kind == "phase" and (event["name"] not in PHASES or event["edge"] not in ("start", "end")):
        raise ProtocolError(f"phase event with unknown phase {event['name']!r} or edge {event['edge']!r}")
    if kind == "trace_guard" and event["action"] not in GUARD_ACTIONS:
        raise ProtocolError(f"trace_guard event with unknown action {event['action']!r}")
    if kind == "step":
        if event["phase"] not in STEP_PHASES:
            raise ProtocolError(f"step event in unknown phase {event['phase']!r}")
        if not (math.isfinite(event["step_ms"]) and event["step_ms"] >= 0):
            raise ProtocolError(f"step event with invalid step_ms {event['step_ms']!r}")


def parse_line(line: bytes | str) -> dict[str, Any]:
    """One validated event from one line of the stream, or ProtocolError."""
    if isinstance(line, bytes):
        if len(line) > MAX_LINE_BYTES:
            raise ProtocolError(f"event line of {len(line)} bytes exceeds the {MAX_LINE_BYTES}-byte limit")
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"event line is not UTF-8 ({exc})") from None
    try:
        event = json.loads(line)
    except json.JSONDecodeError as exc:
        shown = line.strip()[:80]
        raise ProtocolError(f"event line is not JSON ({exc.msg}): {shown!r}") from None
    if not isinstance(event, dict):
        raise ProtocolError(f"event line is JSON but not an object: {line.strip()[:80]!r}")
    _check(event)
    return event


def claim_protocol_channel() -> int:
    """Keep the real stdout for the protocol and point fd 1 (and sys.stdout) at stderr, so
    prints from Python, C or CUDA libraries land in the run log, never in the stream."""
    sys.stdout.flush()
    channel = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return channel


class EventWriter:
    """Writes events as JSON lines; thread-safe because the device sampler thread writes too."""

    def __init__(self, fd: int, clock_start: float | None = None) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self._t0 = time.perf_counter() if clock_start is None else clock_start

    def now(self) -> float:
        return time.perf_counter() - self._t0

    def emit(self, kind: str, /, **fields: Any) -> None:
        t = round(self.now(), 6)
        data = _step_line(t, fields) if kind == "step" else None
        if data is None:
            event = {"type": kind, "t": t, **fields}
            data = (json.dumps(event, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]


_STEP_KEYS = ("index", "phase", "step_ms", "samples_per_s", "loss")
_SPECIAL = {math.inf: "Infinity", -math.inf: "-Infinity"}


def _number(x: Any) -> str | None:
    """`x` as json.dumps writes it (NaN and Infinity included), or None if it is no plain number."""
    if x is None:
        return "null"
    if type(x) is float:
        return repr(x) if math.isfinite(x) else ("NaN" if x != x else _SPECIAL[x])
    if type(x) is int:
        return str(x)
    return None


def _step_line(t: float, fields: dict[str, Any]) -> bytes | None:
    """A step event's line without json.dumps: the bytes json.dumps would write, in half the
    time right after a step (~65 instead of ~140 us of CPU measured, cold caches), or None to
    let the general path handle anything unusual."""
    if tuple(fields) != _STEP_KEYS or fields["phase"] not in STEP_PHASES or type(fields["index"]) is not int:
        return None
    numbers = [_number(fields[key]) for key in ("step_ms", "samples_per_s", "loss")]
    if None in numbers:
        return None
    step_ms, per_s, loss = numbers
    return (f'{{"type":"step","t":{t!r},"index":{fields["index"]},"phase":"{fields["phase"]}",'
            f'"step_ms":{step_ms},"samples_per_s":{per_s},"loss":{loss}}}\n').encode()
