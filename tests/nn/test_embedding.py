"""Embedding layer: N(0, 1) init with a zero padding row, padding gradients, from_pretrained, validation."""

import numpy as np
import pytest

import lucidnn
from lucidnn import nn


def test_init_is_standard_normal():
    layer = nn.Embedding(1000, 200, rng=lucidnn.Generator(0))
    w = layer.weight.numpy()
    assert w.shape == (1000, 200) and w.dtype == np.float32
    assert w.mean() == pytest.approx(0, abs=0.01) and w.std() == pytest.approx(1, rel=0.01)


def test_seeding():
    a = nn.Embedding(10, 4, rng=lucidnn.Generator(1)).weight.numpy()
    b = nn.Embedding(10, 4, rng=lucidnn.Generator(1)).weight.numpy()
    c = nn.Embedding(10, 4, rng=lucidnn.Generator(2)).weight.numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("padding_idx, row", [(0, 0), (3, 3), (-1, 9)])
def test_padding_row_is_zero_and_gets_no_gradient(padding_idx, row):
    layer = nn.Embedding(10, 4, padding_idx=padding_idx)
    assert layer.padding_idx == row
    np.testing.assert_array_equal(layer.weight.numpy()[row], 0)
    assert np.all(np.abs(layer.weight.numpy()[(row + 1) % 10]) > 0)
    idx = lucidnn.tensor(np.array([[row, 1], [2, row]]))
    y = layer(idx)
    assert y.shape == (2, 2, 4)
    y.sum().backward()
    grad = layer.weight.grad.numpy()
    np.testing.assert_array_equal(grad[row], 0)
    np.testing.assert_array_equal(grad[1], 1)


def test_lookup(rng):
    layer = nn.Embedding(6, 3, dtype="float64")
    idx = rng.integers(0, 6, (4, 5))
    np.testing.assert_array_equal(layer(idx).numpy(), layer.weight.numpy()[idx])


def test_from_pretrained():
    table = np.arange(12.0).reshape(4, 3)
    layer = nn.Embedding.from_pretrained(table, padding_idx=1)
    assert layer.weight.dtype == np.float64 and not layer.weight.requires_grad
    np.testing.assert_array_equal(layer.weight.numpy(), table)  # padding row kept, as torch
    trainable = nn.Embedding.from_pretrained(lucidnn.tensor(table), freeze=False)
    assert trainable.weight.requires_grad
    with pytest.raises(ValueError, match=r"embeddings must be 2-D \(V, D\), got shape \(4,\)"):
        nn.Embedding.from_pretrained(np.zeros(4))


def test_repr():
    assert repr(nn.Embedding(10, 3)) == "Embedding(10, 3)"
    assert repr(nn.Embedding(10, 3, padding_idx=-1)) == "Embedding(10, 3, padding_idx=9)"


@pytest.mark.parametrize("args, kwargs, error, pattern", [
    ((0, 3), {}, ValueError, r"Embedding: num_embeddings must be a positive integer, got 0"),
    ((5, -1), {}, ValueError, r"Embedding: embedding_dim must be a positive integer, got -1"),
    ((5, 3), {"padding_idx": 5}, ValueError, r"Embedding: padding_idx must be within \[-5, 4\].*got 5"),
    ((5, 3), {"padding_idx": -6}, ValueError, r"padding_idx must be within"),
    ((5, 3), {"padding_idx": 1.0}, TypeError, r"padding_idx must be an int or None"),
])
def test_argument_validation(args, kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        nn.Embedding(*args, **kwargs)


def test_out_of_range_index_names_the_layer():
    with pytest.raises(IndexError, match=r"^Embedding: embedding: index 7 is out of range"):
        nn.Embedding(5, 2)(np.array([1, 7]))
