"""XPlane bytes as protobuf allows them, not only as the profiler writes them: fields in any
order, unknown fields, over-long varints, repeated stats, every stat value type, metadata ids
nobody defined; the rules xprof applies before converting (a file it grouped already, loop
ops); and what the direct reader does differently on purpose: exact times past float64's
digits, and no event cap. Bad bytes are a TraceError naming the file, never another error."""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from tests.traces.test_xplane_devices import host_plane
from tests.traces.test_xplane_real import Event, canon, xprof_table
from traces.exact_time import MAX_TS_US
from traces.readers import read_trace
from traces.table import Limits, TraceError
from traces.xplane_reader import read_xplane
from traces.xplane_wire import Malformed, message_fields, varint_at
from traces.xplane_write import VARINT, PlaneWriter, Ref, Uint, encode_space, int_field, key, len_field

US = 1_000_000


def write(tmp_path: Path, data: bytes, name: str = "vm.xplane.pb") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def same_as_xprof(path: Path, limits: Limits | None = None) -> list[Event]:
    got = canon(read_xplane(path, limits))
    assert got == canon(xprof_table(path, limits))
    return got


def odd_space() -> bytes:
    """A plane written in an order no profiler uses: metadata before lines, the name last; a
    line with its display name first and timestamp after its events; events with their fields
    reversed, unknown fields, a padded varint, repeated and valueless stats."""
    plane = PlaneWriter(0, "/host:CPU")
    for name in ("op", "other"):
        plane.event_id(name)
    plane.event_id("%x = f32[2] add(y, z)", "add.1", {"hlo_module": Ref("jit_f"), "step_num": 4})
    stat = plane.stat
    events = [
        # stats first, then duration, offset and metadata id; a second hlo_op wins; hlo_module without a value
        len_field(4, stat("hlo_op", Ref("first"))) + len_field(4, stat("hlo_op", "fusion.9"))
        + len_field(4, int_field(1, plane.stat_id("hlo_module"))) + int_field(3, 7_000_500) + int_field(2, 2 * US)
        + int_field(1, plane.event_id("op")),
        # a padded varint (1 as 0x81 0x00), an unknown varint and an unknown length field
        key(1, VARINT) + b"\x81\x00" + int_field(2, 10 * US, True) + int_field(3, 1 * US) + int_field(15, 99)
        + len_field(16, b"ignored") + len_field(4, stat("tf_op", 1.5e-7)) + len_field(4, stat("Input Dims", b"\x00\x01"))
        + len_field(4, stat("grid", Uint(2**64 - 1))) + len_field(4, stat("block", -3)),
        # an aggregate (num_occurrences): offset 0; a metadata id nobody defined
        int_field(1, 999) + int_field(5, 12, True) + int_field(3, 3 * US),
        # renamed by a step_name stat; its metadata carries a display name and stats
        int_field(1, plane.event_id("%x = f32[2] add(y, z)")) + int_field(2, 20 * US, True) + int_field(3, US)
        + len_field(4, stat("step_name", "train 41")),
        # a stat whose value came twice: the last value wins
        int_field(1, plane.event_id("other")) + int_field(2, 30 * US, True)
        + len_field(4, int_field(1, plane.stat_id("hlo_op")) + len_field(5, "a") + int_field(7, plane.stat_id("b"), True)),
    ]
    line = len_field(11, "worker") + b"".join(len_field(4, e) for e in events) + int_field(3, 5_000) + int_field(1, 77) \
        + int_field(2, 0)
    body = plane.tail() + len_field(3, line) + int_field(1, 0) + len_field(2, "/host:CPU") + int_field(20, 5)
    return len_field(1, body) + len_field(4, "vm") + len_field(2, "a profiler error")


def test_any_field_order_and_value_type_reads_as_xprof_reads_it(tmp_path: Path) -> None:
    path = write(tmp_path, odd_space())
    got = same_as_xprof(path)
    t = read_xplane(path)
    by_name = {t.string(int(t.name[i])): i for i in range(len(t))}
    assert sorted(t.string(int(n)) for n in t.name) == ["", "op", "op", "other", "train 41"]
    assert t.event_args(int(np.flatnonzero(t.start_ns == 7_000)[0])) == {"hlo_op": "fusion.9"}  # 5,000 + 2 µs
    aggregate = by_name[""]
    assert (t.start_ns[aggregate], t.dur_ns[aggregate]) == (5_000, 3_000)  # offset 0: the line's start
    assert t.event_args(by_name["train 41"]) == {"hlo_module": "jit_f", "long_name": "%x = f32[2] add(y, z)"}
    assert t.step[by_name["train 41"]] == 4 and t.event_args(by_name["other"]) == {"hlo_op": "b"}
    padded = [e for e in got if e[0] == 15_000][0]
    assert padded[7] == '{"tf_op":"1.5e-07","Input Dims":"<opaque bytes>","grid":"18446744073709551615","block":"-3"}'
    assert t.rows[0].tid == "77" and t.rows[0].thread == "worker"
    assert "the profiler reported this error: a profiler error" in t.source.notes


def test_a_gzipped_xplane_reads_the_same(tmp_path: Path) -> None:
    plain = write(tmp_path, odd_space())
    packed = write(tmp_path, gzip.compress(odd_space()), "vm.xplane.pb.gz")
    assert canon(read_trace(plain)) == canon(read_trace(packed))


def test_times_are_exact_where_xprofs_float_microseconds_are_not(tmp_path: Path) -> None:
    """xprof writes `ts = timestamp_ps / 1e6` as a float; past 2**53 ps (2.5 hours into a
    profile) that float is not the file's time, and the ns read from its text can be off by
    one or more. The direct reader keeps the file's picoseconds, rounded to the ns once."""
    base = 3 * 3600 * 10**12  # 3 hours, in ps
    offsets = [base + k * 1_000_003 + 499 for k in range(40)]  # ns fractions just under .5
    plane = PlaneWriter(0, "/host:CPU")
    line = plane.line(1, "python", 0)
    for i, off in enumerate(offsets):
        line.event(f"op{i}", off, 1000)
    path = write(tmp_path, encode_space([plane]))
    exact = sorted((off + 500) // 1000 for off in offsets)
    direct = read_xplane(path)
    assert sorted(direct.start_ns.tolist()) == exact
    via_float = sorted(xprof_table(path).start_ns.tolist())
    off_by = [a - b for a, b in zip(via_float, exact, strict=True)]
    assert any(off_by) and max(map(abs, off_by)) <= 2
    assert via_float == sorted(round_half_up_text(repr(off / 1e6)) for off in offsets)  # the float's own text


def round_half_up_text(us: str) -> int:
    """ns of a µs text as the Chrome reader rounds it (traces.exact_time's rule)."""
    whole, _, frac = us.partition(".")
    frac = (frac + "0000")[:4]
    return int(whole) * 1000 + int(frac[:3]) + (frac[3] >= "5")


def test_xprofs_event_cap_is_not_the_readers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """trace_viewer keeps the earliest N events (TF_PROFILER_TRACE_VIEWER_MAX_EVENTS, millions by
    default): a bigger profile loses its end there. The direct reader keeps every event."""
    plane = PlaneWriter(0, "/host:CPU")
    line = plane.line(1, "python", 0)
    for i in range(9):
        line.event("op", (9 - i) * US, US // 2)
    path = write(tmp_path, encode_space([plane]))
    monkeypatch.setenv("TF_PROFILER_TRACE_VIEWER_MAX_EVENTS", "5")
    assert sorted(read_xplane(path).start_ns.tolist()) == [k * 1000 for k in range(1, 10)]
    assert sorted(xprof_table(path).start_ns.tolist()) == [k * 1000 for k in range(1, 6)]


def test_a_file_xprof_grouped_already_is_not_grouped_again(tmp_path: Path) -> None:
    """tsl IsXSpaceGrouped: a "group_id" stat anywhere means no preprocessing (no step names,
    no thread-pool regions)."""
    host = host_plane()
    host.stat_id("group_id")
    got = same_as_xprof(write(tmp_path, encode_space([host])))
    names = {e[2] for e in got}
    assert "train" in names and "train 0" not in names and "ThreadpoolListener::Region" not in names


def test_loop_ops_stop_grouping_but_not_the_regions(tmp_path: Path) -> None:
    """tsl CheckLoopOp: with TensorFlow loop ops in the file there are no groups, so no step
    names; the thread-pool regions come from an earlier pass and stay."""
    host = host_plane()
    host.line(200, "tf_Compute", 1_000).event("WhileOp-EvalCond", 5 * US, US)
    got = same_as_xprof(write(tmp_path, encode_space([host])))
    names = {e[2] for e in got}
    assert "train" in names and "ThreadpoolListener::Region" in names


def test_nested_roots_and_roots_without_step_numbers(tmp_path: Path) -> None:
    plane = PlaneWriter(0, "/host:CPU")
    py = plane.line(1, "python", 0)
    py.event("outer", 0, 100 * US, {"_r": 1, "step_num": 7})
    py.event("inner", 10 * US, 10 * US, {"_r": 1, "step_num": 8})  # inside a root of its level: not a group
    py.event("batch", 200 * US, 10 * US, {"_r": 2})  # no step number: named by its group id
    py.event("ProcessBatch", 300 * US, 10 * US)  # marked a level-2 root by xprof's preprocessing
    got = same_as_xprof(write(tmp_path, encode_space([plane])))
    assert [e[2] for e in got] == ["outer 7", "inner", "batch 0", "ProcessBatch 1"]


def test_long_names_are_cut_as_the_chrome_reader_cuts_them(tmp_path: Path) -> None:
    plane = PlaneWriter(0, "/host:CPU")
    plane.line(1, "python", 0).event("k" * 500, 0, US, {"hlo_op": "h" * 500})
    limits = Limits(max_string=100)
    path = write(tmp_path, encode_space([plane]))
    t = read_xplane(path, limits)
    assert len(t.string(int(t.name[0]))) == 100 and "truncated" in t.event_args(0)
    assert canon(t) == canon(xprof_table(path, limits))


@pytest.mark.parametrize("data, problem", [
    (b"\x0a\x05\x08\x01", "ends inside a"),
    (len_field(1, key(1, 3)), "wire type 3"),
    (len_field(4, "vm"), "holds no XPlane"),
    (len_field(1, len_field(2, "/host:CPU") + len_field(3, len_field(4, b"\x08\x01\x18\x85"))), "runs past"),
    (os.urandom(2048), "could not read this XPlane"),
])
def test_bad_bytes_are_one_line_naming_the_file(tmp_path: Path, data: bytes, problem: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(TraceError) as info:
        read_xplane(path)
    message = str(info.value)
    assert message.startswith(f"{path}: could not read this XPlane") and problem in message and "\n" not in message


def test_a_negative_duration_or_time_out_of_range_is_refused(tmp_path: Path) -> None:
    plane = PlaneWriter(0, "/host:CPU")
    plane.line(1, "python", 0).event("op", 0, -5)
    with pytest.raises(TraceError, match="negative duration"):
        read_xplane(write(tmp_path, encode_space([plane])))
    far = PlaneWriter(0, "/host:CPU")
    far.line(1, "python", int(MAX_TS_US * 1000) + 1).event("op", 0, 1)
    with pytest.raises(TraceError, match="out of range"):
        read_xplane(write(tmp_path, encode_space([far])))


def test_every_cut_of_a_file_is_a_table_or_a_trace_error(tmp_path: Path) -> None:
    data = odd_space()
    for end in range(1, len(data), 3):
        path = write(tmp_path, data[:end])
        try:
            read_xplane(path)
        except TraceError as exc:
            assert str(exc).startswith(str(path))


def test_a_double_valued_step_number_is_no_step(tmp_path: Path) -> None:
    plane = PlaneWriter(0, "/host:CPU")
    plane.line(1, "python", 0).event("train", 0, US, {"step_num": 2.0, "_r": 1})
    got = same_as_xprof(write(tmp_path, encode_space([plane])))
    # the argument's text "2" gives the step number; tsl's name takes the stat's IntValue, 0 for a double
    assert (got[0][2], got[0][6]) == ("train 0", 2)


def test_the_in_memory_decoder_reads_bytes_and_views_alike() -> None:
    """`message_fields` is also the HLO reader's and the artifact check's decoder, over memoryviews."""
    data = odd_space()
    as_bytes = list(message_fields(data))
    as_view = list(message_fields(memoryview(data)))
    assert [(n, w) for n, w, _ in as_bytes] == [(n, w) for n, w, _ in as_view] == [(1, 2), (4, 2), (2, 2)]
    assert [v if isinstance(v, int) else bytes(v) for _, _, v in as_view] == [v for _, _, v in as_bytes]
    assert all(isinstance(v, memoryview) and v.obj is data for _, _, v in as_view)  # slices, not copies
    assert varint_at(b"\x81\x00", 0) == (1, 2)  # padded
    assert varint_at(b"\xff" * 9 + b"\x01", 0) == ((1 << 64) - 1, 10)
    for bad, problem in ((b"\x80", "ends inside a number"), (b"\x80" * 11, "past 10 bytes")):
        with pytest.raises(Malformed, match=problem):
            varint_at(bad, 0)
    with pytest.raises(Malformed, match="runs past the end"):
        list(message_fields(memoryview(data)[:-3]))
