r"""Embedding lookup: rows of a weight table selected by integer indices.

``embedding(indices, weight)`` is ``weight[indices]``: a differentiable table lookup whose
gradient adds each output row's gradient into the row it came from (repeated indices
accumulate). It is its own Function so the backward is one scatter-add into a (V, D) table.
"""

from __future__ import annotations

from typing import Any

from lucidnn import backend
from lucidnn.autograd.function import Function
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import DTypeError, IndexingError, ShapeError


class EmbeddingFn(Function):
    r"""y[..., :] = W[i_{...}, :];  gW[v] = \sum_{positions with i = v} gy[position] (0 for padding_idx)."""

    def forward(self, w, indices, padding_idx):
        xp = backend.get_array_module(w)
        self.indices, self.w_shape, self.dtype, self.padding_idx = indices, w.shape, w.dtype, padding_idx
        return xp.take(w, indices, axis=0)  # indices.shape + (D,)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        n_rows, dim = self.w_shape
        gw = xp.zeros((n_rows, dim), dtype=self.dtype)
        backend.scatter_add(gw, self.indices.reshape(-1), gy.reshape(-1, dim))
        if self.padding_idx is not None:
            gw[self.padding_idx] = 0
        return (gw,)


def embedding(indices: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    r"""Look up rows of ``weight``: ``y[..., :] = weight[indices[...], :]``.

    Args:
        indices: integer Tensor or array of any shape, values in [0, V).
        weight: the embedding table, shape (V, D).
        padding_idx: optional row (negative counts from the end) whose gradient is always
            zero, so it stays fixed during training (typically the padding token).

    Shape: indices (*), weight (V, D), output (*, D).

    Reference: Bengio et al., "A Neural Probabilistic Language Model", JMLR 2003.
    """
    if not isinstance(weight, Tensor):
        raise TypeError(f"embedding: weight must be a Tensor, got {type(weight).__name__}")
    if weight.ndim != 2:
        raise ShapeError(f"embedding: weight must have shape (V, D), got {weight.shape}")
    n_rows = weight.shape[0]
    idx = indices.data if isinstance(indices, Tensor) else Tensor(indices, device=weight.device).data
    backend.check_same_device([weight.data, idx], "embedding")
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"embedding: indices must be integers, got {idx.dtype}; convert them with .long()")
    bad = (idx < 0) | (idx >= n_rows)
    if bad.any():
        raise IndexingError(f"embedding: index {int(idx[bad].ravel()[0])} is out of range for a table "
                            f"of {n_rows} rows (valid: 0..{n_rows - 1})")
    if padding_idx is not None:
        if not -n_rows <= padding_idx < n_rows:
            raise ValueError(f"embedding: padding_idx {padding_idx} is out of range for a table of "
                             f"{n_rows} rows")
        padding_idx = int(padding_idx) % n_rows
    return EmbeddingFn.apply(weight, indices=idx, padding_idx=padding_idx)
