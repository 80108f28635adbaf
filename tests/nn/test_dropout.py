"""Dropout layer: validation of p, train/eval behaviour and seeding through its Generator."""

import numpy as np
import pytest

import lucidnn
from lucidnn import nn


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan"), float("inf")])
def test_p_outside_the_unit_interval_is_rejected(p):
    with pytest.raises(ValueError, match=rf"Dropout: p must be in \[0, 1\], got {p}"):
        nn.Dropout(p)


@pytest.mark.parametrize("p", ["0.5", None, True])
def test_p_must_be_a_number(p):
    with pytest.raises(TypeError, match="Dropout: p must be a number"):
        nn.Dropout(p)


def test_rng_must_be_a_generator():
    with pytest.raises(TypeError, match="Dropout: rng must be a lucidnn.Generator"):
        nn.Dropout(0.5, rng=np.random.default_rng(0))


def test_eval_is_the_identity():
    layer = nn.Dropout(0.9).eval()
    x = lucidnn.randn(4, 5)
    assert layer(x) is x


def test_training_drops_at_rate_p_and_scales_the_rest():
    layer = nn.Dropout(0.3, rng=lucidnn.Generator(0))
    y = layer(lucidnn.ones(200, 500)).numpy()
    kept = y != 0
    assert kept.mean() == pytest.approx(0.7, abs=0.005)
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    assert y.dtype == np.float32


def test_edges_p0_and_p1():
    x = lucidnn.ones(3, 4)
    assert nn.Dropout(0.0)(x) is x
    np.testing.assert_array_equal(nn.Dropout(1.0)(x).numpy(), 0)


def test_same_generator_seed_same_masks():
    x = lucidnn.ones(10, 10)
    a = nn.Dropout(0.5, rng=lucidnn.Generator(3))(x).numpy()
    b = nn.Dropout(0.5, rng=lucidnn.Generator(3))(x).numpy()
    c = nn.Dropout(0.5, rng=lucidnn.Generator(4))(x).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_default_generator_follows_manual_seed():
    layer, x = nn.Dropout(), lucidnn.ones(8, 8)
    lucidnn.manual_seed(5)
    a = layer(x).numpy()
    lucidnn.manual_seed(5)
    np.testing.assert_array_equal(layer(x).numpy(), a)


def test_gradient_uses_the_same_mask():
    x = lucidnn.ones(6, 6, requires_grad=True)
    y = nn.Dropout(0.5, rng=lucidnn.Generator(1))(x)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())
