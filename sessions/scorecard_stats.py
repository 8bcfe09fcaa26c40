"""The scorecard's intervals: bootstrap draws of a quantile or a mean of step times (runs first,
then steps within each, like `sessions.stats`, so run-to-run variance widens them), of the median
of per-run figures, and the Wilson interval of an accuracy.

Draws rather than intervals are returned where a claim combines several of them (a ratio, a
payback), so the combination is bootstrapped as a whole; a draw may be infinite (a payback that
never comes), and its percentile then is too.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from sessions.stats import BOOTSTRAP_RESAMPLES, CONFIDENCE

Stat = Callable[[np.ndarray], np.ndarray]
"""A statistic of every row of a 2-D array at once: one numpy call for many resamples instead of
one per resample (a percentile per resample cost about a second per scorecard)."""
Interval = tuple[float, float]
_BLOCK_VALUES = 1 << 21  # resampled values held at a time: 16 MB of floats


def clean_groups(groups: Sequence[np.ndarray]) -> list[np.ndarray]:
    out = [np.asarray(g, dtype=float) for g in groups]
    out = [g[np.isfinite(g)] for g in out]
    return [g for g in out if g.size]


def resample(groups: Sequence[np.ndarray], stat: Stat, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> np.ndarray:
    """`stat` of `resamples` hierarchical resamples: runs with replacement, then values within
    each run (one run: its values only). Empty when there is nothing to resample."""
    kept = clean_groups(groups)
    if not kept:
        return np.empty(0)
    rng = np.random.default_rng(seed)
    out = np.empty(resamples)
    if len(kept) == 1:
        x = kept[0]
        for start in range(0, resamples, 200):
            block = x[rng.integers(0, len(x), size=(min(200, resamples - start), len(x)))]
            out[start:start + len(block)] = stat(block)
        return out
    rows = max(1, _BLOCK_VALUES // (len(kept) * max(len(g) for g in kept)))
    for start in range(0, resamples, rows):
        drawn: dict[int, list[tuple[int, np.ndarray]]] = {}  # by length: a resample's length varies with its runs
        for i in range(start, min(start + rows, resamples)):
            picked = rng.integers(0, len(kept), size=len(kept))
            values = np.concatenate([kept[r][rng.integers(0, len(kept[r]), size=len(kept[r]))] for r in picked])
            drawn.setdefault(len(values), []).append((i, values))
        for same_length in drawn.values():
            where, values = zip(*same_length, strict=True)
            out[list(where)] = stat(np.stack(values))
    return out


def quantile(q: float) -> Stat:
    return lambda rows: np.asarray(np.percentile(rows, q, axis=1))


def mean(rows: np.ndarray) -> np.ndarray:
    return np.asarray(np.mean(rows, axis=1))


def percentile_interval(draws: np.ndarray) -> Interval | None:
    """The central 95 % of `draws` (infinite draws kept: `inf` is then an end)."""
    if draws.size == 0 or np.isnan(draws).any():
        return None
    tail = (1 - CONFIDENCE) / 2 * 100  # nearest draws, not interpolated: an infinite draw stays an end
    return float(np.percentile(draws, tail, method="lower")), float(np.percentile(draws, 100 - tail, method="higher"))


def stat_interval(groups: Sequence[np.ndarray], stat: Stat, seed: int = 0) -> Interval | None:
    return percentile_interval(resample(groups, stat, seed=seed))


def run_values_draws(values: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> np.ndarray:
    """Medians of per-run figures resampled with replacement; empty with fewer than two runs
    (one run says nothing about the spread between runs)."""
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if x.size < 2:
        return np.empty(0)
    rng = np.random.default_rng(seed)
    draws: np.ndarray = np.median(x[rng.integers(0, x.size, size=(resamples, x.size))], axis=1)
    return draws


def run_values_interval(values: Sequence[float], seed: int = 0) -> Interval | None:
    return percentile_interval(run_values_draws(values, seed=seed))


def wilson(successes: float, n: int, z: float = 1.959964) -> Interval | None:
    """The Wilson score interval of a proportion: the held-out set's own sampling error."""
    if n <= 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
