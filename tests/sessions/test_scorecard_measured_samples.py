"""The scorecard's samples of a run's measured steps: each sample covers the interval since the one
before it, so a measured phase shorter than the 100 ms between samples still has the one covering it."""
from __future__ import annotations

import numpy as np

from sessions.scorecard_data import _measured_samples


def _samples(*t: float) -> dict[str, np.ndarray]:
    return {"t": np.array(t), "cpu_percent": np.arange(len(t), dtype=float)}


def test_a_phase_shorter_than_a_sample_interval_keeps_the_sample_that_covers_it() -> None:
    kept = _measured_samples(_samples(1.0, 1.1, 1.2, 1.3), (1.12, 1.15))
    assert kept["t"].tolist() == [1.2]  # the 1.1-1.2 interval holds the whole phase


def test_a_long_phase_keeps_the_samples_inside_and_the_one_that_covers_its_tail() -> None:
    kept = _measured_samples(_samples(0.9, 1.0, 1.1, 1.2, 1.3, 1.4), (1.0, 1.25))
    assert kept["t"].tolist() == [1.0, 1.1, 1.2, 1.3]
    assert kept["cpu_percent"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_no_span_or_no_samples_keeps_nothing() -> None:
    assert _measured_samples(_samples(1.0, 1.1), None)["t"].size == 0
    assert _measured_samples(_samples(), (1.0, 2.0))["t"].size == 0
    assert _measured_samples(_samples(1.0, 1.1), (2.0, 3.0))["t"].size == 0
