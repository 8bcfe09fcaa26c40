from __future__ import annotations

import numpy as np
import pytest

from sessions.stats import compare, step_stats


def test_step_stats_match_numpy() -> None:
    x = np.arange(1, 101, dtype=float)
    s = step_stats(x)
    assert s.n == 100 and s.median == 50.5 and s.p95 == pytest.approx(95.05) and s.std == pytest.approx(x.std(ddof=1))
    assert step_stats(np.array([])).median is None


def test_clearly_faster_run_is_called_faster() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(30, 1.5, 300)
    other = rng.normal(24, 1.5, 300)
    c = compare(base, other)
    assert c.verdict == "faster"
    assert c.ci_low < c.ratio < c.ci_high < 1
    assert c.ratio == pytest.approx(0.8, abs=0.02)
    assert compare(other, base).verdict == "slower"


def test_same_distribution_is_no_significant_difference() -> None:
    rng = np.random.default_rng(2)
    c = compare(rng.normal(30, 3, 200), rng.normal(30, 3, 200))
    assert c.verdict == "no significant difference" and c.ci_low < 1 < c.ci_high


def test_run_to_run_variance_widens_the_interval() -> None:
    """Two runs each with tight steps but a 5 % run-level shift: step-level bootstrap alone
    would call it; repeats that disagree among themselves must not."""
    rng = np.random.default_rng(3)
    a_runs = [rng.normal(mu, 0.3, 200) for mu in (29, 31, 30)]
    b_runs = [rng.normal(mu, 0.3, 200) for mu in (31, 29.5, 30.8)]
    grouped = compare(a_runs, b_runs)
    pooled = compare(np.concatenate(a_runs)[:200], np.concatenate(b_runs)[200:400])
    assert grouped.verdict == "no significant difference"
    assert grouped.ci_high - grouped.ci_low > pooled.ci_high - pooled.ci_low


def test_empty_side_gives_no_comparison() -> None:
    assert compare(np.array([]), np.array([1.0, 2.0])) is None
