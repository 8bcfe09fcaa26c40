"""Qt-free buffers for live curves: numpy arrays that grow by doubling.

Appending is amortised O(1) and the views handed to plots are slices, never copies, so a
30 fps redraw timer can read them however fast events arrive (pyqtgraph's scrollingPlots).
"""
from __future__ import annotations

import numpy as np


class GrowingSeries:
    """An (x, y) series that grows by doubling; `x`/`y` are views of the filled part."""

    def __init__(self, capacity: int = 1024) -> None:
        self._x = np.empty(capacity, dtype=np.float64)
        self._y = np.empty(capacity, dtype=np.float64)
        self._n = 0
        self.version = 0  # bumps on every append, so a view redraws only when something changed

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
        self._x[self._n] = x
        self._y[self._n] = y
        self._n += 1
        self.version += 1

    def extend(self, xs: np.ndarray, ys: np.ndarray) -> None:
        k = len(xs)
        self._reserve(k)
        self._x[self._n : self._n + k] = xs
        self._y[self._n : self._n + k] = ys
        self._n += k
        self.version += 1

    @property
    def x(self) -> np.ndarray:
        return self._x[: self._n]

    @property
    def y(self) -> np.ndarray:
        return self._y[: self._n]
