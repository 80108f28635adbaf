r"""Power-average pooling: PyTorch's LP pooling and the notes' L2 pooling.

LP pooling is :math:`(\sum_{window} x^p)^{1/p}`; the notes' L2 pooling is its p = 2 case,
:math:`\sqrt{\sum x^2}` (or :math:`\sqrt{\text{mean}\, x^2}`), with padding. Both use the
separable sum passes of :mod:`lucidnn.functional.pool`; the gradient is defined as 0 where a
window is all zeros (where :math:`\sqrt{\cdot}` has no derivative), so it stays finite.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from lucidnn import backend
from lucidnn.autograd.function import Function
from lucidnn.autograd.tensor import Tensor
from lucidnn.functional.pool import _avg_divisor, _passes, _sum_pass, _sum_unpass, pool_geometry

_np = backend.numpy

class LpPoolFn(Function):
    r"""y = (c \sum_w x^p)^{1/p};  gx = x^{p-1} \sum_{w \ni x} c\, gy\, y / s with s = c \sum_w x^p.

    The per-window factor c (``scale``: None for 1, a float, or an array over the output
    positions) makes a mean (1/K) or PyTorch's ceil-mode rescaling of partial windows. Where
    s = 0 (an all-zero window, for even p) the window's gradient is defined as 0 instead of
    0 * inf.
    """

    def forward(self, x, *, axes, p, scale):
        xp = backend.get_array_module(x)
        if scale is not None and not isinstance(scale, float):
            scale = xp.asarray(scale, dtype=x.dtype)
        self.axes, self.p, self.scale, self.x = axes, p, scale, x
        s = x * x if p == 2 else x**p
        for axis, g in _passes(axes):
            s = _sum_pass(s, axis, g)
        if scale is not None:
            s *= scale
        self.y = xp.sqrt(s) if p == 2 else s ** (1.0 / p)
        self.s = s
        return self.y

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        zero = self.s == 0
        if self.p == 2:
            r = gy / xp.where(zero, 1, self.y)  # y / s = 1 / y
        else:
            r = gy * self.y / xp.where(zero, 1, self.s)
        r[zero] = 0
        if self.scale is not None:
            r *= self.scale
        for axis, geom in reversed(_passes(self.axes)):
            r = _sum_unpass(r, axis, geom)
        x = self.x
        return (r * x if self.p == 2 else r * x ** (self.p - 1),)


def check_norm_type(norm_type: Any, op: str) -> float:
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real):
        raise TypeError(f"{op}: norm_type must be a real number, got {type(norm_type).__name__} {norm_type!r}")
    p = float(norm_type)
    if not (p > 0 and math.isfinite(p)):
        raise ValueError(f"{op}: norm_type must be positive and finite, got {norm_type} "
                         "(for p = inf use max_pool of abs(x))")
    return p


def _lp_pool(op, n, x, norm_type, kernel_size, stride, ceil_mode):
    p = check_norm_type(norm_type, op)
    axes = pool_geometry(op, x, n, kernel_size, stride, ceil_mode=ceil_mode)
    scale = None
    if ceil_mode:  # PyTorch's lp_pool is K * avg_pool(x^p): a window cut by the edge is scaled by K / its size
        present = math.prod(_np.ix_(*[_avg_divisor(g, True) for g in axes]))
        full = math.prod(g.kernel for g in axes)
        scale = full / present if (present != full).any() else None
    return LpPoolFn.apply(x, axes=axes, p=p, scale=scale)


def lp_pool1d(x: Tensor, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False) -> Tensor:
    r"""1-D power-average pooling, PyTorch's ``lp_pool1d``: :math:`y_o = (\sum_{j<k} x_{os+j}^p)^{1/p}`.

    p = 1 is sum pooling, p = 2 the L2 pooling of :func:`l2_pool1d`; large p approaches max
    pooling. As in PyTorch the power is :math:`x^p`, not :math:`|x|^p`: for odd or fractional p
    negative inputs give negative sums or NaN. Gradient:
    :math:`g_x = x^{p-1} \sum_{o \ni x} g_{y_o} y_o^{1-p}`, and 0 from a window whose sum is 0
    (PyTorch gives 0 there too).

    Args:
        x: input.
        norm_type: p > 0.
        kernel_size: k.
        stride: s (default: ``kernel_size``).
        ceil_mode: round the output length up (False). As in PyTorch, the sum of a last window
            cut short by the edge is scaled by k / (its length) before the root.

    Shape:
        x (N, C, L) or (C, L); output (N, C, L_out), :math:`L_{out} = \lfloor (L - k)/s \rfloor + 1`.
    """
    return _lp_pool("lp_pool1d", 1, x, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(x: Tensor, norm_type: float, kernel_size: Any, stride: Any = None, ceil_mode: bool = False) -> Tensor:
    r"""2-D power-average pooling, PyTorch's ``lp_pool2d``: :math:`y = (\sum_{\Omega} x^p)^{1/p}`.

    See :func:`lp_pool1d` for the gradient, the sign caveat and ``ceil_mode``; windows are kh x kw.

    Args:
        x: input.
        norm_type: p > 0.
        kernel_size: (kh, kw) or one int.
        stride: (sh, sw) (default: ``kernel_size``).
        ceil_mode: round output sizes up (False).

    Shape:
        x (N, C, H, W) or (C, H, W); output (N, C, H_out, W_out) with no padding.
    """
    return _lp_pool("lp_pool2d", 2, x, norm_type, kernel_size, stride, ceil_mode)


def _l2_pool(op, n, x, kernel_size, stride, padding, mean):
    axes = pool_geometry(op, x, n, kernel_size, stride, padding)
    scale = 1.0 / math.prod(g.kernel for g in axes) if mean else None
    return LpPoolFn.apply(x, axes=axes, p=2.0, scale=scale)


def l2_pool1d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, mean: bool = False) -> Tensor:
    r"""1-D L2 pooling: :math:`y_o = \sqrt{\sum_{j<k} x_{os+j}^2}` (``mean=True``: :math:`\sqrt{\frac1k\sum x^2}`).

    Gradient :math:`g_x = \sum_{o \ni x} g_{y_o}\, x / y_o` (divided by k with ``mean``). Where a
    window is all zeros (:math:`y_o = 0`), sqrt has no derivative; the window's gradient is
    defined as 0, so the result stays finite.

    Args:
        x: input.
        kernel_size: k.
        stride: s (default: ``kernel_size``).
        padding: zeros on each side, at most k // 2 (0); they count in the mean's k.
        mean: root-mean-square instead of root-sum-square (False).

    Shape:
        x (N, C, L) or (C, L); output (N, C, L_out) as for :func:`avg_pool1d`.
    """
    return _l2_pool("l2_pool1d", 1, x, kernel_size, stride, padding, mean)


def l2_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, mean: bool = False) -> Tensor:
    r"""2-D L2 pooling, the course's :math:`y = \sqrt{\sum_{\Omega} x^2}` over each kh x kw window.

    ``mean=True`` gives :math:`\sqrt{\frac{1}{k_h k_w}\sum_\Omega x^2}` (padded zeros counted).
    Gradient :math:`g_x = \sum_{\Omega \ni x} g_y\, x / y` (over :math:`k_h k_w` with ``mean``),
    defined as 0 for an all-zero window (:math:`y = 0`), where sqrt has no derivative: finite
    where ``lp_pool2d(x, 2, ...)`` composed from primitives would give 0 * inf = NaN.
    For p = 2 and no padding, ``l2_pool2d(x, k, s)`` equals ``lp_pool2d(x, 2, k, s)``.

    Args:
        x: input.
        kernel_size: (kh, kw) or one int.
        stride: (sh, sw) (default: ``kernel_size``).
        padding: (ph, pw) zeros, at most half the kernel (0).
        mean: root-mean-square instead of root-sum-square (False).

    Shape:
        x (N, C, H, W) or (C, H, W); output (N, C, H_out, W_out) as for :func:`avg_pool2d`.

    Reference: the course's "L2 pooling" (local pooling in regions).
    """
    return _l2_pool("l2_pool2d", 2, x, kernel_size, stride, padding, mean)
