r"""Normalization layers: BatchNorm1d, BatchNorm2d and LayerNorm, in PyTorch's conventions.

Batch norm normalizes each channel with the batch's statistics while training and keeps
running averages of them (buffers ``running_mean``, ``running_var``, ``num_batches_tracked``)
for evaluation; layer norm normalizes each sample over its trailing axes, the same way in
both modes. The math and the fused backward live in :mod:`lucidnn.functional.normalization`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from lucidnn import backend
from lucidnn import functional as F
from lucidnn.autograd.factory import ones, zeros
from lucidnn.autograd.tensor import Tensor
from lucidnn.errors import ShapeError
from lucidnn.functional.normalization import normalized_shape_tuple
from lucidnn.nn import init
from lucidnn.nn.linear import positive_int
from lucidnn.nn.module import Module
from lucidnn.nn.parameter import Parameter


def _check_eps(eps: Any, layer: str) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0:
        raise ValueError(f"{layer}: eps must be a positive number, got {eps!r}")
    return float(eps)


class _BatchNorm(Module):
    r"""Shared code of BatchNorm1d/2d; subclasses set ``_ranks`` and ``_layout``.

    Training: normalize with the batch mean and biased variance of each channel; update
    :math:`\hat\mu \leftarrow (1-m)\hat\mu + m\mu_B` and
    :math:`\hat\sigma^2 \leftarrow (1-m)\hat\sigma^2 + m\frac{n}{n-1}\sigma_B^2`, with
    m = ``momentum``, or m = 1/``num_batches_tracked`` (a cumulative average) when
    ``momentum`` is None. Evaluation: normalize with the running statistics (or with the
    batch's when ``track_running_stats=False``).
    """

    _ranks: tuple = ()
    _layout: str = ""

    def __init__(self, num_features: int, *, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, bias: bool = True, track_running_stats: bool = True,
                 dtype: Any = None, device: str | None = None) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_features = positive_int(num_features, "num_features", name)
        self.eps = _check_eps(eps, name)
        if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, numbers.Real)
                                     or not 0.0 <= momentum <= 1.0):
            raise ValueError(f"{name}: momentum must be in [0, 1] or None (cumulative average), got {momentum!r}")
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        c = self.num_features
        self.weight = Parameter(ones(c, dtype=dtype, device=device)) if self.affine else None
        self.bias = Parameter(zeros(c, dtype=dtype, device=device)) if self.affine and bias else None
        if self.track_running_stats:
            self.register_buffer("running_mean", zeros(c, dtype=dtype, device=device))
            self.register_buffer("running_var", ones(c, dtype=dtype, device=device))
            self.register_buffer("num_batches_tracked", zeros((), dtype=backend.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches tracked."""
        if self.track_running_stats:
            init.zeros_(self.running_mean)
            init.ones_(self.running_var)
            init.zeros_(self.num_batches_tracked)

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Reset the running statistics, weight to 1 and bias to 0 (deterministic)."""
        self.reset_running_stats()
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"expected a Tensor input, got {type(x).__name__}")
        if x.ndim not in self._ranks:
            raise ShapeError(f"expected a {self._layout} input, got shape {x.shape} ({x.ndim}-D)")
        if x.shape[1] != self.num_features:
            raise ShapeError(f"input has {x.shape[1]} features (axis 1) but the layer expects "
                             f"{self.num_features} (num_features={self.num_features})")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:  # cumulative moving average over every batch seen
                momentum = 1.0 / int(self.num_batches_tracked.data)
        # batch statistics while training, and in eval when no running statistics are kept
        use_batch_stats = self.training or self.running_mean is None
        tracked = not self.training or self.track_running_stats
        return F.batch_norm(x, self.running_mean if tracked else None, self.running_var if tracked else None,
                            self.weight, self.bias, training=use_batch_stats, momentum=momentum, eps=self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    r"""Batch normalization of (N, C) or (N, C, L) inputs, per channel C.

    .. math:: y = w \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}} + b

    with :math:`\mu, \sigma^2` the batch's per-channel mean and biased variance while
    training (over N, or N and L) and the running estimates in evaluation mode.

    Args:
        num_features: C, the number of channels (axis 1).
        eps: :math:`\varepsilon > 0` added to the variance (1e-5).
        momentum: weight m in [0, 1] of the new batch in the running averages (0.1);
            None gives the cumulative average (m = 1/num_batches_tracked).
        affine: learn w and b (True).
        bias: learn b when ``affine`` (True), as PyTorch 2.x.
        track_running_stats: keep running statistics (True); without them evaluation
            normalizes with batch statistics too.
        dtype, device: of the parameters and running statistics.

    Shape: input (N, C) or (N, C, L); output alike.

    Attributes:
        weight: (C,), initialized to 1.
        bias: (C,), initialized to 0.
        running_mean: buffer (C,), starts at 0.
        running_var: buffer (C,), starts at 1 (updated with the unbiased batch variance).
        num_batches_tracked: int64 0-d buffer, the number of training batches seen.

    Reference: Ioffe and Szegedy, "Batch Normalization", ICML 2015.
    """

    _ranks = (2, 3)
    _layout = "2-D (N, C) or 3-D (N, C, L)"


class BatchNorm2d(_BatchNorm):
    r"""Batch normalization of (N, C, H, W) inputs, per channel C (statistics over N, H, W).

    Same formula, arguments, parameters and buffers as :class:`BatchNorm1d`.

    Shape: input (N, C, H, W); output alike.
    """

    _ranks = (4,)
    _layout = "4-D (N, C, H, W)"


class LayerNorm(Module):
    r"""Layer normalization over the trailing ``normalized_shape`` axes of each sample.

    .. math:: y = w \odot \frac{x - \mu}{\sqrt{\sigma^2 + \varepsilon}} + b

    with :math:`\mu, \sigma^2` the mean and biased variance of each sample's last
    ``len(normalized_shape)`` axes, in training and evaluation alike.

    Args:
        normalized_shape: an int or a shape of positive ints, the trailing shape.
        eps: :math:`\varepsilon > 0` (1e-5).
        elementwise_affine: learn w and b of shape ``normalized_shape`` (True).
        bias: learn b when ``elementwise_affine`` (True).
        dtype, device: of the parameters.

    Shape: input (*, *normalized_shape); output alike.

    Attributes:
        weight: ``normalized_shape``, initialized to 1.
        bias: ``normalized_shape``, initialized to 0.

    Reference: Ba, Kiros and Hinton, "Layer Normalization", 2016.
    """

    def __init__(self, normalized_shape: int | Sequence[int], *, eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, dtype: Any = None,
                 device: str | None = None) -> None:
        super().__init__()
        self.normalized_shape = normalized_shape_tuple(normalized_shape, "LayerNorm")
        self.eps = _check_eps(eps, "LayerNorm")
        self.elementwise_affine = bool(elementwise_affine)
        shape = self.normalized_shape
        self.weight = Parameter(ones(shape, dtype=dtype, device=device)) if self.elementwise_affine else None
        self.bias = Parameter(zeros(shape, dtype=dtype, device=device)) if self.elementwise_affine and bias else None
        self.reset_parameters()

    def reset_parameters(self, rng: backend.Generator | None = None) -> None:
        """Weight to 1 and bias to 0 (deterministic)."""
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")
