"""Device work is counted in the step whose CPU code launched it: Kineto-shaped traces whose
GPU runs behind the CPU (every kernel starts after its step's window ended, the last step's
after the last window), linked once by `correlation` arguments and once by "ac2g" flows only.
By start time the first step's kernels would land in the second step and the second step's in
none; the answers below are the by-launch ones."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from traces.analysis import step_breakdown
from traces.chrome_reader import read_chrome_data
from traces.classify import steps_by_window
from traces.export import write_chrome_trace
from traces.launch_links import LAUNCH_LINK, VIA_FLOW, _launches, attribution, dense_ids
from traces.op_diff import op_diff
from traces.readers import read_trace
from traces.table import EventTable, TraceError, table_from_blobs, table_to_blobs

US = 1000  # ns
# (correlation, launch name, launch ts, device event name, category, device ts lagging / keeping up, dur), µs
WORK = [
    (1, "cudaLaunchKernel", 10, "gemm", "kernel", (150, 30), 30),
    (2, "cudaLaunchKernel", 20, "relu", "kernel", (180, 62), 10),
    (3, "cudaLaunchKernel", 110, "gemm", "kernel", (205, 130), 30),
    (4, "cudaLaunchKernel", 120, "relu", "kernel", (240, 162), 10),
    (5, "cudaMemcpyAsync", 130, "Memcpy HtoD (Pinned -> Device)", "gpu_memcpy", (250, 175), 5),
]


def x(name: str, ts: float, dur: float, cat: str, pid: int = 1, tid: int = 1, **args: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {"ph": "X", "cat": cat, "name": name, "pid": pid, "tid": tid, "ts": ts, "dur": dur}
    if args:
        ev["args"] = args
    return ev


def flow(ph: str, flow_id: int, ts: float, pid: int, tid: int) -> dict[str, Any]:
    ev: dict[str, Any] = {"ph": ph, "id": flow_id, "pid": pid, "tid": tid, "ts": ts, "cat": "ac2g", "name": "ac2g"}
    if ph == "f":
        ev["bp"] = "e"
    return ev


def kineto(link: str, lag: bool = True) -> list[dict[str, Any]]:
    """Two ProfilerStep windows, launches inside them, the GPU's events on pid 0 / stream 7;
    `link`: "correlation" (args on both ends, as Kineto writes) or "flow" (only ac2g flows);
    `lag=False` puts each device event inside its own step instead (the GPU keeping up)."""
    events = [
        {"ph": "M", "name": "process_name", "pid": 0, "tid": 0, "args": {"name": "python"}},
        {"ph": "M", "name": "process_labels", "pid": 0, "tid": 0, "args": {"labels": "GPU 0"}},
        {"ph": "M", "name": "thread_name", "pid": 0, "tid": 7, "args": {"name": "stream 7"}},
        x("ProfilerStep#1", 0, 100, "user_annotation"),
        x("ProfilerStep#2", 100, 100, "user_annotation"),
        x("aten::mm", 8, 20, "cpu_op"),  # encloses the first launches: a flow must bind the launch, not this
        x("nccl:all_reduce", 80, 10, "kernel", pid=0, tid=7, device=0),  # no link at all: placed by its start time
    ]
    for corr, launch, t_launch, name, cat, (t_lagging, t_keeping_up), dur in WORK:
        t_dev = t_lagging if lag else t_keeping_up
        args = {"correlation": corr} if link == "correlation" else {}
        events.append(x(launch, t_launch, 5, "cuda_runtime", cbid=211, **args))
        events.append(x(name, t_dev, dur, cat, pid=0, tid=7, device=0, stream=7, **args))
        if link == "flow":
            events += [flow("s", corr, t_launch, 1, 1), flow("f", corr, t_dev, 0, 7)]
    return events


def read(events: list[dict[str, Any]], fast: bool = True) -> EventTable:
    return read_chrome_data(json.dumps({"schemaVersion": 1, "traceEvents": events}).encode(), fast=fast)


def device_steps(t: EventTable) -> dict[tuple[str, int], int]:
    """(name, start µs) -> step of every event on the GPU row."""
    gpu = [i for i in range(len(t)) if t.rows[int(t.row[i])].device]
    return {(t.string(int(t.name[i])), int(t.start_ns[i]) // US): int(t.step[i]) for i in gpu}


@pytest.mark.parametrize("link", ["correlation", "flow"])
@pytest.mark.parametrize("fast", [True, False])
def test_lagging_device_work_counts_in_its_launchs_step(link: str, fast: bool) -> None:
    t = read(kineto(link), fast)
    assert device_steps(t) == {("nccl:all_reduce", 80): 1, ("gemm", 150): 1, ("relu", 180): 1, ("gemm", 205): 2,
                               ("relu", 240): 2, ("Memcpy HtoD (Pinned -> Device)", 250): 2}
    launches = [t.string(int(t.name[i])) for i in t.link_src]
    assert launches == ["cudaLaunchKernel"] * 4 + ["cudaMemcpyAsync"]  # not aten::mm, which encloses the first
    linked = (t.flags & LAUNCH_LINK) != 0
    assert int(linked.sum()) == 5 and bool(((t.flags & VIA_FLOW) != 0).any()) == (link == "flow")

    b = step_breakdown(t)
    assert b.steps.tolist() == [1, 2]
    # step 1: its kernels 150-190 plus the unlinked one at 80-90; it lasts until its last kernel ends (190)
    # step 2: kernels 205-235 and 240-250, the copy 250-255; it lasts until 255
    assert b.total_ns.tolist() == [190 * US, 155 * US]
    assert b.compute_ns.tolist() == [50 * US, 40 * US]
    assert b.memcpy_ns.tolist() == [0, 5 * US]
    assert b.host_overhead_ns.tolist() == [20 * US, 15 * US]  # aten::mm 8-28 around two launches; three launches
    assert b.idle_ns.tolist() == [120 * US, 95 * US]
    by_corr, by_flow = (5, 0) if link == "correlation" else (0, 5)
    assert b.attribution == (f"device work: 6 kernels and copies; 5 attributed to steps by their launch ({by_corr} by "
                             f"correlation, {by_flow} by flow), 1 by start time, 0 unattributed")


@pytest.mark.parametrize("link", ["correlation", "flow"])
def test_op_diff_against_a_gpu_that_keeps_up_sees_no_change(link: str) -> None:
    """The same work with the GPU inside each step (placed by time or by launch alike): per
    step, nothing moved; by start time the lagging trace would lose the second step's work."""
    keeping_up, lagging = read(kineto(link, lag=False)), read(kineto(link))
    diff = op_diff(keeping_up, lagging, kinds=["kernel", "memcpy"])
    assert diff.counts() == {"added": 0, "removed": 0, "slower": 0, "faster": 0, "unchanged": 4}
    rows = {r.name: (r.base_count, r.other_count, r.base_total_ns, r.other_total_ns) for r in diff.rows}
    assert rows == {"gemm": (1.0, 1.0, 30_000.0, 30_000.0), "relu": (1.0, 1.0, 10_000.0, 10_000.0),
                    "Memcpy HtoD (Pinned -> Device)": (0.5, 0.5, 2_500.0, 2_500.0),
                    "nccl:all_reduce": (0.5, 0.5, 5_000.0, 5_000.0)}


def test_launch_outside_every_step_is_unattributed() -> None:
    events = kineto("correlation")
    events.append(x("cudaLaunchKernel", 300, 5, "cuda_runtime", correlation=9))  # after the last step
    events.append(x("late", 320, 5, "kernel", pid=0, tid=7, correlation=9))
    t = read(events)
    assert device_steps(t)[("late", 320)] == -1
    placed = attribution(t)
    assert (placed.by_correlation, placed.by_flow, placed.by_time, placed.unattributed) == (5, 0, 1, 1)


def test_no_links_keeps_the_start_time_rule() -> None:
    events = [e for e in kineto("correlation") if e.get("ph") == "M" or e["name"] != "aten::mm"]
    for e in events:
        e.get("args", {}).pop("correlation", None)
    t = read(events)
    assert not len(t.link_src) and not ((t.flags & LAUNCH_LINK) != 0).any()
    assert device_steps(t) == {("nccl:all_reduce", 80): 1, ("gemm", 150): 2, ("relu", 180): 2, ("gemm", 205): -1,
                               ("relu", 240): -1, ("Memcpy HtoD (Pinned -> Device)", 250): -1}
    b = step_breakdown(t)
    assert b.total_ns.tolist() == [100 * US, 100 * US] and b.compute_ns.tolist() == [10 * US, 40 * US]
    assert b.attribution == ("device work: 6 kernels and copies; 0 attributed to steps by their launch (0 by correlation, "
                             "0 by flow), 3 by start time, 3 unattributed")


@pytest.mark.parametrize("link", ["correlation", "flow"])
def test_links_survive_export_and_stored_blobs(link: str, tmp_path: Path) -> None:
    t = read(kineto(link))
    back = read_trace(write_chrome_trace(t, tmp_path / "out.json"))
    stored = table_from_blobs(table_to_blobs(t))
    for other in (back, stored):
        for col in ("step", "flags", "link_src", "link_dst"):
            assert np.array_equal(getattr(t, col), getattr(other, col)), col


def test_tables_stored_before_links_load_without_them() -> None:
    blobs = table_to_blobs(read(kineto("correlation")))
    old = {k: v for k, v in blobs.items() if not k.startswith("link_")}
    t = table_from_blobs(old)
    assert len(t.link_src) == len(t.link_dst) == 0
    bad = dict(blobs, link_src=table_to_blobs(read(kineto("flow")[:4]))["link_src"])  # empty: lengths differ
    with pytest.raises(TraceError, match="launch links"):
        table_from_blobs(bad)


def test_dense_ids_rank_values_as_np_unique_does_whatever_their_spread() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        low = int(rng.integers(0, 2**62))
        spread = int(10 ** rng.integers(0, 12))  # dense (a presence map) to far too thin for one (sorted)
        values = (low + rng.integers(0, spread, int(rng.integers(0, 3000)))).astype(np.int64)
        inverse, unique = dense_ids(values)
        expected_unique, expected_inverse = np.unique(values, return_inverse=True)
        assert unique == len(expected_unique) and np.array_equal(inverse, expected_inverse)


def test_launches_by_the_id_map_are_the_launches_by_sorting() -> None:
    """`_launches`: each device event's launch is its group's host event that starts first (the
    lowest index of equal starts), whether found through the map over dense ids (host events
    in start order) or by sorting (any order)."""
    rng = np.random.default_rng(7)
    for trial in range(200):
        n = int(rng.integers(1, 60))
        start = np.sort(rng.integers(0, 20, n)) if trial % 2 else rng.integers(0, 20, n)
        link = rng.integers(-1, 8, n)
        on_device = rng.random(n) < .5
        idx = np.flatnonzero(link >= 0)
        host, dev = idx[~on_device[idx]], idx[on_device[idx]]
        want = {}
        for d in dev.tolist():
            group = [h for h in host.tolist() if link[h] == link[d]]
            if group:
                want[d] = min(group, key=lambda h: (start[h], h))
        dst, src = _launches(start.astype(np.int64), link.astype(np.int64), host, dev)
        assert dict(zip(dst.tolist(), src.tolist(), strict=True)) == want


def test_steps_by_window_are_the_same_for_events_in_any_order() -> None:
    """`classify.steps_by_window`: the last window starting at or before an event takes it if the
    event starts before the window's end; the pass over events in start order (a finished
    table) and the search for events in any order agree with that rule, equal starts included."""
    rng = np.random.default_rng(11)
    for _ in range(200):
        m = int(rng.integers(1, 6))
        win_start = np.sort(rng.integers(0, 40, m))
        win_end = win_start + rng.integers(0, 15, m)
        win_step = rng.permutation(m).astype(np.int64) + 3
        start = rng.integers(-5, 60, int(rng.integers(1, 80)))
        want = []
        for t in start.tolist():
            k = max((j for j in range(m) if win_start[j] <= t), default=-1)
            want.append(int(win_step[k]) if k >= 0 and t < win_end[k] else -1)
        ordered = np.sort(start)
        assert steps_by_window(ordered, win_start, win_end, win_step).tolist() == \
            [want[i] for i in np.argsort(start, kind="stable")]
        assert steps_by_window(start, win_start, win_end, win_step).tolist() == want
