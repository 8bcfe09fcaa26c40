"""The timeline's level of detail (Qt-free): nesting depth against a plain stack walk, and the
properties every query must keep on real traces and a generated 1,000,000-event one: nothing
visible lost, sub-pixel neighbours merged, every box inside the range, counts adding up."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.gui_inspector import STEP_NS, synthetic_table
from gui.timeline.timeline_lod import MAX_LANES, Boxes, TimelineLod, nesting_depth
from traces.readers import read_trace
from traces.table import EventTable

DATA = Path(__file__).resolve().parents[1] / "data" / "traces"
STORED = ["torch_convnet.trace.json.gz", "jax_mlp.xplane.pb.gz", "tf_mlp.xplane.pb.gz"]


@pytest.fixture(scope="module")
def tables() -> dict[str, EventTable]:
    return {name: read_trace(DATA / name) for name in STORED}


@pytest.fixture(scope="module")
def big() -> tuple[EventTable, TimelineLod]:
    table = synthetic_table(1_000_000)
    return table, TimelineLod(table)


def stack_depth(row: np.ndarray, start: np.ndarray, dur: np.ndarray) -> np.ndarray:
    """Depth by walking each row with a stack of open ends (correct for well-nested rows)."""
    depth = np.zeros(len(start), np.int64)
    stacks: dict[int, list[int]] = {}
    for i in np.lexsort((-dur, start, row)).tolist():
        stack = stacks.setdefault(int(row[i]), [])
        while stack and stack[-1] <= start[i]:
            stack.pop()
        depth[i] = len(stack)
        stack.append(int(start[i] + dur[i]))
    return depth


@pytest.mark.parametrize("name", ["torch_convnet.trace.json.gz", "tf_mlp.xplane.pb.gz"])
def test_depth_matches_a_stack_walk_on_well_nested_traces(tables: dict[str, EventTable], name: str) -> None:
    t = tables[name]
    depth = nesting_depth(t.row, t.start_ns, t.dur_ns)
    assert np.array_equal(depth, stack_depth(t.row, t.start_ns, t.dur_ns))
    assert depth.max() >= 3  # the nesting is really there


def test_depth_with_shared_starts_and_instants() -> None:
    row = np.array([0, 0, 0, 0, 0, 1, 0])
    start = np.array([0, 0, 0, 5, 10, 0, 10])
    dur = np.array([10, 4, 0, 0, 3, 7, 0])
    # parent, child starting with it, instant at the same start, instant inside, sibling
    # starting at the parent's end, another row, instant at the sibling's start
    assert nesting_depth(row, start, dur).tolist() == [0, 1, 2, 1, 0, 0, 1]


def check_query(lod: TimelineLod, lo: float, hi: float, width: float, nested: bool = True) -> Boxes:
    """Assert the query's contract for one view; returns the boxes. `nested`: the trace's lanes
    hold no overlapping events (then merged boxes never overlap either)."""
    boxes = lod.query(lo, hi, width)
    px = (hi - lo) / width
    n = len(boxes)
    assert np.all(boxes.end >= boxes.start) and np.all(boxes.count >= 1)
    # every box overlaps the range
    assert np.all(boxes.end >= lo) and np.all(boxes.start <= hi)
    # sorted by track then start, so neighbours are comparable
    key = boxes.track.astype(np.int64) * lod.pyramid.big + boxes.start
    assert np.all(np.diff(key) >= 0)
    # no visible event lost: each lies inside a box of its own track
    rel_s, rel_e = lod.table.start_ns - lod.t0, lod.table.end_ns - lod.t0
    visible = np.flatnonzero((rel_e >= lo) & (rel_s <= hi))
    if len(visible):
        ev_key = lod.event_track[visible].astype(np.int64) * lod.pyramid.big + rel_s[visible]
        k = np.searchsorted(key, ev_key, side="right") - 1
        assert np.all(k >= 0)
        assert np.all(boxes.track[k] == lod.event_track[visible])
        assert np.all(boxes.end[k] >= rel_e[visible]), "an event sticks out of the box that should hold it"
    assert boxes.events >= len(visible)
    # sub-pixel neighbours are merged: two narrow boxes in a row on a track are a pixel apart
    if n > 1 and nested:
        narrow = (boxes.end - boxes.start) < px
        both = (boxes.track[1:] == boxes.track[:-1]) & narrow[1:] & narrow[:-1]
        assert np.all(boxes.start[1:][both] - boxes.end[:-1][both] >= px)
    # single-event boxes name their event
    one = boxes.count == 1
    assert np.all(boxes.index[one] >= 0) and np.all(boxes.index[~one] == -1)
    assert np.all(lod.event_track[boxes.index[one]] == boxes.track[one])
    # every box names its dominant event: one of its own, on its track, inside it, of its colour
    assert np.array_equal(boxes.dominant[one], boxes.index[one]) and np.all(boxes.dominant >= 0)
    assert np.all(lod.event_track[boxes.dominant] == boxes.track)
    assert np.all((rel_s[boxes.dominant] >= boxes.start) & (rel_e[boxes.dominant] <= boxes.end))
    assert np.array_equal(lod.table.kind[boxes.dominant], boxes.kind)
    return boxes


def reference_merge(lod: TimelineLod, lo: float, hi: float, width: float) -> list[tuple[int, int, int, int, int]]:
    """The merge rule spelled out event by event: (track, start, end, count, dominant) per box,
    the dominant being the longest member (of equals, the higher kind, then the first)."""
    px = (hi - lo) / width
    rel_s, rel_e = lod.table.start_ns - lod.t0, lod.table.end_ns - lod.t0
    out: list[list[int]] = []
    prev_wide, prev_end = False, 0
    for i in lod.order.tolist():  # by track, then start
        s, e, track = int(rel_s[i]), int(rel_e[i]), int(lod.event_track[i])
        if e < lo or s > hi:
            continue
        wide = e - s >= px
        key = (e - s) * 16 + int(lod.table.kind[i])
        if out and out[-1][0] == track and not wide and not prev_wide and s - prev_end < px:
            out[-1][2] = max(out[-1][2], e)
            out[-1][3] += 1
            if key > out[-1][5]:
                out[-1][4:6] = [i, key]
        else:
            out.append([track, s, e, 1, i, key])
        prev_wide, prev_end = wide, e
    return [(track, start, end, count, dominant) for track, start, end, count, dominant, _ in out]


@pytest.mark.parametrize("name", STORED)
def test_fine_queries_match_the_rule_spelled_out(tables: dict[str, EventTable], name: str) -> None:
    lod = TimelineLod(tables[name])
    rng = np.random.default_rng(2)
    checked = 0
    for _ in range(30):
        width = float(rng.choice([300, 1200, 4000]))
        a = float(rng.uniform(0, 0.9)) * lod.span
        b = a + float(rng.choice([0.002, 0.02, 0.1])) * lod.span
        if len(lod.pyramid.levels) > 1 and lod.pyramid.levels[1][0] <= (b - a) / width:
            continue  # a coarser level answers: compared by the contract test instead
        boxes = lod.query(a, b, width)
        got = list(zip(boxes.track.tolist(), boxes.start.tolist(), boxes.end.tolist(), boxes.count.tolist(),
                       boxes.dominant.tolist(), strict=True))
        assert got == reference_merge(lod, a, b, width)
        checked += 1
    assert checked >= 10


@pytest.mark.parametrize("name", STORED)
def test_queries_keep_their_contract_on_real_traces(tables: dict[str, EventTable], name: str) -> None:
    lod = TimelineLod(tables[name])
    assert len(lod.lanes) == len(tables[name].rows) and lod.lanes.max() <= MAX_LANES
    rng = np.random.default_rng(1)
    nested = name != "jax_mlp.xplane.pb.gz"  # its step markers overlap Python frames without nesting
    full = check_query(lod, 0, lod.span, 1200, nested)
    assert full.events == len(lod.table)  # the whole trace: every event in exactly one box
    assert len(full) < len(lod.table)  # and some were merged
    for _ in range(40):
        a, b = np.sort(rng.uniform(-0.05, 1.05, 2)) * lod.span
        check_query(lod, float(a), float(max(b, a + 50)), float(rng.choice([80, 600, 2500])), nested)
    zoomed = lod.query(0, lod.span / 1000, 1000)  # deep zoom: nothing left to merge
    assert np.all(zoomed.count == 1)


def test_a_million_events_merge_to_pixel_resolution(big: tuple[EventTable, TimelineLod]) -> None:
    table, lod = big
    assert len(table) == 1_000_000
    assert lod.lanes.tolist() == [4, 1, 1, 1]  # step > op > inner > inner on the host thread
    assert len(lod.pyramid.levels) > 2  # coarse levels were built
    width = 1500
    full = check_query(lod, 0, lod.span, width)
    assert full.events == len(table)
    assert len(full) <= lod.n_tracks * (2 * width + 4)
    # zooming in 8x, 64x, 4096x: boxes stay bounded by pixels, events come apart
    for zoom in (8, 64, 4096):
        lo = lod.span / 2 - lod.span / zoom / 2
        boxes = check_query(lod, lo, lo + lod.span / zoom, width)
        assert len(boxes) <= lod.n_tracks * (2 * width + 4)
    deep = lod.query(lod.span / 3, lod.span / 3 + 200_000, width)  # 200 µs: 130 ns a pixel
    assert len(deep) and np.all(deep.count == 1)


def test_event_at_and_subsets(big: tuple[EventTable, TimelineLod]) -> None:
    table, lod = big
    i = 123_457
    start, end = lod.relative(i)
    track = int(lod.event_track[i])
    assert lod.event_at(track, (start + end) / 2, 0.0) == i
    runtime = int(lod.track_base[1])  # launches begin 60 µs into each step
    assert lod.event_at(runtime, 5 * STEP_NS + 10_000, 1_000.0) is None
    assert lod.table.row[lod.event_at(runtime, 5 * STEP_NS + 10_000, 60_000.0)] == 1
    mask = table.name == table.string_id("kernel_7")
    sub = lod.subset(mask)
    assert len(sub) == int(mask.sum()) > 0
    boxes = sub.query(0, lod.span, 1000)
    assert boxes.events == int(mask.sum())
    assert np.all(np.isin(boxes.index[boxes.count == 1], np.flatnonzero(mask)))
