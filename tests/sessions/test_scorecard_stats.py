"""The scorecard's bootstrap draws, computed for many resamples at once, are the very figures the
one-resample-at-a-time loop gave (same seed, same draws, same numpy percentile): vectorising it
changed the cost, not one digit of a scorecard."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest

from sessions import scorecard_stats
from sessions.scorecard_stats import clean_groups, mean, quantile, resample

Scalar = Callable[[np.ndarray], float]


def loop_resample(groups: Sequence[np.ndarray], stat: Scalar, resamples: int, seed: int) -> np.ndarray:
    """The former implementation: one statistic call per resample."""
    kept = clean_groups(groups)
    rng = np.random.default_rng(seed)
    out = np.empty(resamples)
    if len(kept) == 1:
        x = kept[0]
        for start in range(0, resamples, 200):
            block = x[rng.integers(0, len(x), size=(min(200, resamples - start), len(x)))]
            out[start:start + len(block)] = [stat(row) for row in block]
        return out
    for i in range(resamples):
        picked = rng.integers(0, len(kept), size=len(kept))
        out[i] = stat(np.concatenate([kept[r][rng.integers(0, len(kept[r]), size=len(kept[r]))] for r in picked]))
    return out


def _groups(sizes: Sequence[int], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = [rng.lognormal(3.0, 0.3, n) for n in sizes]
    groups[0][::7] = np.nan  # dropped before resampling, as a run's missing steps are
    return groups


CASES = {"one run": (180,), "equal runs": (40, 40, 40), "unequal runs": (35, 50, 64, 21)}
STATS: dict[str, tuple[scorecard_stats.Stat, Scalar]] = {
    "median": (quantile(50), lambda x: float(np.percentile(x, 50))),
    "p99": (quantile(99), lambda x: float(np.percentile(x, 99))),
    "p5": (quantile(5), lambda x: float(np.percentile(x, 5))),
    "mean": (mean, lambda x: float(np.mean(x))),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("stat", STATS)
def test_the_draws_are_the_loops_to_the_last_digit(case: str, stat: str) -> None:
    groups = _groups(CASES[case], seed=len(case))
    vectorised, scalar = STATS[stat]
    got = resample(groups, vectorised, resamples=700, seed=11)
    assert np.array_equal(got, loop_resample(groups, scalar, 700, 11))
    assert np.unique(got).size > 10  # real draws, not a constant


def test_blocks_of_resamples_give_the_same_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    groups = _groups((30, 45, 60), seed=3)
    whole = resample(groups, quantile(90), resamples=300, seed=5)
    monkeypatch.setattr(scorecard_stats, "_BLOCK_VALUES", 500)  # a few resamples per block
    assert np.array_equal(resample(groups, quantile(90), resamples=300, seed=5), whole)


def test_nothing_to_resample_is_empty() -> None:
    assert resample([np.array([np.nan]), np.array([])], mean).size == 0
