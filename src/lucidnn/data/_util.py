"""Small helpers shared by the data package: index checking and private generators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lucidnn import backend
from lucidnn.autograd.tensor import Tensor
from lucidnn.data.errors import MissingDataError
from lucidnn.errors import IndexingError

np = backend.numpy

_SEED_HIGH = 2**63 - 1


def spawn_generator(rng: backend.Generator | None) -> backend.Generator:
    """``rng`` itself, or a new Generator seeded by one draw from the default generator.

    Owning a generator (instead of reading the default one at call time) keeps a loader's or a
    transform's random stream self-contained, so its ``state_dict`` alone restores it exactly;
    drawing the seed from the default generator makes ``lucidnn.manual_seed(s)`` before
    construction enough to fix the stream.
    """
    if rng is None:
        seed = int(backend.default_generator().integers(0, _SEED_HIGH, ()))
        return backend.Generator(seed)
    if not isinstance(rng, backend.Generator):
        raise TypeError(f"rng must be a lucidnn.Generator, got {type(rng).__name__}")
    return rng


def as_indices(indices: Any, length: int, who: str) -> Any:
    """``indices`` as a 1-D int64 array with negative values wrapped, checked against ``length``."""
    if isinstance(indices, Tensor):
        indices = indices.data
    idx = backend.to_numpy(indices)
    if idx.ndim != 1:
        raise IndexingError(f"{who}: indices must be one-dimensional, got shape {idx.shape}")
    if idx.size == 0:
        return idx.astype(np.int64)
    if idx.dtype.kind not in "iu":
        raise IndexingError(f"{who}: indices must be integers, got dtype {idx.dtype}")
    idx = idx.astype(np.int64, copy=False)
    low, high = int(idx.min()), int(idx.max())
    if low < -length or high >= length:
        bad = low if low < -length else high
        raise IndexingError(f"{who}: index {bad} is out of range for a dataset of length {length}")
    if low < 0:
        idx = np.where(idx < 0, idx + length, idx)
    return idx


def as_index(index: Any, length: int, who: str) -> int:
    """One integer index, negative values wrapped, checked against ``length``."""
    try:
        i = int(index)
    except (TypeError, ValueError):
        raise IndexingError(f"{who}: index must be an integer, got {type(index).__name__}") from None
    if isinstance(index, float) or not -length <= i < length:
        raise IndexingError(f"{who}: index {index!r} is out of range for a dataset of length {length}")
    return i + length if i < 0 else i


def read_bytes(path: Path, what: str) -> bytes:
    """The bytes of the file ``path``, or a MissingDataError naming it (``what``: e.g. "a text file")."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MissingDataError(f"{path}: no such file (lucidnn never downloads data; pass an existing path)") from None
    except IsADirectoryError:
        raise MissingDataError(f"{path}: is a directory, not {what}") from None
