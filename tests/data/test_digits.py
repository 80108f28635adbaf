"""The bundled 8x8 digits: size, deterministic split, sample format, and the message without scikit-learn."""

import sys

import numpy as np
import pytest

from lucidnn.data import DataLoader, Digits
from lucidnn.data.datasets import digits as digits_module

pytest.importorskip("sklearn")


def test_sizes_and_split():
    train, test = Digits(), Digits(train=False)
    assert (len(train), len(test)) == (1438, 359)
    assert len(train) + len(test) == 1797
    assert not set(train.indices.tolist()) & set(test.indices.tolist())
    assert np.array_equal(np.sort(np.concatenate([train.indices, test.indices])), np.arange(1797))
    assert len(Digits(train=False, test_fraction=0.5)) == 898  # round(898.5) rounds to even


def test_split_is_deterministic_and_depends_on_the_seed():
    np.testing.assert_array_equal(Digits(seed=3).indices, Digits(seed=3).indices)
    assert not np.array_equal(Digits(seed=3).indices, Digits(seed=4).indices)


def test_samples_are_unit_range_float_images():
    ds = Digits(train=False)
    image, label = ds[0]
    assert image.shape == (1, 8, 8) and image.dtype == np.float32
    assert label.dtype == np.int64 and 0 <= label <= 9
    images, labels = ds.__getitems__(np.arange(len(ds)))
    assert images.min() == 0.0 and images.max() == 1.0
    np.testing.assert_array_equal(images[:, 0] * 16, ds.images)
    assert set(labels.tolist()) == set(range(10))
    xb, yb = next(iter(DataLoader(ds, 32)))
    assert xb.shape == (32, 1, 8, 8) and yb.dtype == np.int64


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 0.0001])
def test_bad_test_fraction(fraction):
    with pytest.raises(ValueError, match="test_fraction"):
        Digits(test_fraction=fraction)


def test_missing_scikit_learn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    digits_module._load.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"pip install lucidnn\[digits\]"):
            Digits()
    finally:
        digits_module._load.cache_clear()
