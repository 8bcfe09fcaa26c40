"""The straggler table: known per-rank step times give the exact slowest rank and spread; a
synthetic multi-rank trace (rows grouped "rank N: ...", as traces.rank_reader writes them) with
collectives named as torch/gloo, NCCL and XLA really name them gives each rank's exact time in
collectives per step, counted in the step window of its own rank."""
from __future__ import annotations

import math

import numpy as np
import pytest

from sessions.stragglers import COLLECTIVE_NAME, collective_waits, format_table, straggler_table, trace_rank_steps
from traces.classify import finish_table
from traces.table import EventTable, Kind, SourceInfo
from traces.table_builder import TableBuilder

MS = 1_000_000  # ns

# (rank, thread, name, kind, start ms, duration ms); a thread named "stream ..." is a device row
Event = tuple[int, str, str, Kind, float, float]


def make_table(events: list[Event], links: list[int] | None = None) -> EventTable:
    """`links`: each event's launch-link group (-1: none): a host call and the device work it launched."""
    builder = TableBuilder(SourceInfo(path="synthetic", format="chrome"))
    rows = []
    for rank, thread, *_ in events:
        row = builder.row(f"rank {rank}: ", 100 + rank, thread)
        builder.rows[row]["process"] = f"rank {rank}: python"
        builder.rows[row]["device"] = thread.startswith("stream")
        rows.append(row)
    n = len(events)
    builder.add(name=np.array([builder.intern(e[2]) for e in events], np.int32),
                cat=np.full(n, builder.intern("cpu_op"), np.int32),
                kind=np.array([int(e[3]) for e in events], np.uint8), row=np.array(rows, np.int32),
                start_ns=np.array([round(e[4] * MS) for e in events], np.int64),
                dur_ns=np.array([round(e[5] * MS) for e in events], np.int64),
                flags=np.zeros(n, np.uint8), args=np.full(n, -1, np.int32), step=np.full(n, -1, np.int32),
                where="synthetic", link=None if links is None else np.array(links, np.int64))
    return finish_table(builder, "torch")


def steps(index: list[int], ms: list[float], phase: str = "measure") -> dict[str, np.ndarray]:
    return {"index": np.array(index, np.int64), "step_ms": np.array(ms, float), "phase": np.full(len(index), phase)}


STEP = Kind.STEP
OP = Kind.FRAMEWORK_OP


def test_slowest_rank_and_spread_per_step() -> None:
    table = straggler_table({
        0: steps([0, 1, 2, 3], [10.0, 12.0, 11.0, 5.0]),
        1: steps([0, 1, 2], [15.0, 12.0, 9.0]),
        2: steps([0, 1, 2], [10.0, 20.0, math.nan]),  # NaN: no time for step 2 on rank 2
    })
    assert table.ranks == (0, 1, 2)
    assert [r.step for r in table.rows] == [0, 1, 2]  # step 3: only rank 0 has it
    s0, s1, s2 = table.rows
    assert (s0.slowest_rank, s0.slowest_ms, s0.fastest_rank, s0.fastest_ms) == (1, 15.0, 0, 10.0)
    assert s0.spread_ms == pytest.approx(5.0) and s0.spread_pct == pytest.approx(50.0)
    assert (s1.slowest_rank, s1.fastest_rank, s1.spread_ms) == (2, 0, pytest.approx(8.0))  # 12 vs 12: the lower rank
    assert (s2.slowest_rank, s2.fastest_rank, s2.spread_ms) == (0, 1, pytest.approx(2.0))
    assert s2.spread_pct == pytest.approx(100 * 2 / 9)
    assert table.slowest_counts() == {0: 1, 1: 1, 2: 1}
    assert not table.has_waits and s0.collective_wait_ms == ()
    text = format_table(table, limit=2)
    assert "3 ranks, 3 steps" in text and "The 2 steps of 3 with the largest spread:" in text
    body = text.splitlines()[3:]
    assert [line.split()[0] for line in body] == ["0", "1"]  # spreads 5 and 8 ms, in step order


def test_warmup_steps_stay_out_of_the_summary() -> None:
    table = straggler_table({0: {**steps([0, 1], [900.0, 10.0]), "phase": np.array(["warmup", "measure"])},
                             1: {**steps([0, 1], [100.0, 14.0]), "phase": np.array(["warmup", "measure"])}})
    assert [r.phase for r in table.rows] == ["warmup", "measure"]
    assert table.slowest_counts() == {0: 0, 1: 1}
    assert "rank 1 was the slowest in 1 of them" in table.summary()
    text = format_table(table, limit=5)
    assert "The 1 steps of 2 with the largest spread (warm-up left out):" in text
    assert [line.split()[0] for line in text.splitlines()[3:]] == ["1"]


def test_one_rank_is_not_a_table() -> None:
    table = straggler_table({0: steps([0, 1], [1.0, 2.0])})
    assert table.rows == () and "nothing to compare" in format_table(table)


@pytest.mark.parametrize("name", [
    "c10d::allreduce_", "c10d::_allgather_base_", "c10d::broadcast_", "c10d::barrier", "record_param_comms",
    "gloo:all_reduce", "gloo:broadcast", "nccl:all_reduce", "ncclDevKernel_AllReduce_Sum_f32_RING_LL",
    "ncclKernel_AllReduce_RING_LL_Sum_float", "ncclDevKernel_SendRecv", "_c10d_functional::all_reduce",
    "all-reduce.1", "all-reduce-start.3", "all-gather-done", "reduce-scatter.7", "collective-permute.2",
    "all-to-all", "CollectiveReduceV2", "NcclAllReduce"])
def test_collective_names(name: str) -> None:
    assert COLLECTIVE_NAME.match(name)


@pytest.mark.parametrize("name", ["aten::mm", "reduce.3", "all_reduce_grads_helper", "ProfilerStep#3", "fusion.12",
                                  "allocate", "scatter.1", "cudaLaunchKernel"])
def test_not_collectives(name: str) -> None:
    assert not COLLECTIVE_NAME.match(name)


def gloo_trace() -> EventTable:
    """Two ranks, two steps. Rank 1's clock runs 15 ms behind rank 0's, so its step 1 overlaps
    rank 0's step 2 in time: a collective must count in its own rank's window."""
    events: list[Event] = [
        (0, "main", "ProfilerStep#1", STEP, 0, 10), (0, "main", "ProfilerStep#2", STEP, 10, 10),
        (1, "main", "ProfilerStep#1", STEP, 15, 12), (1, "main", "ProfilerStep#2", STEP, 27, 12),
        # rank 0, step 1: c10d::allreduce_ around record_param_comms on the main thread, gloo's work on its own
        # thread; union [2, 6) = 4 ms
        (0, "main", "c10d::allreduce_", OP, 2.0, 1.0), (0, "main", "record_param_comms", OP, 2.1, 0.8),
        (0, "gloo", "gloo:all_reduce", OP, 2.2, 3.8),
        (0, "main", "aten::mm", OP, 0.5, 1.0),  # not a collective
        # rank 0, step 2: a barrier [11, 11.5) and an all-reduce [14, 15): 1.5 ms
        (0, "main", "c10d::barrier", OP, 11.0, 0.5), (0, "gloo", "gloo:all_reduce", OP, 14.0, 1.0),
        # rank 1, step 1 (its window 15-27, inside rank 0's step 2 by time): 7 ms
        (1, "gloo", "gloo:all_reduce", OP, 16.0, 7.0),
        # rank 1, step 2: nothing; a collective after every window counts nowhere
        (1, "gloo", "gloo:all_reduce", OP, 45.0, 3.0),
    ]
    return make_table(events)


def test_collective_time_per_rank_per_step() -> None:
    table = gloo_trace()
    waits, names = collective_waits(table)
    assert waits == {(0, 1): pytest.approx(4.0), (0, 2): pytest.approx(1.5), (1, 1): pytest.approx(7.0),
                     (1, 2): 0.0}
    assert names[0] == "gloo:all_reduce"
    assert set(names) == {"gloo:all_reduce", "c10d::allreduce_", "record_param_comms", "c10d::barrier"}


def test_table_with_trace_waits_and_trace_steps() -> None:
    table = gloo_trace()
    by_trace = trace_rank_steps(table)
    assert sorted(by_trace) == [0, 1]
    assert by_trace[1]["step_ms"].tolist() == [12.0, 12.0]
    t = straggler_table({}, table)  # no session steps: the trace's markers time the steps
    assert t.source == "trace" and t.ranks == (0, 1)
    assert [(r.step, r.slowest_rank, r.spread_ms) for r in t.rows] == [(1, 1, 2.0), (2, 1, 2.0)]
    assert [r.collective_wait_ms for r in t.rows] == [(pytest.approx(4.0), pytest.approx(7.0)),
                                                      (pytest.approx(1.5), 0.0)]
    # session steps win; a step the trace does not cover has no known wait
    t = straggler_table({0: steps([1, 2, 3], [10.0, 10.0, 10.0]), 1: steps([1, 2, 3], [11.0, 9.0, 10.5])}, table)
    assert t.source == "session"
    assert [r.slowest_rank for r in t.rows] == [1, 0, 1]
    assert math.isnan(t.rows[2].collective_wait_ms[0]) and math.isnan(t.rows[2].collective_wait_ms[1])
    text = format_table(t)
    assert "coll. r0 ms" in text and "Median time in collectives per step: rank 0 2.75 ms, rank 1 3.50 ms." in text


def test_device_collectives_count_instead_of_the_host_call() -> None:
    """NCCL: the host op only enqueues the kernel; the kernel on the device stream is the time."""
    table = make_table([
        (0, "main", "ProfilerStep#5", STEP, 0, 10), (1, "main", "ProfilerStep#5", STEP, 0, 10),
        (0, "main", "c10d::allreduce_", OP, 1.0, 0.2), (0, "stream 7", "ncclDevKernel_AllReduce_Sum_f32_RING_LL",
                                                        Kind.KERNEL, 3.0, 2.5),
        (1, "main", "c10d::allreduce_", OP, 1.0, 0.2), (1, "stream 7", "ncclDevKernel_AllReduce_Sum_f32_RING_LL",
                                                        Kind.KERNEL, 4.5, 1.0),
    ])
    waits, _ = collective_waits(table)
    assert waits == {(0, 5): pytest.approx(2.5), (1, 5): pytest.approx(1.0)}


def test_a_kernel_counts_in_the_step_that_launched_it() -> None:
    """Asynchronous dispatch: rank 1's all-reduce kernel, launched in step 5, runs after its step
    window closed (inside step 6's): it counts in step 5."""
    events: list[Event] = [
        (0, "main", "ProfilerStep#5", STEP, 0, 10), (0, "main", "ProfilerStep#6", STEP, 10, 10),
        (1, "main", "ProfilerStep#5", STEP, 0, 10), (1, "main", "ProfilerStep#6", STEP, 10, 10),
        (0, "main", "cudaLaunchKernel", Kind.RUNTIME, 2.0, 0.1),
        (0, "stream 7", "ncclDevKernel_AllReduce_Sum_f32_RING_LL", Kind.KERNEL, 3.0, 1.0),
        (1, "main", "cudaLaunchKernel", Kind.RUNTIME, 9.0, 0.1),
        (1, "stream 7", "ncclDevKernel_AllReduce_Sum_f32_RING_LL", Kind.KERNEL, 11.0, 2.0),
    ]
    table = make_table(events, links=[-1, -1, -1, -1, 1, 1, 2, 2])
    assert len(table.link_dst) == 2
    waits, _ = collective_waits(table)
    assert waits == {(0, 5): pytest.approx(1.0), (1, 5): pytest.approx(2.0), (0, 6): 0.0, (1, 6): 0.0}


def test_xla_collectives() -> None:
    table = make_table([
        (0, "main", "ProfilerStep#0", STEP, 0, 10), (1, "main", "ProfilerStep#0", STEP, 0, 10),
        (0, "xla", "all-reduce.1", Kind.HLO_OP, 2.0, 3.0), (0, "xla", "fusion.3", Kind.HLO_OP, 5.0, 1.0),
        (1, "xla", "all-reduce-start.2", Kind.HLO_OP, 2.0, 0.5), (1, "xla", "all-reduce-done.2", Kind.HLO_OP, 4.0, 0.25),
    ])
    waits, names = collective_waits(table)
    assert waits == {(0, 0): pytest.approx(3.0), (1, 0): pytest.approx(0.75)}
    assert "fusion.3" not in names


def test_a_trace_without_collectives_has_no_waits() -> None:
    table = make_table([(0, "main", "ProfilerStep#1", STEP, 0, 10), (1, "main", "ProfilerStep#1", STEP, 0, 12),
                        (0, "main", "aten::mm", OP, 1, 2)])
    assert collective_waits(table) == ({}, ())
    t = straggler_table({}, table)
    assert not t.has_waits and t.rows[0].collective_wait_ms == () and t.rows[0].slowest_rank == 1
    assert t.trace_ranks == (0, 1)
