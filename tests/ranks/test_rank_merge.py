"""traces/rank_merge.py: per-rank tables (any format) -> one table, a row group per rank, each rank's
times moved by its offset, every event, string, counter and launch link kept and renumbered."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from traces.rank_merge import merge_rank_tables
from traces.readers import read_trace
from traces.table import Kind

DATA = Path(__file__).resolve().parents[1] / "data" / "traces"


def _events(table, rank_prefix: str) -> list[tuple[str, int, int, int, str]]:
    """(name, start, dur, step, thread) of one rank's rows, in time order."""
    rows = [i for i, row in enumerate(table.rows) if row.pid.startswith(rank_prefix)]
    picked = np.flatnonzero(np.isin(table.row, rows))
    return [(table.string(int(table.name[i])), int(table.start_ns[i]), int(table.dur_ns[i]), int(table.step[i]),
             table.rows[table.row[i]].thread) for i in picked]


def test_two_ranks_of_one_xplane_merge_with_their_offsets() -> None:
    one = read_trace(DATA / "jax_mlp.xplane.pb.gz")
    other = read_trace(DATA / "torch_convnet.trace.json.gz")
    merged = merge_rank_tables({0: one, 1: other}, {0: 0, 1: 5_000_000})
    assert len(merged) == len(one) + len(other)
    assert np.all(np.diff(merged.start_ns) >= 0)
    assert {row.pid.split(":")[0] for row in merged.rows} == {"rank 0", "rank 1"}
    alone = [(one.string(int(one.name[i])), int(one.start_ns[i]), int(one.dur_ns[i]), int(one.step[i]),
              one.rows[one.row[i]].thread) for i in range(len(one))]
    assert sorted(_events(merged, "rank 0:")) == sorted(alone)
    shifted = [(other.string(int(other.name[i])), int(other.start_ns[i]) + 5_000_000, int(other.dur_ns[i]),
                int(other.step[i]), other.rows[other.row[i]].thread) for i in range(len(other))]
    assert sorted(_events(merged, "rank 1:")) == sorted(shifted)
    assert len(merged.series) == len(one.series) + len(other.series)
    assert len(merged.counter_value) == len(one.counter_value) + len(other.counter_value)
    assert len(merged.link_src) == len(one.link_src) + len(other.link_src)
    for table, prefix in ((one, "rank 0:"), (other, "rank 1:")):  # each link still joins the same two events
        wanted = sorted((table.string(int(table.name[s])), table.string(int(table.name[d])))
                        for s, d in zip(table.link_src, table.link_dst, strict=True))
        got = sorted((merged.string(int(merged.name[s])), merged.string(int(merged.name[d])))
                     for s, d in zip(merged.link_src, merged.link_dst, strict=True)
                     if merged.rows[merged.row[s]].pid.startswith(prefix))
        assert got == wanted


def test_xplane_ranks_land_on_the_controllers_clock_by_a_steps_end() -> None:
    """sessions/rank_traces.py: the same XPlane as ranks 0 and 1, whose step events say rank 1 ended its
    steps 0.25 s later: in the merged table rank 1's step markers end exactly 0.25 s after rank 0's."""
    from profilers.hooks import Artifact
    from sessions.rank_traces import merged_table, step_offset_ns
    from traces.analysis import step_windows

    path = DATA / "jax_mlp.xplane.pb.gz"
    numbers, _, ends = step_windows(read_trace(path))
    assert len(numbers) >= 2
    step = int(numbers[1])
    events = [{"type": "step", "index": step, "t": 2.0 + 0.25 * rank, "rank": rank} for rank in (0, 1)]
    assert step_offset_ns(read_trace(path), events, 1) == 2_250_000_000 - int(ends[1])
    assert step_offset_ns(read_trace(path), [], 1) is None
    merged = merged_table({0: Artifact("xplane", path), 1: Artifact("xplane", path)}, events, "jax")
    marker_ends: dict[str, list[int]] = {"rank 0": [], "rank 1": []}
    for i in np.flatnonzero(merged.kind == Kind.STEP):
        marker_ends[merged.rows[merged.row[i]].pid.split(":")[0]].append(int(merged.start_ns[i] + merged.dur_ns[i]))
    assert len(marker_ends["rank 0"]) == len(numbers)
    assert [b - a for a, b in zip(sorted(marker_ends["rank 0"]), sorted(marker_ends["rank 1"]), strict=True)] == \
        [250_000_000] * len(numbers)
    assert "aligned by a traced step's end" in merged.source.notes[-1]
