"""A growing (x, y) series for live curves: numpy buffers that double, with running bounds and
a min/max pyramid so a plot draws it in O(pixels) however long it grows (gui.live.decimation)."""
from __future__ import annotations

import math

import numpy as np

from gui.live.decimation import MinMaxPyramid


class GrowingSeries:
    """An (x, y) series that grows by doubling; `x`/`y` are views of the filled part.

    It also carries a min/max pyramid of y (`gui.live.decimation`), so drawing costs O(pixels) however
    long the series grows. The pyramid takes in new samples every PYRAMID_BATCH of them (a plot
    that needs it sooner brings it up to date itself): per-append upkeep would cost more in
    Python overhead than the work, and a lazier one would stall the frame that finally needs it."""

    PYRAMID_BATCH = 8192

    def __init__(self, capacity: int = 1024) -> None:
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self._n = 0
        self.version = 0  # bumps on every append, so a view redraws only when something changed
        self.y_min = np.inf  # running bounds of the finite values, so a view can size its axis
        self.y_max = -np.inf  # without scanning the data
        self.sorted = True  # x never went back (the decimation needs it; worker time only grows)
        self.pyramid = MinMaxPyramid()

    def __len__(self) -> int:
        return self._n

    def _reserve(self, extra: int) -> None:
        need = self._n + extra
        if need > len(self._x):
            size = max(need, 2 * len(self._x))
            for name in ("_x", "_y"):
                grown = np.empty(size, dtype=np.float64)
                grown[: self._n] = getattr(self, name)[: self._n]
                setattr(self, name, grown)

    def append(self, x: float, y: float) -> None:
        self._reserve(1)
        if self._n and x < self._x[self._n - 1]:
            self.sorted = False
        self._x[self._n] = x
        self._y[self._n] = y
        self._n += 1
        self.version += 1
        if self._n - self.pyramid.n >= self.PYRAMID_BATCH:
            self.pyramid.update(self.y)
        if math.isfinite(y):
            self.y_min = min(self.y_min, y)
            self.y_max = max(self.y_max, y)

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        k = len(xs)
        if not k:
            return
        self._reserve(k)
        if (self._n and xs[0] < self._x[self._n - 1]) or (k > 1 and bool((np.diff(xs) < 0).any())):
            self.sorted = False
        self._x[self._n : self._n + k] = xs
        self._y[self._n : self._n + k] = ys
        self._n += k
        self.version += 1
        if self._n - self.pyramid.n >= self.PYRAMID_BATCH:
            self.pyramid.update(self.y)
        finite = np.where(np.isfinite(ys), ys, np.nan)
        low, high = np.fmin.reduce(finite), np.fmax.reduce(finite)
        if not math.isnan(low):  # some value was finite
            self.y_min = min(self.y_min, float(low))
            self.y_max = max(self.y_max, float(high))

    @property
    def x(self) -> np.ndarray:
        return self._x[: self._n]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self._n]
