"""Level of detail for the trace timeline, Qt-free: which boxes to draw for a visible time range
at a given pixel width, so a million-event trace draws in milliseconds.

At load, every event gets a lane (its nesting depth on its row, computed by sorting and
counting, no per-event Python) and events are laid out on tracks (row, lane). A `BoxPyramid`
then pre-merges each track at coarser and coarser gap thresholds (×4 per level; a threshold that
would save under a fifth of the boxes is skipped, and the next one merges the last level kept).
Opening costs a few dozen vectorised passes over the events, with as few fresh arrays as the
work allows (at ten million events each is 40-80 MB: see bench/gui_inspector.py). A query picks
the finest level whose threshold is still below one pixel, cuts the visible slice of every
track with one vectorised `searchsorted`, and merges what is closer than a pixel. Merged boxes
take the kind of their longest member for colour and keep that member's index (`dominant`), so a
merged box wide enough for text can be labelled with the op that fills most of it; events wider
than a pixel are never merged,
and nothing visible is dropped (a box narrower than a pixel is still returned; the view draws
it one pixel wide). Times are ns relative to the first event's start.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from traces.table import EventTable

MAX_LANES = 8  # deeper events share the last lane of their row (merged there like any other)
LEVEL_FACTOR = 4  # gap threshold ratio between pyramid levels
# One pyramid level's box columns: track, start, end, key (duration and kind), count, index, dominant.
Columns = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
_KIND_BITS = 4  # merge key = longest duration << 4 | kind: the kind of the longest member survives


@dataclass
class Boxes:
    """What one query returns, one entry per box: `track` (row, lane), start/end in relative
    ns, the colour kind, how many events it stands for, the event index when it is one, and
    `dominant`: the index of its longest event (the one whose kind colours it; itself when
    the box is one event), which names a merged box."""

    track: np.ndarray
    start: np.ndarray
    end: np.ndarray
    kind: np.ndarray
    count: np.ndarray
    index: np.ndarray
    dominant: np.ndarray

    def __len__(self) -> int:
        return int(self.start.shape[0])

    @property
    def events(self) -> int:
        return int(self.count.sum())


def nesting_depth(row: np.ndarray, start: np.ndarray, dur: np.ndarray) -> np.ndarray:
    """Per event, how many events on its row are still open when it starts (for well-nested
    traces: its depth in the call stack). Vectorised: an event's depth is its rank on the row
    minus the number of the row's events that ended at or before its start."""
    n = len(start)
    if not n:
        return np.zeros(0, np.int32)
    order = _row_start_order(row, start, dur)  # parents before children that start with them
    r = row[order].astype(np.int64)
    s = start[order] - int(start.min())
    e = s + dur[order]
    edges = np.concatenate(([0], np.flatnonzero(r[1:] != r[:-1]) + 1, [n]))
    row_first = np.repeat(edges[:-1], np.diff(edges))  # where each event's row begins in `order`
    rank = np.arange(n, dtype=np.int64) - row_first
    scale = int(e.max()) + 1
    key_start: np.ndarray | None = None
    if int(r.max() + 1) * scale < (1 << 62):
        # ends on a row are nearly sorted (nesting): timsort ("stable") takes them ~20x faster
        key_start = r * scale + s  # sorted, as `order` is by (row, start)
        key_end = np.sort(r * scale + e, kind="stable")
        closed = np.searchsorted(key_end, key_start, side="right") - row_first
    else:  # keys would overflow: one search per row
        closed = np.empty(n, np.int64)
        for a, b in _runs(r):
            closed[a:b] = np.searchsorted(np.sort(e[a:b], kind="stable"), s[a:b], side="right")
    # Zero-length events that start with (or are) this event counted as closed but come after
    # it in the order (or are it): take them back out. Each zero-length event takes 1 from the
    # events of its (row, start) group up to and including itself.
    zeros = np.flatnonzero(e == s)
    if len(zeros) and key_start is not None:  # sparse: zero-length events are few
        fix = np.zeros(n + 1, np.int64)
        np.add.at(fix, np.searchsorted(key_start, key_start[zeros], side="left"), 1)
        np.add.at(fix, zeros + 1, -1)
        closed -= np.cumsum(fix[:n])
    elif len(zeros):
        zero = (e == s).astype(np.int64)
        group_start = np.ones(n, bool)
        group_start[1:] = (r[1:] != r[:-1]) | (s[1:] != s[:-1])
        group_last = np.append(np.flatnonzero(group_start)[1:] - 1, n - 1)
        cz = np.cumsum(zero)
        closed -= cz[group_last[np.cumsum(group_start) - 1]] - cz + zero
    depth = np.empty(n, np.int32)
    depth[order] = np.maximum(rank - closed, 0)
    return depth


def _row_start_order(row: np.ndarray, start: np.ndarray, dur: np.ndarray) -> np.ndarray:
    """Order by (row, start, longest first). An EventTable is already sorted by start, so this
    only reorders ties (a stable sort of nearly sorted keys) and then sorts stably by row
    (a radix sort when row ids fit 16 bits): ~10× faster than `np.lexsort` on 1 M events."""
    n = len(start)
    if n > 1 and not np.all(start[1:] >= start[:-1]):
        return np.lexsort((-dur, start, row))
    by_start = np.arange(n)
    tie = start[1:] == start[:-1]
    if tie.any():
        rank = np.concatenate(([0], np.cumsum(~tie))).astype(np.int64)
        dur_bits = 62 - int(n).bit_length()
        cap = (1 << dur_bits) - 1
        by_start = np.argsort((rank << dur_bits) | (cap - np.minimum(dur, cap)), kind="stable")
    rows = row[by_start]
    narrow = rows.astype(np.int16) if len(rows) and int(rows.max()) < (1 << 15) else rows
    return by_start[np.argsort(narrow, kind="stable")]


def _runs(values: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of each run of equal values in a sorted array."""
    cut = np.flatnonzero(values[1:] != values[:-1]) + 1
    edges = np.concatenate(([0], cut, [len(values)]))
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def _merge(track: np.ndarray, start: np.ndarray, end: np.ndarray, key: np.ndarray, count: np.ndarray,
           index: np.ndarray, dominant: np.ndarray, gap: float, wide_at: float | None = None,
           cut: np.ndarray | None = None) -> Columns:
    """Merge neighbours on a track (sorted by track, then start) that are less than `gap` ns
    apart, unless either is at least `gap` wide. The gap is measured from the previous box's
    end: on a well-nested lane that is the end of everything before it, and where events
    overlap (the shared last lane) it never joins two events farther apart than `gap`. A merged
    box keeps the `dominant` of its member with the largest key (the longest; the first of equals).
    `wide_at` (default `gap`): the width from which a box stays on its own; `cut`: `_cuts`' answer
    when the caller has it already (it saves a pass over ten million events)."""
    n = len(start)
    if n < 2:
        return track, start, end, key, count, index, dominant
    cut = _cuts(track, start, end, gap, wide_at) if cut is None else cut
    first = np.flatnonzero(cut)
    if len(first) == n:
        return track, start, end, key, count, index, dominant
    merged_count = np.add.reduceat(count, first)
    merged_index = np.where(merged_count == 1, index[first], -1).astype(np.int32)
    merged_key = np.maximum.reduceat(key, first)
    # every group has a member at its maximum; take its first (`repeat` and a search over those
    # members only: a cumsum over all n to number the groups costs several times more)
    at_max = np.flatnonzero(key == np.repeat(merged_key, np.diff(np.append(first, n))))
    group = np.searchsorted(first, at_max, side="right")
    head = at_max[np.concatenate(([True], group[1:] != group[:-1]))]
    return (track[first], start[first], np.maximum.reduceat(end, first), merged_key, merged_count, merged_index,
            dominant[head])


def _cuts(track: np.ndarray, start: np.ndarray, end: np.ndarray, gap: float, wide_at: float | None = None) -> np.ndarray:
    """Where `_merge` starts a new box (True for the first of each group)."""
    wide = (end - start) >= (gap if wide_at is None else wide_at)
    cut = np.empty(len(start), bool)
    cut[:1] = True
    cut[1:] = (track[1:] != track[:-1]) | wide[1:] | wide[:-1] | ((start[1:] - end[:-1]) >= gap)
    return cut


def _reach(track: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Per pair of neighbours, the smallest gap at which `_merge` keeps them apart (`_cuts` at
    `gap` is True exactly where this is >= gap): the wider of the two or the space between them,
    and never on different tracks. One pass that serves every level's threshold."""
    if len(start) < 2:
        return np.zeros(0, np.int64)
    width = end - start
    reach: np.ndarray = np.maximum(width[1:], width[:-1])
    np.maximum(reach, start[1:] - end[:-1], out=reach)
    reach[track[1:] != track[:-1]] = np.iinfo(np.int64).max
    return reach


class BoxPyramid:
    """Events of some tracks, pre-merged at coarser gap thresholds for fast range queries.
    Inputs must be sorted by (track, start); `index` is each event's index in the table."""

    def __init__(self, track: np.ndarray, start: np.ndarray, end: np.ndarray, kind: np.ndarray,
                 index: np.ndarray, n_tracks: int, span: int) -> None:
        self.n_tracks = n_tracks
        self.span = max(int(span), 1)
        self.big = 1 << int(self.span + 2).bit_length()  # track * big + time never collides
        key = end - start  # in place from here: fresh 80 MB arrays cost page faults at ten million events
        np.maximum(key, 0, out=key)
        key <<= _KIND_BITS
        key |= kind
        index = index.astype(np.int32, copy=False)  # also each box's dominant: one array for both
        ones = np.broadcast_to(np.int32(1), index.shape)  # every box one event, in no memory at all
        level: Columns = (track.astype(np.int32, copy=False), start.astype(np.int64, copy=False),
                          end.astype(np.int64, copy=False), key, ones, index, index)
        self.levels: list[tuple[float, tuple[np.ndarray, ...], np.ndarray, np.ndarray]] = [(0.0, *self._keys(level))]
        durations = key[:: max(1, len(key) // 1_000_000)] >> _KIND_BITS  # a million is sample enough
        positive = durations[durations > 0]
        finest = max(float(np.median(positive)) / 2 if len(positive) else 1.0, 1.0)
        gap = self.span / 4096.0  # coarser than one pixel of any whole-trace view
        gaps: list[float] = []
        while gap >= finest and len(gaps) < 16:
            gaps.append(gap)
            gap /= LEVEL_FACTOR
        reach = _reach(*level[:3])
        for gap in reversed(gaps):
            # keep levels that save something; counting the cuts first costs one comparison per
            # box, where a merge on ten million events is most of the opening time
            apart = reach >= gap
            if np.count_nonzero(apart) + 1 >= 0.8 * len(level[1]):
                continue
            level = _merge(*level, gap=gap, cut=np.concatenate(([True], apart)))
            self.levels.append((gap, *self._keys(level)))
            reach = _reach(*level[:3])

    def _keys(self, cols: tuple[np.ndarray, ...]) -> tuple[tuple[np.ndarray, ...], np.ndarray, np.ndarray]:
        """The level's columns with its search keys: track * big + start (sorted), and the running
        maximum of track * big + end (a lane of nested or back-to-back events is sorted already,
        and checking costs a fraction of the accumulate)."""
        key_end = cols[0].astype(np.int64)
        key_end *= self.big
        key_start = key_end + cols[1]
        key_end += cols[2]
        if not np.all(key_end[1:] >= key_end[:-1]):
            np.maximum.accumulate(key_end, out=key_end)
        return cols, key_start, key_end

    def __len__(self) -> int:
        return len(self.levels[0][1][1])

    def _slice(self, level: int, lo: float, hi: float) -> np.ndarray:
        """Positions in `level` of the boxes that may overlap [lo, hi), across all tracks."""
        _, _, key_start, key_end = self.levels[level]
        lo_i, hi_i = int(np.clip(np.floor(lo), 0, self.span + 1)), int(np.clip(np.ceil(hi), 0, self.span + 1))
        base = np.arange(self.n_tracks, dtype=np.int64) * self.big
        a = np.searchsorted(key_end, base + lo_i, side="left")  # first box whose running end reaches lo
        b = np.searchsorted(key_start, base + hi_i, side="right")
        lengths = np.maximum(b - a, 0)
        total = int(lengths.sum())
        if not total:
            return np.zeros(0, np.int64)
        offsets = np.cumsum(lengths) - lengths
        return np.repeat(a - offsets, lengths) + np.arange(total, dtype=np.int64)

    def query(self, lo: float, hi: float, width_px: float) -> Boxes:
        """Boxes overlapping [lo, hi] (relative ns) for a view `width_px` pixels wide, merged
        to one-pixel resolution."""
        if hi <= lo or width_px <= 0 or not len(self):
            return _empty()
        px = (hi - lo) / width_px
        level = max(k for k, (gap, *_) in enumerate(self.levels) if gap <= px)
        cols = self.levels[level][1]
        pos = self._slice(level, lo, hi)
        track, start, end, key, count, index, dominant = (c[pos] for c in cols)
        keep = (end >= lo) & (start <= hi)
        if not keep.all():
            track, start, end, key, count, index, dominant = (c[keep] for c in (track, start, end, key, count, index,
                                                                                dominant))
        track, start, end, key, count, index, dominant = _merge(track, start, end, key, count, index, dominant, gap=px)
        return Boxes(track, start, end, (key & ((1 << _KIND_BITS) - 1)).astype(np.uint8), count, index, dominant)

    def event_at(self, track: int, t: float, tolerance: float) -> int | None:
        """Index of the event on `track` under time `t` (the shortest one containing it, else the
        nearest within `tolerance` ns), or None."""
        _, cols, key_start, key_end = self.levels[0]
        base = track * self.big
        a = int(np.searchsorted(key_end, base + int(np.clip(t - tolerance, 0, self.span + 1)), side="left"))
        b = int(np.searchsorted(key_start, base + int(np.clip(t + tolerance, 0, self.span + 1)), side="right"))
        if b <= a:
            return None
        start, end, index = cols[1][a:b], cols[2][a:b], cols[5][a:b]
        distance = np.maximum(np.maximum(start - t, t - end), 0)
        near = distance <= tolerance
        if not near.any():
            return None
        # nearest first, then the shortest (the most specific event at that point)
        best = np.lexsort((end - start, distance))[0]
        return int(index[best]) if near[best] else None


def label_groups(boxes: Boxes, dur_ns: np.ndarray, gap: float, wide_at: float) -> Boxes:
    """The drawn `boxes` (sorted by track, then start) regrouped for names: neighbours on a track
    less than `gap` ns apart and each narrower than `wide_at` (wide enough for a name of its
    own) become one group named after its longest
    event (`dur_ns`: every event's duration), so a run of thin ops a few pixels wide each, too
    narrow for text one by one, still says what it mostly is. Costs one pass over the boxes
    already drawn, never over the trace."""
    if len(boxes) < 2:
        return boxes
    key = (dur_ns[boxes.dominant].astype(np.int64) << _KIND_BITS) | boxes.kind.astype(np.int64)
    track, start, end, key, count, index, dominant = _merge(boxes.track, boxes.start, boxes.end, key, boxes.count,
                                                            boxes.index, boxes.dominant, gap, wide_at)
    return Boxes(track, start, end, (key & ((1 << _KIND_BITS) - 1)).astype(np.uint8), count, index, dominant)


def _empty() -> Boxes:
    z = np.zeros(0, np.int64)
    i32 = z.astype(np.int32)
    return Boxes(i32, z, z, z.astype(np.uint8), i32, i32, i32)


class TimelineLod:
    """The timeline's layout and level of detail over one table: rows top to bottom in table
    order, each with up to MAX_LANES lanes (none for a row without events: the timeline hides
    it, since a thread named in the metadata but idle in the window is only a blank band);
    `query` for the boxes to draw; `subset` for a pyramid over some events only (highlighted
    search matches)."""

    def __init__(self, table: EventTable) -> None:
        self.table = table
        n = len(table)
        self.t0 = int(table.start_ns[0]) if n else 0
        self.span = int(table.end_ns.max() - self.t0) if n else 0
        depth = nesting_depth(table.row, table.start_ns, table.dur_ns)
        n_rows = len(table.rows)
        capped = np.minimum(depth, MAX_LANES - 1)
        events_per_lane = np.bincount(table.row.astype(np.int64) * MAX_LANES + capped, minlength=n_rows * MAX_LANES)
        used = events_per_lane.reshape(n_rows, MAX_LANES) > 0
        # lanes = deepest used lane + 1; an empty row gets none
        self.lanes = (MAX_LANES - np.argmax(used[:, ::-1], axis=1)).astype(np.int64)
        self.lanes[~used.any(axis=1)] = 0
        self.track_base = np.cumsum(self.lanes) - self.lanes
        self.n_tracks = int(self.lanes.sum())
        lane = np.minimum(depth, self.lanes[table.row] - 1) if n else depth
        self.event_track = (self.track_base[table.row] + lane).astype(np.int32) if n else np.zeros(0, np.int32)
        narrow = self.event_track.astype(np.int16) if self.n_tracks < (1 << 15) else self.event_track
        order = np.argsort(narrow, kind="stable")  # (track, start), as the table is sorted by start
        self.order = order.astype(np.int32) if n < (1 << 31) else order
        self.pyramid = self._pyramid(self.order)

    def _pyramid(self, order: np.ndarray) -> BoxPyramid:
        start = self.table.start_ns[order]
        start -= self.t0  # relative times only for the events it holds
        end = self.table.dur_ns[order]
        end += start
        return BoxPyramid(self.event_track[order], start, end, self.table.kind[order],
                          order, self.n_tracks, self.span)

    def subset(self, mask: np.ndarray) -> BoxPyramid:
        """A pyramid over the events where `mask` is true (same tracks and times)."""
        return self._pyramid(self.order[mask[self.order]])

    def query(self, lo: float, hi: float, width_px: float) -> Boxes:
        return self.pyramid.query(lo, hi, width_px)

    def event_at(self, track: int, t: float, tolerance: float) -> int | None:
        return self.pyramid.event_at(track, t, tolerance)

    def track_row(self, track: int) -> int:
        """The table row a track belongs to (an empty row shares its base with the next row
        that has lanes, so the last row at or below `track` is the one)."""
        return int(np.searchsorted(self.track_base, track, side="right") - 1)

    def relative(self, index: int) -> tuple[float, float]:
        """(start, end) of event `index` in relative ns."""
        start = int(self.table.start_ns[index]) - self.t0
        return float(start), float(start + int(self.table.dur_ns[index]))
