"""Self time: the vectorised path for properly nested rows gives exactly what the stack walk
gives, and rows with partial overlaps still go through the stack walk."""
from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from traces import self_time


def _stack_walk(s: np.ndarray, e: np.ndarray) -> np.ndarray:
    out = e - s
    for i, t in self_time._children_time(list(range(len(s))), s.tolist(), e.tolist()).items():
        out[i] -= t
    return np.maximum(out, 0)


def _vectorised(s: np.ndarray, e: np.ndarray) -> np.ndarray | None:
    nested = self_time._nested_children_time(np.arange(len(s)), s, e)
    if nested is None:
        return None
    out = e - s
    np.subtract.at(out, nested[0], nested[1])
    return np.maximum(out, 0)


def _tree(rng: np.random.Generator, lo: int, hi: int, depth: int) -> list[tuple[int, int]]:
    """Properly nested intervals inside [lo, hi): siblings never overlap, children stay inside."""
    out: list[tuple[int, int]] = []
    t = lo
    while t < hi - 2 and depth < 6:
        a = int(rng.integers(t, hi - 1))
        b = int(rng.integers(a + 1, min(hi, a + 1 + (hi - lo) // 2) + 1))
        out.append((a, b))
        out.extend(_tree(rng, a, b, depth + 1))
        t = b + int(rng.integers(0, 3))
    return out


def _sorted(intervals: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    arr = np.array(intervals, dtype=np.int64).reshape(-1, 2)
    order = np.lexsort((-(arr[:, 1] - arr[:, 0]), arr[:, 0]))
    return arr[order, 0], arr[order, 1]


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_nested_rows_match_the_stack_walk(seed: int) -> None:
    s, e = _sorted(_tree(np.random.default_rng(seed), 0, 10_000, 0) or [(0, 5)])
    vectorised = _vectorised(s, e)
    assert vectorised is not None  # a nested row takes the fast path
    assert np.array_equal(vectorised, _stack_walk(s, e))


def test_partial_overlap_falls_back() -> None:
    s, e = _sorted([(0, 10), (5, 15), (12, 13)])  # the second outlives the first
    assert _vectorised(s, e) is None
    assert _stack_walk(s, e).tolist() == [5, 9, 1]  # clipped child time, as before
