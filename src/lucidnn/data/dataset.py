"""Datasets: the map-style interface, tensors as a dataset, subsets, random splits, concatenation.

A dataset (as in ``torch.utils.data``) has ``len(dataset)`` and ``dataset[i]`` returning one
sample; it may also have ``__getitems__(indices)`` returning a whole batch of samples at
once, already stacked (a tuple/dict/array whose leaves have the batch on the first axis).
:class:`lucidnn.data.DataLoader` uses ``__getitems__`` when it is there, so a batch costs a
few fancy-indexing calls instead of a Python loop over its samples.

Datasets hold and return arrays (NumPy, or CuPy on a GPU); the loader turns batches into
:class:`lucidnn.Tensor`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from typing import Any

from lucidnn import backend
from lucidnn.autograd.tensor import Tensor
from lucidnn.data._util import as_index, as_indices
from lucidnn.data.collate import fetch_batch
from lucidnn.errors import ShapeError

np = backend.numpy


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__`` and ``__len__``.

    A subclass that can fetch many samples with one vectorised call should also define
    ``__getitems__(indices)`` (a 1-D int64 array) returning the stacked batch; this base
    class deliberately does not, so the loader can tell the two kinds apart.
    ``dataset_a + dataset_b`` is a :class:`ConcatDataset`.
    """

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")  # abstract

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")  # abstract

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are rows of arrays sharing their first dimension: ``dataset[i] = (a[i], b[i], ...)``.

    Args:
        *arrays: Tensors or arrays (NumPy/CuPy) with the same length N along axis 0,
            typically inputs and targets. Tensors are stored by their data (no graph).

    Shape:
        - each array: (N, ...); ``dataset[i]``: a tuple of ``a[i]``; ``__getitems__(idx)``:
          a tuple of ``a[idx]`` (one fancy-indexing call per array).

    Raises:
        ShapeError: when no array is given, an array is 0-d, or the first dimensions differ.
    """

    def __init__(self, *arrays: Any) -> None:
        if not arrays:
            raise ShapeError("TensorDataset: give at least one array")
        self.arrays = tuple(a.data if isinstance(a, Tensor) else a if backend.is_array(a) else np.asarray(a)
                            for a in arrays)
        for k, a in enumerate(self.arrays):
            if a.ndim == 0:
                raise ShapeError(f"TensorDataset: array {k} is 0-d; every array needs a first (sample) dimension")
        lengths = [a.shape[0] for a in self.arrays]
        if len(set(lengths)) > 1:
            shapes = ", ".join(str(tuple(a.shape)) for a in self.arrays)
            raise ShapeError(
                f"TensorDataset: arrays must have the same first dimension (the number of samples), "
                f"got shapes {shapes}"
            )

    def __len__(self) -> int:
        return int(self.arrays[0].shape[0])

    def __getitem__(self, index: int) -> tuple:
        i = as_index(index, len(self), "TensorDataset")
        return tuple(a[i] for a in self.arrays)

    def __getitems__(self, indices: Any) -> tuple:
        idx = as_indices(indices, len(self), "TensorDataset")
        return tuple(a[backend.get_array_module(a).asarray(idx)] for a in self.arrays)  # indices follow the data


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order.

    Args:
        dataset: any dataset.
        indices: a sequence or 1-D array of integer indices into ``dataset`` (checked).
    """

    def __init__(self, dataset: Any, indices: Any) -> None:
        self.dataset = dataset
        self.indices = as_indices(indices, len(dataset), "Subset")

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[as_index(index, len(self), "Subset")])]

    def __getitems__(self, indices: Any) -> Any:
        return fetch_batch(self.dataset, self.indices[as_indices(indices, len(self), "Subset")])


def _tree_concat(batches: list) -> Any:
    first = batches[0]
    if isinstance(first, Mapping):
        return {key: _tree_concat([b[key] for b in batches]) for key in first}
    if isinstance(first, list) and all(isinstance(v, str) for v in first):
        return [s for b in batches for s in b]
    if isinstance(first, tuple):
        fields = [_tree_concat([b[j] for b in batches]) for j in range(len(first))]
        return type(first)(*fields) if hasattr(first, "_fields") else tuple(fields)
    return backend.get_array_module(first).concatenate(batches)


def _tree_take(batch: Any, order: Any) -> Any:
    if isinstance(batch, Mapping):
        return {key: _tree_take(value, order) for key, value in batch.items()}
    if isinstance(batch, list):
        return [batch[int(i)] for i in order]
    if isinstance(batch, tuple):
        fields = [_tree_take(value, order) for value in batch]
        return type(batch)(*fields) if hasattr(batch, "_fields") else tuple(fields)
    return batch[order]


class ConcatDataset(Dataset):
    """Several datasets one after the other: indices 0..len(a)-1 are ``a``'s, then ``b``'s, ...

    ``__getitems__`` fetches each part's share of a batch with one call and puts the samples
    back in the requested order.

    Args:
        datasets: a non-empty sequence of datasets whose samples have one structure.
    """

    def __init__(self, datasets: Sequence[Any]) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: give at least one dataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).astype(np.int64)

    def __len__(self) -> int:
        return int(self.cumulative_sizes[-1])

    def __getitem__(self, index: int) -> Any:
        i = as_index(index, len(self), "ConcatDataset")
        part = bisect.bisect_right(self.cumulative_sizes.tolist(), i)
        start = 0 if part == 0 else int(self.cumulative_sizes[part - 1])
        return self.datasets[part][i - start]

    def __getitems__(self, indices: Any) -> Any:
        idx = as_indices(indices, len(self), "ConcatDataset")
        if idx.size == 0:
            return fetch_batch(self.datasets[0], idx)
        part = np.searchsorted(self.cumulative_sizes, idx, side="right")
        starts = np.concatenate([[0], self.cumulative_sizes[:-1]])
        local = idx - starts[part]
        grouped = np.argsort(part, kind="stable")  # samples grouped by part, in request order
        pieces = [fetch_batch(self.datasets[p], local[grouped][part[grouped] == p]) for p in np.unique(part)]
        batch = pieces[0] if len(pieces) == 1 else _tree_concat(pieces)
        return _tree_take(batch, np.argsort(grouped, kind="stable"))


def _split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    """Lengths as ints; fractions summing to 1 are floored and the remainder dealt round-robin (torch)."""
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1 and not all(isinstance(v, int) for v in lengths):
        for frac in lengths:
            if not 0 <= frac <= 1:
                raise ValueError(f"random_split: fraction {frac} is not in [0, 1]")
        counts = [int(math.floor(n * frac)) for frac in lengths]
        for k in range(n - sum(counts)):
            counts[k % len(counts)] += 1
        return counts
    for length in lengths:
        if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 0:
            raise ValueError(
                f"random_split: lengths must be non-negative ints or fractions summing to 1, got {list(lengths)}"
            )
    if total != n:
        raise ValueError(f"random_split: lengths {list(lengths)} sum to {total}, but the dataset has {n} samples")
    return [int(v) for v in lengths]


def random_split(dataset: Any, lengths: Sequence[float], rng: backend.Generator | None = None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random subsets of the given lengths.

    Args:
        dataset: the dataset to split.
        lengths: the subsets' lengths as ints summing to ``len(dataset)``, or fractions
            summing to 1. Fractions are turned into ``floor(n * fraction)`` and the
            remaining samples are added one at a time to the subsets in order, as
            ``torch.utils.data.random_split`` does (so ``[0.5, 0.5]`` of 5 gives 3 and 2).
        rng: the :class:`lucidnn.Generator` drawing the permutation; default: the default one.

    Returns:
        A list of :class:`Subset`, one per length.
    """
    if isinstance(lengths, (str, bytes)) or not isinstance(lengths, Sequence) or len(lengths) == 0:
        raise ValueError(f"random_split: lengths must be a non-empty list, got {lengths!r}")
    counts = _split_lengths(len(dataset), lengths)
    perm = (rng if rng is not None else backend.default_generator()).permutation(len(dataset))
    offsets = np.cumsum([0, *counts])
    return [Subset(dataset, perm[offsets[k]:offsets[k + 1]]) for k in range(len(counts))]
