r"""Binary cross-entropy, on probabilities and (stably) on logits.

Split from :mod:`lucidnn.functional.loss`, whose argument checks and reductions they share.
"""

from __future__ import annotations

from typing import Any

from lucidnn import backend
from lucidnn.autograd.function import Function
from lucidnn.autograd.tensor import Tensor
from lucidnn.functional.loss import _check_input, _check_reduction, _constant, _float_target, _reduce

_np = backend.numpy

class BinaryCrossEntropyFn(Function):
    r"""Elementwise BCE of probabilities: :math:`\ell = -w [t \log x + (1-t) \log(1-x)]`.

    Both logs are clamped at -100, as in PyTorch, so x = 0 or 1 gives a finite loss.
    Gradients (PyTorch's forms): :math:`g_x = w (x - t) / \max(x(1-x), 10^{-12})`,
    :math:`g_t = w [\log(1-x) - \log x]` (clamped logs).
    """

    def forward(self, x, t, weight):
        xp = backend.get_array_module(x)
        with _np.errstate(divide="ignore"):  # log(0) = -inf, clamped just below
            self.log_x = xp.maximum(xp.log(x), -100.0)
            self.log_1mx = xp.maximum(xp.log1p(-x), -100.0)
        self.x, self.t, self.weight = x, t, weight
        loss = -(t * self.log_x + (1 - t) * self.log_1mx)
        return loss if weight is None else loss * weight

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        need_x, need_t = self.needs_input_grad
        if self.weight is not None:
            gy = gy * self.weight
        gx = gt = None
        if need_x:
            gx = gy * (self.x - self.t) / xp.maximum(self.x * (1 - self.x), 1e-12)
        if need_t:
            gt = gy * (self.log_1mx - self.log_x)
        return gx, gt


class BinaryCrossEntropyWithLogitsFn(Function):
    r"""Elementwise BCE of logits, stable for any finite x.

    :math:`\ell = w [(1-t) x + (1 + (p_w - 1) t)\, \mathrm{softplus}(-x)]`, evaluated as
    :math:`\max(x, 0) - t x + \log(1 + e^{-|x|}) + (p_w - 1)\, t\, \mathrm{softplus}(-x)` so that
    no exponential overflows and small losses keep their digits.
    Gradients: :math:`g_x = w [(1 + (p_w - 1) t) \sigma(x) - p_w t]`,
    :math:`g_t = w [-x + (p_w - 1) \mathrm{softplus}(-x)]`.
    """

    def forward(self, x, t, weight, pos_weight):
        xp = backend.get_array_module(x)
        e = xp.exp(-xp.abs(x))  # in (0, 1]: never overflows
        log1p_e = xp.log1p(e)
        self.softplus_neg = xp.maximum(-x, 0) + log1p_e  # softplus(-x) = -log sigmoid(x)
        self.sigmoid = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        self.x, self.t, self.weight, self.pos_weight = x, t, weight, pos_weight
        loss = xp.maximum(x, 0) - t * x + log1p_e
        if pos_weight is not None:
            loss = loss + (pos_weight - 1) * t * self.softplus_neg
        return loss if weight is None else loss * weight

    def backward(self, gy):
        need_x, need_t = self.needs_input_grad
        if self.weight is not None:
            gy = gy * self.weight
        pw, t = self.pos_weight, self.t
        gx = gt = None
        if need_x:
            gx = gy * (self.sigmoid - t if pw is None else (1 + (pw - 1) * t) * self.sigmoid - pw * t)
        if need_t:
            gt = gy * (-self.x if pw is None else (pw - 1) * self.softplus_neg - self.x)
        return gx, gt


def binary_cross_entropy(input: Tensor, target: Any, weight: Any = None,  # noqa: A002
                         reduction: str = "mean") -> Tensor:
    r"""Binary cross-entropy of probabilities: :math:`\ell = -w [t \log x + (1-t) \log(1-x)]`.

    The logs are clamped at -100 (as PyTorch) so x = 0 or 1 stays finite. Prefer
    :func:`binary_cross_entropy_with_logits`, which is stable and takes logits.

    Args:
        input: probabilities x in [0, 1] (ValueError otherwise).
        target: targets t in [0, 1], same shape and dtype (may require grad).
        weight: optional rescaling weight broadcastable to the input's shape; gets no gradient.
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.

    Shape: input and target (*); output () or (*) for ``'none'``.
    """
    op = "binary_cross_entropy"
    _check_input(input, op)
    _check_reduction(reduction, op)
    t = _float_target(target, input, op)
    w = _constant(weight, input, "weight", op)
    outside = (input.data < 0) | (input.data > 1)
    if outside.any():
        raise ValueError(f"{op}: input must hold probabilities in [0, 1], found "
                         f"{float(input.data[outside].ravel()[0])}; for logits use "
                         "binary_cross_entropy_with_logits")
    return _reduce(BinaryCrossEntropyFn.apply(input, t, weight=w), reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Any = None,  # noqa: A002
                                     reduction: str = "mean", pos_weight: Any = None) -> Tensor:
    r"""Binary cross-entropy of logits x, fused with the sigmoid and stable for any finite x.

    .. math:: \ell = w [(1-t) x + (1 + (p_w - 1) t) \log(1 + e^{-x})]

    which equals :math:`-w [p_w t \log\sigma(x) + (1-t) \log(1-\sigma(x))]`.

    Args:
        input: logits x.
        target: targets t in [0, 1], same shape and dtype (may require grad).
        weight: optional rescaling weight broadcastable to the input's shape; no gradient.
        reduction: ``'mean'`` (default), ``'sum'`` or ``'none'``.
        pos_weight: optional weight of positive examples, broadcastable to the input's shape
            (typically (C,) for the last axis); no gradient.

    Shape: input and target (*); output () or (*) for ``'none'``.
    """
    op = "binary_cross_entropy_with_logits"
    _check_input(input, op)
    _check_reduction(reduction, op)
    t = _float_target(target, input, op)
    w = _constant(weight, input, "weight", op)
    pw = _constant(pos_weight, input, "pos_weight", op)
    return _reduce(BinaryCrossEntropyWithLogitsFn.apply(input, t, weight=w, pos_weight=pw), reduction)
