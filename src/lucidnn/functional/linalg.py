"""Matrix products: ``matmul`` (NumPy/PyTorch semantics with batch broadcasting) and ``linear``.

``linear`` is its own Function rather than ``x @ w.T + b`` because it is the hottest op of
every MLP: one GEMM forward and two GEMMs plus one column sum backward, with the batch
axes folded into one so BLAS sees a single large matrix.
"""

from __future__ import annotations

import math
from typing import Any

from lucidnn import backend
from lucidnn.autograd.function import Function, unbroadcast
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import ShapeError
from lucidnn.functional.arithmetic import binary_operands

_np = backend.numpy


class MatMulFn(Function):
    r"""Y = A B (batched);  gA = gY B^T,  gB = A^T gY, each summed over broadcast batch axes.

    A 1-D ``a`` is treated as a row (1, k) and a 1-D ``b`` as a column (k, 1); the added
    axis is removed from the result, as in NumPy.
    """

    def forward(self, a, b):
        self.a_shape, self.b_shape = a.shape, b.shape
        self.a2 = a[None, :] if a.ndim == 1 else a  # (..., m, k)
        self.b2 = b[:, None] if b.ndim == 1 else b  # (..., k, n)
        return a @ b

    def backward(self, gy):
        if len(self.a_shape) == 1 and len(self.b_shape) == 1:
            g2 = gy.reshape(1, 1)
        elif len(self.a_shape) == 1:
            g2 = gy[..., None, :]
        elif len(self.b_shape) == 1:
            g2 = gy[..., None]
        else:
            g2 = gy
        need_a, need_b = self.needs_input_grad
        ga = gb = None
        if need_a:
            ga = unbroadcast(g2 @ self.b2.swapaxes(-1, -2), self.a2.shape).reshape(self.a_shape)
        if need_b:
            gb = unbroadcast(self.a2.swapaxes(-1, -2) @ g2, self.b2.shape).reshape(self.b_shape)
        return ga, gb


class LinearFn(Function):
    r"""y = x W^T + b;  gx = gy W,  gW = gy^T x,  gb = \sum_n gy (batch axes folded into n)."""

    def forward(self, x, w, b=None):
        self.x_shape = x.shape
        self.x2 = x.reshape(-1, x.shape[-1])  # (N, in)
        self.w = w
        y = self.x2 @ w.T  # (N, out)
        if b is not None:
            y += b
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    def backward(self, gy):
        gy2 = gy.reshape(-1, gy.shape[-1])  # (N, out)
        needs = self.needs_input_grad
        gx = (gy2 @ self.w).reshape(self.x_shape) if needs[0] else None
        gw = gy2.T @ self.x2 if needs[1] else None
        if len(needs) == 2:
            return gx, gw
        return gx, gw, (gy2.sum(axis=0) if needs[2] else None)


def _matmul_shape_error(op: str, a_shape: tuple, b_shape: tuple, reason: str) -> ShapeError:
    return ShapeError(f"{op}: shapes {tuple(a_shape)} and {tuple(b_shape)} cannot be multiplied ({reason})")


def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands are vectors, leading axes broadcast."""
    a, b = binary_operands(a, b)
    sa, sb = a.shape, b.shape
    if not sa or not sb:
        raise _matmul_shape_error("matmul", sa, sb, "both operands need at least one dimension")
    ka = sa[-1]
    kb = sb[0] if len(sb) == 1 else sb[-2]
    if ka != kb:
        raise _matmul_shape_error("matmul", sa, sb, f"{ka} != {kb}")
    if len(sa) > 2 or len(sb) > 2:
        try:
            _np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            raise _matmul_shape_error("matmul", sa, sb, f"batch shapes {sa[:-2]} and {sb[:-2]} "
                                      "do not broadcast") from None
    return MatMulFn.apply(a, b)


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    r"""Affine map :math:`y = x W^T + b`, the fully connected layer.

    Args:
        x: input of shape (*, in_features).
        weight: (out_features, in_features), PyTorch's layout.
        bias: optional (out_features,).

    Shape:
        output (*, out_features).
    """
    if x.ndim == 0 or weight.ndim != 2:
        raise ShapeError(f"linear: input {x.shape} must have at least 1 dimension and weight {weight.shape} "
                         "must be 2-D (out_features, in_features)")
    if x.shape[-1] != weight.shape[1]:
        rows = math.prod(x.shape[:-1])
        raise ShapeError(f"linear: input ({rows}x{x.shape[-1]}) and weight.T ({weight.shape[1]}x{weight.shape[0]}) "
                         f"shapes cannot be multiplied ({x.shape[-1]} != {weight.shape[1]}): the input has "
                         f"{x.shape[-1]} features but the weight expects in_features={weight.shape[1]}")
    if bias is None:
        return LinearFn.apply(x, weight)
    if bias.shape != (weight.shape[0],):
        raise ShapeError(f"linear: bias has shape {bias.shape} but weight {weight.shape} needs ({weight.shape[0]},)")
    return LinearFn.apply(x, weight, bias)
