"""The second-process decode (`traces.decode_pool`): forced on for small traces here, it
must give the very table the one-process path gives, report bad data the same way, and fall
back to decoding in-process when the worker process itself fails."""
from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import msgspec
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from traces import decode, decode_pool, json_decoders
from traces.chrome_reader import read_chrome_data
from traces.table import EventTable, Limits, TraceError

COLUMNS = ("start_ns", "dur_ns", "kind", "flags", "step", "row", "name", "cat", "args", "counter_ts_ns", "counter_value")


def same(a: EventTable, b: EventTable) -> None:
    for col in COLUMNS:
        assert np.array_equal(getattr(a, col), getattr(b, col)), col
    assert a.strings == b.strings
    assert [r.label for r in a.rows] == [r.label for r in b.rows]
    assert a.source.notes == b.source.notes and a.source.framework == b.source.framework


@pytest.fixture
def started() -> Iterator[list[int]]:
    """Worker forced on for any size, blocks of ~1 KB; records how many blocks the worker
    took in each read (-1: it failed and they were decoded here; -2: it found bad data)."""
    calls: list[int] = []
    real = decode_pool.Helper.result

    def result(self: decode_pool.Helper) -> Any:
        try:
            taken, parts = real(self)
        except (msgspec.DecodeError, RecursionError):
            calls.append(-2)
            raise
        calls.append(-1 if parts is None else len(parts))
        return taken, parts

    with mock.patch.object(decode_pool, "usable", lambda size: True), mock.patch.object(decode_pool, "PROBE_S", 0), \
            mock.patch.object(decode_pool, "idle_core", lambda ticks, t0: True), \
            mock.patch.object(decode_pool.Helper, "result", result), \
            mock.patch.object(decode_pool, "BLOCK_BYTES", 1000), mock.patch.object(decode, "CHUNK_BYTES", 300):
        yield calls


def _worker_gone(helper: decode_pool.Helper) -> bool:
    return not helper.thread.is_alive() and (helper.proc is None or helper.proc.poll() is not None)


def worker_first(share: float = 0.0) -> Any:
    """This side claims nothing until the worker has taken a block, or `share` of the blocks (or
    its process ended, or never started), so the sharing is exercised by order, however slowly a
    process starts on a busy machine. The deadline only keeps a broken worker from hanging the test."""
    real = decode_pool.Helper.claim

    def claim(self: decode_pool.Helper) -> int | None:
        deadline = time.monotonic() + 120
        want = max(1, int(len(self.blocks) * share))
        while len(self.blocks) - decode_pool._control(self.fd)[1] < want and not _worker_gone(self):
            assert time.monotonic() < deadline, f"the worker neither took {want} blocks nor ended in 120 s"
            time.sleep(0.005)
        return real(self)

    return mock.patch.object(decode_pool.Helper, "claim", claim)


def one_core(data: bytes, limits: Limits | None = None) -> EventTable:
    with mock.patch.object(decode_pool, "usable", lambda size: False):
        return read_chrome_data(data, limits=limits)


def torchish(n: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"ph": "M", "name": "process_name", "pid": 7, "tid": 0, "args": {"name": "python"}}]
    for i in range(n):  # keys and argument sets first seen in both halves, some shared
        events.append({"ph": "X", "cat": ["cpu_op", "kernel", "user_annotation"][i % 3], "name": f"op{(i * 7) % (5 + i // 40)}",
                       "pid": 7, "tid": i % 4 if i < n // 2 else "stream 7", "ts": 10.0 + i, "dur": 0.5 + i % 3,
                       "args": {"Input Dims": [[i % 6]], "External id": i} if i % 5 else {"External id": i}})
    events.append({"ph": "C", "name": "mem", "pid": 7, "ts": 3.0, "args": {"bytes": 5}})
    events.append({"ph": "i", "name": "mark", "pid": 7, "tid": 1, "ts": 4.0, "s": "t"})
    return events


def test_worker_gives_the_one_core_table(started: list[int]) -> None:
    data = json.dumps({"traceEvents": torchish(600), "schemaVersion": 1}).encode()
    with worker_first():
        same(read_chrome_data(data), one_core(data))
        as_list = json.dumps(torchish(300)).encode()  # Chrome's "JSON array format"
        same(read_chrome_data(as_list), one_core(as_list))
    assert started[0] > 0 and started[1] > 0  # the worker took blocks
    same(read_chrome_data(data), one_core(data))  # this side alone, the worker killed unused


complete = st.fixed_dictionaries({
    "ph": st.sampled_from(["X", "X", "i", "B", "E", "M"]), "name": st.sampled_from(["a", "b", "}, {", "c\"d", "é"]),
    "ts": st.integers(0, 10**6), "dur": st.integers(0, 1000), "pid": st.sampled_from([1, 2, "p"]),
    "tid": st.integers(0, 3)},
    optional={"cat": st.sampled_from(["cpu_op", "kernel"]),
              "args": st.dictionaries(st.sampled_from(["hlo_op", "Input Dims", "step_num", "name", "x"]),
                                      st.integers(0, 3), max_size=2)})


@settings(max_examples=60, deadline=None)
@given(st.lists(complete, min_size=1, max_size=60), st.lists(st.integers(0, 60), max_size=6))
def test_merged_blocks_give_the_columns_of_one_pass(events: list[dict[str, Any]], cuts: list[int]) -> None:
    """What the worker does, without the process: blocks decoded apart (numpy-free) and merged
    in order give the columns of one pass."""
    cuts = sorted({0, len(events), *(c for c in cuts if c < len(events))})
    whole = decode._Acc("x", 10**6, 4096)
    whole.add_structs(json_decoders.chunk_decoder.decode(json.dumps(events).encode()))
    merged = decode._Acc("x", 10**6, 4096)
    for i, (a, b) in enumerate(itertools.pairwise(cuts)):
        block = decode_pool.Block(10**6, 4096)
        block.add_structs(json_decoders.chunk_decoder.decode(json.dumps(events[a:b]).encode()))
        part = msgspec.msgpack.decode(msgspec.msgpack.encode(block.part(i)), type=decode_pool.Part)
        decode_pool.merge(merged, part)
    want, got = whole.columns({}), merged.columns({})
    assert got.ukeys == want.ukeys and got.arg_keys == want.arg_keys
    for col in ("code", "ts", "dur", "ts_ns", "dur_ns", "arg_ref"):
        assert np.array_equal(getattr(got, col), getattr(want, col), equal_nan=col != "code"), col
    with pytest.raises(TraceError, match="more than"):
        decode_pool.merge(merged, decode_pool.Part(error="events"))


def test_invalid_data_in_the_worker_blocks_reads_as_on_one_core(started: list[int]) -> None:
    events = torchish(400)
    events[-5]["ts"] = "soon"  # the checking path reports it ...
    events[-5]["name"] = 5  # ... once the typed decoder refuses the event (it keeps times as raw text)
    data = json.dumps({"traceEvents": events}).encode()
    with pytest.raises(TraceError) as one:
        one_core(data)
    with worker_first(), pytest.raises(TraceError) as two:
        read_chrome_data(data)
    assert str(one.value) == str(two.value) and started == [-2]  # the worker's first block (the last) was refused
    events[-5]["ts"], events[-5]["name"] = 1, "aten::mm"
    # a name with "}, {" where a block may be cut: the file is read whole, the same
    events[len(events) // 2]["name"] = "}, {" * 50
    data = json.dumps({"traceEvents": events}).encode()
    with worker_first():
        same(read_chrome_data(data), one_core(data))


def test_too_many_events_across_both_sides(started: list[int]) -> None:
    data = json.dumps({"traceEvents": torchish(400)}).encode()
    # the worker takes half the blocks before this side claims any: each side then decodes fewer
    # than 250 events, and only their sum is too many (with one block taken, this side alone once
    # crossed the limit while the worker was slow, on a loaded machine)
    with worker_first(share=0.5), pytest.raises(TraceError, match="more than 250 events"):
        read_chrome_data(data, limits=Limits(max_events=250))
    assert started[0] > 0


CLAIM_THEN = ("import os, sys; sys.path.insert(0, sys.argv[1]); from traces import decode_pool; import time; time.sleep(0.3); "
              "first = decode_pool._HEAD.unpack(os.pread(0, 24, 16))[2]; "
              "[decode_pool._claim(0, False, first) for _ in range(3)]; ")


def test_a_failing_worker_process_falls_back_to_one_core(started: list[int]) -> None:
    data = json.dumps({"traceEvents": torchish(400)}).encode()
    want = one_core(data)
    with worker_first():
        for boot in ("sys.exit(3)", "sys.stdout.write('garbage')", "os.kill(os.getpid(), 9)", "import time; time.sleep(9)"):
            with mock.patch.object(decode_pool, "_BOOT", CLAIM_THEN + boot), mock.patch.object(decode_pool, "TIMEOUT_S", 2):
                same(read_chrome_data(data), want)
        assert started == [-1, -1, -1, -1]  # it took blocks, then failed: they were decoded here
        with mock.patch.object(decode_pool.sys, "executable", "/nonexistent/python"):
            same(read_chrome_data(data), want)
        assert started[-1] == 0


def test_worker_is_only_used_for_big_arrays() -> None:
    assert not decode_pool.usable(1 << 20)
    with mock.patch.dict("os.environ", {decode_pool.ENV: "0"}):
        assert not decode_pool.usable(1 << 40)


def test_no_idle_core_means_one_core() -> None:
    data = json.dumps({"traceEvents": torchish(400)}).encode()
    with mock.patch.object(decode_pool, "usable", lambda size: True), mock.patch.object(decode_pool, "PROBE_S", 0), \
            mock.patch.object(decode_pool, "BLOCK_BYTES", 1000), \
            mock.patch.object(decode_pool, "idle_core", lambda ticks, t0: False), \
            mock.patch.object(decode_pool, "Helper", None):  # would fail if used
        same(read_chrome_data(data), one_core(data))
    assert decode_pool.idle_core(None, 0.0)  # no /proc/stat: assume a core is free


@pytest.mark.parametrize("link", ["correlation", "flow"])
def test_worker_gives_the_one_core_launch_links(started: list[int], link: str) -> None:
    """Correlation arguments and flow ids come back from the worker's blocks (`Part.corr`, `Part.flow`)."""
    from tests.traces.test_launch_links import kineto

    data = json.dumps({"traceEvents": kineto(link) * 3}).encode()
    with worker_first():
        table = read_chrome_data(data)
    one = one_core(data)
    assert started[0] > 0 and len(one.link_dst)
    same(table, one)
    assert np.array_equal(table.link_src, one.link_src) and np.array_equal(table.link_dst, one.link_dst)
