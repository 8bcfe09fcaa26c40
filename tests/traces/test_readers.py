"""Readers over the stored real traces (tests/data/traces, made by make_traces.sh) and small
hand-written Chrome traces: what each framework's CPU trace holds, logdir discovery, the
fast and the checking decode paths agreeing, persistence and export round trips."""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from traces.chrome_reader import read_chrome_data, read_chrome_trace
from traces.export import chrome_trace_dict, write_chrome_trace
from traces.logdir_reader import find_profile_runs, read_logdir
from traces.readers import read_trace
from traces.table import EventTable, Kind, TraceError, table_from_blobs, table_to_blobs

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "traces"
STORED = ["torch_convnet.trace.json.gz", "jax_mlp.xplane.pb.gz", "jax_mlp.trace.json.gz", "tf_mlp.xplane.pb.gz",
          "tf_mlp_noxla.xplane.pb.gz"]


@pytest.fixture(scope="module")
def tables() -> dict[str, EventTable]:
    return {name: read_trace(DATA / name) for name in STORED}


def names_of(table: EventTable, kind: Kind) -> set[str]:
    return {table.string(int(i)) for i in table.name[table.kind == kind]}


def test_torch_trace_holds_aten_ops_steps_and_memory(tables: dict[str, EventTable]) -> None:
    t = tables["torch_convnet.trace.json.gz"]
    assert (t.source.producer, t.source.framework, t.source.device) == ("torch.profiler", "torch", "cpu")
    counts = t.kind_counts()
    assert counts["framework_op"] > 100 and counts["step"] == 2 and "kernel" not in counts
    assert names_of(t, Kind.STEP) == {"ProfilerStep#1", "ProfilerStep#2"}
    assert "aten::conv2d" in names_of(t, Kind.FRAMEWORK_OP)
    assert "[memory]" not in {t.string(int(i)) for i in t.name}  # memory instants became counters
    conv = int(np.flatnonzero(t.name == t.string_id("aten::conv2d"))[0])
    assert t.event_args(conv)["Input Dims"][0] == [4, 1, 28, 28]  # batch 4, kept with the event
    assert set(t.step[t.kind == Kind.FRAMEWORK_OP].tolist()) <= {1, 2}
    assert {s.label for s in t.series} == {"[memory] CPU Total Allocated", "[memory] CPU Total Reserved"}
    assert t.source.time_origin_ns > 0
    assert np.all(np.diff(t.start_ns) >= 0) and np.all(t.dur_ns >= 0)


def test_jax_xplane_on_cpu_has_per_hlo_op_events_and_step_numbers(tables: dict[str, EventTable]) -> None:
    t = tables["jax_mlp.xplane.pb.gz"]
    assert (t.source.format, t.source.framework, t.source.device) == ("xplane", "jax", "cpu")
    counts = t.kind_counts()
    # jaxlib 0.10's XLA CPU thunk runtime records each HLO op (older notes said it records none)
    assert counts["hlo_op"] > 0 and counts["runtime"] > 0 and counts["python"] > 0 and "kernel" not in counts
    hlo = int(np.flatnonzero(t.kind == Kind.HLO_OP)[0])
    assert t.event_args(hlo)["hlo_module"].startswith("jit_")
    assert sorted(set(t.step[t.kind == Kind.STEP].tolist())) == [2, 3]  # StepTraceAnnotation step_num
    assert not t.series and any("memory_profile is empty" in n for n in t.source.notes)


def test_jax_chrome_trace_matches_its_xplane(tables: dict[str, EventTable]) -> None:
    xplane, chrome = tables["jax_mlp.xplane.pb.gz"], tables["jax_mlp.trace.json.gz"]
    assert chrome.source.format == "chrome" and chrome.source.framework == "jax"
    assert chrome.kind_counts()["hlo_op"] == xplane.kind_counts()["hlo_op"]
    assert sorted(chrome.dur_ns[chrome.kind == Kind.HLO_OP]) == sorted(xplane.dur_ns[xplane.kind == Kind.HLO_OP])
    assert sorted(chrome.step[chrome.kind == Kind.STEP]) == sorted(xplane.step[xplane.kind == Kind.STEP])  # "train" vs "train 2"


def test_tf_xla_has_hlo_ops_and_tf_without_xla_has_tf_ops(tables: dict[str, EventTable]) -> None:
    xla, plain = tables["tf_mlp.xplane.pb.gz"], tables["tf_mlp_noxla.xplane.pb.gz"]
    assert xla.source.framework == plain.source.framework == "tf"
    assert xla.kind_counts()["hlo_op"] > 0
    assert "hlo_op" not in plain.kind_counts() and plain.kind_counts()["framework_op"] > 100
    op = int(np.flatnonzero(plain.kind == Kind.FRAMEWORK_OP)[0])
    assert ":" in plain.event_args(op)["long_name"]  # "scope/op:OpType"
    assert sorted(set(plain.step[plain.kind == Kind.STEP].tolist())) == [2, 3]


def test_memory_per_event_is_compact(tables: dict[str, EventTable]) -> None:
    for t in tables.values():
        columns = t.nbytes_breakdown()["columns"]
        assert columns / len(t) < 40
        assert t.nbytes / len(t) < 200  # even tiny traces, whose distinct strings weigh most


@pytest.mark.parametrize("name", ["torch_convnet.trace.json.gz", "jax_mlp.trace.json.gz"])
def test_fast_and_checking_paths_agree(name: str) -> None:
    fast = read_chrome_trace(DATA / name)
    slow = read_chrome_trace(DATA / name, fast=False)
    for col in ("start_ns", "dur_ns", "kind", "step", "flags"):
        assert np.array_equal(getattr(fast, col), getattr(slow, col)), col
    assert [fast.string(i) for i in fast.name] == [slow.string(i) for i in slow.name]
    assert [fast.event_args(i) for i in range(len(fast))] == [slow.event_args(i) for i in range(len(slow))]
    assert np.array_equal(fast.counter_value, slow.counter_value)


def _plain_copy(gz: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(gzip.decompress(gz.read_bytes()))
    return dest


def test_plain_xplane_reads_without_writing_beside_it(tmp_path: Path) -> None:
    plain = _plain_copy(DATA / "tf_mlp.xplane.pb.gz", tmp_path / "host.xplane.pb")
    t = read_trace(plain)
    assert t.kind_counts()["hlo_op"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["host.xplane.pb"]  # use_saved_result: False


def test_logdir_picks_newest_run_or_the_named_one(tmp_path: Path) -> None:
    profile = tmp_path / "plugins" / "profile"
    _plain_copy(DATA / "tf_mlp.xplane.pb.gz", profile / "2026_01_01_00_00_00" / "vm.xplane.pb")
    _plain_copy(DATA / "jax_mlp.xplane.pb.gz", profile / "2026_01_02_00_00_00" / "vm.xplane.pb")
    shutil.copy(DATA / "jax_mlp.trace.json.gz", profile / "2026_01_02_00_00_00" / "vm.trace.json.gz")
    runs = find_profile_runs(tmp_path)
    assert [r.path.name for r in runs] == ["2026_01_01_00_00_00", "2026_01_02_00_00_00"]
    newest = read_trace(tmp_path)
    assert newest.source.framework == "jax" and newest.source.format == "xplane"
    assert any("newest of 2" in n for n in newest.source.notes)
    older = read_logdir(tmp_path, run="2026_01_01_00_00_00")
    assert older.source.framework == "tf"
    assert read_trace(profile / "2026_01_01_00_00_00").source.framework == "tf"  # a run folder itself
    with pytest.raises(TraceError, match="no profile run 'nope'"):
        read_logdir(tmp_path, run="nope")


def test_logdir_with_two_hosts_merges_them_with_host_rows(tmp_path: Path) -> None:
    run = tmp_path / "plugins" / "profile" / "2026_01_01_00_00_00"
    _plain_copy(DATA / "jax_mlp.xplane.pb.gz", run / "alpha.xplane.pb")
    _plain_copy(DATA / "jax_mlp.xplane.pb.gz", run / "beta.xplane.pb")
    one = read_trace(DATA / "jax_mlp.xplane.pb.gz")
    both = read_trace(tmp_path)
    assert len(both) == 2 * len(one)
    assert {r.pid.split(":")[0] for r in both.rows} == {"alpha", "beta"}


def test_folder_of_torch_traces_reads_the_newest(tmp_path: Path) -> None:
    older, newer = tmp_path / "w.1.pt.trace.json.gz", tmp_path / "w.2.pt.trace.json.gz"
    shutil.copy(DATA / "torch_convnet.trace.json.gz", older)
    newer.write_bytes(gzip.compress(json.dumps({"traceEvents": [
        {"ph": "X", "name": "aten::add", "cat": "cpu_op", "ts": 1, "dur": 2, "pid": 1, "tid": 1}]}).encode()))
    os.utime(older, (1, 1))
    t = read_trace(tmp_path)
    assert len(t) == 1 and any("newest of 2" in n for n in t.source.notes)


def test_generic_chrome_trace_phases() -> None:
    events = [
        {"ph": "M", "name": "process_name", "pid": 7, "args": {"name": "Renderer"}},
        {"ph": "M", "name": "thread_name", "pid": 7, "tid": 1, "args": {"name": "main"}},
        {"ph": "B", "name": "outer", "ts": 10, "pid": 7, "tid": 1},
        {"ph": "B", "name": "inner", "ts": 12, "pid": 7, "tid": 1},
        {"ph": "E", "ts": 15, "pid": 7, "tid": 1},
        {"ph": "E", "ts": 20, "pid": 7, "tid": 1},
        {"ph": "E", "ts": 21, "pid": 7, "tid": 1},  # unmatched: dropped with a note
        {"ph": "b", "name": "fetch", "cat": "net", "id": "0x1", "ts": 11, "pid": 7, "tid": 1},
        {"ph": "e", "name": "fetch", "cat": "net", "id": "0x1", "ts": 31, "pid": 7, "tid": 2},
        {"ph": "i", "name": "mark", "ts": 13, "pid": 7, "tid": 1, "s": "t"},
        {"ph": "C", "name": "heap", "cat": "memory", "ts": 14, "pid": 7, "args": {"used": 1000, "free": 24}},
        {"ph": "s", "name": "flow", "id": 1, "ts": 12, "pid": 7, "tid": 1},
    ]
    for fast in (True, False):
        t = read_chrome_data(json.dumps(events).encode(), fast=fast)  # the array format, closed
        by_name = {t.string(int(n)): (int(s), int(d)) for n, s, d in zip(t.name, t.start_ns, t.dur_ns, strict=True)}
        assert by_name == {"outer": (10_000, 10_000), "inner": (12_000, 3_000), "fetch": (11_000, 20_000), "mark": (13_000, 0)}
        assert {r.label for r in t.rows} == {"Renderer / main", "Renderer / async net"}
        assert t.flags[t.name == t.string_id("mark")][0] == 1
        assert {s.label: s.unit for s in t.series} == {"heap used": "bytes", "heap free": "bytes"}
        assert any("unmatched" in n for n in t.source.notes) and any("skipped 1" in n for n in t.source.notes)
        assert t.source.device is None and t.source.framework is None


def test_array_format_without_closing_bracket_is_accepted() -> None:
    text = b'[{"ph":"X","name":"a","ts":1,"dur":1,"pid":1,"tid":1},\n{"ph":"X","name":"b","ts":2,"dur":1,"pid":1,"tid":1},\n'
    assert len(read_chrome_data(text)) == 2


def test_table_blobs_round_trip_without_pickle(tables: dict[str, EventTable]) -> None:
    for t in tables.values():
        blobs = table_to_blobs(t)
        back = table_from_blobs(blobs)
        for col in ("name", "cat", "kind", "flags", "row", "start_ns", "dur_ns", "step", "args", "counter_series",
                    "counter_ts_ns", "counter_value"):
            assert np.array_equal(getattr(t, col), getattr(back, col)), col
        assert back.strings == t.strings and back.rows == t.rows and back.series == t.series and back.source == t.source
        assert sum(map(len, blobs.values())) < 40 * len(t)  # compressed, a few bytes per event
        for blob in blobs.values():
            assert b"pickle" not in blob


def test_from_arrays_refuses_damaged_tables(tables: dict[str, EventTable]) -> None:
    arrays = tables["torch_convnet.trace.json.gz"].to_arrays()
    bad = dict(arrays, name=np.array(arrays["name"]) + len(arrays["strings"]))
    with pytest.raises(TraceError, match="name points outside"):
        EventTable.from_arrays(bad)
    with pytest.raises(TraceError, match="differ in length"):
        EventTable.from_arrays(dict(arrays, dur_ns=np.array(arrays["dur_ns"])[:-1]))
    with pytest.raises(TraceError, match="dtype"):
        EventTable.from_arrays(dict(arrays, start_ns=np.array(arrays["start_ns"], dtype=np.float64)))


@pytest.mark.parametrize("name", STORED)
def test_export_reads_back_the_same_events(name: str, tables: dict[str, EventTable], tmp_path: Path) -> None:
    t = tables[name]
    back = read_trace(write_chrome_trace(t, tmp_path / "out.json.gz"))
    assert len(back) == len(t)
    for col in ("start_ns", "dur_ns", "kind", "step", "flags"):
        assert np.array_equal(getattr(t, col), getattr(back, col)), col
    assert [t.string(i) for i in t.name] == [back.string(i) for i in back.name]
    assert sorted(r.label for r in t.rows) == sorted(r.label for r in back.rows)
    assert np.array_equal(t.counter_ts_ns, back.counter_ts_ns) and t.series == back.series
    assert (back.source.framework, back.source.device, back.source.producer) == (t.source.framework, t.source.device,
                                                                                 t.source.producer)


def test_export_is_plain_chrome_json(tables: dict[str, EventTable]) -> None:
    doc = json.loads(json.dumps(chrome_trace_dict(tables["jax_mlp.xplane.pb.gz"])))
    phases = {e["ph"] for e in doc["traceEvents"]}
    assert phases <= {"M", "X", "i", "C"} and "X" in phases
    for e in doc["traceEvents"]:  # Perfetto's JSON importer wants numeric pid/tid and ts
        assert isinstance(e["pid"], int) and isinstance(e.get("tid", 0), int)
        assert e["ph"] == "M" or isinstance(e["ts"], float)


def _python(code: str) -> subprocess.CompletedProcess[str]:
    """`code` run by a fresh interpreter (so sys.modules and sys.modules['msgspec'] are its own)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env=env)


def test_reading_traces_imports_no_framework() -> None:
    code = (
        "import sys\n"
        "from traces.readers import read_trace\n"
        "from traces.analysis import step_breakdown\n"
        f"for name in {STORED!r}:\n"
        f"    step_breakdown(read_trace({str(DATA)!r} + '/' + name))\n"
        "frameworks = ('torch', 'jax', 'jaxlib', 'tensorflow', 'keras')\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in frameworks)))\n"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == ""


def test_big_arrays_are_decoded_in_chunks_and_bad_splits_fall_back() -> None:
    from unittest import mock

    from traces import decode

    events = [{"ph": "X", "name": f"op{i % 7}", "cat": "cpu_op", "ts": i, "dur": 1, "pid": 1, "tid": i % 3,
               "args": {"Input Dims": [[i % 5]]}} for i in range(500)]
    data = json.dumps({"traceEvents": events}).encode()
    whole_calls = []
    real_whole = decode._whole_typed

    def whole(*args: object) -> object:
        whole_calls.append(1)
        return real_whole(*args)

    with mock.patch.object(decode, "CHUNK_BYTES", 300), mock.patch.object(decode, "_whole_typed", whole):
        t = read_chrome_data(data)
        assert len(t) == 500 and not whole_calls  # chunked, no fallback
        events[250]["name"] = "}, {" * 200  # a split lands inside this string: that chunk fails, the file is read whole
        t = read_chrome_data(json.dumps({"traceEvents": events}).encode())
        assert len(t) == 500 and whole_calls == [1]
    assert t.event_args(0) == {"Input Dims": [[0]]}


def test_without_msgspec_the_stdlib_reads_the_same() -> None:
    """msgspec is a speed-up only: with it blocked, every stored trace reads the same."""
    code = (
        "import sys, json\n"
        "sys.modules['msgspec'] = None\n"
        "from traces.readers import read_trace\n"
        "from traces.export import write_chrome_trace\n"
        "import tempfile, pathlib\n"
        "out = {}\n"
        f"for name in {STORED!r}:\n"
        f"    t = read_trace({str(DATA)!r} + '/' + name)\n"
        "    back = read_trace(write_chrome_trace(t, pathlib.Path(tempfile.mkdtemp()) / 'x.json'))\n"
        "    assert len(back) == len(t)\n"
        "    out[name] = [len(t), int(t.start_ns.sum()), int(t.dur_ns.sum()), t.kind_counts()]\n"
        "print(json.dumps(out))\n"
    )
    proc = _python(code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    for name in STORED:
        t = read_trace(DATA / name)
        assert got[name] == [len(t), int(t.start_ns.sum()), int(t.dur_ns.sum()), t.kind_counts()], name


def test_xprof_tools_give_their_own_step_table() -> None:
    from traces.xplane_reader import read_xprof_tool

    pipeline = read_xprof_tool(DATA / "tf_mlp.xplane.pb.gz", "input_pipeline_analyzer")
    steps = [row["c"][0]["v"] for table in pipeline for row in table.get("rows", []) if table.get("cols")
             and table["cols"][0].get("id") == "stepnum"]
    assert steps == ["train 2", "train 3"]
    ops = read_xprof_tool(DATA / "tf_mlp_noxla.xplane.pb.gz", "framework_op_stats")
    assert any(row["c"][2]["v"] == "MatMul" for row in ops[0]["rows"])  # column 2: op type
    with pytest.raises(ValueError, match="tool must be one of"):
        read_xprof_tool(DATA / "tf_mlp.xplane.pb.gz", "trace_viewer")
