"""Loss layers: Module wrappers of :mod:`lucidnn.functional.loss` with PyTorch's constructor arguments.

Each is called as ``loss(input, target)`` and returns a 0-d tensor (or the unreduced losses
for ``reduction='none'``). The formulas, normalizations and numerics are documented on the
functional ops. Class weights and ``pos_weight`` are stored as buffers named as in PyTorch
(``weight``, ``pos_weight``), so they appear in the state dict and move with ``.to()``.
Arguments are keyword-only (the project's constructor rule), e.g.
``CrossEntropyLoss(weight=w, label_smoothing=0.1)``.
"""

from __future__ import annotations

import numbers
from typing import Any

from lucidnn import functional as F
from lucidnn.autograd.tensor import Tensor
from lucidnn.nn.module import Module

_REDUCTIONS = ("mean", "sum", "none")


class _Loss(Module):
    """Validates and stores ``reduction``; ``extra_repr`` lists the settings that differ from the defaults."""

    _defaults: dict = {}

    def __init__(self, *, reduction: str = "mean") -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f"{type(self).__name__}: reduction must be one of "
                             f"{', '.join(map(repr, _REDUCTIONS))}, got {reduction!r}")
        self.reduction = reduction

    def _buffer(self, name: str, value: Any) -> None:
        """Store a class-weight-like argument as a (persistent) buffer, or None."""
        if value is not None:
            value = value.detach() if isinstance(value, Tensor) else Tensor(value)
        self.register_buffer(name, value)

    def extra_repr(self) -> str:
        settings = {"reduction": "mean", **self._defaults}
        changed = [f"{k}={getattr(self, k)!r}" for k, default in settings.items() if getattr(self, k) != default]
        return ", ".join(changed)


class _WeightedLoss(_Loss):
    def __init__(self, *, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction=reduction)
        self._buffer("weight", weight)


class MSELoss(_Loss):
    r"""Mean squared error :math:`(x - t)^2`, reduced by ``reduction`` ('mean', 'sum' or 'none').

    Shape: input (*), target (*) the same; output () or (*) for 'none'.
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    r"""Mean absolute error :math:`|x - t|`, reduced by ``reduction``.

    Shape: input (*), target (*) the same; output () or (*) for 'none'.
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    r"""Smooth L1 loss: :math:`0.5 d^2/\beta` for :math:`|d| < \beta`, else :math:`|d| - 0.5\beta`.

    Args:
        reduction: 'mean' (default), 'sum' or 'none'.
        beta: where the quadratic part meets the linear part, >= 0 (1.0).

    Shape: input (*), target (*) the same; output () or (*) for 'none'.
    """

    _defaults = {"beta": 1.0}

    def __init__(self, *, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        if isinstance(beta, bool) or not isinstance(beta, numbers.Real) or not beta >= 0:
            raise ValueError(f"SmoothL1Loss: beta must be a number >= 0, got {beta!r}")
        self.beta = float(beta)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class CrossEntropyLoss(_WeightedLoss):
    r"""Cross-entropy of softmax(input) against class indices or class probabilities, from logits.

    Args:
        weight: optional per-class weight (C,), stored as buffer ``weight``.
        ignore_index: target value whose samples contribute nothing (-100).
        reduction: 'mean' (default; weighted mean over non-ignored samples), 'sum' or 'none'.
        label_smoothing: in [0, 1], mixes the target with the uniform distribution (0.0).

    Shape: input (N, C), (N, C, d1, ...) or (C,); target (N,), (N, d1, ...) or () of ints,
    or probabilities shaped like the input; output () or, for 'none', the target's shape.
    """

    _defaults = {"ignore_index": -100, "label_smoothing": 0.0}

    def __init__(self, *, weight: Any = None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight=weight, reduction=reduction)
        if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real) or \
                not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], got {label_smoothing!r}")
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    r"""Negative log-likelihood :math:`-w_{y} x_{y}` of log-probabilities (e.g. from LogSoftmax(dim=1)).

    Args:
        weight: optional per-class weight (C,), stored as buffer ``weight``.
        ignore_index: target value whose samples contribute nothing (-100).
        reduction: 'mean' (default), 'sum' or 'none'.

    Shape: input (N, C), (N, C, d1, ...) or (C,); target (N,), (N, d1, ...) or (); output ().
    """

    _defaults = {"ignore_index": -100}

    def __init__(self, *, weight: Any = None, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(weight=weight, reduction=reduction)
        self.ignore_index = int(ignore_index)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class BCELoss(_WeightedLoss):
    r"""Binary cross-entropy :math:`-w[t\log x + (1-t)\log(1-x)]` of probabilities x.

    Args:
        weight: optional weight broadcastable to the input, stored as buffer ``weight``.
        reduction: 'mean' (default), 'sum' or 'none'.

    Shape: input (*), target (*) the same; output () or (*) for 'none'.
    """

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)


class BCEWithLogitsLoss(_WeightedLoss):
    r"""Binary cross-entropy of logits, fused with the sigmoid (stable for any finite logit).

    Args:
        weight: optional weight broadcastable to the input, stored as buffer ``weight``.
        reduction: 'mean' (default), 'sum' or 'none'.
        pos_weight: optional weight of positive examples, broadcastable to the input
            (typically (C,)), stored as buffer ``pos_weight``.

    Shape: input (*), target (*) the same; output () or (*) for 'none'.
    """

    def __init__(self, *, weight: Any = None, reduction: str = "mean", pos_weight: Any = None) -> None:
        super().__init__(weight=weight, reduction=reduction)
        self._buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Any) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, weight=self.weight, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
