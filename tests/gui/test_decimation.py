"""The min/max pyramid and the per-column envelope against brute-force references."""
from __future__ import annotations

import numpy as np
import pytest
from pytestqt.qtbot import QtBot

from gui.live.decimation import ColumnEnvelope, MinMaxPyramid, envelope


def _fed(y: np.ndarray, chunks: list[int]) -> MinMaxPyramid:
    """A pyramid that took `y` in pieces, the way a live series grows."""
    pyramid, end = MinMaxPyramid(), 0
    for size in chunks:
        end = min(end + size, len(y))
        pyramid.update(y[:end])
    pyramid.update(y)
    return pyramid


@pytest.mark.parametrize("n", [1, 7, 8, 9, 1000, 4099])
def test_range_minmax_matches_brute_force_for_any_ranges_and_any_feeding(n: int) -> None:
    rng = np.random.default_rng(n)
    y = rng.normal(size=n)
    y[rng.integers(0, n, size=max(1, n // 50))] = np.nan
    pyramid = _fed(y, list(rng.integers(1, 300, size=40)))
    start = rng.integers(0, n, size=300)
    stop = np.minimum(start + rng.integers(1, n + 1, size=300), n)
    lo, hi = pyramid.range_minmax(y, start, stop)
    for a, b, got_lo, got_hi in zip(start, stop, lo, hi, strict=True):
        part = y[a:b][np.isfinite(y[a:b])]
        if len(part):
            assert (got_lo, got_hi) == (part.min(), part.max())
        else:
            assert np.isnan(got_lo) and np.isnan(got_hi)


def test_inf_is_skipped_like_nan_and_a_shorter_array_starts_over() -> None:
    y = np.array([1.0, np.inf, -np.inf, 3.0, np.nan, -2.0, 5.0, 0.0, 4.0, 1.0])
    pyramid = _fed(y, [3, 3])
    lo, hi = pyramid.range_minmax(y, np.array([0, 1]), np.array([10, 3]))
    assert (lo[0], hi[0]) == (-2.0, 5.0) and np.isnan(lo[1])
    pyramid.update(y[:4] * 10)
    assert len(pyramid) == 4
    assert pyramid.range_minmax(y[:4] * 10, np.array([0]), np.array([4])) == (np.array([10.0]), np.array([30.0]))


def _brute_columns(x: np.ndarray, y: np.ndarray, x0: float, x1: float, columns: int) -> list[tuple[float, float]]:
    edges = x0 + (x1 - x0) * np.arange(columns + 1) / columns
    column = np.searchsorted(edges, x, "right") - 1  # -1 left of the view, `columns` right of it
    out = []
    for c in range(columns):
        part = y[column == c]
        if len(part):
            out.append((part.min(), part.max()))
    return out


def test_envelope_gives_each_pixel_column_its_exact_min_and_max() -> None:
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.exponential(1.0, 200_000))  # uneven spacing: columns hold different counts
    y = rng.normal(size=len(x))
    y[[5, 77_777, 150_001]] = [40.0, -55.0, 60.0]  # single-sample spikes
    pyramid = _fed(y, [50_000] * 4)
    x0, x1, columns = float(x[1000]), float(x[180_000]), 500
    xs, ys = envelope(x, y, pyramid, x0, x1, columns)
    assert len(xs) == len(ys) <= 2 * (columns + 2)
    inside = ys[2:-2].reshape(-1, 2)  # the first and last pairs are the samples just outside the view
    assert [(min(p), max(p)) for p in inside] == _brute_columns(x, y, x0, x1, columns)
    assert ys.max() == 60.0 and ys.min() == -55.0  # spikes survive 400x decimation
    assert 40.0 not in ys  # ... and samples far left of the view are not drawn
    assert np.all(np.diff(xs) >= 0)


def test_envelope_draws_the_samples_themselves_when_few_are_visible() -> None:
    x = np.arange(100.0)
    y = np.sin(x)
    pyramid = _fed(y, [100])
    xs, ys = envelope(x, y, pyramid, 10.5, 20.5, 600)
    assert np.array_equal(xs, x[10:22]) and np.array_equal(ys, y[10:22])  # one sample beyond each edge
    assert len(envelope(x[:0], y[:0], MinMaxPyramid(), 0.0, 1.0, 100)[0]) == 0


def test_envelope_leaves_each_column_from_the_extreme_nearer_its_last_sample() -> None:
    x = np.linspace(0, 1, 10_000, endpoint=False)
    y = np.where(x < 0.5, x, -x)  # rising, then a drop: each column ends near its max, then its min
    pyramid = _fed(y, [10_000])
    _, ys = envelope(x, y, pyramid, 0.0, 1.0, 100)
    pairs = ys.reshape(-1, 2)
    rising, falling = pairs[: len(pairs) // 2 - 1], pairs[len(pairs) // 2 + 1 :]
    assert np.all(rising[:, 0] < rising[:, 1]) and np.all(falling[:, 0] > falling[:, 1])


def test_a_cached_envelope_of_a_growing_series_matches_a_fresh_one() -> None:
    rng = np.random.default_rng(3)
    x = np.arange(300_000) / 1000.0
    y = rng.normal(size=len(x))
    y[rng.integers(0, len(y), 30)] = rng.normal(0, 50, 30)
    y[1234:1300] = np.nan
    cached, pyramid = ColumnEnvelope(), MinMaxPyramid()
    n, round_ = 10_000, 0
    while n < len(x):
        views = [(0.0, 320.0, 700)] if round_ % 4 else [(20.0, 100.0, 300), (0.0, 320.0, 700)]  # now and then a pan
        for view in views:
            got = cached.points(x[:n], y[:n], pyramid, *view)
            want = envelope(x[:n], y[:n], MinMaxPyramid(), *view)
            assert all(np.array_equal(g, w, equal_nan=True) for g, w in zip(got, want, strict=True))
        n += int(rng.integers(1, 40_000)) if round_ % 3 else 200_000  # now and then more than the tail limit
        round_ += 1


def test_the_live_view_draws_a_few_points_per_pixel_and_leaves_unchanged_plots_alone(qtbot: QtBot) -> None:
    from gui.live.live_model import LiveModel
    from gui.live.live_view import LiveViewPanel

    model = LiveModel()
    view = LiveViewPanel(model)
    qtbot.addWidget(view)
    view.resize(900, 600)
    view.show()
    n, rng = 200_000, np.random.default_rng(0)
    t = np.arange(n) / 1000.0
    step_ms = 10 + rng.random(n)
    step_ms[123_457] = 500.0  # one slow step among 200k must still show
    steps = {"t": t, "step_ms": step_ms, "samples_per_s": np.full(n, 64.0), "loss": 1 / (1 + t)}
    model.add_stored("r1", "torch", "PyTorch · r1", steps,
                     {"t": t, "host_rss": np.full(n, 2.0**30), "cpu_percent": rng.random(n) * 100},
                     [{"t": 0.0, "name": "warmup", "edge": "start"}, {"t": 1.0, "name": "warmup", "edge": "end"},
                      {"t": 1.0, "name": "measure", "edge": "start"}])
    view._on_frame()
    plot = view.plots["step_ms"]
    width = plot.getViewBox().width()
    assert view.point_count() == 5 * n  # the model keeps every sample (5 curves have data) ...
    assert 0 < view.drawn_point_count() <= 5 * 2 * (width + 3)  # ... the curves get two points per pixel column
    curve = next(iter(plot._curves.values()))
    assert curve.yData.max() == 500.0 and curve.yData.min() == step_ms.min()
    assert view.legend_labels() == ["PyTorch · r1"] and "PyTorch · r1" in view.legend.text()
    assert view._medians["r1"].value() == pytest.approx(model.runs["r1"].median_step_ms())
    assert not any(p.refresh() for p in view.plots.values())  # nothing new: no curve is touched
    plot.getViewBox().setXRange(100.0, 100.5, padding=0)  # zoomed in: the samples themselves
    assert plot.refresh()
    assert np.array_equal(curve.xData, t[99_999:100_502])
