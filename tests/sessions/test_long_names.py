"""Long names kept whole (issue 14, defect 5): real templated kernel names pass 5,000
characters, and the table used to cut every string at 4,096, so the stored session and its
export lost them. Here a 6,000-character kernel name, a long category and a long kept argument
survive import -> session store -> export -> import byte for byte."""
from __future__ import annotations

import json
from pathlib import Path

from sessions.export import chrome_trace_bytes
from sessions.store import Session
from sessions.traces import import_trace, load_trace
from traces.chrome_reader import read_chrome_data

KERNEL = "void cutlass::Kernel2<cutlass_80_tensorop_" + "".join(f"T{i}," for i in range(1500))[:5948] + "é>(Params)"
CATEGORY = "kernel_" + "c" * 4_500
HLO = "fusion." + "h" * 5_000


def test_a_6000_character_kernel_name_survives_store_and_export(tmp_path: Path) -> None:
    assert len(KERNEL) == 6_000
    events = [{"ph": "X", "cat": CATEGORY, "name": KERNEL, "pid": 0, "tid": 7, "ts": 10.5, "dur": 2.25,
               "args": {"hlo_op": HLO}},
              {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1, "tid": 1, "ts": 10.0, "dur": 1.0}]
    source = tmp_path / "trace.json"
    source.write_text(json.dumps({"traceEvents": events}), encoding="utf-8")
    session_path = tmp_path / "s.stepscope"
    run_id, imported, _ = import_trace(session_path, source)
    with Session.open_readonly(session_path) as session:
        stored, _ = load_trace(session, run_id)
        exported = chrome_trace_bytes(session, run_id)
    back = read_chrome_data(exported)
    for table in (imported, stored, back):
        assert KERNEL in table.strings and CATEGORY in table.strings
        i = table.strings.index(KERNEL)
        row = int(next(j for j, n in enumerate(table.name.tolist()) if n == i))
        assert table.string(int(table.cat[row])) == CATEGORY and table.event_args(row)["hlo_op"] == HLO
        assert not any("cut" in note for note in table.source.notes)
