"""An op's Python call stack is the Python-frame events enclosing it on its own row."""
from __future__ import annotations

import json

import numpy as np

from traces.call_stack import python_stack
from traces.chrome_reader import read_chrome_data


def test_the_frames_around_an_op_outermost_first() -> None:
    def ev(name: str, cat: str, ts: float, dur: float, tid: int = 1) -> dict[str, object]:
        return {"ph": "X", "name": name, "cat": cat, "pid": 1, "tid": tid, "ts": ts, "dur": dur}

    events = [
        ev("train.py(40): main", "python_function", 0, 100),
        ev("train.py(12): step", "python_function", 10, 50),
        ev("model.py(7): forward", "python_function", 10, 30),  # same start as step, shorter: inner
        ev("aten::conv2d", "cpu_op", 15, 5),
        ev("model.py(9): loss", "python_function", 45, 10),  # after the op: not around it
        ev("other.py(1): elsewhere", "python_function", 0, 100, tid=2),  # another thread
    ]
    table = read_chrome_data(json.dumps({"traceEvents": events}))
    conv = int(np.flatnonzero(table.name == table.string_id("aten::conv2d"))[0])
    assert python_stack(table, conv) == ["train.py(40): main", "train.py(12): step", "model.py(7): forward"]
    outer = int(np.flatnonzero(table.name == table.string_id("train.py(40): main"))[0])
    assert python_stack(table, outer) == []
