"""Min/max decimation for live curves, so a frame costs O(pixels), not O(points).

`MinMaxPyramid` keeps, for every aligned block of 2**k samples of a growing array, the smallest
and largest finite value. Taking in n new samples touches O(n + log N) entries; the extremes of
any index range then come from O(log N) blocks (a segment-tree query), so they are exact.
`envelope()` uses it to give a curve two points per pixel column of the visible x range: each
column's minimum and maximum, so no spike is lost however many samples share the column.
Qt-free: the live model owns the pyramids, the plots only draw what `envelope()` returns.
"""
from __future__ import annotations

import numpy as np

BASE = 3  # levels below 2**BASE samples a block are read from the samples (saves 3/4 of the memory)


def _finite_or_nan(values: np.ndarray) -> np.ndarray:
    """Inf cannot be drawn or ranged: treat it like NaN, which fmin/fmax skip."""
    return np.where(np.isfinite(values), values, np.nan)


def _fold(lo: np.ndarray, hi: np.ndarray, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Min of each run of `factor` entries of lo, max of each run of hi (the last run may be short)."""
    short = -len(lo) % factor
    if short:
        pad = np.full(short, np.nan)
        lo, hi = np.concatenate((lo, pad)), np.concatenate((hi, pad))
    return np.fmin.reduce(lo.reshape(-1, factor), axis=1), np.fmax.reduce(hi.reshape(-1, factor), axis=1)


class MinMaxPyramid:
    """Block minima and maxima of a growing 1-D array, levels BASE.. up to one block.

    The array itself is not kept: `update(y)` is passed the whole filled array each time (it
    only reads the samples appended since the last call, plus the last, partial block)."""

    def __init__(self) -> None:
        self._lo: list[np.ndarray] = []  # entry i is level BASE + i
        self._hi: list[np.ndarray] = []
        self._count: list[int] = []  # blocks filled per level
        self.n = 0  # samples taken in

    def __len__(self) -> int:
        return self.n

    def update(self, y: np.ndarray) -> None:
        """Take in the samples of `y` past the ones already seen (a shorter `y` starts over)."""
        total = len(y)
        if total < self.n:
            self._lo, self._hi, self._count, self.n = [], [], [], 0
        if total == self.n:
            return
        first = (self.n >> BASE)  # the block holding the first new sample is recomputed whole
        seg = _finite_or_nan(y[first << BASE : total])
        lo, hi = _fold(seg, seg, 1 << BASE)
        self._store(0, first, lo, hi)
        level = 0
        while self._count[level] > 1:
            first >>= 1
            lo, hi = _fold(self._lo[level][2 * first : self._count[level]],
                           self._hi[level][2 * first : self._count[level]], 2)
            level += 1
            self._store(level, first, lo, hi)
        self.n = total

    def _store(self, level: int, first: int, lo: np.ndarray, hi: np.ndarray) -> None:
        if level == len(self._lo):
            self._lo.append(np.empty(max(16, len(lo))))
            self._hi.append(np.empty(max(16, len(lo))))
            self._count.append(0)
        end = first + len(lo)
        if end > len(self._lo[level]):  # grow by doubling, like the series themselves
            size = max(end, 2 * len(self._lo[level]))
            for arrays in (self._lo, self._hi):
                grown = np.empty(size)
                grown[: self._count[level]] = arrays[level][: self._count[level]]
                arrays[level] = grown
        self._lo[level][first:end] = lo
        self._hi[level][first:end] = hi
        self._count[level] = end

    def _nodes(self, y: np.ndarray, level: int, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Min and max of the blocks `index` of 2**level samples (whole blocks only)."""
        if level >= BASE:
            return self._lo[level - BASE][index], self._hi[level - BASE][index]
        size = 1 << level
        values = _finite_or_nan(y[(index[:, None] << level) + np.arange(size)])
        return np.fmin.reduce(values, axis=1), np.fmax.reduce(values, axis=1)

    def range_minmax(self, y: np.ndarray, start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact min and max of the finite values of y[start[i]:stop[i]] for every i (NaN where
        there are none). `y` must be the array last passed to `update`."""
        a, b = start.astype(np.int64), stop.astype(np.int64)
        lo, hi = np.full(len(a), np.nan), np.full(len(a), np.nan)
        level = 0
        while True:
            take = (a < b) & ((a & 1) == 1)  # a left edge that is not a block start: take that node alone
            if take.any():
                nlo, nhi = self._nodes(y, level, a[take])
                lo[take], hi[take] = np.fmin(lo[take], nlo), np.fmax(hi[take], nhi)
                a += take
            take = (a < b) & ((b & 1) == 1)  # likewise at the right edge
            if take.any():
                b -= take
                nlo, nhi = self._nodes(y, level, b[take])
                lo[take], hi[take] = np.fmin(lo[take], nlo), np.fmax(hi[take], nhi)
            if not (a < b).any():
                return lo, hi
            a >>= 1
            b >>= 1
            level += 1


def _raw_minmax(y: np.ndarray, start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Min and max of y[start[i]:stop[i]] straight from the samples, for adjoining non-empty
    columns (stop[i] == start[i + 1]): O(samples), the cheap way for the few newest columns."""
    seg = _finite_or_nan(y[start[0] : stop[-1]])
    return np.fmin.reduceat(seg, start - start[0]), np.fmax.reduceat(seg, start - start[0])


class ColumnEnvelope:
    """The points one curve draws: see `points`. Keeps each pixel column's min and max from the
    last call, so while the view stays put a frame recomputes only the columns new samples fell
    in (straight from the samples); a moved or resized view is recomputed from the pyramid."""

    TAIL_LIMIT = 1 << 16  # more new samples than this: use the pyramid even for the tail

    def __init__(self) -> None:
        self._key: tuple[float, float, int] | None = None
        self._n = 0
        self._cuts = np.empty(0, dtype=np.int64)
        self._edges = np.empty(0)
        self._lo = self._hi = np.empty(0)

    def points(self, x: np.ndarray, y: np.ndarray, pyramid: MinMaxPyramid, x0: float, x1: float,
               columns: int) -> tuple[np.ndarray, np.ndarray]:
        """The points to draw for sorted `x` in the view [x0, x1] that is `columns` pixels wide.

        Where the view holds at most two samples per column, the samples themselves (plus one on
        each side, so the line runs off the edges). Otherwise two points per non-empty column, at
        the x of its first sample: its min and its max, the one nearer the column's last sample
        second, so the segment to the next column leaves from the right end. A column with no
        finite value gives NaN (a gap)."""
        n = len(x)
        if n == 0 or columns < 1 or not x1 > x0:
            self._key = None
            return x[:0], y[:0]
        i0 = max(int(np.searchsorted(x, x0, "left")) - 1, 0)
        i1 = min(int(np.searchsorted(x, x1, "right")) + 1, n)
        if i1 - i0 <= 2 * columns:
            self._key = None
            return x[i0:i1], y[i0:i1]
        key = (x0, x1, columns)
        cached = key == self._key and 0 < self._n <= n and n - self._n <= self.TAIL_LIMIT
        if cached:  # only edges past the last sample seen can have moved: search the new samples alone
            cuts = self._cuts.copy()
            moved = int(np.searchsorted(self._edges, x[self._n - 1], "right"))
            cuts[1 + moved : -1] = np.searchsorted(x[self._n : i1], self._edges[moved:], "left") + self._n
        else:
            self._edges = x0 + (x1 - x0) * np.arange(columns + 1) / columns
            self._edges[-1] = x1  # exactly, whatever the rounding
            cuts = np.empty(columns + 3, dtype=np.int64)
            cuts[1:-1] = np.searchsorted(x[i0:i1], self._edges, "left") + i0
        cuts[0], cuts[-1] = i0, i1  # the sample left of x0 and the one right of x1 are columns of their own
        start, stop = cuts[:-1], cuts[1:]
        if cached:
            lo, hi = self._lo, self._hi
            # a column whose bounds moved or that may hold new samples is recomputed
            redo = (start != self._cuts[:-1]) | (stop != self._cuts[1:]) | (stop >= self._n)
        else:
            lo, hi = np.full(columns + 2, np.nan), np.full(columns + 2, np.nan)
            redo = np.ones(columns + 2, dtype=bool)
        redo &= stop > start
        if redo.any():
            rs, re = start[redo], stop[redo]
            if re[-1] - rs[0] <= self.TAIL_LIMIT and np.array_equal(re[:-1], rs[1:]):
                lo[redo], hi[redo] = _raw_minmax(y, rs, re)  # typically the newest column or two
            else:
                pyramid.update(y)
                lo[redo], hi[redo] = pyramid.range_minmax(y, rs, re)
        self._key, self._n, self._cuts, self._lo, self._hi = key, n, cuts, lo, hi
        keep = stop > start
        start, stop, lo, hi = start[keep], stop[keep], lo[keep], hi[keep]
        last = y[stop - 1]
        low_last = np.abs(last - lo) < np.abs(last - hi)  # leave the column from its min
        ys = np.empty((len(start), 2))
        ys[:, 0] = np.where(low_last, hi, lo)
        ys[:, 1] = np.where(low_last, lo, hi)
        return np.repeat(x[start], 2), ys.reshape(-1)


def envelope(x: np.ndarray, y: np.ndarray, pyramid: MinMaxPyramid, x0: float, x1: float,
             columns: int) -> tuple[np.ndarray, np.ndarray]:
    """`ColumnEnvelope.points` without a cache: one-off decimation of a view."""
    return ColumnEnvelope().points(x, y, pyramid, x0, x1, columns)
