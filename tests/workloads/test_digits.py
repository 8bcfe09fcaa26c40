"""The digits read without scikit-learn are scikit-learn's: the same images and labels as
`load_digits`, the same 80/20 split as `train_test_split(stratify=..., random_state=0)`, and the
same upscaling as `scipy.ndimage.zoom(order=1)`; and a worker's data no longer imports either."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.ndimage import zoom
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from workloads import data, digits

ROOT = Path(__file__).resolve().parents[2]


def test_the_images_and_labels_are_load_digits() -> None:
    images, labels = digits.load_digits()
    theirs = load_digits()
    assert np.array_equal(images, theirs.images) and np.array_equal(labels, theirs.target)


def test_the_split_is_train_test_split_with_the_same_seed() -> None:
    images, labels = digits.load_digits()
    train, test = digits.stratified_split(labels)
    x_train, x_test, y_train, y_test = train_test_split(images, labels, test_size=0.2, random_state=0, stratify=labels)
    assert np.array_equal(images[train], x_train) and np.array_equal(images[test], x_test)
    assert np.array_equal(labels[train], y_train) and np.array_equal(labels[test], y_test)
    assert len(test) == 360 and len(set(train) | set(test)) == len(labels)


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(2, 30), min_size=2, max_size=7), share=st.sampled_from([0.2, 0.25, 0.3, 0.5]),
       seed=st.integers(0, 2**31 - 1))
def test_any_stratified_split_matches_scikit_learns(counts: list[int], share: float, seed: int) -> None:
    labels = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(seed).shuffle(labels)
    index = np.arange(len(labels))
    try:
        theirs = train_test_split(index, test_size=share, random_state=seed, stratify=labels)
    except ValueError:  # too few of a class for this share: ours refuses too
        with pytest.raises(ValueError):
            digits.stratified_split(labels, share, seed)
        return
    train, test = digits.stratified_split(labels, share, seed)
    assert np.array_equal(train, theirs[0]) and np.array_equal(test, theirs[1])


@pytest.mark.parametrize("size", [28, 32, 8, 3, 57])
def test_upscaling_is_zoom_of_order_one(size: int) -> None:
    images = digits.load_digits()[0][:50].astype(np.float32)
    theirs = zoom(images, (1, size / 8, size / 8), order=1)
    ours = digits.upscale(images, size)
    assert ours.shape == theirs.shape == (50, size, size) and ours.dtype == theirs.dtype == np.float32
    np.testing.assert_array_equal(ours, theirs)  # the same sums in the same order: bit for bit


def test_the_workloads_split_is_the_one_recorded_runs_used() -> None:
    data._digits_raw.cache_clear()
    x_train, x_test, y_train, y_test = data._digits_raw()
    theirs = load_digits()
    expected = train_test_split(theirs.images.astype(np.float32), theirs.target.astype(np.int32), test_size=0.2,
                                random_state=0, stratify=theirs.target)
    for ours, want in zip((x_train, x_test, y_train, y_test), expected, strict=True):
        assert ours.dtype == want.dtype and np.array_equal(ours, want)


def test_a_worker_reading_the_digits_imports_neither_scikit_learn_nor_scipy() -> None:
    probe = ("import sys; from workloads import data; "
             "data.digits_images(28); data.digits_tokens(); "
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'scipy'}))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_without_scikit_learn_the_digits_say_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    data._digits_raw.cache_clear()
    try:
        with pytest.raises(data.DataError, match="ship inside scikit-learn, which is not installed.*--data PATH"):
            data._digits_raw()
    finally:
        data._digits_raw.cache_clear()
