"""MNIST and Fashion-MNIST from the four standard IDX files in a directory (never downloaded).

The files are ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte`` (60,000 samples)
and ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (10,000), each optionally
gzipped (``.gz``); the names with a dot (``train-images.idx3-ubyte``) and torchvision's
``<root>/MNIST/raw`` layout are accepted too. Loading checks that the images are 3-D
unsigned bytes of 28 x 28 pixels, the labels 1-D unsigned bytes in 0-9, and that both
files hold the same number of samples; anything else is a :class:`DataFormatError`
naming the file.

Convention (as torchvision's ``ToTensor``): a sample is ``(image, label)`` with the image
float32 of shape (1, 28, 28) holding ``pixel / 255`` in [0, 1] and the label an int64;
the raw data stay available as ``.images`` (uint8, (N, 28, 28)) and ``.labels`` (int64, (N,)).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lucidnn import backend
from lucidnn.data.datasets._images import ImageDataset
from lucidnn.data.datasets.idx import DEFAULT_MAX_BYTES, read_idx
from lucidnn.data.errors import DataFormatError, MissingDataError

np = backend.numpy

_LISTED = 20  # directory entries named in a missing-file message


def _listing(directory: Path) -> str:
    names = sorted(p.name for p in directory.iterdir())
    if not names:
        return "it is empty"
    shown = ", ".join(names[:_LISTED])
    more = f", ... and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
    return f"it holds: {shown}{more}"


def find_file(root: Path, stem: str, dataset: str) -> Path:
    """The first existing variant of an MNIST-style file ``stem`` under ``root``.

    Raises:
        MissingDataError: none exists; the message lists what the directory holds.
    """
    if not root.is_dir():
        raise MissingDataError(
            f"{dataset}: the directory {root} does not exist; lucidnn never downloads data, put the four "
            f"IDX files ({stem}[.gz], ...) in a directory and pass its path"
        )
    dotted = stem.replace("-idx", ".idx")
    for folder in (root, root / dataset / "raw"):
        for name in (stem, stem + ".gz", dotted, dotted + ".gz"):
            if (folder / name).is_file():
                return folder / name
    raise MissingDataError(
        f"{dataset}: missing {stem} (or {stem}.gz) in {root}; {_listing(root)}. lucidnn never downloads data: "
        "put the four standard IDX files there"
    )


class MNIST(ImageDataset):
    """The MNIST handwritten digits (LeCun, Cortes, Burges, 1998): 28 x 28 grey images, 10 classes.

    Args:
        root: the directory holding the IDX files.
        train: the 60,000 training samples (True) or the 10,000 test samples (False).
        transform: applied to the image array: a (1, 28, 28) sample from ``dataset[i]``, an
            (N, 1, 28, 28) batch from ``__getitems__`` (so batch-aware transforms run vectorised).
        target_transform: applied to the label (an int64 scalar, or an (N,) array for a batch).
        max_bytes: the largest payload accepted per file (see :func:`read_idx`).

    Shape:
        - ``dataset[i]``: image (1, 28, 28) float32 in [0, 1], label int64 scalar.
        - ``__getitems__(idx)``: images (N, 1, 28, 28) float32, labels (N,) int64.

    Raises:
        MissingDataError: the directory or a file is missing (the message lists the directory).
        DataFormatError: a malformed file, or images and labels that do not match.
    """

    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]
    image_size = (28, 28)

    def __init__(self, root: str | os.PathLike, train: bool = True, *,
                 transform: Callable[[Any], Any] | None = None,
                 target_transform: Callable[[Any], Any] | None = None,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.root = Path(root)
        self.train = bool(train)
        self.transform = transform
        self.target_transform = target_transform
        split = "train" if self.train else "t10k"
        name = type(self).__name__
        image_path = find_file(self.root, f"{split}-images-idx3-ubyte", name)
        label_path = find_file(self.root, f"{split}-labels-idx1-ubyte", name)
        self.images = read_idx(image_path, ndim=3, what="image data", max_bytes=max_bytes)
        labels = read_idx(label_path, ndim=1, what="label data", max_bytes=max_bytes)
        self._check(image_path, label_path, labels)
        self.labels = labels.astype(np.int64)

    def _check(self, image_path: Path, label_path: Path, labels: Any) -> None:
        if self.images.dtype != np.uint8:
            raise DataFormatError(f"{image_path}: images must be unsigned bytes (type 0x08), found {self.images.dtype}")
        if self.images.shape[1:] != self.image_size:
            raise DataFormatError(
                f"{image_path}: expected images of {self.image_size[0]} x {self.image_size[1]} pixels, "
                f"found {self.images.shape[1]} x {self.images.shape[2]}"
            )
        if labels.dtype != np.uint8:
            raise DataFormatError(f"{label_path}: labels must be unsigned bytes (type 0x08), found {labels.dtype}")
        if labels.shape[0] != self.images.shape[0]:
            raise DataFormatError(
                f"{label_path}: expected {self.images.shape[0]} labels (one per image in {image_path.name}), "
                f"found {labels.shape[0]}"
            )
        bad = np.flatnonzero(labels >= len(self.classes))
        if bad.size:
            raise DataFormatError(
                f"{label_path}: labels must be in 0-{len(self.classes) - 1}, found {bad.size} outside, "
                f"the first at index {int(bad[0])} (value {int(labels[bad[0]])})"
            )


    def __repr__(self) -> str:
        split = "train" if self.train else "test"
        return f"{type(self).__name__}(root='{self.root}', {split}, {len(self)} samples)"


class FashionMNIST(MNIST):
    """Fashion-MNIST (Xiao, Rasul, Vollgraf, 2017): Zalando's clothes images in MNIST's exact format.

    Same files, arguments, shapes and checks as :class:`MNIST`; only the class names differ
    (and torchvision's layout is ``<root>/FashionMNIST/raw``).
    """

    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
               "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
