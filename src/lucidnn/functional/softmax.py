r"""Softmax and log-softmax along an axis, each one fused, numerically stable Function.

Both subtract the maximum along the axis before exponentiating, so inputs of any finite
size work (``softmax([1e8, 1e8])`` is ``[0.5, 0.5]``); log-softmax never takes the log of a
rounded-off probability. The backward passes reuse the forward's exponentials.
"""

from __future__ import annotations

from typing import Any

from lucidnn import backend
from lucidnn.autograd.function import Function
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import AxisError
from lucidnn.functional.reduction import normalize_axes

_np = backend.numpy

class SoftmaxFn(Function):
    r"""y_i = e^{x_i - m} / \sum_j e^{x_j - m} along ``axis`` (m the max);
    gx = y (gy - \sum_j gy_j y_j)."""

    def forward(self, x, axis):
        xp = backend.get_array_module(x)
        self.axis = axis
        # subtracting the max leaves y unchanged and keeps every exponent <= 0
        e = xp.exp(x - x.max(axis=axis, keepdims=True))
        self.y = e / e.sum(axis=axis, keepdims=True)
        return self.y

    def backward(self, gy):
        y = self.y
        return (y * (gy - (gy * y).sum(axis=self.axis, keepdims=True)),)


class LogSoftmaxFn(Function):
    r"""y_i = x_i - m - \log \sum_j e^{x_j - m} along ``axis`` (m the max);
    gx = gy - softmax(x) \sum_j gy_j."""

    def forward(self, x, axis):
        xp = backend.get_array_module(x)
        self.axis = axis
        z = x - x.max(axis=axis, keepdims=True)  # (.., n, ..), every entry <= 0
        self.e = xp.exp(z)
        self.total = self.e.sum(axis=axis, keepdims=True)  # (.., 1, ..), in [1, n]
        return z - xp.log(self.total)

    def backward(self, gy):
        # softmax = e / total: reuse the forward's exponentials instead of exp(y)
        return (gy - self.e * (gy.sum(axis=self.axis, keepdims=True) / self.total),)


def _softmax_axis(x: Tensor, axis: Any, dim: Any, op: str) -> int:
    if dim is not None:
        if axis != -1:
            raise TypeError(f"{op}: give either axis= or dim=, not both")
        axis = dim
    if isinstance(axis, bool) or not isinstance(axis, (int, _np.integer)):
        raise AxisError(f"{op}: axis must be a single int, got {axis!r}")
    return normalize_axes(axis, x.ndim, op, x.shape)[0]


def softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    r"""Softmax :math:`y_i = e^{x_i} / \sum_j e^{x_j}` along one axis.

    Computed as :math:`e^{x_i - m} / \sum_j e^{x_j - m}` with :math:`m = \max_j x_j`, so it
    is exact for any finite logits (``softmax([1e8, 1e8]) = [0.5, 0.5]``).
    Gradient: :math:`g_x = y \odot (g_y - \sum_j g_{y,j} y_j)`.

    Args:
        x: input tensor.
        axis: the axis whose entries sum to one (-1, the last).
        dim: PyTorch's name for ``axis``; give one or the other.

    Shape:
        Input (*), output (*): the same shape.
    """
    return SoftmaxFn.apply(x, axis=_softmax_axis(x, axis, dim, "softmax"))


def log_softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    r"""Log-softmax :math:`y_i = x_i - \log \sum_j e^{x_j}` along one axis.

    Computed as :math:`(x_i - m) - \log \sum_j e^{x_j - m}` with :math:`m = \max_j x_j`,
    which is finite for any finite logits, unlike ``log(softmax(x))``.
    Gradient: :math:`g_x = g_y - \mathrm{softmax}(x) \sum_j g_{y,j}`.

    Args:
        x: input tensor.
        axis: the axis to normalize over (-1, the last).
        dim: PyTorch's name for ``axis``; give one or the other.

    Shape:
        Input (*), output (*): the same shape.
    """
    return LogSoftmaxFn.apply(x, axis=_softmax_axis(x, axis, dim, "log_softmax"))
