"""Dropout statistics, determinism and arguments (the op table checks its gradient)."""

from __future__ import annotations

import numpy as np
import pytest

import lucidnn
from lucidnn import functional as F

N = 100_000


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_fraction_kept_and_mean_are_preserved(p):
    x = lucidnn.ones(N)
    y = F.dropout(x, p, rng=lucidnn.Generator(3)).numpy()
    kept = y != 0
    sd = np.sqrt(p * (1 - p) / N)
    assert abs(kept.mean() - (1 - p)) < 5 * sd
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)
    assert abs(y.mean() - 1.0) < 5 * sd / (1 - p)


def test_gradient_is_the_same_scaled_mask():
    x = lucidnn.tensor(np.ones((200, 50), dtype=np.float32), requires_grad=True)
    y = F.dropout(x, 0.25, rng=lucidnn.Generator(0))
    y.sum().backward()
    assert y.dtype == x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())


def test_eval_mode_and_p0_return_the_input_itself():
    x = lucidnn.randn(4, 5)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


def test_p1_gives_zeros_and_zero_gradient():
    x = lucidnn.randn(4, 5, requires_grad=True)
    y = F.dropout(x, 1.0)
    np.testing.assert_array_equal(y.numpy(), 0.0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0.0)


def test_same_seed_same_mask_and_different_seed_different_mask():
    x = lucidnn.ones(1000)
    a = F.dropout(x, 0.5, rng=lucidnn.Generator(42)).numpy()
    b = F.dropout(x, 0.5, rng=lucidnn.Generator(42)).numpy()
    c = F.dropout(x, 0.5, rng=lucidnn.Generator(43)).numpy()
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_default_generator_is_reseeded_by_manual_seed():
    x = lucidnn.ones(1000)
    lucidnn.manual_seed(5)
    a = F.dropout(x, 0.5).numpy()
    b = F.dropout(x, 0.5).numpy()
    lucidnn.manual_seed(5)
    np.testing.assert_array_equal(F.dropout(x, 0.5).numpy(), a)
    assert (a != b).any()  # the stream advances between calls


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(dtype):
    x = lucidnn.tensor(np.ones(10, dtype=dtype))
    assert F.dropout(x, 0.3).dtype == dtype


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_probability_outside_unit_interval_is_rejected(p):
    with pytest.raises(ValueError, match=r"dropout: probability p must be in \[0, 1\], got"):
        F.dropout(lucidnn.ones(3), p)


def test_rng_must_be_a_lucidnn_generator():
    with pytest.raises(TypeError, match="rng must be a lucidnn.Generator, got Generator"):
        F.dropout(lucidnn.ones(3), 0.5, rng=np.random.default_rng(0))
