"""Turning samples into batches: stacking arrays, fetching a batch, converting it to Tensors.

A *sample* is what ``dataset[i]`` returns: an array, a number, a Tensor, or a tuple, list or
dict of those (nested freely). A *batch* has the same structure with every leaf stacked
along a new first axis. :func:`collate_arrays` builds a batch of arrays from a list of
samples; :func:`to_tensors` turns a batch of arrays into a batch of :class:`Tensor`;
:func:`default_collate` does both, like ``torch.utils.data.default_collate``.

Dtype convention of the batches a loader yields: floating arrays keep their dtype, Python
floats become the default float dtype (float32), integers become int64 (the dtype class
labels and embedding indices want) except ``uint8``, which stays raw bytes (images; turn
them into floats with :class:`lucidnn.data.transforms.ToFloat`), and booleans stay bool.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lucidnn import backend
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import DTypeError, ShapeError

np = backend.numpy


def _is_leaf(x: Any) -> bool:
    return isinstance(x, (Tensor, int, float, bool, np.generic)) or backend.is_array(x)


def _leaf_array(x: Any) -> Any:
    if isinstance(x, Tensor):
        return x.data
    if backend.is_array(x):
        return x
    if isinstance(x, float) and not isinstance(x, np.generic):  # np.float64 subclasses float, keeps its dtype
        return np.asarray(x, dtype=backend.get_default_dtype())  # a Python float: the default, as lucidnn.tensor
    return np.asarray(x)


def collate_arrays(samples: Sequence[Any]) -> Any:
    """Stack a list of samples into one batch of arrays with the samples' structure.

    Args:
        samples: a non-empty list of samples of one structure (arrays, numbers, Tensors,
            strings, and tuples/lists/dicts of them).

    Returns:
        The batch: arrays stacked on a new first axis; tuples and lists give tuples (a
        namedtuple keeps its type), dicts give dicts, strings give a list of strings.

    Raises:
        ShapeError: samples whose arrays have different shapes, or tuples of different length.
        TypeError: a leaf of a type that cannot be batched.
    """
    if len(samples) == 0:
        raise ValueError("collate: cannot make a batch from zero samples")
    first = samples[0]
    if isinstance(first, str):
        return list(samples)
    if _is_leaf(first):
        arrays = [_leaf_array(s) for s in samples]
        xp = backend.get_array_module(*arrays)
        shape = arrays[0].shape
        for k, a in enumerate(arrays):
            if a.shape != shape:
                raise ShapeError(
                    f"collate: sample {k} has shape {tuple(a.shape)} but sample 0 has {tuple(shape)}; "
                    "samples of one batch must have one shape (pad them, or pass a collate_fn)"
                )
        return xp.stack(arrays)
    if isinstance(first, Mapping):
        return {key: collate_arrays([s[key] for s in samples]) for key in first}
    if isinstance(first, (tuple, list)):
        width = len(first)
        for k, s in enumerate(samples):
            if len(s) != width:
                raise ShapeError(f"collate: sample {k} has {len(s)} fields but sample 0 has {width}")
        fields = [collate_arrays([s[j] for s in samples]) for j in range(width)]
        if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple
            return type(first)(*fields)
        return tuple(fields)
    raise TypeError(f"collate: cannot batch samples of type {type(first).__name__}; pass a collate_fn")


def _tensor_of(array: Any, device: str | None) -> Tensor:
    if array.dtype == object:
        raise DTypeError("collate: the batch holds Python objects, not numbers; pass a collate_fn")
    if array.dtype.kind in "iu" and array.dtype != backend.uint8:
        array = array.astype(backend.int64, copy=False)
    return Tensor(array, device=device)


def to_tensors(batch: Any, device: str | None = None) -> Any:
    """Turn every array in a batch (array, tuple, list, dict, nested) into a :class:`Tensor`.

    Integer arrays become int64 (``uint8`` stays as it is), floating arrays keep their
    dtype; strings and lists of strings pass through.

    Args:
        batch: a batch of arrays as :func:`collate_arrays` or a dataset's ``__getitems__``
            returns it.
        device: move the tensors to ``'cpu'`` or ``'cuda'``; None keeps them where they are.
    """
    if isinstance(batch, Tensor):
        return batch if device is None else batch.to(device)
    if backend.is_array(batch) or isinstance(batch, (int, float, np.generic)):
        return _tensor_of(_leaf_array(batch), device)
    if isinstance(batch, str):
        return batch
    if isinstance(batch, Mapping):
        return {key: to_tensors(value, device) for key, value in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(to_tensors(value, device) for value in batch))
    if isinstance(batch, list) and all(isinstance(v, str) for v in batch):
        return batch
    if isinstance(batch, (tuple, list)):
        return tuple(to_tensors(value, device) for value in batch)
    raise TypeError(f"to_tensors: cannot turn {type(batch).__name__} into a Tensor")


def default_collate(samples: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch of Tensors (:func:`collate_arrays` then :func:`to_tensors`)."""
    return to_tensors(collate_arrays(samples))


def fetch_batch(dataset: Any, indices: Any) -> Any:
    """The samples at ``indices`` as one batch of arrays.

    Uses the dataset's vectorised ``__getitems__(indices)`` when it has one (one call for
    the whole batch), else ``dataset[i]`` for each index and :func:`collate_arrays`.
    """
    getitems = getattr(dataset, "__getitems__", None)
    if getitems is not None:
        return getitems(indices)
    return collate_arrays([dataset[int(i)] for i in indices])
