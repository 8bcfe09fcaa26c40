"""Data for the workloads: real handwritten digits for accuracy, seeded noise for throughput.

The digits are scikit-learn's `load_digits` set (shipped inside the package, no download), read
without importing scikit-learn (`workloads.digits`):
1,797 8x8 images, upscaled to 28x28 so they have MNIST's shape, split 80/20 with a fixed
seed. A local MNIST (IDX files or a Keras-style .npz) can stand in for them with `--data PATH`.
Everything here is numpy: each backend converts a batch pool to its own tensors once,
before timing starts, so data loading never sits inside a measured step.
"""
from __future__ import annotations

import gzip
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeAlias, TypeVar, cast

import numpy as np
import numpy.typing as npt

from workloads import digits
from workloads.configs import ModelConfig, TransformerConfig

DIGITS_LEVELS = 17  # load_digits pixels are integers 0..16
LABEL_TOKEN_OFFSET = DIGITS_LEVELS  # token of digit d is 17 + d
MAX_POOL_BATCHES = 64  # batches kept ready on the device; the loop cycles through them
SYNTHETIC_POOL_BATCHES = 4


FloatArray: TypeAlias = npt.NDArray[np.float32]
IntArray: TypeAlias = npt.NDArray[np.int32]
Features: TypeAlias = FloatArray | IntArray  # NHWC images in [0, 1], or token ids for the transformer
Batch: TypeAlias = tuple[Features, IntArray]  # inputs and integer targets
Images = TypeVar("Images", bound=npt.NDArray[Any])  # image-shaped arrays [N, H, W, ...], as resized keeps them


class DataError(ValueError):
    """Data that cannot be read or does not fit the workload; the message names the file."""


@dataclass(frozen=True)
class Split:
    x_train: Features
    y_train: IntArray
    x_test: Features
    y_test: IntArray


@lru_cache(maxsize=1)
def _digits_raw() -> tuple[FloatArray, FloatArray, IntArray, IntArray]:
    """The 8x8 digits (pixel values 0..16) split 80/20: x_train, x_test, y_train, y_test."""
    try:
        images, labels = digits.load_digits()
    except (digits.DigitsUnavailable, OSError, ValueError) as exc:
        raise DataError(f"handwritten digits: {exc}") from exc
    train, test = digits.stratified_split(labels)
    x, y = images.astype(np.float32), labels.astype(np.int32)
    return x[train], x[test], y[train], y[test]


def _upscale(images: FloatArray, size: int) -> FloatArray:
    out = digits.upscale(images, size)
    nhwc: FloatArray = np.clip(out / 16.0, 0.0, 1.0).astype(np.float32)[..., None]  # one channel
    return nhwc


@lru_cache(maxsize=2)
def digits_images(size: int = 28) -> Split:
    """The digits as NHWC float32 images in [0, 1] with integer labels."""
    x_tr, x_te, y_tr, y_te = _digits_raw()
    return Split(_upscale(x_tr, size), y_tr, _upscale(x_te, size), y_te)


def digit_sequences(images: FloatArray, labels: IntArray) -> tuple[IntArray, IntArray]:
    """Token sequences from 8x8 digit images: inputs are the 64 pixel tokens, targets the
    same sequence shifted by one, ending in the label token."""
    pixels = np.rint(images).astype(np.int32).reshape(len(images), -1)
    full = np.concatenate([pixels, (LABEL_TOKEN_OFFSET + labels).astype(np.int32)[:, None]], axis=1)
    return full[:, :-1], full[:, 1:]


@lru_cache(maxsize=1)
def digits_tokens() -> Split:
    x_tr, x_te, y_tr, y_te = _digits_raw()
    a, b = digit_sequences(x_tr, y_tr)
    c, d = digit_sequences(x_te, y_te)
    return Split(a, b, c, d)


def _read_idx(path: Path) -> npt.NDArray[np.uint8]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc})") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DataError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) - header != math.prod(dims):
        raise DataError(f"{path}: IDX header says {dims} but the file holds {len(raw) - header} bytes")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (directory / name).exists():
            return directory / name
    raise DataError(f"{directory}: no {stem}[.gz] found (expected the standard MNIST IDX file names)")


def read_mnist(path: str | Path) -> Split:
    """A local MNIST: a directory of the four standard IDX files, or an .npz with
    x_train/y_train/x_test/y_test (Keras' mnist.npz)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file or directory")
    if path.is_dir():
        arrays = [
            _read_idx(_find(path, stem))
            for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
        ]
    elif path.suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = [npz[k] for k in ("x_train", "y_train", "x_test", "y_test")]
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"{path}: not an MNIST .npz with x_train, y_train, x_test, y_test ({exc})") from exc
    else:
        raise DataError(f"{path}: give a directory of MNIST IDX files or an .npz file")
    x_tr, y_tr, x_te, y_te = arrays
    if x_tr.ndim != 3 or x_tr.shape[1:] != (28, 28) or len(x_tr) != len(y_tr) or len(x_te) != len(y_te):
        raise DataError(f"{path}: expected 28x28 images with one label each, got {x_tr.shape} and {y_tr.shape}")

    def images(x: npt.NDArray[np.uint8]) -> FloatArray:
        return (x.astype(np.float32) / 255.0)[..., None]

    return Split(images(x_tr), y_tr.astype(np.int32), images(x_te), y_te.astype(np.int32))


def real_split(data: str, config: ModelConfig) -> Split:
    """The real train/test split a workload learns from and is evaluated on."""
    if isinstance(config, TransformerConfig):
        if data not in ("digits", "synthetic"):
            raise DataError("the transformer learns digit token sequences; --data PATH is for image workloads")
        return digits_tokens()
    if data in ("digits", "synthetic"):
        return digits_images(config.image_shape[0])
    return read_mnist(data)


def _synthetic_batch(config: ModelConfig, batch: int, rng: np.random.Generator) -> Batch:
    if isinstance(config, TransformerConfig):
        tokens = rng.integers(0, config.vocab_size, size=(batch, config.seq_len), dtype=np.int32)
        next_tokens = rng.integers(0, config.vocab_size, size=(batch, config.seq_len), dtype=np.int32)
        return tokens, next_tokens
    images = rng.random((batch, *config.image_shape), dtype=np.float32)
    labels = rng.integers(0, config.num_classes, size=(batch,), dtype=np.int32)
    return images, labels


# The one-pixel shifts a repeat of the training data may take (RunSpec.data_size): 8, so a
# dataset grows to at most 9 copies, none identical to another.
SHIFTS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))


def shifted(images: Images, dy: int, dx: int) -> Images:
    """Images [N, H, W, ...] moved dy rows down and dx columns right, the uncovered edge zero."""
    h, w = images.shape[1:3]
    out = cast(Images, np.zeros_like(images))
    out[:, max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = (
        images[:, max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)])
    return out


def resized(images: Images, labels: IntArray, size: int, seed: int) -> tuple[Images, IntArray]:
    """The first `size` images; beyond the data, whole repeats of it, each moved by its own
    one-pixel shift (seeded), so no copy is identical to another and every class keeps its share."""
    n = len(images)
    if size <= n:
        return cast(Images, images[:size]), labels[:size]
    copies = -(-size // n)
    if copies - 1 > len(SHIFTS):
        raise DataError(f"data_size {size} needs {copies} copies of the {n} training samples; "
                        f"one-pixel shifts give at most {len(SHIFTS) + 1} distinct ones ({n * (len(SHIFTS) + 1)} samples)")
    order = np.random.default_rng(seed).permutation(len(SHIFTS))[: copies - 1]
    x = cast(Images, np.concatenate([images, *(shifted(images, *SHIFTS[k]) for k in order)])[:size])
    y = np.tile(labels, copies)[:size]
    return x, y


def training_split(data: str, config: ModelConfig, data_size: int | None, seed: int) -> Split:
    """`real_split` with the training part cut or grown to `data_size` samples (`resized`); the
    held-out part is never touched. The digits are shifted on their own 8x8 grid, before they
    are upscaled or turned into tokens, so one pixel is one pixel of the digit."""
    split = real_split(data, config)
    if data_size is None or data_size <= len(split.x_train):
        return split if data_size is None else Split(split.x_train[:data_size], split.y_train[:data_size],
                                                     split.x_test, split.y_test)
    if data not in ("digits", "synthetic"):
        x, y = resized(split.x_train, split.y_train, data_size, seed)
        return Split(x, y, split.x_test, split.y_test)
    raw_x, _, raw_y, _ = _digits_raw()
    shifted, labels = resized(raw_x, raw_y, data_size, seed)
    if isinstance(config, TransformerConfig):
        tokens, next_tokens = digit_sequences(shifted, labels)
        return Split(tokens, next_tokens, split.x_test, split.y_test)
    return Split(_upscale(shifted, config.image_shape[0]), labels, split.x_test, split.y_test)


def batch_pool(data: str, config: ModelConfig, batch: int, seed: int, data_size: int | None = None) -> list[Batch]:
    """The batches a run cycles through: a seeded shuffle of the real training split
    (sampled with replacement when the batch is larger than the split), or seeded noise
    of any size for `--data synthetic`."""
    if data == "synthetic":
        rng = np.random.default_rng(seed)
        return [_synthetic_batch(config, batch, rng) for _ in range(SYNTHETIC_POOL_BATCHES)]
    return split_pool(training_split(data, config, data_size, seed), batch, seed)


def split_pool(split: Split, batch: int, seed: int) -> list[Batch]:
    """At most MAX_POOL_BATCHES batches of a seeded shuffle of the split's training part."""
    rng = np.random.default_rng(seed)
    n = len(split.x_train)
    if batch > n:
        count = min(MAX_POOL_BATCHES, 8)
        index = [rng.integers(0, n, size=batch) for _ in range(count)]
    else:
        count = min(MAX_POOL_BATCHES, n // batch)
        order = rng.permutation(n)
        index = [order[i * batch : (i + 1) * batch] for i in range(count)]
    return [(split.x_train[i], split.y_train[i]) for i in index]


def epoch_batches(split: Split, batch: int, rng: np.random.Generator) -> list[Batch]:
    """One epoch over the training part: a fresh shuffle from `rng`, the last partial batch dropped."""
    n = len(split.x_train)
    if batch > n:
        raise DataError(f"an epoch of {n} training samples holds no whole batch of {batch}; lower the batch size")
    order = rng.permutation(n)
    return [(split.x_train[order[i : i + batch]], split.y_train[order[i : i + batch]])
            for i in range(0, n - batch + 1, batch)]


def eval_predictions(config: ModelConfig, logits: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    """Class predictions from model outputs: argmax for images; for the transformer, the
    argmax over the ten label tokens at the last position."""
    scores = logits[:, -1, LABEL_TOKEN_OFFSET : LABEL_TOKEN_OFFSET + 10] if isinstance(config, TransformerConfig) else logits
    predictions: npt.NDArray[np.intp] = np.argmax(scores, axis=-1)
    return predictions


def eval_labels(config: ModelConfig, y_test: IntArray) -> IntArray:
    if isinstance(config, TransformerConfig):
        return y_test[:, -1] - LABEL_TOKEN_OFFSET
    return y_test
