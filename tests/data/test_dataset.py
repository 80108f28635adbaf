"""Datasets: TensorDataset, Subset, ConcatDataset, random_split, and collating samples into batches."""

from collections import namedtuple

import numpy as np
import pytest

import lucidnn
from lucidnn.data import ConcatDataset, Dataset, Subset, TensorDataset, collate_arrays, default_collate, random_split
from lucidnn.errors import DTypeError, IndexingError, ShapeError


class Squares(Dataset):
    """A per-sample dataset (no __getitems__): sample i is (i as float32 vector, i**2)."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.full(2, i, dtype=np.float32), i * i


def _xy(n=10):
    return np.arange(2 * n, dtype=np.float32).reshape(n, 2), np.arange(n) % 3


# ------------------------------------------------------------------ TensorDataset


def test_tensor_dataset_items_and_batches():
    x, y = _xy()
    ds = TensorDataset(x, lucidnn.tensor(y))
    assert len(ds) == 10
    xi, yi = ds[3]
    np.testing.assert_array_equal(xi, x[3])
    assert yi == y[3]
    np.testing.assert_array_equal(ds[-1][0], x[-1])
    xb, yb = ds.__getitems__(np.array([4, 0, 9]))
    np.testing.assert_array_equal(xb, x[[4, 0, 9]])
    np.testing.assert_array_equal(yb, y[[4, 0, 9]])


@pytest.mark.parametrize("arrays, pattern", [
    ((np.zeros((3, 2)), np.zeros(4)), r"same first dimension.*\(3, 2\), \(4,\)"),
    ((), "at least one array"),
    ((np.float32(1.0),), "0-d"),
])
def test_tensor_dataset_rejects_bad_arrays(arrays, pattern):
    with pytest.raises(ShapeError, match=pattern):
        TensorDataset(*arrays)


@pytest.mark.parametrize("index", [10, -11])
def test_tensor_dataset_index_out_of_range(index):
    ds = TensorDataset(*_xy())
    with pytest.raises(IndexingError, match=f"index {index} is out of range for a dataset of length 10"):
        ds[index]
    with pytest.raises(IndexError):
        ds.__getitems__([0, index])


def test_tensor_dataset_rejects_float_indices():
    ds = TensorDataset(*_xy())
    with pytest.raises(IndexingError, match="integers"):
        ds.__getitems__(np.array([0.0, 1.0]))
    with pytest.raises(IndexingError):
        ds[1.5]


# ------------------------------------------------------------------ Subset and ConcatDataset


def test_subset_selects_in_order_and_uses_the_vectorised_path():
    x, y = _xy()
    sub = Subset(TensorDataset(x, y), [7, 2, 5])
    assert len(sub) == 3
    np.testing.assert_array_equal(sub[0][0], x[7])
    xb, yb = sub.__getitems__([2, 0])
    np.testing.assert_array_equal(xb, x[[5, 7]])
    np.testing.assert_array_equal(yb, y[[5, 7]])
    with pytest.raises(IndexingError):
        Subset(TensorDataset(x, y), [0, 10])


def test_subset_of_a_per_sample_dataset_collates():
    sub = Subset(Squares(6), np.array([5, 1]))
    xb, yb = sub.__getitems__([0, 1])
    np.testing.assert_array_equal(xb, [[5, 5], [1, 1]])
    np.testing.assert_array_equal(yb, [25, 1])


def test_concat_dataset_indexes_across_parts_in_request_order():
    a = TensorDataset(np.arange(3, dtype=np.float32), np.arange(3))
    b = TensorDataset(np.arange(10, 14, dtype=np.float32), np.arange(10, 14))
    both = a + b
    assert isinstance(both, ConcatDataset) and len(both) == 7
    assert both[3][1] == 10 and both[2][1] == 2 and both[-1][1] == 13
    xb, yb = both.__getitems__([5, 0, 3, 2, 6])
    np.testing.assert_array_equal(yb, [12, 0, 10, 2, 13])
    np.testing.assert_array_equal(xb, [12, 0, 10, 2, 13])
    mixed = ConcatDataset([Squares(2), TensorDataset(np.ones((2, 2), np.float32), np.array([7, 8]))])
    _, yb = mixed.__getitems__([3, 0, 2, 1])
    np.testing.assert_array_equal(yb, [8, 0, 7, 1])


# ------------------------------------------------------------------ random_split


@pytest.mark.parametrize("n, lengths, expected", [
    (10, [3, 7], [3, 7]),
    (5, [0.5, 0.5], [3, 2]),
    (11, [0.1, 0.2, 0.7], [2, 2, 7]),
    (10, [0.1, 0.2, 0.7], [1, 2, 7]),
    (7, [1 / 3, 1 / 3, 1 / 3], [3, 2, 2]),
    (3, [0.0, 1.0], [0, 3]),
])
def test_random_split_lengths(n, lengths, expected):
    parts = random_split(TensorDataset(np.arange(n)), lengths, rng=lucidnn.Generator(0))
    assert [len(p) for p in parts] == expected
    taken = np.concatenate([p.indices for p in parts])
    np.testing.assert_array_equal(np.sort(taken), np.arange(n))  # disjoint and complete


@pytest.mark.torch
@pytest.mark.parametrize("n, fractions", [(5, [0.5, 0.5]), (11, [0.1, 0.2, 0.7]), (100, [0.33, 0.33, 0.34]),
                                          (7, [0.25, 0.25, 0.25, 0.25])])
def test_random_split_rounding_matches_torch(n, fractions):
    torch = pytest.importorskip("torch")
    theirs = [len(p) for p in torch.utils.data.random_split(range(n), fractions)]
    assert [len(p) for p in random_split(TensorDataset(np.arange(n)), fractions)] == theirs


def test_random_split_is_reproducible():
    ds = TensorDataset(np.arange(50))
    a = random_split(ds, [20, 30], rng=lucidnn.Generator(4))
    b = random_split(ds, [20, 30], rng=lucidnn.Generator(4))
    c = random_split(ds, [20, 30], rng=lucidnn.Generator(5))
    np.testing.assert_array_equal(a[0].indices, b[0].indices)
    assert not np.array_equal(a[0].indices, c[0].indices)


@pytest.mark.parametrize("lengths, pattern", [
    ([3, 3], "sum to 6, but the dataset has 10"),
    ([11, -1], "non-negative"),
    ([0.3, 0.3], "fractions summing to 1"),
    ([], "non-empty"),
])
def test_random_split_errors(lengths, pattern):
    with pytest.raises(ValueError, match=pattern):
        random_split(TensorDataset(np.arange(10)), lengths)


# ------------------------------------------------------------------ collate


def test_collate_tuples_dicts_namedtuples_strings_and_dtypes():
    Pair = namedtuple("Pair", "x y")
    samples = [{"img": np.full((2, 2), k, np.uint8), "y": k, "w": 0.5, "pair": Pair(np.float64(k), True),
                "name": f"s{k}"} for k in range(3)]
    batch = default_collate(samples)
    assert batch["img"].shape == (3, 2, 2) and batch["img"].dtype == np.uint8  # raw bytes stay bytes
    assert batch["y"].dtype == np.int64 and batch["y"].tolist() == [0, 1, 2]
    assert batch["w"].dtype == np.float32  # Python floats take the default dtype
    assert isinstance(batch["pair"], Pair) and batch["pair"].x.dtype == np.float64
    assert batch["pair"].y.dtype == np.bool_
    assert batch["name"] == ["s0", "s1", "s2"]
    ints = default_collate([(np.int32(1), np.array([1, 2], np.int16))] * 2)
    assert all(t.dtype == np.int64 for t in ints)  # class labels and indices become int64


@pytest.mark.parametrize("samples, error, pattern", [
    ([np.zeros(2), np.zeros(3)], ShapeError, r"sample 1 has shape \(3,\) but sample 0 has \(2,\)"),
    ([(1, 2), (1,)], ShapeError, "sample 1 has 1 fields"),
    ([object(), object()], TypeError, "cannot batch samples of type object"),
    ([], ValueError, "zero samples"),
])
def test_collate_errors(samples, error, pattern):
    with pytest.raises(error, match=pattern):
        collate_arrays(samples)


def test_to_tensors_refuses_object_arrays():
    with pytest.raises(DTypeError, match="Python objects"):
        default_collate([np.array([None]), np.array([None])])
