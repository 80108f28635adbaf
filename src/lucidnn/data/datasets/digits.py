"""The embedded default image data set: scikit-learn's bundled 8 x 8 handwritten digits.

1,797 grey images of 8 x 8 pixels with values 0-16 (the UCI "optical recognition of
handwritten digits" test set), 10 classes. It ships inside scikit-learn, so it needs no
download and no path; install it with ``pip install lucidnn[digits]``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from lucidnn import backend
from lucidnn.data.datasets._images import ImageDataset

np = backend.numpy

_MAX_PIXEL = 16


@functools.lru_cache(maxsize=1)
def _load() -> tuple[Any, Any]:
    """All 1,797 images (uint8, (1797, 8, 8), values 0-16) and labels (int64), read once."""
    try:
        from sklearn.datasets import load_digits  # noqa: PLC0415  (optional dependency)
    except ImportError as exc:
        raise ImportError(
            f"lucidnn.data.Digits needs scikit-learn, which bundles the 8x8 digits ({exc}); "
            "install it with `pip install lucidnn[digits]` (or `pip install scikit-learn`)"
        ) from exc
    bunch = load_digits()
    images = bunch.images.astype(np.uint8)  # integers 0-16 stored as float64 by scikit-learn
    labels = bunch.target.astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


class Digits(ImageDataset):
    """scikit-learn's 8 x 8 digits with a deterministic train/test split.

    The split is a permutation of all 1,797 samples drawn from ``Generator(seed)``: the
    first ``round(1797 * test_fraction)`` positions are the test set (359 for the default
    0.2), the rest the training set (1,438); each split keeps its samples in the original
    order. The same ``seed`` and ``test_fraction`` give the same split on every machine.

    Args:
        train: the training part (True) or the test part (False).
        test_fraction: the share of samples held out for testing, in (0, 1) (default 0.2).
        seed: seed of the split's permutation (default 0).
        transform: applied to the image array (a (1, 8, 8) sample or an (N, 1, 8, 8) batch).
        target_transform: applied to the label (an int64 scalar or an (N,) array).

    Shape:
        - ``dataset[i]``: image (1, 8, 8) float32 holding ``pixel / 16`` in [0, 1], label int64.
        - ``__getitems__(idx)``: images (N, 1, 8, 8) float32, labels (N,) int64.
        - ``.images``: the split's raw uint8 pixels (N, 8, 8), values 0-16; ``.labels``: (N,) int64.

    Raises:
        ImportError: scikit-learn is not installed (the message says how to install it).
    """

    classes = [str(k) for k in range(10)]
    image_size = (8, 8)

    pixel_max = _MAX_PIXEL

    def __init__(self, train: bool = True, *, test_fraction: float = 0.2, seed: int = 0,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None) -> None:
        if not 0 < test_fraction < 1:
            raise ValueError(f"Digits: test_fraction must be in (0, 1), got {test_fraction}")
        images, labels = _load()
        n = len(labels)
        n_test = int(round(n * test_fraction))
        if not 0 < n_test < n:
            raise ValueError(f"Digits: test_fraction={test_fraction} leaves an empty split of the {n} samples")
        perm = backend.Generator(seed).permutation(n)
        chosen = np.sort(perm[n_test:] if train else perm[:n_test])
        self.train = bool(train)
        self.test_fraction = float(test_fraction)
        self.seed = int(seed)
        self.transform = transform
        self.target_transform = target_transform
        self.indices = chosen  # positions in scikit-learn's order
        self.images = images[chosen]  # (N, 8, 8) uint8
        self.labels = labels[chosen]  # (N,) int64


    def __repr__(self) -> str:
        return f"Digits({'train' if self.train else 'test'}, {len(self)} samples, seed={self.seed})"
