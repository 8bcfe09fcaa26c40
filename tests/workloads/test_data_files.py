"""`--data PATH`: a local MNIST as a directory of IDX files (plain or gzipped, either naming) or
a Keras-style .npz, read exactly; malformed files refused with a sentence naming the file."""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from workloads import data, registry

STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx_bytes(array: npt.NDArray[np.uint8]) -> bytes:
    """The IDX format: two zero bytes, type 0x08 (unsigned byte), the rank, big-endian dims, data."""
    return bytes((0, 0, 0x08, array.ndim)) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def mnist_like(seed: int = 0) -> list[npt.NDArray[np.uint8]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=50, dtype=np.uint8),
            rng.integers(0, 256, size=(20, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=20, dtype=np.uint8)]


def check(split: data.Split, arrays: list[npt.NDArray[np.uint8]]) -> None:
    x_tr, y_tr, x_te, y_te = arrays
    assert split.x_train.shape == (50, 28, 28, 1) and split.x_train.dtype == np.float32
    np.testing.assert_array_equal(split.x_train[..., 0], x_tr.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(split.x_test[..., 0], x_te.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(split.y_train, y_tr.astype(np.int32))
    np.testing.assert_array_equal(split.y_test, y_te.astype(np.int32))


@pytest.mark.parametrize("gzipped", [False, True])
@pytest.mark.parametrize("dotted", [False, True])  # train-images-idx3-ubyte or train-images.idx3-ubyte
def test_idx_directory(tmp_path: Path, gzipped: bool, dotted: bool) -> None:
    arrays = mnist_like()
    for stem, array in zip(STEMS, arrays, strict=True):
        name = stem.replace("-idx", ".idx") if dotted else stem
        raw = idx_bytes(array)
        if gzipped:
            (tmp_path / f"{name}.gz").write_bytes(gzip.compress(raw))
        else:
            (tmp_path / name).write_bytes(raw)
    check(data.read_mnist(tmp_path), arrays)


def test_npz(tmp_path: Path) -> None:
    arrays = mnist_like(1)
    path = tmp_path / "mnist.npz"
    np.savez(path, **dict(zip(("x_train", "y_train", "x_test", "y_test"), arrays, strict=True)))
    check(data.read_mnist(path), arrays)


def test_a_local_mnist_feeds_the_batch_pool(tmp_path: Path) -> None:
    arrays = mnist_like(2)
    np.savez(tmp_path / "m.npz", **dict(zip(("x_train", "y_train", "x_test", "y_test"), arrays, strict=True)))
    pool = data.batch_pool(str(tmp_path / "m.npz"), registry.model_config("convnet"), 10, seed=0)
    assert len(pool) == 5  # 50 training images in batches of 10
    seen = np.sort(np.concatenate([labels for _, labels in pool]))
    np.testing.assert_array_equal(seen, np.sort(arrays[1].astype(np.int32)))


def test_malformed_files_are_refused_by_name(tmp_path: Path) -> None:
    arrays = mnist_like()
    for stem, array in zip(STEMS, arrays, strict=True):
        (tmp_path / stem).write_bytes(idx_bytes(array))
    (tmp_path / STEMS[1]).write_bytes(idx_bytes(arrays[1])[:-3])  # cut short
    with pytest.raises(data.DataError, match="train-labels-idx1-ubyte: IDX header says"):
        data.read_mnist(tmp_path)
    (tmp_path / STEMS[1]).write_bytes(b"\x00\x00\x0d\x01" + bytes(8))  # floats, not unsigned bytes
    with pytest.raises(data.DataError, match="not an unsigned-byte IDX file"):
        data.read_mnist(tmp_path)
    (tmp_path / STEMS[1]).write_bytes(idx_bytes(arrays[1]))
    (tmp_path / STEMS[3]).unlink()
    with pytest.raises(data.DataError, match="no t10k-labels-idx1-ubyte"):
        data.read_mnist(tmp_path)
    np.savez(tmp_path / "bad.npz", x_train=arrays[0])
    with pytest.raises(data.DataError, match="bad.npz: not an MNIST .npz"):
        data.read_mnist(tmp_path / "bad.npz")
    np.savez(tmp_path / "small.npz", x_train=np.zeros((5, 8, 8), np.uint8), y_train=np.zeros(5, np.uint8),
             x_test=np.zeros((2, 8, 8), np.uint8), y_test=np.zeros(2, np.uint8))
    with pytest.raises(data.DataError, match="expected 28x28 images"):
        data.read_mnist(tmp_path / "small.npz")
