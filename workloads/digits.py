"""The handwritten digits, read and split without importing scikit-learn or scipy.

The data are scikit-learn's `digits.csv.gz` (shipped inside its package, no download), but
importing `sklearn.datasets` and `sklearn.model_selection` costs a worker 1.4-1.8 s and
`scipy.ndimage` another 0.4 s: more than torch's or JAX's own start on this project's CPUs,
paid by every run. So the file is found through the package's location only (`find_spec` of a
top-level package runs none of its code), and the split and the upscaling are done here in
numpy, exactly as `train_test_split(..., test_size=0.2, random_state=0, stratify=labels)` and
`scipy.ndimage.zoom(..., order=1)` do them: runs recorded before this module read the same test
set. tests/workloads/test_digits.py holds both to scikit-learn's and scipy's own answers, so a
change of their algorithms shows there.
"""
from __future__ import annotations

import gzip
import importlib.util
import math
from pathlib import Path

import numpy as np
import numpy.typing as npt

DIGITS_FILE = ("datasets", "data", "digits.csv.gz")  # inside the sklearn package
TEST_SHARE = 0.2
SPLIT_SEED = 0


class DigitsUnavailable(RuntimeError):
    """scikit-learn, which carries the digits file, is not installed where the run goes."""


def digits_file() -> Path:
    """The path of scikit-learn's digits CSV, found without running any of scikit-learn."""
    spec = importlib.util.find_spec("sklearn")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location).joinpath(*DIGITS_FILE)
        if path.is_file():
            return path
    raise DigitsUnavailable("the handwritten digits ship inside scikit-learn, which is not installed in this Python; "
                            "install it, or give a local MNIST with --data PATH")


def load_digits() -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """(images [1797, 8, 8] with pixel values 0..16, labels), as `sklearn.datasets.load_digits`."""
    with gzip.open(digits_file(), mode="rt", encoding="utf-8") as text:
        data = np.loadtxt(text, delimiter=",")
    return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64)


def _approximate_mode(class_counts: npt.NDArray[np.int64], n_draws: int,
                      rng: np.random.RandomState) -> npt.NDArray[np.int64]:
    """Draws per class, ties broken by `rng`: `sklearn.utils.extmath._approximate_mode`."""
    continuous = class_counts / class_counts.sum() * n_draws
    floored = np.floor(continuous)
    need_to_add = int(n_draws - floored.sum())
    if need_to_add > 0:
        remainder = continuous - floored
        for value in np.sort(np.unique(remainder))[::-1]:
            (tied,) = np.where(remainder == value)
            add_now = min(len(tied), need_to_add)
            floored[rng.choice(tied, size=add_now, replace=False)] += 1
            need_to_add -= add_now
            if need_to_add == 0:
                break
    drawn: npt.NDArray[np.int64] = floored.astype(np.int64)
    return drawn


def stratified_split(labels: npt.NDArray[np.integer], test_share: float = TEST_SHARE,
                     seed: int = SPLIT_SEED) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(train indices, test indices) in the order `train_test_split(stratify=labels,
    test_size=test_share, random_state=seed)` takes them (`StratifiedShuffleSplit`, one split)."""
    n_samples = len(labels)
    n_test = math.ceil(test_share * n_samples)
    n_train = n_samples - n_test
    _, y_indices, class_counts = np.unique(labels, return_inverse=True, return_counts=True)
    if class_counts.min() < 2 or min(n_train, n_test) < len(class_counts):
        raise ValueError("every class needs two samples, and each side of the split one per class")
    class_indices = np.split(np.argsort(y_indices, kind="stable"), np.cumsum(class_counts)[:-1])
    rng = np.random.RandomState(seed)
    n_i = _approximate_mode(class_counts, n_train, rng)
    t_i = _approximate_mode(class_counts - n_i, n_test, rng)
    train: list[int] = []
    test: list[int] = []
    for i, indices in enumerate(class_indices):
        shuffled = indices.take(rng.permutation(class_counts[i]), mode="clip")
        train.extend(shuffled[: n_i[i]])
        test.extend(shuffled[n_i[i] : n_i[i] + t_i[i]])
    return rng.permutation(train), rng.permutation(test)


def _linear_weights(n_in: int, n_out: int) -> npt.NDArray[np.float64]:
    """[n_out, n_in] weights of order-1 interpolation with the ends aligned (zoom's grid)."""
    coords = np.arange(n_out, dtype=np.float64) * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(1)
    low = np.minimum(np.floor(coords).astype(np.intp), n_in - 1)
    high = np.minimum(low + 1, n_in - 1)
    frac = coords - low
    weights = np.zeros((n_out, n_in))
    np.add.at(weights, (np.arange(n_out), low), 1.0 - frac)
    np.add.at(weights, (np.arange(n_out), high), frac)
    return weights


def upscale(images: npt.NDArray[np.floating], size: int) -> npt.NDArray[np.float32]:
    """[N, h, w] images to [N, size, size] by bilinear interpolation, corners on corners: what
    `scipy.ndimage.zoom(images, (1, size / h, size / w), order=1)` gives, in float32."""
    rows = _linear_weights(images.shape[1], size)
    cols = _linear_weights(images.shape[2], size)
    out: npt.NDArray[np.float32] = np.einsum("oh,nhw,pw->nop", rows, images.astype(np.float64), cols,
                                             optimize=True).astype(np.float32)
    return out
