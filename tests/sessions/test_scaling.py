"""The scalability coefficient: the power-law fit recovers known exponents from synthetic
timings, its interval covers the truth at about the stated rate, and degenerate inputs say so."""
from __future__ import annotations

import numpy as np
import pytest

from sessions.scaling import fit_power_law

SIZES = [1_000, 2_000, 4_000, 8_000, 16_000]


@pytest.mark.parametrize("exponent", [0.5, 1.0, 1.3])
def test_noise_free_timings_give_the_exponent_exactly(exponent: float) -> None:
    fit = fit_power_law(SIZES, [0.002 * s ** exponent for s in SIZES])
    assert fit.exponent == pytest.approx(exponent, abs=1e-12)
    assert fit.prefactor == pytest.approx(0.002, rel=1e-9) and fit.r_squared == pytest.approx(1.0)
    assert fit.ci_low == pytest.approx(exponent) and fit.ci_high == pytest.approx(exponent)
    assert float(fit.predict(32_000)) == pytest.approx(0.002 * 32_000 ** exponent)


def test_repeated_noisy_timings_cover_the_true_exponent_at_about_95_percent() -> None:
    rng = np.random.default_rng(7)
    covered, widths = 0, []
    for trial in range(200):
        sizes = [s for s in SIZES for _ in range(3)]
        costs = [0.01 * s ** 1.2 * float(np.exp(rng.normal(0, 0.05))) for s in sizes]
        fit = fit_power_law(sizes, costs, resamples=400, seed=trial)
        assert fit.ci_low is not None and fit.ci_high is not None
        covered += fit.ci_low <= 1.2 <= fit.ci_high
        widths.append(fit.ci_high - fit.ci_low)
    assert 0.88 <= covered / 200 <= 0.99, covered
    assert 0.01 < float(np.median(widths)) < 0.1


def test_single_measurements_resample_the_residuals() -> None:
    rng = np.random.default_rng(3)
    costs = [5.0 * s ** 0.8 * float(np.exp(rng.normal(0, 0.03))) for s in SIZES]
    fit = fit_power_law(SIZES, costs)
    assert fit.ci_low is not None and fit.ci_high is not None
    assert fit.ci_low < fit.exponent < fit.ci_high and abs(fit.exponent - 0.8) < 0.05


def test_what_cannot_define_an_exponent() -> None:
    with pytest.raises(ValueError, match="two sizes"):
        fit_power_law([100, 100, 100], [1.0, 1.1, 0.9])
    with pytest.raises(ValueError, match="same length"):
        fit_power_law([1, 2], [1.0])
    two = fit_power_law([100, 200], [1.0, 2.5])  # a line through two points: no spread to resample
    assert two.exponent == pytest.approx(np.log2(2.5)) and two.ci_low is None and two.ci_high is None
    kept = fit_power_law([100, 200, 400, 0, 800], [1.0, 2.0, 4.0, 3.0, float("nan")])  # non-positive, NaN dropped
    assert kept.sizes == (100.0, 200.0, 400.0) and kept.exponent == pytest.approx(1.0)
