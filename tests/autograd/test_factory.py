"""Tensor factories and seeded randomness."""

import numpy as np
import pytest

import lucidnn
from lucidnn.errors import DeviceError, ShapeError


def test_shapes_dtypes_and_values():
    assert lucidnn.zeros(2, 3).shape == (2, 3) and lucidnn.zeros((2, 3)).dtype == np.float32
    np.testing.assert_array_equal(lucidnn.ones(2).numpy(), [1, 1])
    np.testing.assert_array_equal(lucidnn.full((2,), 7.0).numpy(), [7, 7])
    np.testing.assert_array_equal(lucidnn.eye(2).numpy(), np.eye(2))
    assert lucidnn.arange(4).dtype == np.int64 and lucidnn.arange(0.0, 1.0, 0.5).dtype == np.float32
    np.testing.assert_array_equal(lucidnn.arange(2, 8, 3).numpy(), [2, 5])
    x = lucidnn.randn(3, 4, dtype="float64")
    assert lucidnn.zeros_like(x).dtype == np.float64 and lucidnn.ones_like(x).shape == (3, 4)
    assert lucidnn.full_like(x, 2.0).numpy().max() == 2.0
    assert lucidnn.randn_like(x).shape == (3, 4) and lucidnn.rand_like(x).dtype == np.float64
    assert lucidnn.zeros(2, requires_grad=True).requires_grad


def test_random_factories_are_reproducible_with_a_seed():
    a = lucidnn.randn(5, rng=lucidnn.Generator(3))
    b = lucidnn.randn(5, rng=lucidnn.Generator(3))
    c = lucidnn.randn(5, rng=lucidnn.Generator(4))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())
    lucidnn.manual_seed(11)
    d = lucidnn.rand(4)
    lucidnn.manual_seed(11)
    np.testing.assert_array_equal(d.numpy(), lucidnn.rand(4).numpy())


def test_random_distributions():
    g = lucidnn.Generator(0)
    n = lucidnn.randn(100_000, rng=g).numpy()
    assert abs(n.mean()) < 0.02 and abs(n.std() - 1) < 0.02 and n.dtype == np.float32
    u = lucidnn.rand(100_000, rng=g).numpy()
    assert u.min() >= 0 and u.max() < 1 and abs(u.mean() - 0.5) < 0.01
    r = lucidnn.randint(3, 7, (1000,), rng=g).numpy()
    assert set(np.unique(r)) == {3, 4, 5, 6}
    assert lucidnn.randint(5, size=(2, 2), rng=g).shape == (2, 2)


@pytest.mark.parametrize("call, error, pattern", [
    (lambda: lucidnn.zeros(-1, 2), ShapeError, "negative dimension"),
    (lambda: lucidnn.ones("a"), ShapeError, "shape must be ints"),
    (lambda: lucidnn.arange(0, 5, 0), ValueError, "step"),
    (lambda: lucidnn.randint(5, 5), ValueError, "greater than low"),
    (lambda: lucidnn.zeros(2, device="tpu"), DeviceError, "unknown device 'tpu'"),
])
def test_bad_arguments(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
