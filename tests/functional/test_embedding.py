"""Embedding lookups: shapes, accumulated gradients, padding_idx and index errors."""

from __future__ import annotations

import numpy as np
import pytest

import lucidnn
from lucidnn import functional as F
from lucidnn.errors import DTypeError, IndexingError, ShapeError


def test_lookup_shape_and_values(rng):
    w = lucidnn.tensor(rng.standard_normal((10, 4)))
    idx = rng.integers(0, 10, (3, 5, 2))
    y = F.embedding(lucidnn.tensor(idx), w)
    assert y.shape == (3, 5, 2, 4)
    np.testing.assert_array_equal(y.numpy(), w.numpy()[idx])
    np.testing.assert_array_equal(F.embedding([[1, 2]], w).numpy(), w.numpy()[[[1, 2]]])


def test_repeated_indices_accumulate_their_gradients():
    w = lucidnn.tensor(np.zeros((5, 3), dtype=np.float32), requires_grad=True)
    idx = np.array([[1, 1], [3, 1]])
    gy = np.arange(12, dtype=np.float32).reshape(2, 2, 3)
    F.embedding(idx, w).backward(gy)
    expected = np.zeros((5, 3), dtype=np.float32)
    expected[1] = gy[0, 0] + gy[0, 1] + gy[1, 1]
    expected[3] = gy[1, 0]
    assert w.grad.dtype == np.float32
    np.testing.assert_array_equal(w.grad.numpy(), expected)


@pytest.mark.parametrize("padding_idx", [2, -3])
def test_padding_row_gets_zero_gradient(padding_idx):
    w = lucidnn.tensor(np.ones((5, 3)), requires_grad=True)
    F.embedding(np.array([0, 2, 2, 4]), w, padding_idx=padding_idx).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[:, 0], [1.0, 0.0, 0.0, 0.0, 1.0])


@pytest.mark.torch
def test_gradient_matches_torch_with_padding(rng):
    torch = pytest.importorskip("torch")
    w_np = rng.standard_normal((7, 4))
    idx = rng.integers(0, 7, (6, 5))
    gy = rng.standard_normal((6, 5, 4))
    w = lucidnn.tensor(w_np, requires_grad=True)
    F.embedding(idx, w, padding_idx=3).backward(gy)
    tw = torch.tensor(w_np, requires_grad=True)
    torch.nn.functional.embedding(torch.tensor(idx), tw, padding_idx=3).backward(torch.tensor(gy))
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("indices, error, match", [
    (np.array([0.0, 1.0]), DTypeError, r"embedding: indices must be integers, got float64"),
    (lucidnn.tensor([1.0]), DTypeError, r"got float32; convert them with .long\(\)"),
    (np.array([0, 5]), IndexingError, r"index 5 is out of range for a table of 5 rows \(valid: 0..4\)"),
    (np.array([[-1, 0]]), IndexingError, r"index -1 is out of range for a table of 5 rows"),
])
def test_bad_indices_raise(indices, error, match):
    with pytest.raises(error, match=match):
        F.embedding(indices, lucidnn.zeros(5, 2))


def test_bad_table_and_padding_idx_raise():
    with pytest.raises(ShapeError, match=r"weight must have shape \(V, D\), got \(5,\)"):
        F.embedding(np.array([0]), lucidnn.zeros(5))
    with pytest.raises(ValueError, match="padding_idx 5 is out of range for a table of 5 rows"):
        F.embedding(np.array([0]), lucidnn.zeros(5, 2), padding_idx=5)
