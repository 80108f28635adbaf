"""Reductions over axes: sum, mean, var, std, max, min, logsumexp, argmax/argmin, any/all.

Every reduction takes ``axis`` (None for all axes, an int, or a tuple) and ``keepdims``,
NumPy's names; PyTorch's ``dim=`` and ``keepdim=`` are accepted as aliases. The backward
of a reduction broadcasts ``gy`` back over the reduced axes.
"""

from __future__ import annotations

import math
from typing import Any

from lucidnn import backend
from lucidnn.autograd.function import Function
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import AxisError, ShapeError

_np = backend.numpy


def normalize_axes(axis: Any, ndim: int, op: str, shape: tuple = ()) -> tuple[int, ...]:
    """``axis`` (None, int or sequence) as a sorted tuple of non-negative axes; AxisError if invalid."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, _np.integer)) else tuple(axis)
    if ndim == 0 and all(a in (0, -1) for a in axes):
        return ()  # as in PyTorch, a 0-d tensor accepts axis 0 / -1 as if it were 1-d
    out = []
    for a in axes:
        if not isinstance(a, (int, _np.integer)):
            raise AxisError(f"{op}: axis must be an int or a tuple of ints, got {a!r}")
        if not -ndim <= a < ndim:
            valid = f"valid axes are {-ndim}..{ndim - 1}" if ndim else "a 0-d tensor takes only 0 or -1"
            raise AxisError(
                f"{op}: axis {a} is out of range for a tensor with {ndim} dimensions "
                f"(shape {tuple(shape)}); {valid}"
            )
        out.append(int(a) % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise AxisError(f"{op}: axis {axis} repeats a dimension")
    return tuple(sorted(out))


def resolve_axis_args(axis: Any, keepdims: bool, dim: Any, keepdim: Any) -> tuple[Any, bool]:
    """Merge PyTorch's ``dim``/``keepdim`` aliases into NumPy's ``axis``/``keepdims``."""
    if dim is not None:
        if axis is not None:
            raise TypeError("give either axis= or dim=, not both")
        axis = dim
    if keepdim is not None:
        keepdims = keepdim
    return axis, bool(keepdims)


def _expand_reduced(gy: Any, shape: tuple, axes: tuple, keepdims: bool) -> Any:
    """Broadcast a reduced gradient back to ``shape``."""
    xp = backend.get_array_module(gy)
    if not keepdims:
        gy = xp.expand_dims(gy, axes)
    return xp.broadcast_to(gy, shape)


class SumFn(Function):
    """y = sum of x over ``axes``;  gx = gy broadcast back over them."""

    def forward(self, x, axes, keepdims):
        self.shape, self.axes, self.keepdims = x.shape, axes, keepdims
        return x.sum(axis=axes, keepdims=keepdims)

    def backward(self, gy):
        return (_expand_reduced(gy, self.shape, self.axes, self.keepdims),)


class MeanFn(Function):
    """y = mean of x over ``axes`` (n elements each);  gx = gy / n broadcast back."""

    def forward(self, x, axes, keepdims):
        self.shape, self.axes, self.keepdims = x.shape, axes, keepdims
        self.n = math.prod(x.shape[a] for a in axes)
        with _np.errstate(invalid="ignore", divide="ignore"):  # empty input gives NaN like torch
            return x.sum(axis=axes, keepdims=keepdims) / self.n

    def backward(self, gy):
        with _np.errstate(invalid="ignore", divide="ignore"):
            g = gy / self.n
        return (_expand_reduced(g, self.shape, self.axes, self.keepdims),)


class VarFn(Function):
    r"""y = \sum (x - \bar x)^2 / (n - correction);  gx = gy * 2 (x - \bar x) / (n - correction)."""

    def forward(self, x, axes, keepdims, correction):
        self.shape, self.axes, self.keepdims = x.shape, axes, keepdims
        n = math.prod(x.shape[a] for a in axes)
        self.dof = n - correction
        self.centered = x - x.mean(axis=axes, keepdims=True)
        with _np.errstate(invalid="ignore", divide="ignore"):  # dof <= 0 gives inf/NaN like torch
            return (self.centered * self.centered).sum(axis=axes, keepdims=keepdims) / self.dof

    def backward(self, gy):
        with _np.errstate(invalid="ignore", divide="ignore"):
            g = _expand_reduced(gy, self.shape, self.axes, self.keepdims) * (2.0 / self.dof)
        return (g * self.centered,)


class MaxFn(Function):
    """y = max of x over ``axes``;  gx = gy at the maxima, split evenly between ties (torch.amax)."""

    def forward(self, x, axes, keepdims, largest):
        self.x, self.axes, self.keepdims = x, axes, keepdims
        self.y = x.max(axis=axes, keepdims=True) if largest else x.min(axis=axes, keepdims=True)
        if keepdims:
            return self.y
        return self.y.reshape([n for i, n in enumerate(self.y.shape) if i not in axes])

    def backward(self, gy):
        hit = self.x == self.y
        count = hit.sum(axis=self.axes, keepdims=True)
        g = _expand_reduced(gy, self.x.shape, self.axes, self.keepdims)
        return (g * hit / count.astype(g.dtype),)


class LogSumExpFn(Function):
    r"""y = \log \sum e^x, computed as m + \log \sum e^{x - m} with m = max x;  gx = gy e^{x - y}."""

    def forward(self, x, axes, keepdims):
        xp = backend.get_array_module(x)
        self.x, self.axes, self.keepdims = x, axes, keepdims
        m = x.max(axis=axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # all -inf (or inf) rows: avoid inf - inf
        with _np.errstate(divide="ignore"):
            self.y = m + xp.log(xp.exp(x - m).sum(axis=axes, keepdims=True))
        if keepdims:
            return self.y
        return self.y.reshape([n for i, n in enumerate(self.y.shape) if i not in axes])

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        g = _expand_reduced(gy, self.x.shape, self.axes, self.keepdims)
        return (g * xp.exp(self.x - self.y),)


# --------------------------------------------------------------------------- wrappers


def _reduce(fn_class: type, x: Tensor, axis: Any, keepdims: bool, dim: Any, keepdim: Any,
            **params: Any) -> Tensor:
    axis, keepdims = resolve_axis_args(axis, keepdims, dim, keepdim)
    op = fn_class.op_name()
    axes = normalize_axes(axis, x.ndim, op, x.shape)
    return fn_class.apply(x, axes=axes, keepdims=keepdims, **params)


def sum(x: Tensor, axis: Any = None, keepdims: bool = False, *, dim: Any = None,  # noqa: A001
        keepdim: Any = None) -> Tensor:
    """Sum over ``axis`` (all axes when None)."""
    return _reduce(SumFn, x, axis, keepdims, dim, keepdim)


def mean(x: Tensor, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
         keepdim: Any = None) -> Tensor:
    """Arithmetic mean over ``axis`` (all axes when None)."""
    return _reduce(MeanFn, x, axis, keepdims, dim, keepdim)


def var(x: Tensor, axis: Any = None, keepdims: bool = False, *, correction: int = 1,
        dim: Any = None, keepdim: Any = None, unbiased: bool | None = None) -> Tensor:
    r"""Variance :math:`\sum (x - \bar x)^2 / (n - \text{correction})`; correction=1 (unbiased) as in torch.

    ``unbiased=False`` is PyTorch's spelling of ``correction=0``.
    """
    if unbiased is not None:
        correction = 1 if unbiased else 0
    return _reduce(VarFn, x, axis, keepdims, dim, keepdim, correction=correction)


def std(x: Tensor, axis: Any = None, keepdims: bool = False, *, correction: int = 1,
        dim: Any = None, keepdim: Any = None, unbiased: bool | None = None) -> Tensor:
    """Standard deviation, ``sqrt(var(...))``, with the same arguments as :func:`var`."""
    from lucidnn.functional.arithmetic import sqrt  # noqa: PLC0415  (sibling module, avoids a cycle)

    return sqrt(var(x, axis, keepdims, correction=correction, dim=dim, keepdim=keepdim, unbiased=unbiased))


def _check_nonempty(x: Tensor, op: str) -> None:
    if x.data.size == 0:
        raise ShapeError(f"{op}: cannot reduce an empty tensor of shape {x.shape} (it has no identity)")


def max(x: Tensor, axis: Any = None, keepdims: bool = False, *, dim: Any = None,  # noqa: A001
        keepdim: Any = None) -> Tensor:
    """Largest value over ``axis``; the gradient is split evenly between tied maxima."""
    _check_nonempty(x, "max")
    return _reduce(MaxFn, x, axis, keepdims, dim, keepdim, largest=True)


def min(x: Tensor, axis: Any = None, keepdims: bool = False, *, dim: Any = None,  # noqa: A001
        keepdim: Any = None) -> Tensor:
    """Smallest value over ``axis``; the gradient is split evenly between tied minima."""
    _check_nonempty(x, "min")
    return _reduce(MaxFn, x, axis, keepdims, dim, keepdim, largest=False)


def logsumexp(x: Tensor, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
              keepdim: Any = None) -> Tensor:
    r""":math:`\log \sum_i e^{x_i}` over ``axis``, stable for any finite input (shifted by the max)."""
    return _reduce(LogSumExpFn, x, axis, keepdims, dim, keepdim)


def _index_reduce(x: Tensor, name: str, axis: Any, keepdims: bool, dim: Any, keepdim: Any) -> Tensor:
    axis, keepdims = resolve_axis_args(axis, keepdims, dim, keepdim)
    _check_nonempty(x, name)
    if axis is not None and not isinstance(axis, (int, _np.integer)):
        raise AxisError(f"{name}: axis must be a single int or None, got {axis!r}")
    if axis is not None:
        axis = normalize_axes(axis, x.ndim, name, x.shape)[0]
    result = getattr(x.data, name)(axis=axis, keepdims=keepdims)
    return Tensor._from_op(result.astype(backend.int64, copy=False), None)


def argmax(x: Tensor, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
           keepdim: Any = None) -> Tensor:
    """Index of the largest value along ``axis`` (of the flattened tensor when None); int64, no grad."""
    return _index_reduce(x, "argmax", axis, keepdims, dim, keepdim)


def argmin(x: Tensor, axis: Any = None, keepdims: bool = False, *, dim: Any = None,
           keepdim: Any = None) -> Tensor:
    """Index of the smallest value along ``axis``; int64, no grad."""
    return _index_reduce(x, "argmin", axis, keepdims, dim, keepdim)


def any(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """True where any element along ``axis`` is non-zero (boolean, no grad)."""
    axes = normalize_axes(axis, x.ndim, "any", x.shape)
    return Tensor._from_op(x.data.any(axis=axes, keepdims=keepdims), None)


def all(x: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """True where every element along ``axis`` is non-zero (boolean, no grad)."""
    axes = normalize_axes(axis, x.ndim, "all", x.shape)
    return Tensor._from_op(x.data.all(axis=axes, keepdims=keepdims), None)
