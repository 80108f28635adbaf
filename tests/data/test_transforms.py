"""Transforms: per-channel normalisation, one-hot, seeded crops and flips on samples and batches."""

import re
from pathlib import Path

import numpy as np
import pytest

import lucidnn
from lucidnn.data.transforms import Compose, Normalize, OneHot, RandomCrop, RandomHorizontalFlip, ToFloat
from lucidnn.errors import ShapeError

DATA_SRC = Path(__file__).resolve().parents[2] / "src" / "lucidnn" / "data"


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_normalize_is_per_channel(rng, shape, dtype):
    x = rng.normal(size=shape).astype(dtype)
    mean, std = [0.5, -1.0, 2.0], [1.0, 0.5, 4.0]
    y = Normalize(mean, std)(x)
    assert y.shape == x.shape and y.dtype == dtype
    for c in range(3):
        np.testing.assert_allclose(y[..., c, :, :], (x[..., c, :, :] - mean[c]) / std[c], rtol=1e-6)


def test_normalize_errors_and_integer_input():
    with pytest.raises(ShapeError, match="input has 1 channels .* mean has 3 values"):
        Normalize([0, 0, 0], [1, 1, 1])(np.zeros((1, 2, 2), np.float32))
    with pytest.raises(ValueError, match="std must be positive"):
        Normalize(0.0, [1.0, 0.0])
    with pytest.raises(ShapeError, match=r"\(C, H, W\)"):
        Normalize(0.0, 1.0)(np.zeros(4))
    assert Normalize(1.0, 2.0)(np.ones((1, 2, 2), np.uint8)).dtype == np.float32


def test_one_hot():
    y = OneHot(4)(np.array([[2, 0], [3, 3]]))
    assert y.shape == (2, 2, 4) and y.dtype == np.float32
    np.testing.assert_array_equal(y.argmax(-1), [[2, 0], [3, 3]])
    np.testing.assert_array_equal(y.sum(-1), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"label 4 is outside \[0, 4\)"):
        OneHot(4)(np.array([1, 4]))
    with pytest.raises(ValueError, match="label -1"):
        OneHot(4)(np.array([-1]))
    with pytest.raises(TypeError, match="integers"):
        OneHot(4)(np.array([1.0]))
    with pytest.raises(ValueError, match="num_classes"):
        OneHot(0)


def test_to_float():
    y = ToFloat()(np.array([0, 255], np.uint8))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, [0.0, 1.0])
    assert ToFloat(0.5, dtype="float64")(np.array([2])).tolist() == [1.0]


def _image_batch(n=6, c=2, h=5, w=7):
    return np.arange(n * c * h * w, dtype=np.float32).reshape(n, c, h, w)  # every pixel distinct


def _offset_of(crop, padded):
    """(top, left) of the window of ``padded`` (C, H, W) equal to ``crop`` (C, h, w)."""
    h, w = crop.shape[-2:]
    hits = [(t, s) for t in range(padded.shape[-2] - h + 1) for s in range(padded.shape[-1] - w + 1)
            if np.array_equal(padded[:, t:t + h, s:s + w], crop)]
    assert len(hits) == 1
    return hits[0]


def test_random_crop_cuts_windows_of_the_padded_batch():
    x = _image_batch() + 1  # no zeros, so padding is recognisable
    crop = RandomCrop((3, 4), padding=1, rng=lucidnn.Generator(0))
    y = crop(x)
    assert y.shape == (6, 2, 3, 4) and y.dtype == x.dtype
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    offsets = [_offset_of(y[k], padded[k]) for k in range(6)]
    assert len(set(offsets)) > 1  # one draw per sample, not one per batch


@pytest.mark.parametrize("shape, out", [((5, 7), (3, 3)), ((2, 5, 7), (2, 3, 3)), ((4, 2, 5, 7), (4, 2, 3, 3))])
def test_random_crop_shapes_and_determinism(shape, out):
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    a = RandomCrop(3, rng=lucidnn.Generator(3))(x)
    b = RandomCrop(3, rng=lucidnn.Generator(3))(x)
    assert a.shape == out
    np.testing.assert_array_equal(a, b)
    draws = {RandomCrop(3, rng=lucidnn.Generator(s))(x).tobytes() for s in range(10)}
    assert len(draws) > 1


def test_random_crop_errors():
    with pytest.raises(ShapeError, match=r"crop size \(6, 6\) is larger than the \(padded\) image \(5, 7\)"):
        RandomCrop(6)(np.zeros((1, 5, 7)))
    with pytest.raises(ValueError, match="padding"):
        RandomCrop(2, padding=-1)
    with pytest.raises(ShapeError):
        RandomCrop(2)(np.zeros(5))


def test_random_horizontal_flip():
    x = _image_batch(n=16)
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0)(x), x)
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0)(x), x[..., ::-1])
    flip = RandomHorizontalFlip(rng=lucidnn.Generator(2))
    y = flip(x)
    flipped = [np.array_equal(y[k], x[k, ..., ::-1]) for k in range(16)]
    kept = [np.array_equal(y[k], x[k]) for k in range(16)]
    assert all(f != k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
    np.testing.assert_array_equal(RandomHorizontalFlip(rng=lucidnn.Generator(2))(x), y)
    assert RandomHorizontalFlip(1.0)(x[0]).shape == x[0].shape
    with pytest.raises(ValueError, match="p must be in"):
        RandomHorizontalFlip(1.5)


def test_state_dict_replays_the_random_draws():
    x = _image_batch()
    t = Compose([RandomCrop(3, padding=2, rng=lucidnn.Generator(0)), RandomHorizontalFlip(rng=lucidnn.Generator(1)),
                 Normalize(0.0, 2.0)])
    t(x)
    state = t.state_dict()
    first = t(x)
    t(x)
    t.load_state_dict(state)
    np.testing.assert_array_equal(t(x), first)


def test_random_transforms_without_rng_follow_manual_seed():
    x = _image_batch()
    lucidnn.manual_seed(9)
    a = RandomCrop(3)(x)
    lucidnn.manual_seed(9)
    np.testing.assert_array_equal(RandomCrop(3)(x), a)


def test_data_package_never_touches_global_numpy_random_state():
    """R19: randomness comes from lucidnn.Generator only (static check of the source)."""
    pattern = re.compile(r"np\.random\.|numpy\.random|from numpy import random|import random\b")
    offenders = [f"{path.name}:{k}" for path in DATA_SRC.rglob("*.py")
                 for k, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert offenders == []
