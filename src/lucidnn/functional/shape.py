"""Shape ops: reshape, transpose/permute, squeeze/unsqueeze, expand, indexing, cat/stack/split, pad.

None of these changes a value, so every backward moves ``gy`` back into the input's
layout: reshape it, permute it back, sum it over expanded axes, or scatter it into zeros
(indexing, where repeated integer indices *add* their gradients).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from lucidnn import backend
from lucidnn.autograd.function import Function, unbroadcast
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import AxisError, IndexingError, ShapeError
from lucidnn.functional.reduction import normalize_axes

_np = backend.numpy


def _shape_args(shape: tuple) -> tuple:
    """Accept both ``f(x, 2, 3)`` and ``f(x, (2, 3))``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _axis(axis: int, ndim: int, op: str, shape: tuple) -> int:
    return normalize_axes(axis, ndim, op, shape)[0]


class ReshapeFn(Function):
    """y = x with a new shape;  gx = gy reshaped back."""

    def forward(self, x, shape):
        self.shape = x.shape
        return x.reshape(shape)

    def backward(self, gy):
        return (gy.reshape(self.shape),)


class PermuteFn(Function):
    """y = x with axes permuted;  gx = gy with the inverse permutation."""

    def forward(self, x, axes):
        self.inverse = tuple(_np.argsort(axes))
        return x.transpose(axes)

    def backward(self, gy):
        return (gy.transpose(self.inverse),)


class ExpandFn(Function):
    """y = x broadcast to a larger shape (a view);  gx = gy summed over the broadcast axes."""

    def forward(self, x, shape):
        self.shape = x.shape
        return backend.get_array_module(x).broadcast_to(x, shape)

    def backward(self, gy):
        return (unbroadcast(gy, self.shape),)


class GetItemFn(Function):
    """y = x[index];  gx = zeros with gy scattered into the indexed places (repeats add up)."""

    def forward(self, x, index, advanced):
        self.shape, self.dtype, self.index, self.advanced = x.shape, x.dtype, index, advanced
        return x[index]

    def backward(self, gy):
        gx = backend.get_array_module(gy).zeros(self.shape, dtype=self.dtype)
        if self.advanced:
            backend.scatter_add(gx, self.index, gy)
        else:
            gx[self.index] = gy
        return (gx,)


class ConcatFn(Function):
    """y = [x_1, ..., x_k] joined along ``axis``;  g x_i = the matching slice of gy."""

    def forward(self, *xs, axis):
        self.axis = axis
        self.bounds = _np.cumsum([x.shape[axis] for x in xs])[:-1]
        return backend.get_array_module(xs[0]).concatenate(xs, axis=axis)

    def backward(self, gy):
        parts = backend.get_array_module(gy).split(gy, self.bounds, axis=self.axis)
        return tuple(p if need else None for p, need in zip(parts, self.needs_input_grad))


class StackFn(Function):
    """y = the x_i stacked along a new ``axis``;  g x_i = gy taken at position i of that axis."""

    def forward(self, *xs, axis):
        self.axis = axis
        return backend.get_array_module(xs[0]).stack(xs, axis=axis)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        return tuple(xp.take(gy, i, axis=self.axis) if need else None
                     for i, need in enumerate(self.needs_input_grad))


class UnbindFn(Function):
    """(x[0], ..., x[n-1]) along ``axis``, as views: one node for all pieces;  gx = the gy_i stacked (0 for None)."""

    def forward(self, x, axis):
        self.axis, self.shape, self.dtype = axis, x.shape, x.dtype
        xp = backend.get_array_module(x)
        return tuple(xp.take(x, i, axis=axis) for i in range(x.shape[axis])) if axis else tuple(x)

    def backward(self, *gys):
        xp = backend.get_array_module(next(g for g in gys if g is not None))
        gx = xp.zeros(self.shape, dtype=self.dtype)
        for i, g in enumerate(gys):
            if g is not None:
                gx[(slice(None),) * self.axis + (i,)] = g
        return (gx,)


class PadFn(Function):
    """y = x surrounded by ``value`` (constant padding);  gx = the centre of gy."""

    def forward(self, x, widths, value):
        self.centre = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, x.shape))
        return backend.get_array_module(x).pad(x, widths, mode="constant", constant_values=value)

    def backward(self, gy):
        return (gy[self.centre],)


# --------------------------------------------------------------------------- wrappers


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """``x`` with a new shape of the same size; one dimension may be -1 (inferred)."""
    shape = tuple(int(n) for n in _shape_args(shape))
    size = x.data.size
    known = math.prod(n for n in shape if n != -1)
    unknown = shape.count(-1)
    if unknown > 1 or any(n < -1 for n in shape) or (unknown and (known == 0 or size % known)) or \
            (not unknown and known != size):
        raise ShapeError(f"reshape: cannot reshape a tensor of shape {x.shape} ({size} elements) into {shape}")
    if shape == x.shape:
        return x
    return ReshapeFn.apply(x, shape=shape)


view = reshape


def flatten(x: Tensor, start_axis: int = 0, end_axis: int = -1) -> Tensor:
    """Merge axes ``start_axis..end_axis`` (inclusive) into one."""
    if x.ndim == 0:
        return reshape(x, 1)
    start = _axis(start_axis, x.ndim, "flatten", x.shape)
    end = _axis(end_axis, x.ndim, "flatten", x.shape)
    if start > end:
        raise AxisError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis}")
    shape = x.shape[:start] + (math.prod(x.shape[start:end + 1]),) + x.shape[end + 1:]
    return reshape(x, shape)


def permute(x: Tensor, *axes: Any) -> Tensor:
    """Reorder the axes: output axis i is input axis ``axes[i]``."""
    axes = _shape_args(axes)
    if len(axes) != x.ndim:
        raise AxisError(f"permute: {len(axes)} axes {axes} given for a tensor with {x.ndim} dimensions")
    axes = tuple(_axis(a, x.ndim, "permute", x.shape) for a in axes)
    if len(set(axes)) != len(axes):
        raise AxisError(f"permute: axes {axes} repeat a dimension")
    if axes == tuple(range(x.ndim)):
        return x
    return PermuteFn.apply(x, axes=axes)


def transpose(x: Tensor, *axes: Any) -> Tensor:
    """Swap two axes, ``transpose(x, a, b)`` as in PyTorch; with no axes, reverse them all (NumPy)."""
    if not axes:
        return permute(x, *reversed(range(x.ndim)))
    if len(axes) != 2:
        raise AxisError(f"transpose: give two axes to swap (or none to reverse all), got {axes}; "
                        "use permute() for a general reordering")
    a, b = (_axis(a, x.ndim, "transpose", x.shape) for a in axes)
    order = list(range(x.ndim))
    order[a], order[b] = order[b], order[a]
    return permute(x, *order)


def squeeze(x: Tensor, axis: Any = None) -> Tensor:
    """Remove axes of length 1 (all of them, or those in ``axis``; others are left, as in PyTorch)."""
    axes = normalize_axes(axis, x.ndim, "squeeze", x.shape)
    shape = tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1))
    return reshape(x, shape)


def unsqueeze(x: Tensor, axis: int) -> Tensor:
    """Insert an axis of length 1 at position ``axis`` (-ndim-1 <= axis <= ndim)."""
    if not -x.ndim - 1 <= axis <= x.ndim:
        raise AxisError(f"unsqueeze: axis {axis} is out of range for a tensor with {x.ndim} dimensions "
                        f"(valid: {-x.ndim - 1}..{x.ndim})")
    axis = axis % (x.ndim + 1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def expand(x: Tensor, *shape: Any) -> Tensor:
    """Broadcast ``x`` to ``shape`` without copying; -1 keeps a size, new axes go in front."""
    shape = _shape_args(shape)
    extra = len(shape) - x.ndim
    if extra < 0:
        raise ShapeError(f"expand: cannot expand shape {x.shape} to fewer dimensions {shape}")
    target = tuple(x.shape[i - extra] if n == -1 and i >= extra else n for i, n in enumerate(shape))
    for i, n in enumerate(x.shape):
        if n != 1 and n != target[i + extra]:
            raise ShapeError(f"expand: cannot expand shape {x.shape} to {shape} "
                             f"(dimension {i} has size {n}, which is not 1)")
    if target == x.shape:
        return x
    return ExpandFn.apply(x, shape=target)


def to_index(index: Any) -> Any:
    """Replace Tensors and lists inside an index by arrays."""
    if isinstance(index, tuple):
        return tuple(to_index(i) for i in index)
    if isinstance(index, Tensor):
        return index.data
    if isinstance(index, list):
        return _np.asarray(index)
    return index


def _is_advanced(index: Any) -> bool:
    """True when the index holds integer arrays (where repeated entries must accumulate)."""
    parts = index if isinstance(index, tuple) else (index,)
    return any(backend.is_array(p) and p.dtype != bool for p in parts)


def getitem(x: Tensor, index: Any) -> Tensor:
    """``x[index]``: basic slicing, integer arrays and boolean masks, as in NumPy."""
    index = to_index(index)
    parts = index if isinstance(index, tuple) else (index,)
    for p in parts:
        if backend.is_array(p) and p.dtype.kind not in "biu":
            raise IndexingError(f"getitem: index arrays must be integer or boolean, got {p.dtype}")
        if isinstance(p, float):
            raise IndexingError(f"getitem: index {p!r} is a float; use an int")
    try:
        return GetItemFn.apply(x, index=index, advanced=_is_advanced(index))
    except IndexError as exc:
        raise IndexingError(f"getitem: {exc} (tensor shape {x.shape})") from None


def _check_same_rank(op: str, tensors: Sequence[Tensor], axis: int | None) -> None:
    first = tensors[0].shape
    for t in tensors[1:]:
        if len(t.shape) != len(first) or any(
                a != b for i, (a, b) in enumerate(zip(t.shape, first)) if i != axis):
            where = "except along axis " + str(axis) if axis is not None else "exactly"
            raise ShapeError(f"{op}: all tensors must have the same shape {where}; got "
                             + ", ".join(str(s.shape) for s in tensors))


def _tensor_list(op: str, tensors: Sequence[Tensor]) -> list[Tensor]:
    tensors = list(tensors)
    if not tensors:
        raise ValueError(f"{op}: expected a non-empty sequence of tensors")
    return [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]


def cat(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing ``axis``."""
    tensors = _tensor_list("cat", tensors)
    axis = _axis(axis, tensors[0].ndim, "cat", tensors[0].shape)
    _check_same_rank("cat", tensors, axis)
    return ConcatFn.apply(*tensors, axis=axis)


concatenate = cat


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new ``axis``."""
    tensors = _tensor_list("stack", tensors)
    ndim = tensors[0].ndim
    if not -ndim - 1 <= axis <= ndim:
        raise AxisError(f"stack: axis {axis} is out of range for {ndim}-dimensional tensors")
    _check_same_rank("stack", tensors, None)
    return StackFn.apply(*tensors, axis=axis % (ndim + 1))


def unbind(x: Tensor, axis: int = 0) -> tuple[Tensor, ...]:
    """The slices of ``x`` along ``axis``, each without that axis (``x[0], x[1], ...`` for axis 0).

    One graph node for all of them: a loop over time steps that reads ``x[t]`` through
    ``unbind`` pays for one gradient array in backward, not one full-size array per step.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"unbind: expected a Tensor, got {type(x).__name__}")
    axis = _axis(axis, x.ndim, "unbind", x.shape)
    if x.shape[axis] == 0:
        raise ShapeError(f"unbind: axis {axis} of shape {x.shape} is empty; there is nothing to unbind")
    pieces = UnbindFn.apply(x, axis=axis)
    return pieces if isinstance(pieces, tuple) else (pieces,)


def split(x: Tensor, split_size_or_sections: Any, axis: int = 0) -> tuple[Tensor, ...]:
    """Split along ``axis`` into pieces of a given size (the last may be smaller) or of given sizes."""
    axis = _axis(axis, x.ndim, "split", x.shape)
    n = x.shape[axis]
    if isinstance(split_size_or_sections, (int, _np.integer)):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split size must be positive, got {size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ShapeError(f"split: sizes {sizes} do not add up to {n}, the length of axis {axis} "
                             f"of a tensor of shape {x.shape}")
    pieces, start = [], 0
    lead = (slice(None),) * axis
    for s in sizes:
        pieces.append(getitem(x, lead + (slice(start, start + s),)))
        start += s
    return tuple(pieces)


def chunk(x: Tensor, chunks: int, axis: int = 0) -> tuple[Tensor, ...]:
    """Split into ``chunks`` pieces of size ceil(n / chunks) (fewer if n is small), as in PyTorch."""
    if chunks <= 0:
        raise ValueError(f"chunk: number of chunks must be positive, got {chunks}")
    n = x.shape[_axis(axis, x.ndim, "chunk", x.shape)]
    return split(x, max(1, -(-n // chunks)), axis)


def pad(x: Tensor, pad: Sequence, value: float = 0.0) -> Tensor:
    """Constant padding.

    ``pad`` is PyTorch's flat form ``(left, right, top, bottom, ...)`` starting from the last
    axis, or NumPy's per-axis pairs ``((before, after), ...)`` covering every axis.
    """
    pad = tuple(pad)
    if pad and all(isinstance(p, (tuple, list)) for p in pad):
        if len(pad) != x.ndim:
            raise ShapeError(f"pad: {len(pad)} (before, after) pairs given for a tensor with {x.ndim} dimensions")
        widths = tuple((int(a), int(b)) for a, b in pad)
    else:
        if len(pad) % 2 or len(pad) // 2 > x.ndim:
            raise ShapeError(f"pad: padding {pad} must have an even length of at most 2 * ndim = {2 * x.ndim}")
        pairs = [(int(pad[i]), int(pad[i + 1])) for i in range(0, len(pad), 2)]
        widths = tuple([(0, 0)] * (x.ndim - len(pairs)) + pairs[::-1])
    if any(a < 0 or b < 0 for a, b in widths):
        raise ValueError(f"pad: padding widths must be non-negative, got {pad}")
    return PadFn.apply(x, widths=widths, value=value)
