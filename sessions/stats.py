"""Statistics of step times, and whether one run is really faster than another.

Qt-free and framework-free. A comparison is a ratio of medians with a bootstrap confidence
interval: step times are skewed and autocorrelated, so means and t-tests would mislead. With
repeated runs (`run --repeat N`) the bootstrap resamples runs first and steps within them, so
run-to-run variance (±10 % on a 2-vCPU machine) widens the interval as it should.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
_MAX_BOOT_ELEMENTS = 4_000_000  # resample in chunks so 10k-step runs stay within tens of MB


@dataclass(frozen=True)
class StepStats:
    n: int
    median: float | None
    p5: float | None
    p95: float | None
    p99: float | None
    mean: float | None
    std: float | None


def step_stats(step_ms: np.ndarray) -> StepStats:
    """Figures over measured steps (the caller passes only those)."""
    x = np.asarray(step_ms, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return StepStats(0, None, None, None, None, None, None)
    p5, p50, p95, p99 = (float(v) for v in np.percentile(x, [5, 50, 95, 99]))
    return StepStats(int(x.size), p50, p5, p95, p99, float(x.mean()), float(x.std(ddof=1)) if x.size > 1 else None)


@dataclass(frozen=True)
class Comparison:
    """`ratio` = median(other) / median(base): below 1 the other run's steps are shorter."""

    ratio: float
    ci_low: float
    ci_high: float
    verdict: str  # "faster", "slower" or "no significant difference"
    confidence: float = CONFIDENCE

    @property
    def delta_percent(self) -> float:
        return (self.ratio - 1.0) * 100.0

    def describe(self) -> str:
        interval = f"{(self.ci_low - 1) * 100:+.1f} % … {(self.ci_high - 1) * 100:+.1f} %"
        if self.verdict == "no significant difference":
            return f"no significant difference at {self.confidence:.0%} ({self.delta_percent:+.1f} %, CI {interval})"
        return f"{self.verdict}: step time {self.delta_percent:+.1f} % (CI {interval})"


def _bootstrap_medians(groups: Sequence[np.ndarray], resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Medians of `resamples` hierarchical resamples: runs with replacement, then steps within each run."""
    out = np.empty(resamples)
    sizes = [len(g) for g in groups]
    total = sum(sizes) or 1
    chunk = max(1, _MAX_BOOT_ELEMENTS // total)
    for start in range(0, resamples, chunk):
        count = min(chunk, resamples - start)
        picked_runs = rng.integers(0, len(groups), size=(count, len(groups)))
        for row in range(count):
            parts = [groups[r][rng.integers(0, sizes[r], size=sizes[r])] for r in picked_runs[row]]
            out[start + row] = np.median(np.concatenate(parts))
    return out


def _bootstrap_medians_single(x: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    out = np.empty(resamples)
    chunk = max(1, _MAX_BOOT_ELEMENTS // max(len(x), 1))
    for start in range(0, resamples, chunk):
        count = min(chunk, resamples - start)
        out[start : start + count] = np.median(x[rng.integers(0, len(x), size=(count, len(x)))], axis=1)
    return out


def _medians(groups: Sequence[np.ndarray], resamples: int, rng: np.random.Generator) -> np.ndarray:
    if len(groups) == 1:
        return _bootstrap_medians_single(groups[0], resamples, rng)
    return _bootstrap_medians(groups, resamples, rng)


def compare(
    base: np.ndarray | Sequence[np.ndarray], other: np.ndarray | Sequence[np.ndarray],
    resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0,
) -> Comparison | None:
    """Ratio of median step times with a bootstrap CI; None when either side has no steps.
    Each side is one run's step times, or a list of repeated runs' step times."""
    a = _as_groups(base)
    b = _as_groups(other)
    if not a or not b:
        return None
    rng = np.random.default_rng(seed)
    ratio = float(np.median(np.concatenate(b)) / np.median(np.concatenate(a)))
    ratios = _medians(b, resamples, rng) / _medians(a, resamples, rng)
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = (float(v) for v in np.percentile(ratios, [tail, 100 - tail]))
    verdict = "faster" if high < 1.0 else "slower" if low > 1.0 else "no significant difference"
    return Comparison(ratio, low, high, verdict)


def median_interval(groups: Sequence[np.ndarray], resamples: int = BOOTSTRAP_RESAMPLES,
                    seed: int = 0) -> tuple[float, float] | None:
    """The bootstrap CI of the median step time of repeated runs, resampled run-first like
    `compare`, so a group whose repeats disagree gets the wide interval it deserves; None
    without steps."""
    kept = _as_groups(groups)
    if not kept:
        return None
    medians = _medians(kept, resamples, np.random.default_rng(seed))
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = (float(v) for v in np.percentile(medians, [tail, 100 - tail]))
    return low, high


def _as_groups(x: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    if isinstance(x, np.ndarray) and x.ndim == 1:
        groups = [x]
    else:
        groups = [np.asarray(g, dtype=float) for g in x]
    groups = [g[np.isfinite(g) & (g > 0)].astype(float) for g in groups]
    return [g for g in groups if g.size]
