"""RunSpec.data_size and epochs on the data side: the first N samples, repeats with a seeded one-pixel
shift beyond the data (no two samples identical), the held-out split never touched, and an epoch
that reshuffles and drops the last partial batch."""
from __future__ import annotations

import numpy as np
import pytest

from tests.workloads.test_data_files import mnist_like
from workloads import data, registry

CONVNET = registry.model_config("convnet")
TRANSFORMER = registry.model_config("transformer")


def _rows(x: np.ndarray) -> int:
    """How many distinct samples x holds."""
    return len(np.unique(x.reshape(len(x), -1), axis=0))


def test_a_smaller_size_is_the_first_samples_and_none_is_the_data() -> None:
    full = data.real_split("digits", CONVNET)
    assert data.training_split("digits", CONVNET, None, 0) is full
    cut = data.training_split("digits", CONVNET, 100, 0)
    np.testing.assert_array_equal(cut.x_train, full.x_train[:100])
    np.testing.assert_array_equal(cut.y_train, full.y_train[:100])
    assert cut.x_test is full.x_test


@pytest.mark.parametrize("config", [CONVNET, TRANSFORMER], ids=["images", "tokens"])
def test_a_larger_size_repeats_the_digits_shifted_and_keeps_the_held_out_split(config: object) -> None:
    full = data.real_split("digits", config)  # type: ignore[arg-type]
    n = len(full.x_train)
    grown = data.training_split("digits", config, 3 * n + 10, 0)  # type: ignore[arg-type]
    assert len(grown.x_train) == len(grown.y_train) == 3 * n + 10
    assert _rows(grown.x_train) == 3 * n + 10  # no two copies identical
    np.testing.assert_array_equal(grown.x_train[:n], full.x_train)  # the data itself comes first, unshifted
    assert grown.x_test is full.x_test and grown.y_test is full.y_test
    labels = data.eval_labels(config, grown.y_train) if config is TRANSFORMER else grown.y_train  # type: ignore[arg-type]
    base = data.eval_labels(config, full.y_train) if config is TRANSFORMER else full.y_train  # type: ignore[arg-type]
    np.testing.assert_array_equal(labels[n : 2 * n], base)  # a repeat keeps each sample's label
    again = data.training_split("digits", config, 3 * n + 10, 0)  # type: ignore[arg-type]
    np.testing.assert_array_equal(again.x_train, grown.x_train)  # seeded
    other = data.training_split("digits", config, 3 * n + 10, 1)  # type: ignore[arg-type]
    assert not np.array_equal(other.x_train[n:], grown.x_train[n:])


def test_one_pixel_shifts_move_the_image_and_zero_the_edge() -> None:
    image = np.arange(1, 10, dtype=np.float32).reshape(1, 3, 3)
    np.testing.assert_array_equal(data.shifted(image, 1, -1)[0], [[0, 0, 0], [2, 3, 0], [5, 6, 0]])
    assert len(set(data.SHIFTS)) == 8 and (0, 0) not in data.SHIFTS


def test_a_local_mnist_grows_the_same_way_and_a_size_past_nine_copies_is_refused(tmp_path: object) -> None:
    arrays = mnist_like()
    path = tmp_path / "mnist.npz"  # type: ignore[operator]
    np.savez(path, x_train=arrays[0], y_train=arrays[1], x_test=arrays[2], y_test=arrays[3])
    grown = data.training_split(str(path), CONVNET, 450, 0)
    assert grown.x_train.shape == (450, 28, 28, 1) and _rows(grown.x_train) == 450 and len(grown.x_test) == 20
    with pytest.raises(data.DataError, match="at most 9 distinct"):
        data.training_split(str(path), CONVNET, 451, 0)


def test_an_epoch_is_every_whole_batch_once_in_a_new_order() -> None:
    split = data.training_split("digits", CONVNET, 200, 0)
    rng = np.random.default_rng(0)
    first, second = data.epoch_batches(split, 64, rng), data.epoch_batches(split, 64, rng)
    assert [len(x) for x, _ in first] == [64, 64, 64]  # 200 // 64 batches, the partial one dropped
    seen = np.concatenate([x for x, _ in first]).reshape(192, -1)
    assert _rows(seen) == 192 and _rows(np.concatenate([seen, split.x_train.reshape(200, -1)])) == 200
    assert not np.array_equal(first[0][0], second[0][0])
    with pytest.raises(data.DataError, match="no whole batch"):
        data.epoch_batches(split, 256, rng)


def test_the_default_pool_is_still_a_seeded_shuffle_of_the_whole_split() -> None:
    split = data.real_split("digits", CONVNET)
    order = np.random.default_rng(3).permutation(len(split.x_train))  # how the pool was drawn before data_size
    pool = data.batch_pool("digits", CONVNET, 64, 3)
    assert len(pool) == len(split.x_train) // 64
    for i, (x, y) in enumerate(pool):
        np.testing.assert_array_equal(x, split.x_train[order[i * 64 : (i + 1) * 64]])
        np.testing.assert_array_equal(y, split.y_train[order[i * 64 : (i + 1) * 64]])
